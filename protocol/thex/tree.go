package thex

import "bytes"

// Tree is a file's tree cut at a depth: what a servent stores for a shared
// file, serves in a THEX reply and checks downloaded spans against.
type Tree struct {
	Size  int64    // file size in bytes
	Depth int      // depth of the bottom row; 0 = root only
	Rows  [][]Hash // Rows[0] = {root}, ..., Rows[Depth] = the bottom row
}

// NewTree builds the tree of a file of size bytes from its row at depth
// (as kept in a cache): it checks the node count and computes the rows
// above.
func NewTree(size int64, depth int, row []Hash) (*Tree, error) {
	if size < 0 || depth < 0 || depth > FullDepth(size) {
		return nil, malformed("depth %d for a file of %d bytes", depth, size)
	}
	if want := NodeCount(size, depth); int64(len(row)) != want {
		return nil, malformed("%d nodes at depth %d, want %d", len(row), depth, want)
	}
	return &Tree{Size: size, Depth: depth, Rows: Rows(row)}, nil
}

// Root is the root node.
func (t *Tree) Root() Hash { return t.Rows[0][0] }

// Bottom is the row at Depth.
func (t *Tree) Bottom() []Hash { return t.Rows[t.Depth] }

// SpanSize is the number of bytes under each bottom-row node (the last one
// may cover less).
func (t *Tree) SpanSize() int64 { return SpanSize(t.Size, t.Depth) }

// Span is the byte range [off, off+n) of the file under bottom-row node j.
func (t *Tree) Span(j int) (off, n int64) {
	s := t.SpanSize()
	off = int64(j) * s
	return off, max(0, min(s, t.Size-off))
}

// VerifySpan reports whether data, the bytes of bottom-row span j, hash to
// that node: its 1024-byte leaves folded up to the row. False for a j out
// of range or data of the wrong length.
func (t *Tree) VerifySpan(j int, data []byte) bool {
	if j < 0 || j >= len(t.Bottom()) {
		return false
	}
	if _, n := t.Span(j); int64(len(data)) != n {
		return false
	}
	return Sum(data) == t.Bottom()[j]
}

// NodeTotal is the number of nodes in rows 0 to Depth.
func (t *Tree) NodeTotal() int {
	n := 0
	for _, r := range t.Rows {
		n += len(r)
	}
	return n
}

// AppendBreadthFirst appends the THEX breadth-first serialization: the
// root, then each row left to right, down to Depth.
func (t *Tree) AppendBreadthFirst(b []byte) []byte {
	for _, r := range t.Rows {
		for i := range r {
			b = append(b, r[i][:]...)
		}
	}
	return b
}

// ParseBreadthFirst reads the breadth-first tree record of a THEX reply
// for a file of size bytes whose root is known, the way gtk-gnutella's
// downloader does (thex_download.c): the first node must be root, the row
// used is the one at min(depth, GoodDepth(size)) (depth being what the
// XML announced), or the deepest complete row the record holds when it is
// short, every row above it must be present, and that row must fold back
// to root. Nodes past the row are ignored.
func ParseBreadthFirst(data []byte, size int64, depth int, root Hash) (*Tree, error) {
	if size < 0 {
		return nil, malformed("file size %d", size)
	}
	if len(data) == 0 || len(data)%HashSize != 0 {
		return nil, malformed("tree record of %d bytes is not a whole number of %d-byte nodes", len(data), HashSize)
	}
	if !bytes.Equal(data[:HashSize], root[:]) {
		return nil, malformed("tree root %s, want %s", Hash(data[:HashSize]).Base32(), root.Base32())
	}
	if depth < 0 || depth > FullDepth(size) {
		return nil, malformed("depth %d for a file of %d bytes", depth, size)
	}
	depth = min(depth, GoodDepth(size))
	nodes := int64(len(data) / HashSize)
	// Nodes in rows 0..d: the row's nodes plus every row above.
	above := func(d int) (start, count int64) {
		count = NodeCount(size, d)
		for n := count; n > 1; {
			n = (n + 1) / 2
			start += n
		}
		return start, count
	}
	start, count := above(depth)
	for depth > 0 && start+count > nodes {
		depth--
		start, count = above(depth)
	}
	row := make([]Hash, count)
	for i := range row {
		copy(row[i][:], data[(start+int64(i))*HashSize:])
	}
	if got := RootOf(row); got != root {
		return nil, malformed("row at depth %d folds to %s, want %s", depth, got.Base32(), root.Base32())
	}
	return &Tree{Size: size, Depth: depth, Rows: Rows(row)}, nil
}
