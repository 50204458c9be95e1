// Package thex is the Tiger tree hash (TTH) of THEX 02 and its wire forms:
// the streaming tree hasher, the tree rows a servent serves and checks
// downloads against, and the DIME message of a THEX reply. A root is a
// protocol.TTH, whose package writes and reads its urns.
//
// Gnutella servents name files by SHA-1, but only the tree lets a
// downloader check each part of a file as it arrives from many sources
// and re-fetch just a bad span. The depths and the wire layout follow
// gtk-gnutella, the servent the rest of the network checks against
// (GNUTELLA-TRANSFERS.md sections 23 and 28).
package thex

import (
	"errors"
	"fmt"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/tiger"
)

const (
	// HashSize is the size of a tree node and of the root.
	HashSize = tiger.Size
	// SegmentSize is the size of a leaf's block of file data.
	SegmentSize = 1024
	// MaxDepth is the deepest row GoodDepth ever asks for (gtk-gnutella's
	// TTH_MAX_DEPTH): at most 2048 nodes.
	MaxDepth = 11
)

// ErrMalformed is wrapped by every error about bytes from the wire.
var ErrMalformed = errors.New("thex: malformed")

// Hash is a tree node: a leaf, an inner node or the root. It is
// protocol.TTH under another name: Base32 is the form of X-Thex-URI, and
// protocol's TTH methods and parsers write and read the urns.
type Hash = protocol.TTH

// LeafHash is the hash of one block of at most SegmentSize bytes:
// Tiger(0x00 || block).
func LeafHash(block []byte) Hash { return tiger.SumPrefixed(0x00, block) }

// NodeHash is the hash of an inner node: Tiger(0x01 || left || right).
func NodeHash(left, right Hash) Hash {
	var b [2 * HashSize]byte
	copy(b[:], left[:])
	copy(b[HashSize:], right[:])
	return tiger.SumPrefixed(0x01, b[:])
}

// nodeHash2 hashes two inner nodes at once.
func nodeHash2(l1, r1, l2, r2 *Hash) (Hash, Hash) {
	var b1, b2 [2 * HashSize]byte
	copy(b1[:], l1[:])
	copy(b1[HashSize:], r1[:])
	copy(b2[:], l2[:])
	copy(b2[HashSize:], r2[:])
	return tiger.SumPrefixed2(0x01, b1[:], b2[:])
}

// Sum is the tree root of data.
func Sum(data []byte) Hash {
	var h Hasher
	h.Write(data)
	return h.Root()
}

// LeafCount is the number of leaves of a file of size bytes: one per
// started block, and one (empty) leaf for an empty file.
func LeafCount(size int64) int64 {
	if size <= 0 {
		return 1
	}
	return (size + SegmentSize - 1) / SegmentSize
}

// FullDepth is the depth of the leaves: how often the leaf count halves
// (rounding up) to reach the root (gtk-gnutella's tt_full_depth).
func FullDepth(size int64) int {
	_, k := halve(size, 0)
	return k
}

// goodDepthLimits[d] is the first size served at a depth beyond d.
var goodDepthLimits = [...]int64{
	256 << 10, 512 << 10, 1 << 20, 2 << 20, 4 << 20, 8 << 20,
	16 << 20, 32 << 20, 64 << 20, 256 << 20, 1 << 30,
}

// GoodDepth is the depth of the row gtk-gnutella keeps and serves for a
// file of size bytes (tt_good_depth): 0 (root only) below 256 KiB, one
// more for each doubling up to 64 MiB, then 9 below 256 MiB, 10 below
// 1 GiB and MaxDepth from 1 GiB on (never deeper than the leaves: a file
// big enough for depth d has at least 2^(d+7) leaves).
func GoodDepth(size int64) int {
	for d, limit := range goodDepthLimits {
		if size < limit {
			return d
		}
	}
	return MaxDepth
}

// halve halves the leaf count (rounding up) until it fits in the 2^depth
// nodes of a row: n is that row's node count, k how many halvings it took
// (the height of its nodes above the leaves).
func halve(size int64, depth int) (n int64, k int) {
	for n = LeafCount(size); depth < 62 && n > int64(1)<<depth; n = (n + 1) / 2 {
		k++
	}
	return n, k
}

// halvings is k of halve: the height of the row's nodes above the leaves.
func halvings(size int64, depth int) int {
	_, k := halve(size, depth)
	return k
}

// NodeCount is the number of nodes in the row at depth for a file of size
// bytes (tt_node_count_at_depth): the leaf count halved, rounding up,
// until it is at most 2^depth.
func NodeCount(size int64, depth int) int64 {
	n, _ := halve(size, depth)
	return n
}

// SpanSize is the number of file bytes under each node of the row at
// depth: SegmentSize * 2^k, k the number of halvings (the last node of the
// row may cover less).
func SpanSize(size int64, depth int) int64 {
	return SegmentSize << halvings(size, depth)
}

// Parents is the row above row: nodes paired left to right, an odd last
// node promoted unchanged. It returns row itself when it has one node.
func Parents(row []Hash) []Hash {
	if len(row) <= 1 {
		return row
	}
	up := make([]Hash, (len(row)+1)/2)
	parentsInto(up, row)
	return up
}

// parentsInto writes the parents of row into up, which may be row itself.
func parentsInto(up, row []Hash) {
	n := len(row) / 2
	i := 0
	for ; i+1 < n; i += 2 {
		up[i], up[i+1] = nodeHash2(&row[2*i], &row[2*i+1], &row[2*i+2], &row[2*i+3])
	}
	if i < n {
		up[i] = NodeHash(row[2*i], row[2*i+1])
	}
	if len(row)%2 == 1 {
		up[n] = row[len(row)-1]
	}
}

// Rows is every row from the root down to row: Rows(row)[0] holds the
// root alone and the last element is row. Nil for an empty row.
func Rows(row []Hash) [][]Hash {
	if len(row) == 0 {
		return nil
	}
	var rows [][]Hash
	for r := row; ; r = Parents(r) {
		rows = append(rows, r)
		if len(r) == 1 {
			break
		}
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	return rows
}

// RootOf folds row up to the root. The zero Hash for an empty row.
func RootOf(row []Hash) Hash {
	if len(row) == 0 {
		return Hash{}
	}
	r := append([]Hash(nil), row...)
	for len(r) > 1 {
		parentsInto(r, r)
		r = r[:(len(r)+1)/2]
	}
	return r[0]
}

// malformed builds an error wrapping ErrMalformed.
func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}
