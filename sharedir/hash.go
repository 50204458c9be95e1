package sharedir

import (
	"context"
	"crypto/sha1"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/servent/servent/protocol"
)

// hashBufSize is the read size: large reads keep syscalls well below the
// cost of SHA-1 itself. Each worker owns two such buffers for its lifetime.
const hashBufSize = 1 << 20

var (
	errChanged = errors.New("file changed while hashing")
	errNoMmap  = errors.New("memory mapping unavailable")
)

// mmapMin is the size from which a file is hashed from a memory mapping
// rather than read (see hashMapped); below it the mapping costs more than
// the copy it saves.
var mmapMin int64 = 4 << 20

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

// next pops a queued entry, or returns nil when the queue is empty.
func (l *Library) next() *entry {
	l.qmu.Lock()
	defer l.qmu.Unlock()
	if len(l.queue) == 0 {
		return nil
	}
	e := l.queue[0]
	l.queue[0] = nil
	l.queue = l.queue[1:]
	if len(l.queue) == 0 {
		l.queue = nil // let the backing array go
	}
	l.busy++
	return e
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

func (l *Library) hashWorker(ctx context.Context) {
	// The read buffers live while there is work: held for the node's
	// life they were 2 MiB a worker, most of an idle node's heap.
	var bufs *[2][]byte
	for {
		e := l.next()
		if e == nil {
			bufs = nil
			select {
			case <-ctx.Done():
				return
			case <-l.work:
				continue
			}
		}
		l.wakeWorker() // more may be queued: let a sibling look
		l.mu.RLock()
		skip := e.removed || e.hashed
		l.mu.RUnlock()
		failed := false
		if !skip {
			if bufs == nil {
				bufs = &[2][]byte{make([]byte, hashBufSize), make([]byte, hashBufSize)}
			}
			sum, err := l.hashFile(ctx, e, bufs)
			switch {
			case err == nil:
				l.mu.Lock()
				if !e.removed && !e.hashed {
					e.sha1, e.hashed, e.urnCode = sum, true, urnCode(sum)
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
		if ctx.Err() != nil {
			return
		}
	}
}

// hashFile streams the file through SHA-1 with the worker's buffer, and
// refuses the result if the file is not the one the index describes.
func (l *Library) hashFile(ctx context.Context, e *entry, bufs *[2][]byte) (protocol.SHA1, error) {
	var sum protocol.SHA1
	if l.hashHook != nil {
		l.hashHook(e.path)
	}
	f, err := os.Open(e.path)
	if err != nil {
		return sum, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return sum, fmt.Errorf("stat: %w", err)
	}
	if fi.Size() != e.size || fi.ModTime().UnixNano() != e.mtime || !fi.Mode().IsRegular() {
		return sum, errChanged
	}
	h := sha1.New()
	var n int64
	if e.size >= mmapMin {
		n, err = hashMapped(ctx, f, e.size, h)
	}
	if e.size < mmapMin || errors.Is(err, errNoMmap) {
		if n != 0 {
			return sum, errChanged
		}
		h.Reset()
		n, err = l.stream(ctx, f, e.size, bufs, h)
	}
	if err != nil {
		return sum, err
	}
	if n != e.size {
		return sum, errChanged
	}
	if fi, err = f.Stat(); err != nil || fi.Size() != e.size || fi.ModTime().UnixNano() != e.mtime {
		return sum, errChanged
	}
	h.Sum(sum[:0])
	return sum, nil
}

// stream feeds f to h. A file larger than one buffer is read ahead by a
// helper goroutine into the worker's second buffer while the first is
// hashed, so the read (a page-cache copy, or disk I/O when cold) overlaps
// SHA-1 instead of adding to it.
func (l *Library) stream(ctx context.Context, f *os.File, size int64, bufs *[2][]byte, h hash.Hash) (int64, error) {
	var n int64
	if size <= int64(len(bufs[0])) {
		for {
			k, err := f.Read(bufs[0])
			h.Write(bufs[0][:k])
			n += int64(k)
			if err == io.EOF {
				return n, nil
			}
			if err != nil {
				return n, fmt.Errorf("read: %w", err)
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
		h.Write(c.b)
		n += int64(len(c.b))
		free <- c.b[:cap(c.b)]
		if c.err == io.EOF {
			return n, nil
		}
		if c.err != nil {
			return n, fmt.Errorf("read: %w", c.err)
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
	}
	return n, nil
}
