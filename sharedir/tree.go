package sharedir

import (
	"fmt"
	"hash"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
)

// The Tiger tree of a file is computed in the read pass that computes its
// SHA-1, and only its row at thex.GoodDepth is kept (gtk-gnutella's
// tth_cache, GNUTELLA-TRANSFERS.md 23.5): at most 2048 nodes (48 KiB) for
// files of 1 GiB and more, the root alone below 256 KiB. Tree builds the
// rows above when the tree is served.
//
// Each bottom-row node is the tree root of its span of the file (the spans
// are aligned on their own size, a power of two of 1024-byte leaves), so
// the spans are independent. They are hashed in units of at most unitMax
// bytes whose roots are folded into the node: the units of a chunk are
// shared between the hashing worker and a helper goroutine. The worker
// first hands the chunk to the helper, runs SHA-1 over it, then takes the
// units the helper has not reached: on two cores SHA-1 (about twice as
// fast as the tree) and the tree share the machine.

// unitMax is the largest unit of tree work (a power of two of leaves).
const unitMax = 64 << 10

// parallelMin is the smallest file whose tree is shared with a helper
// goroutine: below it the hand-over costs more than it saves.
const parallelMin = 4 * unitMax

// hasher holds what a worker reuses from file to file for the tree: two
// Tiger tree hashers and scratch rows.
type hasher struct {
	carry thex.Hasher // the unit in progress across chunks
	work  thex.Hasher // whole units
	units []thex.Hash // roots of a chunk's whole units
	group []thex.Hash // unit roots of the bottom-row node in progress
	job   treeJob     // a chunk's whole units
}

// rowBuilder computes the bottom row of one file from its bytes, in order.
type rowBuilder struct {
	*hasher
	size  int64
	depth int
	span  int64 // bytes under a bottom-row node
	unit  int   // bytes per unit, dividing span
	part  int   // bytes of the unit in progress, in carry
	n     int64 // bytes written
	row   []thex.Hash
}

func newRowBuilder(hs *hasher, size int64) *rowBuilder {
	depth := thex.GoodDepth(size)
	span := thex.SpanSize(size, depth)
	r := &rowBuilder{hasher: hs, size: size, depth: depth, span: span, unit: int(min(span, unitMax))}
	r.carry.Reset()
	r.group = r.group[:0]
	// The row of a file that grows while it is read is thrown away: do
	// not let it grow past the expected size.
	r.row = make([]thex.Hash, 0, thex.NodeCount(size, depth))
	return r
}

// add appends the root of the next unit.
func (r *rowBuilder) add(u thex.Hash) {
	r.group = append(r.group, u)
	if int64(len(r.group))*int64(r.unit) == r.span {
		r.flush()
	}
}

// flush folds the unit roots of the node in progress into the row.
func (r *rowBuilder) flush() {
	g := r.group
	for len(g) > 1 {
		h := len(g) / 2
		for i := range h {
			g[i] = thex.NodeHash(g[2*i], g[2*i+1])
		}
		if len(g)%2 == 1 {
			g[h] = g[len(g)-1]
			h++
		}
		g = g[:h]
	}
	if len(r.row) < cap(r.row) {
		r.row = append(r.row, g[0])
	}
	r.group = r.group[:0]
}

// split cuts p into the bytes that complete the unit in progress, whole
// units, and the start of the next unit.
func (r *rowBuilder) split(p []byte) (head, whole, tail []byte) {
	if r.part > 0 {
		k := min(len(p), r.unit-r.part)
		head, p = p[:k], p[k:]
	}
	w := len(p) / r.unit * r.unit
	return head, p[:w], p[w:]
}

// unitRoots is the scratch for the roots of n whole units.
func (r *rowBuilder) unitRoots(n int) []thex.Hash {
	if cap(r.units) < n {
		r.units = make([]thex.Hash, n)
	}
	return r.units[:n]
}

// writeHead adds bytes that complete (or continue) the unit in progress.
func (r *rowBuilder) writeHead(head []byte) {
	if len(head) == 0 {
		return
	}
	r.carry.Write(head)
	r.part += len(head)
	if r.part == r.unit {
		r.add(r.carry.Root())
		r.carry.Reset()
		r.part = 0
	}
}

// finish completes the row once every byte was written. It fails when the
// row does not have the node count of the file's size (bytes missing or
// in excess: the caller sees that as a changed file).
func (r *rowBuilder) finish() ([]thex.Hash, thex.Hash, error) {
	if r.part > 0 || r.n == 0 {
		r.add(r.carry.Root())
		r.carry.Reset()
		r.part = 0
	}
	if len(r.group) > 0 {
		r.flush()
	}
	if r.n != r.size || int64(len(r.row)) != thex.NodeCount(r.size, r.depth) {
		return nil, thex.Hash{}, fmt.Errorf("%w: tree of %d bytes, want %d", errChanged, r.n, r.size)
	}
	return r.row, thex.RootOf(r.row), nil
}

// treeJob is the whole units of one chunk, hashed by whoever takes them.
type treeJob struct {
	p    []byte
	unit int
	out  []thex.Hash
	next atomic.Int64
}

// work hashes units of j until none is left.
func (j *treeJob) work(h *thex.Hasher) {
	for {
		i := int(j.next.Add(1) - 1)
		if i >= len(j.out) {
			return
		}
		h.Reset()
		h.Write(j.p[i*j.unit : (i+1)*j.unit])
		j.out[i] = h.Root()
	}
}

// helper is the goroutine that shares a file's tree units with the worker.
type helper struct {
	jobs chan *treeJob
	ack  chan error
	wg   sync.WaitGroup
	h    thex.Hasher
}

func startHelper() *helper {
	hp := &helper{jobs: make(chan *treeJob, 1), ack: make(chan error, 1)}
	hp.wg.Go(func() {
		// The chunks may be a memory mapping of a file that shrinks: a
		// fault is an error here as in the worker (hashMapped).
		debug.SetPanicOnFault(true)
		for j := range hp.jobs {
			hp.ack <- guard(func() { j.work(&hp.h) })
		}
	})
	return hp
}

// stop ends the helper goroutine and waits for it.
func (hp *helper) stop() {
	close(hp.jobs)
	hp.wg.Wait()
}

// guard runs f, turning a fault reading a memory mapping (the file was
// truncated) into an error.
func guard(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			if re, ok := r.(runtime.Error); ok {
				if _, ok := re.(interface{ Addr() uintptr }); ok {
					err = fmt.Errorf("%w: fault reading mapping: %v", errChanged, r)
					return
				}
			}
			panic(r)
		}
	}()
	f()
	return nil
}

// digester consumes a file's bytes in order for its SHA-1 and its tree.
type digester struct {
	sha  hash.Hash   // nil: the tree only
	tree *rowBuilder // nil: SHA-1 only
	par  *helper     // nil: the tree in the caller only
}

// write hashes the next chunk of the file. The chunk is not used once it
// returns (the helper has let go of it too), even on error.
func (d *digester) write(p []byte) error {
	r := d.tree
	if r == nil {
		return guard(func() { d.sha.Write(p) })
	}
	r.n += int64(len(p))
	head, whole, tail := r.split(p)
	j := &r.job
	j.p, j.unit, j.out = whole, r.unit, r.unitRoots(len(whole)/r.unit)
	j.next.Store(0)
	shared := d.par != nil && len(j.out) >= 2
	var helperErr error
	err := guard(func() {
		if shared {
			d.par.jobs <- j
			// From here the helper reads the chunk: wait for it
			// whatever happens below.
			defer func() { helperErr = <-d.par.ack }()
		}
		if d.sha != nil {
			d.sha.Write(p)
		}
		r.writeHead(head)
		j.work(&r.work)
		if len(tail) > 0 {
			r.carry.Write(tail)
			r.part = len(tail)
		}
	})
	j.p = nil
	if err == nil {
		err = helperErr
	}
	if err != nil {
		return err
	}
	for _, u := range j.out {
		r.add(u)
	}
	return nil
}

// setTree stores a computed tree in e. Called with mu held.
func (e *entry) setTree(tth protocol.TTH, row []thex.Hash) {
	e.tth, e.hasTree = tth, true
	e.row = nil
	if len(row) > 1 {
		e.row = slices.Clip(row)
	}
}

// bottomRow is e's stored bottom row (the root alone at depth 0). Called
// with mu held; the row is never modified once stored.
func (e *entry) bottomRow() []thex.Hash {
	if !e.hasTree {
		return nil
	}
	if e.row == nil {
		return []thex.Hash{thex.Hash(e.tth)}
	}
	return e.row
}

// Tree is the Tiger tree of a shared, hashed file with that SHA-1: its
// root and rows down to thex.GoodDepth of its size, built from the stored
// bottom row (the caller may keep and modify it). False when no shared
// file has that SHA-1 or its tree is not computed yet.
func (l *Library) Tree(sum protocol.SHA1) (*thex.Tree, bool) {
	var (
		e   *entry
		tth protocol.TTH
		row []thex.Hash
	)
	l.mu.RLock()
	for x := l.bySHA1[sum]; x != nil; x = x.sameNext {
		if x.hasTree {
			e, tth, row = x, x.tth, x.bottomRow()
			break
		}
	}
	l.mu.RUnlock()
	if e == nil {
		return nil, false
	}
	t, err := thex.NewTree(e.size, thex.GoodDepth(e.size), slices.Clone(row))
	if err == nil && protocol.TTH(t.Root()) != tth {
		err = fmt.Errorf("bottom row folds to %s, want %s", t.Root(), thex.Hash(tth))
	}
	if err != nil {
		// Only a bug or a forged cache gets here: compute it again.
		l.log.Warn("sharedir: stored Tiger tree unusable, computing it again", "path", e.path, "err", err)
		l.mu.Lock()
		if e.hasTree && e.tth == tth {
			e.hasTree, e.tth, e.row = false, protocol.TTH{}, nil
		}
		l.mu.Unlock()
		l.enqueueTrees([]*entry{e})
		return nil, false
	}
	return t, true
}
