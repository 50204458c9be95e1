package transfer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/bwlimit"
)

// ManagerConfig configures a download Manager. Zero values take defaults.
type ManagerConfig struct {
	// Features are more X-Features for our requests, after fwalt/0.1
	// (the node's IP/6.0 or IP/6.4: the uploader may send IPv6 sources).
	Features string
	// Limiter caps what all downloads read together (nil: no cap).
	Limiter *bwlimit.Limiter
	// DataDir holds the queue (one state file per download) and the partial
	// files; DownloadDir receives verified files. Keep both on the same
	// filesystem so completion is a rename (else copy, fsync, rename).
	DataDir, DownloadDir string
	// Dial opens TCP connections (default net.Dialer).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// SendPush asks the node to route a Push for src (its ServentGUID and
	// Index) along the QueryHit's route; the source then connects to our
	// port and the node hands the connection to HandleGIV. nil: push
	// sources are not used.
	SendPush func(src Source) error
	// CallbackAddr is our listening address when others can reach it, sent
	// as X-Node so that an uploader that queued us can call us back
	// (QUEUE, handed to HandleQUEUE). nil or invalid: not sent.
	CallbackAddr func() netip.AddrPort
	// PartialsChanged, when set, is called (with no lock a caller could
	// need) when a download starts or stops being shareable (PFSP), so
	// that the node's QRP table names it. It must not block.
	PartialsChanged func()
	// ChunkSize is the unit of swarming, resume and blame; default 512 KiB.
	ChunkSize int64
	// MaxConnsPerFile bounds the sources fetched from at once; default 6.
	MaxConnsPerFile int
	// ConnectTimeout (default 10s), StallTimeout: longest wait for any byte
	// of a response (default 30s), PushTimeout: wait for the GIV after a
	// Push (default 30s).
	ConnectTimeout, StallTimeout, PushTimeout time.Duration
	// RetryBackoff is the first delay after a source failed (doubled per
	// failure, capped at 10 min); default 5s. A source is dropped after
	// MaxSourceFailures consecutive failures (default 5).
	RetryBackoff      time.Duration
	MaxSourceFailures int
	// DiskRetry is the first delay after a write to our disk failed (full
	// disk, read-only folder): the download pauses in StateDiskError,
	// keeps its data and sources, and tries again after it (doubled per
	// failure, capped at 5 min); default 10s.
	DiskRetry time.Duration
	UserAgent string // default "servent/0.1"
	// Now is accepted for symmetry with the node's config but not used:
	// retries, saves and deadlines run on the real clock (a frozen test
	// clock would stop retries).
	Now    func() time.Time
	Logger *slog.Logger
	// FS makes the download path's writes (default: the os package).
	FS FS
}

// DownloadState is where a download stands.
type DownloadState string

// Download states. Info.Err says why for StateStalled, StateDiskError,
// StateGone and StateFailed.
const (
	StateActive  DownloadState = "active"  // fetching
	StateWaiting DownloadState = "waiting" // every source is busy or backing off after a failure
	// StateStalled: no usable source is left (all dropped or banned); a new
	// source (AddSources, Start) resumes it.
	StateStalled DownloadState = "stalled"
	// StateDiskError: a write to our disk failed; the data and sources are
	// kept and the write is retried after DiskRetry (backing off).
	StateDiskError DownloadState = "disk-error"
	StateVerifying DownloadState = "verifying" // hashing the whole file
	StateComplete  DownloadState = "complete"  // verified, in DownloadDir
	// StateGone: it completed, but the file is no longer at Path.
	StateGone      DownloadState = "gone"
	StateFailed    DownloadState = "failed"    // given up (every combination of sources fails the SHA-1)
	StateCancelled DownloadState = "cancelled" // being removed; never listed
)

// Info is a snapshot of one download.
type Info struct {
	SHA1    protocol.SHA1
	Name    string
	Size    int64
	Done    int64 // bytes in verified-by-nothing-yet but complete chunks
	State   DownloadState
	Sources int // known, not banned
	Active  int // being fetched from now
	Banned  int
	Path    string // final path once complete
	Err     string
	// ChunkMap is the file in at most MaxChunkCells cells, each a run of
	// chunks: '.' none done, '>' one being fetched, '+' some done, or a
	// letter when all are done, 'a' for the source ChunkSources[0] of the
	// first of them, 'b' for [1]... ('#' past 26 sources).
	ChunkMap     string
	ChunkSources []string
	// QueuePosition is our best place in the line of a source that queued
	// us (PARQ), 0 when none does.
	QueuePosition int
	// TTH is the Tiger tree root expected (zero when unknown); TreeChecked
	// says chunks are checked against the tree as they arrive, Corrupt
	// counts the bytes thrown away because they failed it (fetched again).
	TTH         protocol.TTH
	TreeChecked bool
	Corrupt     int64
}

// MaxChunkCells bounds Info.ChunkMap.
const MaxChunkCells = 256

// Manager runs the downloads. Open it once per DataDir.
type Manager struct {
	cfg    ManagerConfig
	log    *slog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	received atomic.Uint64 // chunk bytes written, over every download
	sharing  atomic.Int32  // downloads holding checked bytes (PFSP), for Sharing

	mu        sync.Mutex
	downloads map[protocol.SHA1]*download
	order     []protocol.SHA1
	pushWait  map[pushKey]chan givConn
	closed    bool

	completedMu sync.Mutex // serialises writes of completed.json
}

type pushKey struct {
	guid  protocol.GUID
	index uint32
}

type givConn struct {
	conn net.Conn
	br   *bufio.Reader
}

var (
	// ErrClosed: the Manager was closed.
	ErrClosed = errors.New("transfer: manager closed")
	// ErrUnknown: no download for that urn.
	ErrUnknown = errors.New("transfer: no such download")
)

// MaxFileSize is the largest file we download: sizes come from the network
// (GGEP LF, Content-Length) and the chunk table is allocated from them.
const MaxFileSize = 1 << 40

const (
	partialDir  = "partial"
	stateSuffix = ".state"
	partSuffix  = ".part"
)

// Open loads the persisted queue from DataDir and resumes unfinished
// downloads.
func Open(cfg ManagerConfig) (*Manager, error) {
	if cfg.DataDir == "" || cfg.DownloadDir == "" {
		return nil, errors.New("transfer: DataDir and DownloadDir are required")
	}
	if cfg.Dial == nil {
		var d net.Dialer
		cfg.Dial = d.DialContext
	}
	if cfg.ChunkSize <= 0 {
		cfg.ChunkSize = 512 << 10
	}
	if cfg.MaxConnsPerFile <= 0 {
		cfg.MaxConnsPerFile = 6
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.StallTimeout <= 0 {
		cfg.StallTimeout = 30 * time.Second
	}
	if cfg.PushTimeout <= 0 {
		cfg.PushTimeout = 30 * time.Second
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = 5 * time.Second
	}
	if cfg.MaxSourceFailures <= 0 {
		cfg.MaxSourceFailures = 5
	}
	if cfg.DiskRetry <= 0 {
		cfg.DiskRetry = 10 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "servent/0.1"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.FS == nil {
		cfg.FS = osFS{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for _, d := range []string{filepath.Join(cfg.DataDir, partialDir), cfg.DownloadDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("transfer: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		downloads: make(map[protocol.SHA1]*download), pushWait: make(map[pushKey]chan givConn)}
	states, err := loadStates(filepath.Join(cfg.DataDir, partialDir))
	if err != nil {
		cancel()
		return nil, err
	}
	var resumed []*download
	for _, st := range states {
		d, err := m.newDownload(st)
		if err != nil {
			log.Warn("download: cannot resume", "urn", st.SHA1, "err", err)
			continue
		}
		m.downloads[d.sha1] = d
		m.order = append(m.order, d.sha1)
		resumed = append(resumed, d)
	}
	// Before any download runs: loadCompleted fills m.downloads and
	// m.order without m.mu, and a resumed download that finishes at once
	// changes them (forget, saveCompleted).
	m.loadCompleted()
	for _, d := range resumed {
		m.launch(d)
	}
	return m, nil
}

// loadCompleted lists the downloads completed before the restart, ahead of
// the unfinished ones; a partial download of the same file wins.
func (m *Manager) loadCompleted() {
	path := filepath.Join(m.cfg.DataDir, completedFile)
	recs, err := readCompleted(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("download: completed list unreadable, starting a new one", "err", err)
		}
		return
	}
	kept := keepCompleted(recs, time.Now(), maxCompleted)
	var order []protocol.SHA1
	for _, r := range kept {
		d, ok := m.newCompleted(r)
		if !ok || m.downloads[d.sha1] != nil {
			continue
		}
		m.downloads[d.sha1] = d
		order = append(order, d.sha1)
	}
	m.order = append(order, m.order...)
	if len(kept) != len(recs) {
		m.saveCompleted() // aged out
	}
}

// Close stops every download, saves its progress and waits for all
// goroutines. Unfinished downloads resume on the next Open.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	if m.cancel == nil { // zero Manager
		m.mu.Unlock()
		return nil
	}
	waits := m.pushWait
	m.pushWait = map[pushKey]chan givConn{}
	m.mu.Unlock()
	m.cancel()
	m.wg.Wait()
	for _, ch := range waits {
		select {
		case g := <-ch:
			g.conn.Close()
		default:
		}
	}
	return nil
}

// Start queues a download of the file with this urn, or adds the sources
// to the existing one. size is the file's size in bytes, or -1 when only
// the urn is known: the size is then asked from the sources (HEAD).
func (m *Manager) Start(sha1 protocol.SHA1, name string, size int64, sources []Source) (Info, error) {
	if m.ctx == nil {
		return Info{}, errors.New("transfer: Manager not opened (use transfer.Open)")
	}
	if sha1.IsZero() {
		return Info{}, errors.New("transfer: download needs a sha1")
	}
	if size < -1 || size > MaxFileSize {
		return Info{}, fmt.Errorf("transfer: bad size %d", size)
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return Info{}, ErrClosed
	}
	if d, ok := m.downloads[sha1]; ok && d.restartable() {
		m.mu.Unlock()
		d.addSources(sources)
		return d.info(), nil
	}
	st := &persisted{SHA1: sha1.Base32(), Name: name, Size: size, ChunkSize: m.cfg.ChunkSize}
	for _, s := range sources {
		st.Sources = append(st.Sources, toPersisted(s))
	}
	d, err := m.newDownload(st)
	if err != nil {
		m.mu.Unlock()
		return Info{}, err
	}
	prev, hadPrev := m.downloads[sha1]
	if !hadPrev {
		m.order = append(m.order, sha1)
	}
	m.downloads[sha1] = d
	m.mu.Unlock()
	if hadPrev {
		defer m.saveCompleted() // prev may have been listed there
	}
	if err := d.save(true); err != nil {
		// Undo: a download left in the list would never run.
		m.mu.Lock()
		if m.downloads[sha1] == d {
			if hadPrev {
				m.downloads[sha1] = prev
			} else {
				delete(m.downloads, sha1)
				m.order = slices.DeleteFunc(m.order, func(s protocol.SHA1) bool { return s == sha1 })
			}
		}
		m.mu.Unlock()
		d.closeFile()
		os.Remove(d.partPath)
		return Info{}, err
	}
	m.launch(d)
	return d.info(), nil
}

// AddSources gives a running download more sources (query hits, X-Alt);
// false if there is no such download.
func (m *Manager) AddSources(sha1 protocol.SHA1, sources ...Source) bool {
	m.mu.Lock()
	d, ok := m.downloads[sha1]
	m.mu.Unlock()
	if !ok || !d.restartable() {
		return false
	}
	d.addSources(sources)
	return true
}

// List returns every download, in the order they were started.
func (m *Manager) List() []Info {
	m.mu.Lock()
	ds := make([]*download, 0, len(m.order))
	for _, s := range m.order {
		ds = append(ds, m.downloads[s])
	}
	m.mu.Unlock()
	out := make([]Info, 0, len(ds))
	for _, d := range ds {
		if in := d.info(); in.State != StateCancelled { // going away
			out = append(out, in)
		}
	}
	return out
}

// BytesReceived counts the chunk bytes written, over every download.
func (m *Manager) BytesReceived() uint64 { return m.received.Load() }

// download is sha1's download, nil when there is none.
func (m *Manager) download(sha1 protocol.SHA1) *download {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.downloads[sha1]
}

// Get returns one download.
func (m *Manager) Get(sha1 protocol.SHA1) (Info, bool) {
	d := m.download(sha1)
	if d == nil {
		return Info{}, false
	}
	in := d.info()
	return in, in.State != StateCancelled
}

// Cancel stops a download and deletes its partial file and state. A
// finished download (complete or failed) is only removed from the list;
// a completed file stays where it is.
func (m *Manager) Cancel(sha1 protocol.SHA1) error {
	m.mu.Lock()
	d, ok := m.downloads[sha1]
	if ok {
		select {
		case <-d.finished:
			delete(m.downloads, sha1)
			m.order = slices.DeleteFunc(m.order, func(s protocol.SHA1) bool { return s == sha1 })
			m.mu.Unlock()
			if d.statePath != "" {
				os.Remove(d.statePath)
			}
			m.saveCompleted()
			return nil
		default:
		}
	}
	m.mu.Unlock()
	if !ok {
		return ErrUnknown
	}
	d.stop(true)
	// Wait until its files are gone, so that a Start for the same urn right
	// after cannot share (and lose) the partial file.
	select {
	case <-d.finished:
	case <-m.ctx.Done():
	}
	return nil
}

// Wait blocks until the download completes, fails or is cancelled, or ctx
// ends.
func (m *Manager) Wait(ctx context.Context, sha1 protocol.SHA1) (Info, error) {
	m.mu.Lock()
	d, ok := m.downloads[sha1]
	m.mu.Unlock()
	if !ok {
		return Info{}, ErrUnknown
	}
	select {
	case <-d.finished:
		return d.info(), nil
	case <-ctx.Done():
		return d.info(), ctx.Err()
	}
}

// AltLocs lists the direct sources known for sha1 (for the Uploader's
// X-Alt), banned ones excluded.
func (m *Manager) AltLocs(sha1 protocol.SHA1) (out []netip.AddrPort) {
	m.eachGoodSource(sha1, func(src *Source) bool {
		if !src.Push && src.Addr.IsValid() {
			out = append(out, src.Addr)
		}
		return true
	})
	return out
}

// HandleGIV takes a connection on which a firewalled source sent
// "GIV index:guid/name" (already read from br by ReadGIVLine) and runs the
// download waiting for that source on it. Unexpected GIVs are closed.
func (m *Manager) HandleGIV(conn net.Conn, br *bufio.Reader, line string) {
	index, guid, _, err := ParseGIV(line)
	if m.log == nil { // zero Manager (not opened): nobody can wait
		conn.Close()
		return
	}
	if err != nil {
		m.log.Debug("giv: bad line", "peer", conn.RemoteAddr(), "err", err)
		conn.Close()
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := pushKey{guid, index}
	ch, ok := m.pushWait[k]
	if !ok {
		// Some servents put another index in the GIV: accept the GUID alone
		// when exactly one push to that servent is pending.
		n := 0
		for wk, wch := range m.pushWait {
			if wk.guid == guid {
				k, ch, n = wk, wch, n+1
			}
		}
		ok = n == 1
	}
	if !ok {
		m.log.Debug("giv: nobody waits", "peer", conn.RemoteAddr(), "guid", guid, "index", index)
		conn.Close()
		return
	}
	delete(m.pushWait, k)
	ch <- givConn{conn, br} // buffered 1; sent under mu so cancel cannot miss it
}

// awaitGIV registers interest in a GIV from src; the returned cancel
// unregisters it.
func (m *Manager) awaitGIV(src Source) (<-chan givConn, func(), error) {
	k := pushKey{src.ServentGUID, src.Index}
	ch := make(chan givConn, 1)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, nil, ErrClosed
	}
	if _, busy := m.pushWait[k]; busy {
		return nil, nil, errors.New("transfer: push to that source already pending")
	}
	m.pushWait[k] = ch
	return ch, func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.pushWait[k] == ch {
			delete(m.pushWait, k)
		}
		select { // a GIV that arrived but was not taken
		case g := <-ch:
			g.conn.Close()
		default:
		}
	}, nil
}

func (m *Manager) launch(d *download) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		d.run()
	}()
}

func (m *Manager) forget(d *download) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.downloads[d.sha1] == d && d.state == StateCancelled {
		delete(m.downloads, d.sha1)
		m.order = slices.DeleteFunc(m.order, func(s protocol.SHA1) bool { return s == d.sha1 })
	}
}
