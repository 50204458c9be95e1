package sharedir

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/servent/servent/protocol"
)

// Defaults for Config fields left zero.
const (
	DefaultHashWorkers = 2
	// DefaultMaxResults is GTKG's search_max_items default (gnet_props.ag).
	DefaultMaxResults     = 50
	DefaultRescanInterval = 10 * time.Minute
	// urnRefresh spaces table rebuilds caused only by newly hashed files.
	urnRefresh = 30 * time.Second
)

// Config configures a Library.
type Config struct {
	Dir         string // shared folder; "" shares nothing
	DataDir     string // where the hash cache lives; "" keeps it in memory only
	HashWorkers int    // concurrent hashers; default DefaultHashWorkers
	MaxResults  int    // per query when Search is given max <= 0; default DefaultMaxResults
	// RescanInterval is the safety-net full rescan period (the file watcher
	// handles most changes); 0 means DefaultRescanInterval, < 0 never.
	RescanInterval time.Duration
	// Skip, if set, hides more files or folders (absolute path), e.g. files
	// our downloads are writing under another name.
	Skip   func(path string) bool
	Logger *slog.Logger

	// Test hooks.
	hashHook    func(path string) // called before each file is hashed
	treeHook    func(path string) // called before a hashed file's tree is computed alone
	noTree      bool              // hash SHA-1 only (the benchmarks' baseline)
	watchDelay  time.Duration     // coalescing of file-watcher events
	updateDelay time.Duration     // coalescing of index changes into a QRP rebuild
}

// File is one shared file as seen by the index.
type File struct {
	Index   uint32
	Path    string // absolute, inside the shared folder
	Name    string
	Size    int64
	ModTime time.Time
	SHA1    protocol.SHA1 // zero until hashed
	TTH     protocol.TTH  // Tiger tree root; zero until computed (see Library.Tree)
}

// Library is the shared folder: its files, their hashes, the keyword index
// and the QRP table. Queries are lock-free against an immutable snapshot.
type Library struct {
	cfg       Config
	log       *slog.Logger
	root      string // real absolute path of cfg.Dir, "" when sharing nothing
	dataRoot  string // real absolute path of cfg.DataDir
	cachePath string
	hashHook  func(string)

	scanMu      sync.Mutex // serialises scans; guards the fields below
	byRel       map[string]*entry
	nextIndex   uint32
	scanned     bool
	watcher     *fsnotify.Watcher
	watched     map[string]struct{}
	watchFailed bool

	snap atomic.Pointer[snapshot]

	mu     sync.RWMutex // entry hash fields and bySHA1
	bySHA1 map[protocol.SHA1]*entry

	qmu      sync.Mutex // hash queue
	queue    []*entry
	busy     int
	idle     chan struct{} // closed when the queue drains; nil while idle
	work     chan struct{}
	trees    []*entry                // hashed files waiting for their tree alone
	treeBusy bool                    // a worker computes a tree alone
	treeStop context.CancelCauseFunc // cancels it, to hash new files first
	saveSoon chan struct{}           // a tree computed alone: save the cache

	qrp        atomic.Pointer[protocol.QRPTable]
	dirty      chan struct{}
	changed    chan struct{}
	cacheDirty atomic.Bool
	wordsDirty atomic.Bool // the file set changed since the last table
	saveMu     sync.Mutex

	runMu   sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// Open loads the hash cache and scans the folder once, so the files are
// searchable by name when it returns. Hashing starts with Start. Close must
// be called, Start or not.
func Open(cfg Config) (*Library, error) {
	if cfg.HashWorkers <= 0 {
		cfg.HashWorkers = DefaultHashWorkers
	}
	if cfg.MaxResults <= 0 {
		cfg.MaxResults = DefaultMaxResults
	}
	if cfg.RescanInterval == 0 {
		cfg.RescanInterval = DefaultRescanInterval
	}
	if cfg.watchDelay <= 0 {
		cfg.watchDelay = time.Second
	}
	if cfg.updateDelay <= 0 {
		cfg.updateDelay = time.Second
	}
	l := &Library{
		cfg:       cfg,
		log:       cfg.Logger,
		hashHook:  cfg.hashHook,
		byRel:     map[string]*entry{},
		nextIndex: 1,
		watched:   map[string]struct{}{},
		bySHA1:    map[protocol.SHA1]*entry{},
		work:      make(chan struct{}, 1),
		dirty:     make(chan struct{}, 1),
		changed:   make(chan struct{}, 1),
		saveSoon:  make(chan struct{}, 1),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	l.snap.Store(emptySnapshot)
	if cfg.Dir != "" {
		root, err := realDir(cfg.Dir)
		if err != nil {
			return nil, fmt.Errorf("sharedir: shared folder: %w", err)
		}
		l.root = root
	}
	if cfg.DataDir != "" {
		d, err := realDir(cfg.DataDir)
		if err != nil {
			return nil, fmt.Errorf("sharedir: data folder: %w", err)
		}
		l.dataRoot = d
		l.cachePath = filepath.Join(d, cacheFile)
		l.loadCache()
	}
	if l.root != "" {
		// Events wait in the kernel queue until Start reads them; an
		// overflow there only means a rescan.
		w, err := fsnotify.NewWatcher()
		if err != nil {
			l.log.Warn("sharedir: no file watcher, relying on periodic rescans", "err", err)
		}
		l.watcher = w
	}
	if err := l.Rescan(); err != nil {
		if l.watcher != nil {
			l.watcher.Close()
		}
		return nil, err
	}
	l.qrp.Store(l.buildQRP())
	return l, nil
}

// realDir creates dir if needed and returns its absolute path with
// symbolic links resolved.
func realDir(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

func (l *Library) loadCache() {
	st, err := readCache(l.cachePath)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			l.log.Warn("sharedir: hash cache unusable, rebuilding it", "path", l.cachePath, "err", err)
		}
		return
	}
	l.nextIndex = max(st.nextIndex, 1)
	for _, r := range st.records {
		e := &entry{
			index: r.index, rel: r.rel, path: filepath.Join(l.root, filepath.FromSlash(r.rel)),
			size: r.size, mtime: r.mtime, sha1: r.sha1, hashed: r.hashed,
		}
		if e.hashed {
			e.urnCode = urnCode(e.sha1)
		}
		if r.tree {
			e.setTree(r.tth, r.row)
		}
		e.name = filepath.Base(e.path)
		e.canon = canonWords(e.name)
		l.byRel[r.rel] = e
		if e.hashed {
			l.linkSHA1(e)
		}
	}
	l.log.Debug("sharedir: hash cache loaded", "files", len(st.records))
}

// saveCache writes the cache if anything changed since the last write.
func (l *Library) saveCache() error {
	if l.cachePath == "" || !l.cacheDirty.Swap(false) {
		return nil
	}
	l.saveMu.Lock()
	defer l.saveMu.Unlock()
	l.scanMu.Lock()
	st := cacheState{nextIndex: l.nextIndex, records: make([]cacheRecord, 0, len(l.byRel))}
	l.mu.RLock()
	for _, e := range l.byRel {
		st.records = append(st.records, cacheRecord{rel: e.rel, index: e.index, size: e.size, mtime: e.mtime,
			hashed: e.hashed, sha1: e.sha1, tree: e.hasTree, tth: e.tth, row: e.bottomRow()})
	}
	l.mu.RUnlock()
	l.scanMu.Unlock()
	if err := writeCache(l.cachePath, st); err != nil {
		l.cacheDirty.Store(true)
		return err
	}
	return nil
}

// Start runs the hash workers, the file watcher and the periodic rescan
// until ctx ends or Close is called.
func (l *Library) Start(ctx context.Context) error {
	l.runMu.Lock()
	defer l.runMu.Unlock()
	if l.started || l.closed {
		return errors.New("sharedir: library already started or closed")
	}
	l.started = true
	ctx, l.cancel = context.WithCancel(ctx)
	for range l.cfg.HashWorkers {
		l.wg.Go(func() { l.hashWorker(ctx) })
	}
	l.wg.Go(func() { l.loop(ctx) })
	return nil
}

// Close stops the background work and saves the hash cache.
func (l *Library) Close() error {
	l.runMu.Lock()
	if l.closed {
		l.runMu.Unlock()
		return nil
	}
	l.closed = true
	if l.cancel != nil {
		l.cancel()
	}
	l.runMu.Unlock()
	l.wg.Wait()
	l.scanMu.Lock()
	if l.watcher != nil {
		l.watcher.Close()
		l.watcher = nil
	}
	l.scanMu.Unlock()
	return l.saveCache()
}

// watchDir adds a watch on a folder (inotify is not recursive). Called
// with scanMu held.
func (l *Library) watchDir(d string) {
	if l.watcher == nil {
		return
	}
	if _, ok := l.watched[d]; ok {
		return
	}
	if err := l.watcher.Add(d); err != nil {
		// Typically the inotify watch limit: say it once, the periodic
		// rescan covers what is not watched.
		lvl := slog.LevelDebug
		if !l.watchFailed {
			l.watchFailed, lvl = true, slog.LevelWarn
		}
		l.log.Log(context.Background(), lvl, "sharedir: cannot watch folder, relying on periodic rescans", "path", d, "err", err)
		return
	}
	l.watched[d] = struct{}{}
}

// watchDirs drops the watches of folders the last scan did not read.
// Called with scanMu held.
func (l *Library) watchDirs(dirs []string) {
	if l.watcher == nil {
		return
	}
	now := make(map[string]struct{}, len(dirs))
	for _, d := range dirs {
		now[d] = struct{}{}
	}
	for d := range l.watched {
		if _, ok := now[d]; !ok {
			l.watcher.Remove(d) // may already be gone with the folder
			delete(l.watched, d)
		}
	}
}

// hashing reports whether files are queued or being hashed.
func (l *Library) hashing() bool {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	return l.idle != nil
}

func (l *Library) markDirty() {
	select {
	case l.dirty <- struct{}{}:
	default:
	}
}

// loop coalesces file-watcher events into rescans and index changes into
// QRP rebuilds, runs the periodic rescan and saves the cache.
func (l *Library) loop(ctx context.Context) {
	var tick <-chan time.Time
	if l.cfg.RescanInterval > 0 {
		t := time.NewTicker(l.cfg.RescanInterval)
		defer t.Stop()
		tick = t.C
	}
	var events <-chan fsnotify.Event
	var werrs <-chan error
	l.scanMu.Lock()
	if l.watcher != nil {
		events, werrs = l.watcher.Events, l.watcher.Errors
	}
	l.scanMu.Unlock()

	rescanT := time.NewTimer(0)
	<-rescanT.C
	updateT := time.NewTimer(0)
	<-updateT.C
	defer rescanT.Stop()
	defer updateT.Stop()
	rescanArmed, updateArmed := false, false
	deferred := false // updateT is set for the long urn-refresh wait
	lastSave := time.Now()
	var lastUpdate time.Time
	var lastScan time.Duration
	rescan := func() {
		t0 := time.Now()
		if err := l.Rescan(); err != nil {
			l.log.Warn("sharedir: rescan failed", "err", err)
		}
		lastScan = time.Since(t0)
	}
	// A folder that keeps changing (a file being written) must not keep a
	// big library rescanning: wait at least 10 scan durations in between.
	rescanDelay := func() time.Duration { return max(l.cfg.watchDelay, 10*lastScan) }
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			rescan()
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				// A folder removed or moved loses its watch: forget it, so
				// that one created again at that path gets a new one.
				l.scanMu.Lock()
				delete(l.watched, ev.Name)
				l.scanMu.Unlock()
			}
			if ev.Op == fsnotify.Chmod || l.ignoreEvent(ev.Name) {
				continue
			}
			if !rescanArmed {
				rescanArmed = true
				rescanT.Reset(rescanDelay())
			}
		case err, ok := <-werrs:
			if !ok {
				werrs = nil
				continue
			}
			// Overflow: events were lost, the rescan finds what they said.
			l.log.Warn("sharedir: file watcher", "err", err)
			if !rescanArmed {
				rescanArmed = true
				rescanT.Reset(rescanDelay())
			}
		case <-rescanT.C:
			rescanArmed = false
			rescan()
		case <-l.saveSoon:
			// Trees computed alone (after a cache of version 1) change
			// nothing but the cache: save it when they are all done,
			// and now and then meanwhile.
			if !l.treeing() || time.Since(lastSave) > 30*time.Second {
				if err := l.saveCache(); err != nil {
					l.log.Warn("sharedir: cannot save hash cache", "err", err)
				}
				lastSave = time.Now()
			}
		case <-l.dirty:
			// A long wait (urns trickling in) is cut short once the
			// hashing ends or names change: the last urns go out now.
			if !updateArmed || (deferred && (!l.hashing() || l.wordsDirty.Load())) {
				updateArmed, deferred = true, false
				updateT.Reset(l.cfg.updateDelay)
			}
		case <-updateT.C:
			updateArmed, deferred = false, false
			hashing := l.hashing()
			// New urns alone (a big library hashing) refresh the table
			// only now and then: each new table is sent to every peer.
			if wait := urnRefresh - time.Since(lastUpdate); !l.wordsDirty.Swap(false) && hashing && wait > 0 {
				updateArmed, deferred = true, true
				updateT.Reset(wait)
				continue
			}
			l.update()
			lastUpdate = time.Now()
			// While a big library hashes, save now and then, not per file.
			if !hashing || time.Since(lastSave) > 30*time.Second {
				if err := l.saveCache(); err != nil {
					l.log.Warn("sharedir: cannot save hash cache", "err", err)
				}
				lastSave = time.Now()
			}
		}
	}
}

// ignoreEvent filters watcher events that cannot change the index.
func (l *Library) ignoreEvent(path string) bool {
	if skipName(filepath.Base(path)) {
		return true
	}
	return l.cfg.Skip != nil && l.cfg.Skip(path)
}

// update rebuilds the QRP table and tells the listener.
func (l *Library) update() {
	l.qrp.Store(l.buildQRP())
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// QRPTable is this servent's current query routing table: every canonical
// word of the shared names, GTKG's prefixes of them, and the urn of every
// hashed file. Rebuilt (coalesced) after the index changes; the returned
// table is never modified, send it with its Messages method.
func (l *Library) QRPTable() *protocol.QRPTable { return l.qrp.Load() }

// Changed signals (coalesced, buffered 1) after the index or the QRP table
// changed. Meant for one listener, the node, which then re-sends its table.
func (l *Library) Changed() <-chan struct{} { return l.changed }

// WaitHashed blocks until every indexed file is hashed (or failed to hash)
// or ctx ends. The workers run only after Start.
func (l *Library) WaitHashed(ctx context.Context) error {
	l.qmu.Lock()
	idle := l.idle
	l.qmu.Unlock()
	if idle == nil {
		return nil
	}
	select {
	case <-idle:
		return l.WaitHashed(ctx)
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Library) file(e *entry) File {
	f := File{Index: e.index, Path: e.path, Name: e.name, Size: e.size, ModTime: time.Unix(0, e.mtime), SHA1: e.sha1}
	if e.hasTree {
		f.TTH = e.tth
	}
	return f
}

// Search returns up to max files (max <= 0: Config.MaxResults) matching
// any of the SHA-1s, then files whose name holds every word of criteria as
// the start of one of its words, GTKG style ("beat help" finds
// "The Beatles - Help.mp3"). Criteria are folded like names (protocol.Keywords).
func (l *Library) Search(criteria string, sha1s []protocol.SHA1, max int) []File {
	if max <= 0 {
		max = l.cfg.MaxResults
	}
	s := l.snap.Load()
	if len(s.files) == 0 {
		return nil
	}
	var hits []*entry // most queries match nothing: allocated on the first hit
	if len(sha1s) > 0 {
		l.mu.RLock()
		for _, h := range sha1s {
			if e := l.bySHA1[h]; e != nil && len(hits) < max && !contains(hits, e) {
				if hits == nil {
					hits = make([]*entry, 0, min(max, 64))
				}
				hits = append(hits, e)
			}
		}
		l.mu.RUnlock()
	}
	if len(hits) < max && criteria != "" {
		var skip func(*entry) bool
		if len(hits) > 0 {
			n := len(hits)
			skip = func(e *entry) bool { return contains(hits[:n], e) }
		}
		// strings.Fields(Canonical) is protocol.Keywords with one
		// allocation instead of two.
		hits = s.match(strings.Fields(protocol.Canonical(criteria)), max, hits, skip)
	}
	if len(hits) == 0 {
		return nil
	}
	out := make([]File, len(hits))
	l.mu.RLock()
	for i, e := range hits {
		out[i] = l.file(e)
	}
	l.mu.RUnlock()
	return out
}

func contains(es []*entry, e *entry) bool {
	for _, x := range es {
		if x == e {
			return true
		}
	}
	return false
}

// ByIndex returns the indexed file with that index.
func (l *Library) ByIndex(index uint32) (File, bool) {
	e := l.snap.Load().byIndex(index)
	if e == nil {
		return File{}, false
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.file(e), true
}

// BySHA1 returns an indexed, hashed file with that digest.
func (l *Library) BySHA1(sum protocol.SHA1) (File, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	e := l.bySHA1[sum]
	if e == nil {
		return File{}, false
	}
	return l.file(e), true
}

// Files lists every indexed file, by index.
func (l *Library) Files() []File {
	s := l.snap.Load()
	out := make([]File, len(s.files))
	l.mu.RLock()
	for i, e := range s.files {
		out[i] = l.file(e)
	}
	l.mu.RUnlock()
	return out
}

// Hashed counts the indexed files hashed so far.
func (l *Library) Hashed() int {
	s := l.snap.Load()
	n := 0
	l.mu.RLock()
	for _, e := range s.files {
		if e.hashed {
			n++
		}
	}
	l.mu.RUnlock()
	return n
}

// Stats gives the number of indexed files and their total size in KiB.
func (l *Library) Stats() (files int, kbytes uint64) {
	s := l.snap.Load()
	return len(s.files), s.bytes / 1024
}
