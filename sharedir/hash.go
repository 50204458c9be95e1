package sharedir

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
)

// hashBufSize is the read size: large reads keep syscalls well below the
// cost of SHA-1 itself. Each worker owns two such buffers while it has
// work.
const hashBufSize = 1 << 20

var (
	errChanged = errors.New("file changed while hashing")
	errNoMmap  = errors.New("memory mapping unavailable")
)

// mmapMin is the size from which a file is hashed from a memory mapping
// rather than read (see hashMapped); below it the mapping costs more than
// the copy it saves.
var mmapMin int64 = 4 << 20

// errYield cancels the tree-only work of a file (a cache of version 1)
// when files needing a SHA-1 are queued: it starts again once they are
// hashed.
var errYield = errors.New("new files to hash first")

// enqueue queues entries for the hash workers.
func (l *Library) enqueue(es []*entry) {
	if len(es) == 0 {
		return
	}
	l.qmu.Lock()
	n := 0
	for _, e := range es {
		if e.queued || e.hashErr {
			continue
		}
		e.queued = true
		l.queue = append(l.queue, e)
		n++
	}
	if n > 0 && l.idle == nil {
		l.idle = make(chan struct{})
	}
	if n > 0 && l.treeStop != nil {
		l.treeStop(errYield)
	}
	l.qmu.Unlock()
	if n > 0 {
		l.wakeWorker()
	}
}

// enqueueTrees queues hashed entries that lack their Tiger tree (from a
// cache of version 1). They are low priority: one worker at most takes
// them, once no file waits for its SHA-1.
func (l *Library) enqueueTrees(es []*entry) {
	if len(es) == 0 || l.cfg.noTree {
		return
	}
	l.qmu.Lock()
	n := 0
	for _, e := range es {
		if e.treeQueued || e.treeErr {
			continue
		}
		e.treeQueued = true
		l.trees = append(l.trees, e)
		n++
	}
	l.qmu.Unlock()
	if n > 0 {
		l.wakeWorker()
	}
}

func (l *Library) wakeWorker() {
	select {
	case l.work <- struct{}{}:
	default:
	}
}

// next pops a queued entry, or returns nil when the queue is empty. An
// entry that needs its tree alone comes once no file waits for a SHA-1,
// and to one worker at a time (treeOnly).
func (l *Library) next() (e *entry, treeOnly bool) {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if len(l.queue) == 0 {
		if l.treeBusy || len(l.trees) == 0 {
			return nil, false
		}
		e = l.trees[0]
		l.trees[0] = nil
		l.trees = l.trees[1:]
		if len(l.trees) == 0 {
			l.trees = nil
		}
		l.treeBusy = true
		return e, true
	}
	e = l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	if len(l.queue) == 0 {
		l.queue = nil // let the backing array go
	}
	l.busy++
	return e, false
}

// done ends the work on e and wakes WaitHashed when nothing is left.
func (l *Library) done(e *entry, failed bool) {
	l.qmu.Lock()
	e.queued = false
	e.hashErr = failed
	l.busy--
	var idle chan struct{}
	if l.busy == 0 && len(l.queue) == 0 && l.idle != nil {
		idle, l.idle = l.idle, nil
	}
	l.qmu.Unlock()
	if idle != nil {
		close(idle)
		l.markDirty() // save the cache promptly once a batch is hashed
	}
}

// doneTree ends the tree-only work on e; requeue puts it back first in
// line (it yielded to new files).
func (l *Library) doneTree(e *entry, requeue, failed bool) {
	l.qmu.Lock()
	l.treeBusy = false
	e.treeQueued = requeue
	e.treeErr = failed
	if requeue {
		l.trees = slices.Insert(l.trees, 0, e)
	}
	l.qmu.Unlock()
}

// treeing reports whether trees are queued or being computed alone.
func (l *Library) treeing() bool {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	return l.treeBusy || len(l.trees) > 0
}

// workState is what a worker holds while there is work: the read buffers
// and the tree hashers.
type workState struct {
	bufs [2][]byte
	hasher
}

func (l *Library) hashWorker(ctx context.Context) {
	// The read buffers live while there is work: held for the node's
	// life they were 2 MiB a worker, most of an idle node's heap.
	var ws *workState
	state := func() *workState {
		if ws == nil {
			ws = &workState{bufs: [2][]byte{make([]byte, hashBufSize), make([]byte, hashBufSize)}}
		}
		return ws
	}
	for {
		e, treeOnly := l.next()
		if e == nil {
			ws = nil
			select {
			case <-ctx.Done():
				return
			case <-l.work:
				continue
			}
		}
		l.wakeWorker() // more may be queued: let a sibling look
		if treeOnly {
			l.treeWork(ctx, e, state)
		} else {
			l.hashWork(ctx, e, state)
		}
		if ctx.Err() != nil {
			return
		}
	}
}

// hashWork computes the SHA-1 and the tree of e.
func (l *Library) hashWork(ctx context.Context, e *entry, state func() *workState) {
	l.mu.RLock()
	skip := e.removed || e.hashed
	l.mu.RUnlock()
	failed := false
	if !skip {
		res, err := l.hashFile(ctx, e, state(), true, !l.cfg.noTree)
		switch {
		case err == nil:
			l.mu.Lock()
			if !e.removed && !e.hashed {
				e.sha1, e.hashed, e.urnCode = res.sha1, true, urnCode(res.sha1)
				if res.row != nil {
					e.setTree(res.tth, res.row)
				}
				l.linkSHA1(e)
			}
			l.mu.Unlock()
			l.cacheDirty.Store(true)
			l.markDirty()
		case ctx.Err() != nil:
		case errors.Is(err, errChanged):
			// The next scan sees the new size or mtime.
			l.log.Debug("sharedir: file changed while hashing", "path", e.path)
		default:
			failed = true
			l.log.Warn("sharedir: cannot hash file", "path", e.path, "err", err)
		}
	}
	l.done(e, failed)
}

// treeWork computes the tree alone of e, hashed already (a cache of
// version 1). New files to hash cancel it: it goes back first in line.
func (l *Library) treeWork(ctx context.Context, e *entry, state func() *workState) {
	l.mu.RLock()
	skip := e.removed || !e.hashed || e.hasTree
	l.mu.RUnlock()
	if skip {
		l.doneTree(e, false, false)
		return
	}
	tctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	l.qmu.Lock()
	l.treeStop = cancel
	if len(l.queue) > 0 {
		cancel(errYield)
	}
	l.qmu.Unlock()
	res, err := l.hashFile(tctx, e, state(), false, true)
	l.qmu.Lock()
	l.treeStop = nil
	l.qmu.Unlock()
	requeue, failed := false, false
	switch {
	case err == nil:
		l.mu.Lock()
		if !e.removed && !e.hasTree {
			e.setTree(res.tth, res.row)
		}
		l.mu.Unlock()
		l.cacheDirty.Store(true)
	case ctx.Err() != nil:
	case errors.Is(context.Cause(tctx), errYield):
		requeue = true
	case errors.Is(err, errChanged):
		l.log.Debug("sharedir: file changed while computing its tree", "path", e.path)
	default:
		failed = true
		l.log.Warn("sharedir: cannot compute Tiger tree", "path", e.path, "err", err)
	}
	l.doneTree(e, requeue, failed)
	if err == nil {
		select {
		case l.saveSoon <- struct{}{}:
		default:
		}
	}
}

// hashResult is what a read pass computed.
type hashResult struct {
	sha1 protocol.SHA1
	tth  protocol.TTH
	row  []thex.Hash // bottom row at thex.GoodDepth; nil without the tree
}

// hashFile reads the file once for its SHA-1 (wantSHA) and its Tiger tree
// (wantTree), and refuses the result if the file is not the one the index
// describes.
func (l *Library) hashFile(ctx context.Context, e *entry, ws *workState, wantSHA, wantTree bool) (hashResult, error) {
	var res hashResult
	if wantSHA && l.hashHook != nil {
		l.hashHook(e.path)
	}
	if !wantSHA && l.cfg.treeHook != nil {
		l.cfg.treeHook(e.path)
	}
	f, err := os.Open(e.path)
	if err != nil {
		return res, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return res, fmt.Errorf("stat: %w", err)
	}
	if fi.Size() != e.size || fi.ModTime().UnixNano() != e.mtime || !fi.Mode().IsRegular() {
		return res, errChanged
	}
	var d digester
	if wantSHA {
		d.sha = sha1.New()
	}
	if wantTree {
		d.tree = newRowBuilder(&ws.hasher, e.size)
		// The tree of a file that only lacks its tree is low priority:
		// one core.
		if wantSHA && e.size >= parallelMin {
			d.par = startHelper()
			defer d.par.stop()
		}
	}
	var n int64
	if e.size >= mmapMin {
		n, err = hashMapped(ctx, f, e.size, &d)
	}
	if e.size < mmapMin || errors.Is(err, errNoMmap) {
		if n != 0 {
			return res, errChanged
		}
		n, err = l.stream(ctx, f, e.size, &ws.bufs, &d)
	}
	if err != nil {
		return res, err
	}
	if n != e.size {
		return res, errChanged
	}
	if fi, err = f.Stat(); err != nil || fi.Size() != e.size || fi.ModTime().UnixNano() != e.mtime {
		return res, errChanged
	}
	if d.sha != nil {
		d.sha.Sum(res.sha1[:0])
	}
	if d.tree != nil {
		row, root, err := d.tree.finish()
		if err != nil {
			return res, err
		}
		res.row, res.tth = row, protocol.TTH(root)
	}
	return res, nil
}

// stream feeds f to d. A file larger than one buffer is read ahead by a
// helper goroutine into the worker's second buffer while the first is
// hashed, so the read (a page-cache copy, or disk I/O when cold) overlaps
// the hashing instead of adding to it. Reads are whole buffers but for
// the last, so the tree's units are never cut but at the end.
func (l *Library) stream(ctx context.Context, f *os.File, size int64, bufs *[2][]byte, d *digester) (int64, error) {
	var n int64
	if size <= int64(len(bufs[0])) {
		for {
			k, err := io.ReadFull(f, bufs[0])
			if k > 0 {
				if werr := d.write(bufs[0][:k]); werr != nil {
					return n, werr
				}
			}
			n += int64(k)
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return n, nil
			}
			if err != nil {
				return n, fmt.Errorf("read: %w", err)
			}
			if n > size {
				return n, errChanged
			}
		}
	}
	type chunk struct {
		b   []byte
		err error
	}
	full := make(chan chunk, 1)
	free := make(chan []byte, 2)
	free <- bufs[0]
	free <- bufs[1]
	done := make(chan struct{})
	go func() {
		defer close(full)
		for {
			var b []byte
			select {
			case b = <-free:
			case <-done:
				return
			}
			k, err := io.ReadFull(f, b)
			if err == io.ErrUnexpectedEOF {
				err = io.EOF
			}
			select {
			case full <- chunk{b[:k], err}:
			case <-done:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(done)
		for range full { // wait for the reader before f is closed
		}
	}()
	for c := range full {
		if err := d.write(c.b); err != nil {
			return n, err
		}
		n += int64(len(c.b))
		free <- c.b[:cap(c.b)]
		if c.err == io.EOF {
			return n, nil
		}
		if c.err != nil {
			return n, fmt.Errorf("read: %w", c.err)
		}
		if n > size {
			return n, errChanged
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
	return n, nil
}
