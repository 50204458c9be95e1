package thex

import (
	"hash"
	"sync"
	"sync/atomic"

	"github.com/servent/servent/protocol/tiger"
)

// keepLimit: once this many nodes of the kept row are complete, the row
// moves up a level. The row for a depth of at most MaxDepth is never below
// the kept level then (the file has more than 2^MaxDepth nodes at that
// level), and it stays under about 3000 nodes (72 KiB).
const keepLimit = 1<<MaxDepth + 2

// leafBatch is how many leaves Write hashes before folding them in: whole
// threes for tiger.SumPrefixed3 and whole 256-leaf subtrees.
const leafBatch = 3 * 256

type entry struct {
	level int
	h     Hash
}

// Hasher computes the tree of a stream of bytes. It is a hash.Hash (Sum
// appends the root) and, at any point, Tree gives the rows down to
// GoodDepth of the bytes written so far. It keeps O(log n) nodes for the
// root plus one row of at most a few thousand nodes for Tree: it never
// holds all the leaves of a large file.
//
// Whole blocks of the written slices are hashed in place, three leaves at
// a time (tiger.SumPrefixed3), and runs of leaves are folded into subtrees
// two nodes at a time before they join the tree.
type Hasher struct {
	n      int64 // bytes written
	leaves int64 // complete leaves folded in
	buf    [SegmentSize]byte
	nbuf   int
	stack  []entry // subtree roots, levels strictly decreasing
	level  int     // level of the kept row
	kept   []Hash  // complete nodes at level, left to right
	batch  []Hash

	workers int // SetWorkers
}

// parallelMin is the smallest write whose leaves SetWorkers spreads over
// goroutines: below it the hand-over costs more than it saves.
const parallelMin = 64 * SegmentSize

// parallelTask is the number of leaves a worker takes at a time (a
// multiple of 3, so that leaves go in threes).
const parallelTask = 33

// SetWorkers makes Write hash the leaves of each write of at least 64 KiB
// in n goroutines (1, the default, hashes in the caller). A file hasher
// that reads in one goroutine, runs SHA-1 there and hands the chunks to the
// tree in a second one gets the most out of two cores with n = 2: SHA-1 is
// more than twice as fast as the tree and the leaves are 94% of the tree's
// work, so the core that waits for the tree takes leaves (see the FileHash
// benchmarks: about 0.6 of SHA-1 alone's speed against 0.5 with n = 1).
func (h *Hasher) SetWorkers(n int) { h.workers = max(n, 1) }

var _ hash.Hash = (*Hasher)(nil)

// New returns an empty Hasher (the zero Hasher is ready too).
func New() *Hasher { return new(Hasher) }

// Size is HashSize.
func (h *Hasher) Size() int { return HashSize }

// BlockSize is SegmentSize.
func (h *Hasher) BlockSize() int { return SegmentSize }

// Len is the number of bytes written.
func (h *Hasher) Len() int64 { return h.n }

// Reset empties the Hasher, keeping its buffers.
func (h *Hasher) Reset() {
	h.n, h.leaves, h.nbuf, h.level = 0, 0, 0, 0
	h.stack = h.stack[:0]
	h.kept = h.kept[:0]
}

// Write adds p to the stream. It never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	n := len(p)
	h.n += int64(n)
	if h.nbuf > 0 {
		k := copy(h.buf[h.nbuf:], p)
		h.nbuf += k
		p = p[k:]
		if h.nbuf < SegmentSize {
			return n, nil
		}
		h.addLeaves(h.buf[:])
		h.nbuf = 0
	}
	if whole := len(p) / SegmentSize * SegmentSize; whole > 0 {
		h.addLeaves(p[:whole])
		p = p[whole:]
	}
	h.nbuf = copy(h.buf[:], p)
	return n, nil
}

// hashLeaves writes the leaf hashes of the whole blocks of p into row,
// three at a time (tiger.SumPrefixed3).
func hashLeaves(row []Hash, p []byte) {
	k := len(row)
	i := 0
	for ; i+2 < k; i += 3 {
		b := p[i*SegmentSize : (i+3)*SegmentSize]
		row[i], row[i+1], row[i+2] = tiger.SumPrefixed3(0x00, b[:SegmentSize], b[SegmentSize:2*SegmentSize], b[2*SegmentSize:])
	}
	switch k - i {
	case 2:
		b := p[i*SegmentSize : (i+2)*SegmentSize]
		row[i], row[i+1] = tiger.SumPrefixed2(0x00, b[:SegmentSize], b[SegmentSize:])
	case 1:
		row[i] = LeafHash(p[i*SegmentSize : (i+1)*SegmentSize])
	}
}

// addLeaves hashes the whole blocks of p and folds them in.
func (h *Hasher) addLeaves(p []byte) {
	if h.workers > 1 && len(p) >= parallelMin {
		h.addLeavesParallel(p)
	} else {
		if cap(h.batch) < leafBatch {
			h.batch = make([]Hash, leafBatch)
		}
		for len(p) > 0 {
			k := min(len(p)/SegmentSize, leafBatch)
			row := h.batch[:k]
			hashLeaves(row, p)
			h.addRow(row)
			p = p[k*SegmentSize:]
		}
	}
	for len(h.kept) >= keepLimit {
		h.kept = h.kept[:len(h.kept)/2*2]
		parentsInto(h.kept, h.kept)
		h.kept = h.kept[:len(h.kept)/2]
		h.level++
	}
}

// addLeavesParallel hashes the leaves of p in h.workers goroutines, the
// caller's among them, then folds them in. The goroutines take runs of
// parallelTask leaves in turn until none are left, so that one that starts
// late (its core busy, say with the file's SHA-1) takes less.
func (h *Hasher) addLeavesParallel(p []byte) {
	k := len(p) / SegmentSize
	if cap(h.batch) < k {
		h.batch = make([]Hash, k)
	}
	row := h.batch[:k]
	var next atomic.Int64
	work := func() {
		for {
			lo := int(next.Add(parallelTask) - parallelTask)
			if lo >= k {
				return
			}
			hashLeaves(row[lo:min(lo+parallelTask, k)], p[lo*SegmentSize:])
		}
	}
	var wg sync.WaitGroup
	for range h.workers - 1 {
		wg.Go(work)
	}
	work()
	wg.Wait()
	h.addRow(row)
}

// addRow folds row, the hashes of the next len(row) leaves, into the tree.
// It cuts row into the largest subtrees that start at a multiple of their
// size, folds each in place, and pushes its root. row is clobbered.
func (h *Hasher) addRow(row []Hash) {
	for len(row) > 0 {
		s := 1
		for s*2 <= len(row) && (h.leaves%int64(s*2) == 0) {
			s *= 2
		}
		sub := row[:s]
		lv := 0
		for ; len(sub) > 1; lv++ {
			if lv == h.level {
				h.kept = append(h.kept, sub...)
			}
			parentsInto(sub, sub)
			sub = sub[:len(sub)/2]
		}
		h.stack = push(h.stack, lv, sub[0], h.level, &h.kept)
		h.leaves += int64(s)
		row = row[s:]
	}
}

// push adds a subtree root at level to stack and merges equal levels; each
// node made or pushed at keepLevel is appended to *kept.
func push(stack []entry, level int, x Hash, keepLevel int, kept *[]Hash) []entry {
	if level == keepLevel {
		*kept = append(*kept, x)
	}
	for len(stack) > 0 && stack[len(stack)-1].level == level {
		x = NodeHash(stack[len(stack)-1].h, x)
		level++
		stack = stack[:len(stack)-1]
		if level == keepLevel {
			*kept = append(*kept, x)
		}
	}
	return append(stack, entry{level, x})
}

// finish computes the root and the kept row completed by the pending
// bytes, without changing h.
func (h *Hasher) finish(wantRow bool) (root Hash, row []Hash) {
	var st [64]entry
	stack := append(st[:0], h.stack...)
	var extra []Hash
	if h.nbuf > 0 || h.n == 0 {
		keep := -1
		if wantRow {
			keep = h.level
		}
		stack = push(stack, 0, LeafHash(h.buf[:h.nbuf]), keep, &extra)
	}
	if wantRow {
		// The nodes below the kept level at the end make its last,
		// partial node.
		i := len(stack)
		for i > 0 && stack[i-1].level < h.level {
			i--
		}
		if i < len(stack) {
			x := stack[len(stack)-1].h
			for j := len(stack) - 2; j >= i; j-- {
				x = NodeHash(stack[j].h, x)
			}
			extra = append(extra, x)
		}
		row = append(append(make([]Hash, 0, len(h.kept)+len(extra)), h.kept...), extra...)
	}
	root = stack[len(stack)-1].h
	for j := len(stack) - 2; j >= 0; j-- {
		root = NodeHash(stack[j].h, root)
	}
	return root, row
}

// Root is the tree root of the bytes written so far.
func (h *Hasher) Root() Hash {
	r, _ := h.finish(false)
	return r
}

// Sum appends the root to b.
func (h *Hasher) Sum(b []byte) []byte {
	r := h.Root()
	return append(b, r[:]...)
}

// Tree is the tree of the bytes written so far, with its rows down to
// GoodDepth(h.Len()).
func (h *Hasher) Tree() *Tree {
	_, row := h.finish(true)
	depth := GoodDepth(h.n)
	for k := halvings(h.n, depth); h.level < k; k-- {
		row = Parents(row)
	}
	rows := Rows(row)
	return &Tree{Size: h.n, Depth: len(rows) - 1, Rows: rows}
}
