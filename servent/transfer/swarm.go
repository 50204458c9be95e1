package transfer

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
	"github.com/servent/servent/protocol/thex"
)

// download is one file being fetched. mu guards every field below it;
// the file handle is used for WriteAt (positional, safe concurrently on
// distinct ranges) and, once all chunks are in, by run alone.
type download struct {
	m         *Manager
	log       *slog.Logger
	sha1      protocol.SHA1
	name      string
	size      int64
	chunkSize int64
	partPath  string
	statePath string
	wake      chan struct{} // cap 1: something changed, run re-plans
	progress  chan struct{} // cap 1: a chunk completed, the hasher looks

	// Owned by the hasher goroutine while it runs, by run otherwise: the
	// SHA-1 of the contiguous completed prefix [0, hashed), computed while
	// the rest downloads so verification only hashes the tail.
	h        hash.Hash
	hashed   int64
	verified bool          // owned by run: the file matched its SHA-1, only the move is left
	finished chan struct{} // closed on complete, failed or cancelled

	saveMu sync.Mutex // serialises state file writes

	mu        sync.Mutex
	file      *os.File
	chunks    []chunk
	doneN     int   // chunks done
	doneB     int64 // bytes done
	sources   map[string]*srcState
	srcOrder  []string
	banned    map[string]bool
	state     DownloadState
	err       string
	path      string
	attempts  int
	diskErrs  int                // consecutive failed writes to our disk
	diskRetry time.Time          // StateDiskError: no write is tried before
	doneAt    time.Time          // when it completed
	cancel    context.CancelFunc // of run's context
	remove    bool               // cancel: delete partial and state
	lastSave  time.Time

	// The Tiger tree (thexdl.go): the root we expect, the tree once
	// fetched, bytes thrown away as corrupt, strikes per source, and
	// whether the hasher must start over (chunks it read were put back).
	tth       protocol.TTH
	tree      *thex.Tree
	spanOK    []bool    // per bottom-row span: its bytes on disk passed the tree (shared by PFSP)
	lastChunk time.Time // when a chunk last arrived (Last-Modified of the partial)
	sharing   bool      // it held checked bytes once (PartialsChanged was called)
	corrupt   int64
	strikes   map[string]int
	rehash    bool

	// Blame bookkeeping after a whole-file mismatch (see verify).
	suspect  string              // source tentatively banned this round
	tried    map[string]bool     // suspects already tried
	disputes map[string]int      // chunks where this source disagreed with another
	digests  map[int]chunkDigest // chunk -> digest and owner of the content it replaced
}

type chunk struct {
	done  bool
	busy  int    // fetchers working on it (more than one only in end game)
	owner string // source key that served the bytes on disk
	by    string // first fetcher (end game prefers other chunks)
}

type chunkDigest struct {
	sum   [20]byte
	owner string
}

type srcState struct {
	src      Source
	running  bool
	dead     bool // dropped after too many failures or a 404
	failures int
	nextTry  time.Time
	useGet   bool        // the source does not know N2R: use /get/<index>/<name>
	maxRun   int         // chunks per request; lowered when it serves shorter ranges (0 = default)
	idle     bool        // found no chunk to fetch: not restarted until a chunk is released
	queue    QueueStatus // our place in the source's line (PARQ); zero when served
	callback *givConn    // a QUEUE callback's connection for the place, until its worker takes it
	served   int64       // bytes received from it
	// A partial source's X-Available-Ranges (PFSP) and when it said so;
	// nil for a source with the whole file.
	avail   httphdr.Ranges
	availAt time.Time
	// Its X-Thex-URI (path and root), and whether we asked it for the tree.
	thexPath  string
	thexRoot  protocol.TTH
	thexTried bool
	why       string // why it was dropped or banned, for StateStalled's error
}

// maxSourcesPerFile bounds the sources one download keeps: X-Alt headers
// and query hits add them, and a hostile source can send new ones forever.
const maxSourcesPerFile = 256

const (
	maxBackoff      = 10 * time.Minute
	maxDiskRetry    = 5 * time.Minute
	saveInterval    = time.Second
	maxVerifyRounds = 8
)

func (m *Manager) newDownload(st *persisted) (*download, error) {
	sha, err := protocol.ParseSHA1Base32(st.SHA1)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(m.cfg.DataDir, partialDir)
	d := &download{
		m: m, log: m.log.With("urn", sha.Base32()), sha1: sha, name: st.Name, size: st.Size, chunkSize: st.ChunkSize,
		partPath:  filepath.Join(dir, sha.Base32()+partSuffix),
		statePath: filepath.Join(dir, sha.Base32()+stateSuffix),
		wake:      make(chan struct{}, 1), finished: make(chan struct{}), progress: make(chan struct{}, 1), h: sha1.New(),
		sources: map[string]*srcState{}, banned: map[string]bool{}, state: StateActive,
		attempts: st.Attempts, tried: map[string]bool{}, disputes: map[string]int{}, strikes: map[string]int{},
	}
	if st.TTH != "" {
		d.tth, _ = protocol.ParseTTHBase32(st.TTH)
	}
	d.chunks = make([]chunk, numChunks(st.Size, st.ChunkSize))
	for _, k := range st.Banned {
		d.banned[k] = true
	}
	for _, p := range st.Sources {
		if s, ok := p.source(); ok {
			d.addSourceLocked(s)
		}
	}
	f, err := os.OpenFile(d.partPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("transfer: partial file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if fi.Size() != st.Size && st.Size >= 0 {
		// Sparse: the size is reserved without writing zeros.
		if err := m.cfg.FS.Truncate(f, st.Size); err != nil {
			f.Close()
			return nil, fmt.Errorf("transfer: partial file: %w", err)
		}
	}
	d.file = f
	if len(st.Owners) == len(d.chunks) && fi.Size() == st.Size {
		for i, o := range st.Owners {
			if o != "" {
				d.chunks[i] = chunk{done: true, owner: o}
				d.doneN++
				d.doneB += d.chunkLen(i)
			}
		}
	}
	if st.Failed != "" {
		d.state, d.err = StateFailed, st.Failed
	}
	return d, nil
}

func (d *download) chunkLen(i int) int64 {
	return min(d.chunkSize, d.size-int64(i)*d.chunkSize)
}

// restartable: Start on a finished download begins a new one.
func (d *download) restartable() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.state != StateComplete && d.state != StateCancelled && d.state != StateFailed
}

func (d *download) info() Info {
	d.mu.Lock()
	in := Info{SHA1: d.sha1, Name: d.name, Size: d.size, Done: d.doneB, State: d.state, Path: d.path, Err: d.err, Banned: len(d.banned),
		TTH: d.tth, TreeChecked: d.tree != nil, Corrupt: d.corrupt}
	in.ChunkMap, in.ChunkSources = d.chunkMap()
	if in.State == StateDiskError {
		in.Err += fmt.Sprintf(", next try in %s", max(time.Until(d.diskRetry), 0).Round(time.Second))
	}
	for k, s := range d.sources {
		if s.running {
			in.Active++
		}
		if !d.banned[k] && !s.dead {
			in.Sources++
			if p := s.queue.Position; p > 0 && !s.running && (in.QueuePosition == 0 || p < in.QueuePosition) {
				in.QueuePosition = p
			}
		}
	}
	d.mu.Unlock()
	if in.State == StateComplete {
		// The user may move or delete it: say so rather than report success.
		if _, err := os.Lstat(in.Path); errors.Is(err, os.ErrNotExist) {
			in.State = StateGone
			in.Err = fmt.Sprintf("downloaded to %s, but moved or deleted since", in.Path)
		}
	}
	return in
}

// chunkMap draws the chunks for Info.ChunkMap; d.mu is held.
func (d *download) chunkMap() (string, []string) {
	n := len(d.chunks)
	if n == 0 {
		return "", nil
	}
	cells := min(n, MaxChunkCells)
	out := make([]byte, cells)
	var srcs []string
	letter := map[string]byte{}
	for c := range cells {
		lo, hi := c*n/cells, (c+1)*n/cells
		done, busy := 0, false
		for i := lo; i < hi; i++ {
			done += boolInt(d.chunks[i].done)
			busy = busy || d.chunks[i].busy > 0
		}
		switch {
		case busy:
			out[c] = '>'
		case done == hi-lo:
			owner := d.chunks[lo].owner
			l, ok := letter[owner]
			if !ok {
				l = '#'
				if len(srcs) < 26 {
					l = 'a' + byte(len(srcs))
					srcs = append(srcs, owner)
				}
				letter[owner] = l
			}
			out[c] = l
		case done > 0:
			out[c] = '+'
		default:
			out[c] = '.'
		}
	}
	return string(out), srcs
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// takeRehashLocked starts the whole-file hasher over when chunks it read
// were put back since (rehash).
func (d *download) takeRehashLocked() {
	if d.rehash {
		d.rehash = false
		d.h.Reset()
		d.hashed = 0
	}
}

func (d *download) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *download) addSources(srcs []Source) {
	d.mu.Lock()
	n := 0
	for _, s := range srcs {
		if d.addSourceLocked(s) {
			n++
		}
	}
	if n > 0 && d.state == StateStalled {
		d.state, d.err = StateActive, ""
	}
	d.mu.Unlock()
	if n > 0 {
		d.poke()
	}
}

// addSourceLocked adds s unless known; a known dead source is revived (a
// fresh hit says it is back).
func (d *download) addSourceLocked(s Source) bool {
	if !s.Addr.IsValid() && !(s.Push && !s.ServentGUID.IsZero()) {
		return false
	}
	k := s.key()
	if d.banned[k] {
		return false
	}
	if old, ok := d.sources[k]; ok {
		if len(s.Proxies) > 0 {
			old.src.Proxies = s.Proxies // a fresh hit knows the current proxies
		}
		if old.dead {
			old.dead, old.failures, old.nextTry = false, 0, time.Time{}
			return true
		}
		return false
	}
	if len(d.sources) >= maxSourcesPerFile && !d.evictDeadLocked() {
		return false
	}
	s.Name = strings.Clone(s.Name) // it may point into a QueryHit's buffer
	d.sources[k] = &srcState{src: s}
	d.srcOrder = append(d.srcOrder, k)
	return true
}

// evictDeadLocked forgets the oldest dead source not running; false if
// there is none.
func (d *download) evictDeadLocked() bool {
	for i, k := range d.srcOrder {
		if s := d.sources[k]; s.dead && !s.running {
			delete(d.sources, k)
			d.srcOrder = slices.Delete(d.srcOrder, i, i+1)
			return true
		}
	}
	return false
}

// stop ends the download; with remove, its files go too.
func (d *download) stop(remove bool) {
	d.mu.Lock()
	d.remove = d.remove || remove
	cancel := d.cancel
	d.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	d.poke()
}

// run drives the download until it completes, fails, is cancelled, or the
// Manager closes.
func (d *download) run() {
	ctx, cancel := context.WithCancel(d.m.ctx)
	defer cancel()
	d.mu.Lock()
	d.cancel = cancel
	removed := d.remove
	failed := d.state == StateFailed
	d.mu.Unlock()
	var workers sync.WaitGroup
	startHasher := func() func() {
		hctx, hcancel := context.WithCancel(ctx)
		var hw sync.WaitGroup
		hw.Add(1)
		go func() {
			defer hw.Done()
			d.hashAhead(hctx)
		}()
		return func() { hcancel(); hw.Wait() }
	}
	stopHasher := func() {}
	defer func() {
		cancel()
		workers.Wait()
		stopHasher()
		d.finish()
	}()
	if removed || failed {
		return
	}
	stopHasher = startHasher()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// Workers run under wctx, cancelled once every chunk is in: a slow
	// source still reading a chunk an end-game duplicate already brought
	// must not hold the download up.
	newRound := func() (context.Context, context.CancelFunc) { return context.WithCancel(ctx) }
	wctx, wcancel := newRound()
	defer func() { wcancel() }()
	for {
		var next time.Time
		complete := false
		if d.sizeKnown() {
			next, complete = d.plan(wctx, &workers)
		} else if !d.probeSize(ctx) {
			next = time.Now().Add(d.m.cfg.RetryBackoff)
		} else {
			continue
		}
		if complete {
			wcancel()
			workers.Wait()
			stopHasher()
			if d.verify(ctx) || ctx.Err() != nil {
				return // done, failed, or closing (verify gave up half-way)
			}
			wctx, wcancel = newRound()
			if !d.verified { // else only the move into place is retried
				stopHasher = startHasher()
			}
			continue
		}
		if !next.IsZero() {
			timer.Reset(max(next.Sub(time.Now()), time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

func (d *download) sizeKnown() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.size >= 0
}

// probeSize asks the sources for the size of a download started from an
// urn alone (HEAD /uri-res/N2R?urn), and lays out the chunks.
func (d *download) probeSize(ctx context.Context) bool {
	d.mu.Lock()
	var srcs []*srcState
	for _, k := range d.srcOrder {
		if s := d.sources[k]; !d.banned[k] && !s.dead && !s.running {
			srcs = append(srcs, s)
		}
	}
	if len(srcs) == 0 {
		d.state, d.err = StateStalled, d.noSourceLocked()
	}
	d.mu.Unlock()
	for _, s := range srcs {
		if ctx.Err() != nil {
			return false
		}
		size, err := d.head(ctx, s.src)
		if err != nil {
			d.log.Debug("download: size probe", "source", s.src.key(), "err", err)
			d.mu.Lock()
			s.failures++
			if s.failures >= d.m.cfg.MaxSourceFailures || errors.Is(err, errBadSource) {
				s.dead, s.why = true, err.Error()
			}
			d.mu.Unlock()
			continue
		}
		d.mu.Lock()
		if size > MaxFileSize {
			s.dead, s.why = true, fmt.Sprintf("size %d is absurd", size) // the source is lying or broken
			d.mu.Unlock()
			continue
		}
		if err := d.m.cfg.FS.Truncate(d.file, size); err != nil {
			d.diskFailedLocked(fmt.Errorf("%w: %w", errWrite, err))
			d.mu.Unlock()
			return false
		}
		d.size = size
		d.chunks = make([]chunk, numChunks(size, d.chunkSize))
		d.mu.Unlock()
		if err := d.save(true); err != nil {
			d.log.Warn("download: save", "err", err)
		}
		return true
	}
	return false
}

func (d *download) head(ctx context.Context, src Source) (int64, error) {
	conn, br, err := d.connect(ctx, src)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	b := append([]byte("HEAD /uri-res/N2R?"), d.sha1.URN()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	if src.Addr.IsValid() {
		b = src.Addr.AppendTo(b) // gtk-gnutella answers 400 without Host
	}
	b = append(b, "\r\nUser-Agent: "...)
	b = append(b, d.m.cfg.UserAgent...)
	b = append(b, "\r\nConnection: close\r\n\r\n"...)
	_ = conn.SetDeadline(time.Now().Add(d.m.cfg.StallTimeout))
	if _, err := conn.Write(b); err != nil {
		return 0, err
	}
	resp, err := readResponse(br)
	if err != nil {
		return 0, err
	}
	if resp.code != 200 {
		return 0, fmt.Errorf("HEAD: %d %s", resp.code, resp.reason)
	}
	if u := resp.header.Get("X-Gnutella-Content-URN"); u != "" {
		if got, err := protocol.ParseSHA1URN(strings.TrimSpace(strings.SplitN(u, ",", 2)[0])); err == nil && got != d.sha1 {
			return 0, fmt.Errorf("%w: urn %s", errBadSource, got)
		}
	}
	return parseUint(resp.header.Get("Content-Length"))
}

// plan starts workers for the sources that may run now and returns when
// to look again (zero: only on wake) or that every chunk is in.
func (d *download) plan(ctx context.Context, workers *sync.WaitGroup) (next time.Time, complete bool) {
	var stalled string
	d.mu.Lock()
	defer func() {
		d.mu.Unlock()
		if stalled != "" {
			d.log.Warn("download: stalled", "err", stalled)
		}
	}()
	now := time.Now()
	if d.state == StateDiskError && now.Before(d.diskRetry) {
		return d.diskRetry, false // nothing can be written before then
	}
	if d.doneN == len(d.chunks) {
		return time.Time{}, true
	}
	running, usable := 0, 0
	for _, k := range d.srcOrder {
		if d.sources[k].running {
			running++
		}
	}
	for _, k := range d.srcOrder {
		s := d.sources[k]
		if d.banned[k] || s.dead {
			continue
		}
		if s.src.Push && (d.m.cfg.SendPush == nil || s.src.ServentGUID.IsZero()) {
			continue
		}
		usable++
		if s.running || s.idle {
			continue
		}
		if s.nextTry.After(now) {
			if next.IsZero() || s.nextTry.Before(next) {
				next = s.nextTry
			}
			continue
		}
		if running >= d.m.cfg.MaxConnsPerFile {
			continue
		}
		s.running = true
		running++
		workers.Add(1)
		go func() {
			defer workers.Done()
			d.worker(ctx, s)
		}()
	}
	switch {
	case usable == 0:
		why := d.noSourceLocked()
		if d.state != StateStalled {
			stalled = why // logged once, when it stalls
		}
		d.state, d.err = StateStalled, why
	case running == 0:
		d.state, d.err = StateWaiting, ""
	default:
		d.state, d.err = StateActive, ""
	}
	return next, false
}

// noSourceLocked says in words why no source is usable.
func (d *download) noSourceLocked() string {
	var banned, dropped, unusable int
	var whyBanned, whyDropped string
	for _, k := range d.srcOrder {
		s := d.sources[k]
		switch {
		case d.banned[k]:
			banned++
			whyBanned = cmp.Or(s.why, whyBanned)
		case s.dead:
			dropped++
			whyDropped = cmp.Or(s.why, whyDropped)
		default:
			unusable++ // firewalled, and we cannot send a Push
		}
	}
	return noSourceReason(banned, dropped, unusable, whyBanned, whyDropped)
}

// noSourceReason is the error of a stalled download.
func noSourceReason(banned, dropped, unusable int, whyBanned, whyDropped string) string {
	var parts []string
	if banned > 0 {
		p := fmt.Sprintf("%d banned", banned)
		if whyBanned != "" {
			p += " (" + whyBanned + ")"
		}
		parts = append(parts, p)
	}
	if dropped > 0 {
		p := fmt.Sprintf("%d dropped", dropped)
		if whyDropped != "" {
			p += " (last: " + whyDropped + ")"
		}
		parts = append(parts, p)
	}
	if unusable > 0 {
		parts = append(parts, fmt.Sprintf("%d firewalled and unreachable", unusable))
	}
	if len(parts) == 0 {
		parts = append(parts, "none known")
	}
	return "no usable source left: " + strings.Join(parts, ", ") + "; it resumes when a search finds a new source"
}

// diskFailedLocked pauses the download after a failed write to our disk
// and schedules the next try.
func (d *download) diskFailedLocked(err error) {
	d.diskErrs++
	wait := min(d.m.cfg.DiskRetry<<min(d.diskErrs-1, 16), maxDiskRetry)
	d.diskRetry = time.Now().Add(wait)
	d.state = StateDiskError
	d.err = fmt.Sprintf("%v; the data already downloaded is kept", err) // info adds when it retries
}

// Errors a worker ends with; they decide what happens to the source.
var (
	errBadSource = errors.New("source served a different file") // ban
	errGone      = errors.New("source does not have the file")  // drop
	errNoWork    = errors.New("no chunk left for this source")
	errWrite     = errors.New("cannot write to disk") // ours, not the source's fault
)

type busyError struct {
	retry time.Duration
	queue QueueStatus // the place the source gave us (PARQ), if any
}

func (e *busyError) Error() string { return fmt.Sprintf("source busy, retry in %s", e.retry) }

// worker fetches chunks from one source over one keep-alive connection,
// reconnecting when the source closes between responses.
func (d *download) worker(ctx context.Context, s *srcState) {
	err := d.fetchLoop(ctx, s)
	d.mu.Lock()
	s.running = false
	k := s.src.key()
	switch {
	case err == nil, errors.Is(err, errNoWork), ctx.Err() != nil:
		if ctx.Err() == nil {
			s.failures = 0
		}
		// Restarting it now would find nothing again and spin.
		s.idle = errors.Is(err, errNoWork)
	case errors.Is(err, errWrite):
		// Our disk failed, not the source: it keeps its standing.
		d.diskFailedLocked(err)
	case errors.Is(err, errBadSource):
		d.banned[k] = true
		s.why = err.Error()
		d.log.Info("download: source banned", "source", k, "err", err)
	case errors.Is(err, errGone):
		s.dead, s.why = true, err.Error()
	default:
		var be *busyError
		if errors.As(err, &be) {
			s.nextTry = time.Now().Add(be.retry)
			if be.queue.ID != "" || be.queue.Position > 0 {
				s.queue = be.queue
			}
			break
		}
		s.failures++
		if s.failures >= d.m.cfg.MaxSourceFailures {
			s.dead, s.why = true, err.Error()
		}
		s.nextTry = time.Now().Add(min(d.m.cfg.RetryBackoff<<(s.failures-1), maxBackoff))
	}
	d.mu.Unlock()
	if errors.Is(err, errWrite) && ctx.Err() == nil {
		d.log.Warn("download: cannot write to disk, paused", "err", err)
	} else if err != nil && ctx.Err() == nil && !errors.Is(err, errNoWork) {
		d.log.Debug("download: source stopped", "source", k, "err", err)
	}
	d.poke()
}

func (d *download) fetchLoop(ctx context.Context, s *srcState) error {
	var (
		conn net.Conn
		br   *bufio.Reader
		stop func() bool
	)
	hangUp := func() {
		if conn != nil {
			stop()
			conn.Close()
			conn = nil
		}
	}
	defer hangUp()
	buf := make([]byte, d.chunkSize)
	for {
		c, cnt := d.pickFrom(s)
		if c < 0 {
			if d.partialSource(s) {
				// It has nothing we need yet: ask again later, its
				// ranges grow as it downloads.
				return &busyError{retry: partialRetry}
			}
			return errNoWork
		}
		if conn == nil {
			var err error
			if g := d.heldCallback(s); g != nil {
				conn, br = g.conn, g.br
			} else if conn, br, err = d.connect(ctx, s.src); err != nil {
				d.releaseRun(c, cnt)
				return err
			}
			c := conn
			stop = context.AfterFunc(ctx, func() { c.Close() })
		}
		keep, servedLast, err := d.requestRun(conn, br, s, c, cnt)
		if err != nil {
			d.releaseRun(c, cnt)
		}
		var skip int64 // bytes served past the last whole chunk
		if err == nil {
			// gtk-gnutella may serve a shorter range than asked (observed:
			// 512 KiB of 4 MiB): keep the whole chunks, drop the tail.
			whole := 0
			for whole < cnt && int64(c+whole)*d.chunkSize+d.chunkLen(c+whole)-1 <= servedLast {
				whole++
			}
			if whole < cnt {
				d.releaseRun(c+whole, cnt-whole)
				s.maxRun = max(1, whole)
				skip = servedLast + 1 - int64(c+whole)*d.chunkSize
				cnt = whole
			}
		}
		for j := 0; err == nil && j < cnt; j++ {
			data := buf[:d.chunkLen(c+j)]
			if err = readFull(conn, br, data, d.m.cfg); err != nil {
				d.releaseRun(c+j, cnt-j)
				err = fmt.Errorf("read body: %w", err)
			} else if err = d.complete(c+j, s, data); err != nil {
				d.releaseRun(c+j+1, cnt-j-1) // complete released c+j
			}
		}
		if err == nil && skip > 0 {
			if _, err = io.CopyN(io.Discard, br, skip); err == nil && cnt == 0 {
				err = errors.New("source serves ranges shorter than a chunk")
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return err
		}
		if keep && d.wantTree(s) {
			keep = d.fetchTree(conn, br, s) // as gtk-gnutella: right after a chunk, same connection
		}
		_ = conn.SetDeadline(time.Time{})
		if !keep {
			hangUp()
			if s.src.Push {
				return nil // a new Push is needed: let plan start us again
			}
		}
	}
}

// maxRunBytes bounds one request: consecutive free chunks are asked in
// one range (fewer round trips) but still stored, owned and resumed one
// chunk at a time.
const maxRunBytes = 4 << 20

// pick reserves the next chunks for source key: the first free chunk and
// the free ones right after it, or in the end game (none free) one chunk
// another source is still fetching. It returns the first chunk and the
// count, or -1.
func (d *download) pick(key string, maxRun int) (int, int) {
	return d.pickWithin(key, maxRun, nil)
}

// pickWithin is pick for a source holding only has (PFSP; nil: all of
// the file): whole chunks inside it.
func (d *download) pickWithin(key string, maxRun int, has httphdr.Ranges) (int, int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.banned[key] {
		return -1, 0
	}
	if maxRun <= 0 {
		maxRun = int(max(1, maxRunBytes/d.chunkSize))
	}
	held := func(i int) bool {
		return has == nil || has.Contains(int64(i)*d.chunkSize, int64(i)*d.chunkSize+d.chunkLen(i)-1)
	}
	for i := range d.chunks {
		if c := &d.chunks[i]; !c.done && c.busy == 0 && held(i) {
			n := 0
			for j := i; j < len(d.chunks) && n < maxRun && !d.chunks[j].done && d.chunks[j].busy == 0 && held(j); j++ {
				d.chunks[j].busy, d.chunks[j].by = 1, key
				n++
			}
			return i, n
		}
	}
	for i := range d.chunks {
		if c := &d.chunks[i]; !c.done && c.busy == 1 && c.by != key && held(i) {
			c.busy++
			return i, 1
		}
	}
	return -1, 0
}

// releaseRun gives back chunks [c, c+n) that will not be completed, and
// wakes the sources that had found nothing to do.
func (d *download) releaseRun(c, n int) {
	if n <= 0 {
		return
	}
	d.mu.Lock()
	for i := c; i < c+n; i++ {
		d.chunks[i].busy--
	}
	d.wakeIdleLocked()
	d.mu.Unlock()
	d.poke()
}

func (d *download) wakeIdleLocked() {
	for _, s := range d.sources {
		s.idle = false
	}
}

// complete stores a fetched chunk unless another fetcher was faster.
func (d *download) complete(c int, s *srcState, data []byte) error {
	key := s.src.key()
	d.mu.Lock()
	tree := d.tree
	d.mu.Unlock()
	good := d.checkChunk(tree, c, data)
	d.mu.Lock()
	ch := &d.chunks[c]
	ch.busy-- // released here whatever happens next
	s.served += int64(len(data))
	if ch.done || d.banned[key] {
		d.mu.Unlock()
		return nil
	}
	if d.tree != tree { // the tree came meanwhile (once per download at most)
		good = d.checkChunk(d.tree, c, data)
	}
	if !good {
		d.corrupt += int64(len(data))
		d.mu.Unlock()
		return errCorrupt(c)
	}
	// Writing under the lock keeps two end-game fetchers of one chunk
	// from interleaving; a pwrite of one chunk into the page cache is short.
	if _, err := d.m.cfg.FS.WriteAt(d.file, data, int64(c)*d.chunkSize); err != nil {
		d.mu.Unlock()
		return fmt.Errorf("%w: %w", errWrite, err)
	}
	if old, ok := d.digests[c]; ok {
		if sha1.Sum(data) != old.sum && old.owner != "" && old.owner != key {
			d.disputes[old.owner]++
			d.disputes[key]++
		}
	}
	ch.done, ch.owner = true, key
	d.markChunkSpansLocked(c)
	d.lastChunk = time.Now()
	d.diskErrs = 0
	d.doneN++
	d.doneB += int64(len(data))
	d.m.received.Add(uint64(len(data)))
	saveNow := time.Now().Sub(d.lastSave) >= saveInterval
	if saveNow {
		// Claimed: this fetcher syncs and saves, the others go on.
		d.lastSave = time.Now()
	}
	all := d.doneN == len(d.chunks)
	d.mu.Unlock()
	d.checkSpansAfter(c)
	select {
	case d.progress <- struct{}{}:
	default:
	}
	if all {
		d.poke()
	}
	if saveNow {
		// The save was claimed above (lastSave), so force it.
		if err := d.save(true); err != nil {
			return err // errWrite: pauses in disk-error, the source keeps its standing
		}
	}
	return nil
}

// connect opens a connection to src: directly, or through a Push and the
// GIV connection it brings when the source is firewalled or unreachable.
func (d *download) connect(ctx context.Context, src Source) (net.Conn, *bufio.Reader, error) {
	if !src.Push {
		dctx, cancel := context.WithTimeout(ctx, d.m.cfg.ConnectTimeout)
		conn, err := d.m.cfg.Dial(dctx, "tcp", src.Addr.String())
		cancel()
		if err == nil {
			return conn, bufio.NewReaderSize(conn, 16<<10), nil
		}
		if src.ServentGUID.IsZero() || d.m.cfg.SendPush == nil || ctx.Err() != nil {
			return nil, nil, fmt.Errorf("dial %s: %w", src.Addr, err)
		}
	}
	return d.m.PushConnect(ctx, src)
}

// PushConnect sends a Push for src (its ServentGUID, Index and push
// proxies) and returns the connection its GIV comes on, with the reader
// past the GIV; an error when no GIV came within PushTimeout.
func (m *Manager) PushConnect(ctx context.Context, src Source) (net.Conn, *bufio.Reader, error) {
	if m.cfg.SendPush == nil || src.ServentGUID.IsZero() {
		return nil, nil, errors.New("push: cannot push to that source")
	}
	ch, cancelWait, err := m.awaitGIV(src)
	if err != nil {
		return nil, nil, err
	}
	defer cancelWait()
	if err := m.cfg.SendPush(src); err != nil {
		return nil, nil, fmt.Errorf("push: %w", err)
	}
	t := time.NewTimer(m.cfg.PushTimeout)
	defer t.Stop()
	select {
	case g := <-ch:
		return g.conn, g.br, nil
	case <-t.C:
		return nil, nil, errors.New("push: no GIV in time")
	case <-ctx.Done():
		return nil, nil, ctx.Err()
	}
}

// requestRun sends one ranged GET for chunks [c, c+cnt) on conn and reads
// the response head; the body follows in br.
func (d *download) requestRun(conn net.Conn, br *bufio.Reader, s *srcState, c, cnt int) (keep bool, servedLast int64, err error) {
	first := int64(c) * d.chunkSize
	last := int64(c+cnt-1)*d.chunkSize + d.chunkLen(c+cnt-1) - 1
	for attempt := 0; attempt < 2; attempt++ {
		req := d.appendRequest(nil, s, first, last)
		_ = conn.SetDeadline(time.Now().Add(d.m.cfg.StallTimeout))
		if _, err := conn.Write(req); err != nil {
			return false, 0, fmt.Errorf("send request: %w", err)
		}
		resp, err := readResponse(br)
		if err != nil {
			return false, 0, fmt.Errorf("read response: %w", err)
		}
		d.readMesh(resp.header)
		d.noteThexURI(s, resp.header.Get("X-Thex-URI"))
		d.noteRanges(s, resp.header.Get("X-Available-Ranges"))
		if u := resp.header.Get("X-Gnutella-Content-URN"); u != "" {
			if got, err := protocol.ParseSHA1URN(strings.TrimSpace(strings.SplitN(u, ",", 2)[0])); err == nil && got != d.sha1 {
				return false, 0, fmt.Errorf("%w: urn %s", errBadSource, got)
			}
		}
		keep = resp.keepAlive()
		bodyLen := int64(-1)
		if v := resp.header.Get("Content-Length"); v != "" {
			if bodyLen, err = parseUint(v); err != nil {
				return false, 0, fmt.Errorf("content-length: %w", err)
			}
		}
		switch resp.code {
		case 206:
			r, total, err := parseContentRange(resp.header.Get("Content-Range"))
			if err != nil {
				return false, 0, err
			}
			if total != d.size {
				return false, 0, fmt.Errorf("%w: size %d, want %d", errBadSource, total, d.size)
			}
			if r.first != first || r.last > last || (bodyLen >= 0 && bodyLen != r.length()) {
				return false, 0, fmt.Errorf("asked %d-%d, got %d-%d", first, last, r.first, r.last)
			}
			last = r.last
		case 200:
			// Servers that ignore Range (or, like GnutellaBun, answer 200
			// to a range covering the file) are fine when we asked for all.
			if bodyLen != d.size || first != 0 || last != d.size-1 {
				if bodyLen >= 0 && bodyLen != d.size {
					return false, 0, fmt.Errorf("%w: size %d, want %d", errBadSource, bodyLen, d.size)
				}
				return false, 0, errors.New("source ignores Range")
			}
		case 503:
			// gtk-gnutella sends "503 Library being rebuilt" without
			// Retry-After while it hashes at start: retry soon then.
			retry := d.m.cfg.RetryBackoff
			if v := resp.header.Get("Retry-After"); v != "" {
				retry = time.Duration(parseRetryAfter(v, 60)) * time.Second
			}
			be := &busyError{retry: retry}
			if v := resp.header.Get("X-Queued"); v != "" {
				if qs, err := ParseXQueued(v); err == nil {
					be.queue = qs
					// Come back in time: at Retry-After, and before the
					// place's lifetime ends (parq_download_parse_queue_status).
					if qs.Lifetime > 0 {
						be.retry = min(be.retry, max(time.Duration(qs.Lifetime)*time.Second-queueSafety, time.Second))
					}
				}
			}
			return false, 0, be
		case 404, 410:
			if err := drain(br, bodyLen, keep); err != nil || !keep {
				keep = false
			}
			if !s.useGet && s.src.Name != "" && keep {
				s.useGet = true // only this worker touches useGet
				continue
			}
			return false, 0, fmt.Errorf("%w: %d %s", errGone, resp.code, resp.reason)
		case 416:
			if s.avail != nil { // a partial source without that range (yet)
				if err := drain(br, bodyLen, keep); err != nil {
					keep = false
				}
				return false, 0, &busyError{retry: time.Second} // now we know what it holds
			}
			return false, 0, fmt.Errorf("%w: 416 for %d-%d", errBadSource, first, last)
		default:
			return false, 0, fmt.Errorf("status %d %s", resp.code, resp.reason)
		}
		if s.queue != (QueueStatus{}) {
			d.mu.Lock()
			s.queue = QueueStatus{} // served: the place is spent
			d.mu.Unlock()
		}
		return keep, last, nil
	}
	return false, 0, errGone
}

func (d *download) appendRequest(b []byte, s *srcState, first, last int64) []byte {
	if s.useGet {
		b = append(b, "GET /get/"...)
		b = strconv.AppendUint(b, uint64(s.src.Index), 10)
		b = append(b, '/')
		b = append(b, url.PathEscape(s.src.Name)...)
	} else {
		b = append(b, "GET /uri-res/N2R?"...)
		b = d.sha1.AppendURN(b)
	}
	b = append(b, " HTTP/1.1\r\nHost: "...)
	if s.src.Addr.IsValid() {
		b = s.src.Addr.AppendTo(b)
	}
	b = append(b, "\r\nUser-Agent: "...)
	b = append(b, d.m.cfg.UserAgent...)
	b = append(b, "\r\nX-Queue: 1.1"...) // PARQ, as gtk-gnutella
	if d.m.cfg.CallbackAddr != nil {
		if self := d.m.cfg.CallbackAddr(); self.IsValid() {
			b = append(b, "\r\nX-Node: "...) // where a QUEUE callback finds us
			b = self.AppendTo(b)
		}
	}
	if q := s.queue; q.ID != "" {
		b = fmt.Appendf(b, "\r\nX-Queued: position=%d; ID=%s", q.Position, q.ID)
	}
	b = fmt.Appendf(b, "\r\nRange: bytes=%d-%d\r\nX-Gnutella-Content-URN: ", first, last)
	b = d.sha1.AppendURN(b)
	b = d.appendMesh(b, s.src.key())
	return append(b, "\r\n\r\n"...)
}

// readFull reads len(p) body bytes, moving the deadline forward as bytes
// arrive: only a stalled source times out, not a slow big chunk.
func readFull(conn net.Conn, br *bufio.Reader, p []byte, cfg ManagerConfig) error {
	for len(p) > 0 {
		_ = conn.SetReadDeadline(time.Now().Add(cfg.StallTimeout))
		n, err := br.Read(p[:cfg.Limiter.Piece(min(len(p), 256<<10))])
		p = p[n:]
		if werr := cfg.Limiter.WaitN(context.Background(), n); werr != nil && err == nil {
			err = werr
		}
		if err != nil {
			if errors.Is(err, io.EOF) && len(p) > 0 {
				return io.ErrUnexpectedEOF
			}
			if len(p) > 0 {
				return err
			}
		}
	}
	return nil
}

func drain(br *bufio.Reader, n int64, keep bool) error {
	if n < 0 {
		if keep {
			return errors.New("no Content-Length")
		}
		return nil
	}
	if n > 64<<10 {
		return errors.New("error body too long")
	}
	_, err := io.CopyN(io.Discard, br, n)
	return err
}

// snapshot returns the state file bytes.
func (d *download) snapshotLocked() ([]byte, error) {
	st := persisted{SHA1: d.sha1.Base32(), Name: d.name, Size: d.size, ChunkSize: d.chunkSize, Attempts: d.attempts}
	if !d.tth.IsZero() {
		st.TTH = d.tth.Base32()
	}
	st.Owners = make([]string, len(d.chunks))
	for i, c := range d.chunks {
		if c.done {
			st.Owners[i] = c.owner
		}
	}
	for _, k := range d.srcOrder {
		if s := d.sources[k]; !s.dead {
			st.Sources = append(st.Sources, toPersisted(s.src))
		}
	}
	for k := range d.banned {
		if k != d.suspect {
			st.Banned = append(st.Banned, k)
		}
	}
	if d.state == StateFailed {
		st.Failed = d.err
	}
	return json.Marshal(&st)
}

// save writes the state file (at most once per saveInterval unless force).
func (d *download) save(force bool) error {
	d.saveMu.Lock()
	defer d.saveMu.Unlock()
	d.mu.Lock()
	if !force && time.Now().Sub(d.lastSave) < saveInterval {
		d.mu.Unlock()
		return nil
	}
	if d.state == StateComplete || d.state == StateCancelled {
		d.mu.Unlock()
		return nil
	}
	b, err := d.snapshotLocked()
	f, anyDone := d.file, d.doneN > 0
	d.lastSave = time.Now()
	d.mu.Unlock()
	if err != nil {
		return err
	}
	// The chunks the state marks done must be on disk before it says so:
	// after a power cut, a chunk recorded done but lost from the page
	// cache would be trusted, and the file fail its SHA-1 with no one to
	// blame. Every chunk in the snapshot was written before it was marked.
	if anyDone && f != nil {
		if err := d.m.cfg.FS.Sync(f); err != nil {
			return fmt.Errorf("%w: sync %s: %w", errWrite, d.partPath, err)
		}
	}
	if err := d.m.cfg.FS.WriteFile(d.statePath, b, 0o644); err != nil {
		return fmt.Errorf("%w: save state: %w", errWrite, err)
	}
	return nil
}

// finish runs when run returns: save or delete, and signal waiters when
// the download is over.
func (d *download) finish() {
	d.mu.Lock()
	remove := d.remove
	if remove {
		d.state = StateCancelled
	}
	st := d.state
	d.unshareLocked() // no longer a partial: the QRP table drops it
	d.mu.Unlock()
	switch st {
	case StateComplete, StateCancelled:
		d.closeFile()
		if remove || st == StateCancelled {
			os.Remove(d.partPath)
		}
		os.Remove(d.statePath)
		d.m.forget(d)
		if st == StateComplete {
			d.m.saveCompleted() // before Wait returns: listed after a restart
		}
		close(d.finished)
	case StateFailed:
		d.closeFile()
		os.Remove(d.partPath)
		if err := d.save(true); err != nil {
			d.log.Warn("download: save", "err", err)
		}
		close(d.finished)
	default: // the Manager is closing: keep everything for the next Open
		if err := d.save(true); err != nil {
			d.log.Warn("download: save", "err", err)
		}
		d.closeFile()
	}
}

func (d *download) closeFile() {
	d.mu.Lock()
	f := d.file
	d.file = nil
	d.mu.Unlock()
	if f != nil {
		f.Close()
	}
}

// hashAhead feeds d.h with the completed prefix of the file as chunks
// arrive (from the page cache), until the file is hashed or ctx ends.
func (d *download) hashAhead(ctx context.Context) {
	buf := make([]byte, 1<<20)
	for {
		d.mu.Lock()
		d.takeRehashLocked()
		f, size, end := d.file, d.size, d.hashed
		for i := int(d.hashed / max(d.chunkSize, 1)); i < len(d.chunks) && d.chunks[i].done; i++ {
			end = int64(i)*d.chunkSize + d.chunkLen(i)
		}
		d.mu.Unlock()
		for d.hashed < end {
			n := min(int64(len(buf)), end-d.hashed)
			if _, err := f.ReadAt(buf[:n], d.hashed); err != nil {
				d.h.Reset() // verify starts over from the file
				d.hashed = 0
				return
			}
			d.h.Write(buf[:n])
			d.hashed += n
			if ctx.Err() != nil {
				return
			}
		}
		if size >= 0 && d.hashed >= size {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-d.progress:
		}
	}
}

// verify hashes the whole file once every chunk is in. A match moves it
// into DownloadDir; a mismatch starts the blame procedure. true: run is
// over (complete or failed).
func (d *download) verify(ctx context.Context) bool {
	if d.verified {
		return d.moveIntoPlace()
	}
	d.mu.Lock()
	d.state = StateVerifying
	f := d.file
	d.takeRehashLocked()
	d.mu.Unlock()
	// The hasher has done [0, hashed); only the tail is left.
	if _, err := io.CopyBuffer(d.h, io.NewSectionReader(f, d.hashed, d.size-d.hashed), make([]byte, 1<<20)); err != nil {
		return d.fail(fmt.Sprintf("hash: %v", err))
	}
	var sum protocol.SHA1
	d.h.Sum(sum[:0])
	d.h.Reset()
	d.hashed = 0
	if ctx.Err() != nil {
		return false
	}
	if sum == d.sha1 {
		d.verified = true
		return d.moveIntoPlace()
	}
	return d.blame(f)
}

// blame handles a whole-file SHA-1 mismatch. Every chunk on disk has a
// known owner (the source that served it), so the corrupt bytes come from
// one or more owners. One round: pick a suspect owner, ban it for this
// file, clear every chunk it served and let the other sources refill
// them, then hash again. A match proves the suspect served bad bytes: it
// stays banned. A mismatch lifts the tentative ban and tries the next
// suspect. Refetched chunks are compared with the digest of the bytes they
// replace; each difference is a dispute between two sources, and the next
// suspect is the untried owner with most disputes (then fewest chunks, the
// cheapest to refetch). A single owner is banned outright. When suspects
// run out, or after maxVerifyRounds, the whole file is restarted, then
// given up. The file is moved into DownloadDir only after a match, so a
// corrupt file never appears there.
func (d *download) blame(f *os.File) bool {
	digests := make(map[int]chunkDigest, len(d.chunks))
	buf := make([]byte, d.chunkSize)
	for i := range d.chunks {
		b := buf[:d.chunkLen(i)]
		if _, err := f.ReadAt(b, int64(i)*d.chunkSize); err != nil {
			return d.fail(fmt.Sprintf("read partial: %v", err))
		}
		digests[i] = chunkDigest{sum: sha1.Sum(b)}
	}
	d.mu.Lock()
	if d.tree != nil {
		// Chunks that passed the tree make a wrong file: the tree lied (its
		// root came from a source). Stop trusting it, and stop sharing.
		d.log.Warn("download: the file failed its SHA-1 though its chunks passed the Tiger tree; the tree is dropped")
		d.tree, d.spanOK, d.tth = nil, nil, protocol.TTH{}
		d.unshareLocked()
	}
	d.attempts++
	if d.attempts > maxVerifyRounds {
		d.mu.Unlock()
		return d.fail("SHA-1 mismatch: no combination of sources gives the file")
	}
	if d.suspect != "" { // the previous suspect was not (the only) culprit
		delete(d.banned, d.suspect)
		d.suspect = ""
	}
	owned := map[string]int{}
	for i, c := range d.chunks {
		owned[c.owner]++
		dg := digests[i]
		dg.owner = c.owner
		digests[i] = dg
	}
	d.digests = digests
	var pick string
	if len(owned) == 1 {
		for k := range owned {
			pick = k
		}
		if pick != "" {
			d.banned[pick] = true // sole author of a wrong file
			d.setWhyLocked(pick, "its data failed the SHA-1 check")
			d.log.Info("download: SHA-1 mismatch, single source banned", "source", pick)
		}
	} else {
		for k, n := range owned {
			if k == "" || d.tried[k] || d.banned[k] {
				continue
			}
			if pick == "" || d.disputes[k] > d.disputes[pick] ||
				(d.disputes[k] == d.disputes[pick] && (n < owned[pick] || (n == owned[pick] && k < pick))) {
				pick = k
			}
		}
		if pick != "" {
			d.tried[pick] = true
			d.suspect = pick
			d.banned[pick] = true
			d.setWhyLocked(pick, "its data failed the SHA-1 check")
			d.log.Info("download: SHA-1 mismatch, suspecting a source", "source", pick, "disputes", d.disputes[pick])
		}
	}
	for i := range d.chunks {
		c := &d.chunks[i]
		if pick == "" || c.owner == pick || c.owner == "" {
			if c.done {
				d.doneN--
				d.doneB -= d.chunkLen(i)
			}
			*c = chunk{}
		}
	}
	if pick == "" { // nobody left to suspect: start over with everyone
		clear(d.tried)
	}
	d.wakeIdleLocked()
	d.state = StateActive
	d.mu.Unlock()
	if err := d.save(true); err != nil {
		d.log.Warn("download: save", "err", err)
	}
	return false
}

func (d *download) setWhyLocked(key, why string) {
	if s, ok := d.sources[key]; ok {
		s.why = why
	}
}

func (d *download) fail(msg string) bool {
	d.mu.Lock()
	d.state, d.err = StateFailed, msg
	d.mu.Unlock()
	d.log.Warn("download: failed", "err", msg)
	return true
}

// moveIntoPlace renames the verified partial file into DownloadDir under
// a free name. Across filesystems: copy to a temp name in DownloadDir,
// fsync, rename. A failure (full disk) keeps the partial file and pauses
// in StateDiskError until the next try: false.
func (d *download) moveIntoPlace() bool {
	d.mu.Lock()
	f := d.file
	d.mu.Unlock()
	err := d.m.cfg.FS.Sync(f)
	if err != nil {
		err = fmt.Errorf("sync %s: %w", d.partPath, err)
	}
	var dst string
	if err == nil {
		if dst, err = d.place(); err != nil {
			err = fmt.Errorf("move into %s: %w", d.m.cfg.DownloadDir, err)
		}
	}
	if err != nil {
		d.mu.Lock()
		d.diskFailedLocked(fmt.Errorf("%w: %w", errWrite, err))
		d.mu.Unlock()
		d.log.Warn("download: verified, but cannot move it into place; paused", "err", err)
		return false
	}
	d.closeFile()
	d.mu.Lock()
	d.state, d.path, d.doneAt, d.err = StateComplete, dst, time.Now(), ""
	d.diskErrs = 0
	d.suspect = "" // confirmed culprit stays banned (in memory)
	d.mu.Unlock()
	d.log.Info("download: complete", "path", dst)
	return true
}

func (d *download) place() (string, error) {
	name := safeName(d.name, d.sha1)
	ext := filepath.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 0; i < 1000; i++ {
		cand := name
		if i > 0 {
			cand = fmt.Sprintf("%s (%d)%s", base, i, ext)
		}
		dst := filepath.Join(d.m.cfg.DownloadDir, cand)
		// Link, not rename: it fails instead of replacing an existing file.
		err := d.m.cfg.FS.Link(d.partPath, dst)
		if err == nil {
			if err := d.syncPlaced(dst); err != nil {
				return "", err
			}
			os.Remove(d.partPath)
			return dst, nil
		}
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOTSUP) {
			return dst, d.copyInto(dst)
		}
		return "", err
	}
	return "", errors.New("no free file name")
}

// copyInto copies the partial file to a hidden temp name next to dst,
// fsyncs it and renames it onto dst (used across filesystems).
func (d *download) copyInto(dst string) error {
	src, err := os.Open(d.partPath)
	if err != nil {
		return err
	}
	defer src.Close()
	tmp := filepath.Join(filepath.Dir(dst), "."+d.sha1.Base32()+".incoming")
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(&fsWriter{fs: d.m.cfg.FS, f: out}, src); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := d.m.cfg.FS.Sync(out); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	if _, err := os.Lstat(dst); err == nil {
		os.Remove(tmp)
		return os.ErrExist
	}
	if err := d.m.cfg.FS.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	if err := d.syncPlaced(dst); err != nil {
		return err
	}
	os.Remove(d.partPath)
	return nil
}

// syncPlaced makes dst's name durable before the partial file and the
// state file go, else a power cut could leave neither. On failure dst is
// removed: the retry places the file again under the same name.
func (d *download) syncPlaced(dst string) error {
	dir := filepath.Dir(dst)
	if err := d.m.cfg.FS.SyncDir(dir); err != nil {
		os.Remove(dst)
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
