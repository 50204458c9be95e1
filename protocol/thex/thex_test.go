package thex

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// pattern is the lab's test file: byte i = i mod 251.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i % 251)
	}
	return b
}

func mustHex(t testing.TB, s string) Hash {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	require.Len(t, b, HashSize)
	return Hash(b)
}

func mustB32(t testing.TB, s string) Hash {
	t.Helper()
	h, err := protocol.ParseTTHBase32(s)
	require.NoError(t, err)
	return h
}

func sha1B32(b []byte) string { return protocol.SHA1(sha1.Sum(b)).Base32() }

// naiveRows is the tree built row by row from all the leaves, the way the
// spec reads: the reference the streaming Hasher is compared with.
func naiveRows(data []byte) [][]Hash {
	var row []Hash
	for i := 0; i < len(data); i += SegmentSize {
		row = append(row, LeafHash(data[i:min(i+SegmentSize, len(data))]))
	}
	if len(row) == 0 {
		row = append(row, LeafHash(nil))
	}
	rows := [][]Hash{row}
	for len(row) > 1 {
		var up []Hash
		for i := 0; i < len(row); i += 2 {
			if i+1 < len(row) {
				up = append(up, NodeHash(row[i], row[i+1]))
			} else {
				up = append(up, row[i])
			}
		}
		rows = append(rows, up)
		row = up
	}
	return rows // leaves first
}

// TestVectors28: the roots of GNUTELLA-TRANSFERS.md 28.2, 28.3 and 28.4
// (lab Python and rhash --tth), plus two larger pattern files whose roots
// were computed here by rhash --tth and by a separate Python Tiger tree.
func TestVectors28(t *testing.T) {
	for _, v := range []struct {
		name string
		data []byte
		tth  string
		sha1 string
	}{
		{"empty", nil, "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ", "3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"},
		{"abc", []byte("abc"), "ASD4UJSEH5M47PDYB46KBTSQTSGDKLBHYXOMUIA", "VGMT4NSHA2AWVOR6EVYXQUGCNSONBWE5"},
		{"1024 A", bytes.Repeat([]byte("A"), 1024), "L66Q4YVNAFWVS23X2HJIRA5ZJ7WXR3F26RSASFA", "ORWD6TJINRJR4BS6RL3W4CWAQ2EDDRVU"},
		{"1025 A", bytes.Repeat([]byte("A"), 1025), "PZMRYHGY6LTBEH63ZWAHDORHSYTLO4LEFUIKHWY", "UUHHSQPHQXN5X6EMYK6CD7IJ7BHZTE77"},
		{"pattern 5000", pattern(5000), "MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA", "42JXVIAWXQDO3KA5HMRH7766QJOYQHHF"},
		{"pattern 600000", pattern(600000), "VQWEVLI5CZLO25BLCGKT5TI75RCYAISG5C5EKUI", "DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC"},
		{"alpha beta", []byte("alpha beta: a small text file from the lab.\n"), "35QBFFVH3YDODB2WNTDBO7AAS6YUJ4P4AZQPMEQ", "X6OGQJAL5Y5JQI742NLOKOQ5DMAFQMZP"},
		{"pfsp 1500000", pfspSample(), "2NHBNAQX2F2MFISTR4RAPRTLBNHLWBV22G2BX7Y", "PK5NVFJWZZDMFPTXLE2RQHQSMJWKVFXX"},
		{"pattern 2097153", pattern(2097153), "ELISAVRKCQZXFHKL3M64WFMJ7HZG6AACLOHWFXQ", "3RZUPTOCQ6QPMI3DSVJ2L7PFAEQYJ54O"},
		{"pattern 4194304", pattern(4194304), "CQIMKNGNQAIXHUGWWBVJSOGBIJDQCKNQBFH7EMI", "A56HSEIZ4BK6PIFOLZIHBCND7EIUQNXV"},
		{"pattern 9000000", pattern(9000000), "DWSZKDADWKTID54JXUR5RTZCUHO62JMRZDT3U3A", "EWU5ZMPONWFJ4WXN6CYQOFUZ6B6ONNQX"},
	} {
		root := Sum(v.data)
		require.Equal(t, v.tth, root.Base32(), v.name)
		require.Equal(t, v.sha1, sha1B32(v.data), v.name)
		h := New()
		h.Write(v.data)
		require.Equal(t, root[:], h.Sum(nil), v.name)
		require.Equal(t, root, h.Tree().Root(), v.name)
	}
}

func pfspSample() []byte {
	b := make([]byte, 1500000)
	for i := range b {
		b[i] = byte(7*i + 1)
	}
	return b
}

// TestLeafAndNode28: 28.1 and 28.2's single hashes.
func TestLeafAndNode28(t *testing.T) {
	require.Equal(t, mustHex(t, "5d9ed00a030e638bdb753a6a24fb900e5a63b8e73e6c25b6"), LeafHash(nil))
	a := bytes.Repeat([]byte("A"), 1025)
	l0, l1 := LeafHash(a[:1024]), LeafHash(a[1024:])
	require.Equal(t, mustHex(t, "5fbd0e62ad016d596b77d1d28883b94fed78ecbaf4640914"), l0)
	require.Equal(t, mustHex(t, "2ef661ce4d28b0b94251deae541f6340c32097868ae9ff54"), l1)
	require.Equal(t, mustHex(t, "7e591c1cd8f2e6121fdbcd8071ba279626b771642d10a3db"), NodeHash(l0, l1))
}

// TestFiveLeaves: the 5000-byte pattern, every row of 28.2, with the last
// leaf promoted twice.
func TestFiveLeaves(t *testing.T) {
	data := pattern(5000)
	rows := naiveRows(data)
	want := [][]string{
		{"83dce52272d3285da8caf865f91288a27afcec44920a350f", "bb8aff0a8431a4981f9803f4c40a907bd50aab9ebbafbc1d",
			"442ad645e30d66aceba008ede4888c287b17c665a9bb87a9", "65d0669cf0462c20a0b0cc5a0a73ea0b4a2a304e476bcc19",
			"29bbe698a06fbff145e3862d9d4597f9982a4142f1f4628c"},
		{"3183841fa1d89793c50acac4aad19cbe34766d01ff6962e8", "9dce7678fc52601a0f6d1f269a25cac40cf275748e61bc41",
			"29bbe698a06fbff145e3862d9d4597f9982a4142f1f4628c"},
		{"88b90538652d7f948fa15945c5a5c149a95677d0bee35033", "29bbe698a06fbff145e3862d9d4597f9982a4142f1f4628c"},
		{"623a7bc5c187e2ae7080bc0084a4ed863d7361ecc32a5ad8"},
	}
	require.Len(t, rows, len(want))
	for i, r := range want {
		require.Len(t, rows[i], len(r))
		for j, s := range r {
			require.Equal(t, mustHex(t, s), rows[i][j], "row %d node %d", i, j)
		}
	}
	require.Equal(t, "MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA", rows[3][0].Base32())
	// The same rows from the library's own functions.
	full := Rows(rows[0])
	require.Len(t, full, 4)
	for i := range full {
		require.Equal(t, rows[3-i], full[i])
	}
	require.Equal(t, rows[3][0], RootOf(rows[0]))
	require.Equal(t, rows[2], Parents(rows[1]))
	require.Equal(t, 3, FullDepth(5000))
	for d, n := range []int64{1, 2, 3, 5, 5} {
		require.Equal(t, n, NodeCount(5000, d), "depth %d", d)
	}
}

func TestGoodDepth(t *testing.T) {
	const KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
	for _, c := range []struct {
		size  int64
		depth int
	}{
		{0, 0}, {5000, 0}, {256*KiB - 1, 0}, {256 * KiB, 1}, {512*KiB - 1, 1}, {512 * KiB, 2},
		{600000, 2}, {MiB - 1, 2}, {MiB, 3}, {2*MiB - 1, 3}, {2 * MiB, 4}, {3 * MiB, 4},
		{4*MiB - 1, 4}, {4 * MiB, 5}, {8*MiB - 1, 5}, {8 * MiB, 6}, {16 * MiB, 7}, {32 * MiB, 8},
		{64*MiB - 1, 8}, {64 * MiB, 9}, {256*MiB - 1, 9}, {256 * MiB, 10}, {GiB - 1, 10},
		{GiB, 11}, {100 * GiB, 11}, {1 << 62, 11},
	} {
		require.Equal(t, c.depth, GoodDepth(c.size), "size %d", c.size)
	}
	// 23.5's examples: 600000 bytes -> 586 leaves, 3 nodes at depth 2, each
	// over 256 leaves; 3 MiB -> 12 nodes at depth 4; the pfsp sample -> 6.
	require.Equal(t, int64(586), LeafCount(600000))
	require.Equal(t, int64(3), NodeCount(600000, 2))
	require.Equal(t, int64(256*1024), SpanSize(600000, 2))
	require.Equal(t, int64(12), NodeCount(3*MiB, 4))
	require.Equal(t, int64(6), NodeCount(1500000, 3))
	require.Equal(t, int64(2048), NodeCount(1<<40, MaxDepth))
	require.Equal(t, int64(1600), NodeCount(100*GiB, MaxDepth))
	require.Equal(t, int64(1), NodeCount(0, 0))
	require.Equal(t, int64(1), NodeCount(0, 5))
	require.Equal(t, int64(SegmentSize), SpanSize(5000, 3))
	require.Equal(t, int64(SegmentSize), SpanSize(5000, 40))
	require.Equal(t, 0, FullDepth(0))
	require.Equal(t, 0, FullDepth(1024))
	require.Equal(t, 1, FullDepth(1025))
}

// TestShapes: for trees of every shape (empty, 1 leaf, 2, odd counts,
// powers of two and one either side, and sizes that move the kept row up
// several levels), written in chunks of random sizes, the Hasher's root
// and rows equal the naive tree, and every span of the bottom row
// verifies.
func TestShapes(t *testing.T) {
	rnd := rand.New(rand.NewPCG(5, 6))
	big := make([]byte, 9<<20+12345)
	for i := range big {
		big[i] = byte(rnd.Uint32())
	}
	sizes := []int{0, 1, 100, 1023, 1024, 1025, 2047, 2048, 2049, 3 * 1024, 5000, 7 * 1024, 7*1024 + 1,
		8 * 1024, 8*1024 - 1, 8*1024 + 1, 255 * 1024, 256 * 1024, 256*1024 + 1, 600000, 1 << 20,
		1<<20 + 1, 2050 * 1024, 2051*1024 - 7, 3 << 20, 4<<20 + 3000, 9 << 20, len(big)}
	for range 10 {
		sizes = append(sizes, rnd.IntN(3<<20))
	}
	for _, size := range sizes {
		data := big[:size]
		want := naiveRows(data)
		root := want[len(want)-1][0]

		h := New()
		for p := data; len(p) > 0; {
			var k int
			switch rnd.IntN(4) {
			case 0:
				k = rnd.IntN(3000)
			case 1:
				k = rnd.IntN(5) * SegmentSize
			default:
				k = rnd.IntN(1 << 20)
			}
			k = min(k, len(p))
			h.Write(p[:k])
			p = p[k:]
		}
		require.Equal(t, int64(size), h.Len())
		require.Equal(t, root, h.Root(), "size %d", size)
		require.Equal(t, root, Sum(data), "size %d", size)

		tree := h.Tree()
		depth := GoodDepth(int64(size))
		require.Equal(t, min(depth, FullDepth(int64(size))), tree.Depth, "size %d", size)
		require.Len(t, tree.Rows, tree.Depth+1)
		for d, r := range tree.Rows {
			require.Equal(t, want[len(want)-1-d], r, "size %d row %d", size, d)
			require.Equal(t, NodeCount(int64(size), d), int64(len(r)))
		}
		for j := range tree.Bottom() {
			off, n := tree.Span(j)
			require.True(t, tree.VerifySpan(j, data[off:off+n]), "size %d span %d", size, j)
			if n > 0 {
				bad := bytes.Clone(data[off : off+n])
				bad[rnd.IntN(len(bad))] ^= 0x10
				require.False(t, tree.VerifySpan(j, bad))
				require.False(t, tree.VerifySpan(j, data[off:off+n-1]))
			}
		}
		require.False(t, tree.VerifySpan(-1, nil))
		require.False(t, tree.VerifySpan(len(tree.Bottom()), nil))

		again, err := NewTree(int64(size), tree.Depth, tree.Bottom())
		require.NoError(t, err)
		require.Equal(t, tree, again)

		// Reset and Sum leave the Hasher usable.
		h.Reset()
		h.Write(data)
		require.Equal(t, root, h.Root())
		h.Write([]byte("x"))
		require.Equal(t, Sum(append(bytes.Clone(data), 'x')), h.Root())
	}
}

// TestServed50: the 600000-byte pattern's tree equals, byte for byte,
// the DIME reply gtk-gnutella served (interop 50, 28.3), and that reply
// reads back as the same tree.
func TestServed50(t *testing.T) {
	body, err := os.ReadFile("testdata/gtkg-50-600000.dime")
	require.NoError(t, err)
	data := pattern(600000)
	h := New()
	h.Write(data)
	tree := h.Tree()
	require.Equal(t, 2, tree.Depth)
	want := []string{
		"ac2c4aad1d1656ed742b11953ecd1fec45802246e8ba4551",
		"b0a836484179914d197e05a0b00ec0a2a1708f3dd63b64e4", "c46313ef11e77b69fdc6f0ec9a196e32ca34b5840d9abd7f",
		"bf7e9ed498982b0c93b623df38aa3717ba3d07fe86549fb1", "adeb2d4e5f8443a2b01d8021028568bca4b876116971046b",
		"c46313ef11e77b69fdc6f0ec9a196e32ca34b5840d9abd7f",
	}
	var bf []byte
	for _, s := range want {
		n := mustHex(t, s)
		bf = append(bf, n[:]...)
	}
	require.Equal(t, bf, tree.AppendBreadthFirst(nil))
	require.Equal(t, "uuid:ad4a2cac-161d-ed56-2b74-cd3e9511ec1f", TreeID(tree.Root()))
	require.Equal(t, body, AppendMessage(nil, tree))

	root := mustB32(t, "VQWEVLI5CZLO25BLCGKT5TI75RCYAISG5C5EKUI")
	got, info, err := DecodeMessage(body, 600000, root)
	require.NoError(t, err)
	require.Equal(t, tree, got)
	require.Equal(t, Info{FileSize: 600000, SegmentSize: 1024, Algorithm: DigestAlgorithm, OutputSize: 24,
		Depth: 2, TreeType: TreeType, URI: "uuid:ad4a2cac-161d-ed56-2b74-cd3e9511ec1f"}, info)
	// Spans 0-262143, 262144-524287, 524288-599999.
	for j, span := range [][2]int64{{0, 262144}, {262144, 262144}, {524288, 75712}} {
		off, n := got.Span(j)
		require.Equal(t, span, [2]int64{off, n})
		require.True(t, got.VerifySpan(j, data[off:off+n]))
	}

	recs, err := DecodeDIME(body)
	require.NoError(t, err)
	require.Len(t, recs, 2)
	require.Equal(t, Record{TypeFormat: TypeMedia, Type: "text/xml", Options: body[12:12], Data: body[0x14:0x19c]}, recs[0])
	require.Equal(t, 392, len(recs[0].Data))
	require.Equal(t, TypeURI, int(recs[1].TypeFormat))
	require.Equal(t, TreeType, recs[1].Type)
	require.Equal(t, "uuid:ad4a2cac-161d-ed56-2b74-cd3e9511ec1f", recs[1].ID)
	require.Equal(t, bf, recs[1].Data)
	require.Equal(t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n"+
		"<!DOCTYPE hashtree SYSTEM \"http://open-content.net/spec/thex/thex.dtd\">\r\n"+
		"<hashtree>\r\n"+
		"<file size=\"600000\" segmentsize=\"1024\"/>\r\n"+
		"<digest algorithm=\"http://open-content.net/spec/digest/tiger\" outputsize=\"24\"/>\r\n"+
		"<serializedtree depth=\"2\" type=\"http://open-content.net/spec/thex/breadthfirst\" uri=\"uuid:ad4a2cac-161d-ed56-2b74-cd3e9511ec1f\"/>\r\n"+
		"</hashtree>\r\n", string(recs[0].Data))
}

// TestServed51: the 3 MiB random file (its bytes were not kept): the reply
// reads as a depth-4 tree of rows 1, 2, 3, 6, 12 that folds to the root,
// and writing that tree back gives gtk-gnutella's bytes.
func TestServed51(t *testing.T) {
	body, err := os.ReadFile("testdata/gtkg-51-3mb.dime")
	require.NoError(t, err)
	root := mustB32(t, "62I6DYPO5DSR4OWMLV664IU57WLMXK3XNW6ZYGY")
	tree, info, err := DecodeMessage(body, 3<<20, root)
	require.NoError(t, err)
	require.Equal(t, 4, info.Depth)
	require.Equal(t, "uuid:e1e191f6-e8ee-1ee5-cc3a-22ee7d5dfd9d", info.URI)
	require.Equal(t, info.URI, TreeID(root))
	require.Equal(t, 4, tree.Depth)
	var counts []int
	for _, r := range tree.Rows {
		counts = append(counts, len(r))
	}
	require.Equal(t, []int{1, 2, 3, 6, 12}, counts)
	require.Equal(t, 24, tree.NodeTotal())
	require.Equal(t, "XCWNI32WU4Z5PAXDW7OLWFRXESVO7WRZTVHTOEQ", tree.Bottom()[0].Base32())
	require.Equal(t, "SU4FZPCB2NO37JY4TY5JSDO47KV4SBGHCYTUX2A", tree.Bottom()[11].Base32())
	require.Equal(t, int64(256<<10), tree.SpanSize())
	require.Equal(t, body, AppendMessage(nil, tree))

	// Another root, another size: refused.
	_, _, err = DecodeMessage(body, 3<<20, Hash{1})
	require.ErrorIs(t, err, ErrMalformed)
	_, _, err = DecodeMessage(body, 3<<20+1, root)
	require.ErrorIs(t, err, ErrMalformed)
}

// TestServed52: a file under 256 KiB: the reply holds the root alone (the
// XML record padded from 390 to 392 bytes).
func TestServed52(t *testing.T) {
	body, err := os.ReadFile("testdata/gtkg-52-5000.dime")
	require.NoError(t, err)
	h := New()
	h.Write(pattern(5000))
	tree := h.Tree()
	require.Equal(t, 0, tree.Depth)
	require.Equal(t, [][]Hash{{tree.Root()}}, tree.Rows)
	require.Equal(t, "uuid:c57b3a62-87c1-aee2-8070-a48400bc86ed", TreeID(tree.Root()))
	require.Equal(t, body, AppendMessage(nil, tree))
	got, info, err := DecodeMessage(body, 5000, tree.Root())
	require.NoError(t, err)
	require.Equal(t, tree, got)
	require.Equal(t, 0, info.Depth)
	require.Equal(t, int64(8192), got.SpanSize()) // 5 leaves fold 3 times
	off, n := got.Span(0)
	require.Equal(t, [2]int64{0, 5000}, [2]int64{off, n})
	require.True(t, got.VerifySpan(0, pattern(5000)))
}

// TestParseBreadthFirst: gtk-gnutella's checks on the tree record.
func TestParseBreadthFirst(t *testing.T) {
	data := pattern(3 << 20)
	h := New()
	h.Write(data)
	tree := h.Tree() // depth 4: 1+2+3+6+12
	root := tree.Root()
	bf := tree.AppendBreadthFirst(nil)
	size := int64(len(data))

	got, err := ParseBreadthFirst(bf, size, 4, root)
	require.NoError(t, err)
	require.Equal(t, tree, got)

	// A deeper XML depth than the good depth: the good depth's row is used
	// (the record holds the full tree here).
	full := naiveRows(data)
	var deep []byte
	for d := len(full) - 1; d >= 0; d-- {
		for _, n := range full[d] {
			deep = append(deep, n[:]...)
		}
	}
	got, err = ParseBreadthFirst(deep, size, FullDepth(size), root)
	require.NoError(t, err)
	require.Equal(t, tree, got)

	// Too few nodes for depth 4: the deepest complete row (depth 3).
	got, err = ParseBreadthFirst(bf[:len(bf)-HashSize], size, 4, root)
	require.NoError(t, err)
	require.Equal(t, 3, got.Depth)
	require.Equal(t, tree.Rows[:4], got.Rows)
	got, err = ParseBreadthFirst(bf[:HashSize], size, 4, root)
	require.NoError(t, err)
	require.Equal(t, 0, got.Depth)

	// Extra nodes are ignored.
	got, err = ParseBreadthFirst(append(bytes.Clone(bf), make([]byte, 5*HashSize)...), size, 4, root)
	require.NoError(t, err)
	require.Equal(t, tree, got)

	for name, c := range map[string]struct {
		bf    []byte
		depth int
		root  Hash
	}{
		"empty":            {nil, 4, root},
		"partial node":     {bf[:len(bf)-1], 4, root},
		"other root":       {bf, 4, Hash{7}},
		"first node":       {append(append([]byte{}, make([]byte, HashSize)...), bf[HashSize:]...), 4, root},
		"depth too deep":   {bf, FullDepth(size) + 1, root},
		"negative depth":   {bf, -1, root},
		"bad bottom node":  {flip(bf, len(bf)-3), 4, root},
		"bad bottom first": {flip(bf, 12*HashSize+1), 4, root},
	} {
		_, err := ParseBreadthFirst(c.bf, size, c.depth, c.root)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
	// A bad middle node is not looked at (gtk-gnutella recomputes them).
	got, err = ParseBreadthFirst(flip(bf, 2*HashSize), size, 4, root)
	require.NoError(t, err)
	require.Equal(t, tree, got)
}

func flip(b []byte, i int) []byte {
	c := bytes.Clone(b)
	c[i] ^= 1
	return c
}

func TestNewTree(t *testing.T) {
	_, err := NewTree(600000, 2, make([]Hash, 2))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = NewTree(600000, 20, make([]Hash, 586))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = NewTree(-1, 0, make([]Hash, 1))
	require.ErrorIs(t, err, ErrMalformed)
	tr, err := NewTree(0, 0, []Hash{LeafHash(nil)})
	require.NoError(t, err)
	require.Equal(t, "LWPNACQDBZRYXW3VHJVCJ64QBZNGHOHHHZWCLNQ", tr.Root().Base32())
	require.Nil(t, Rows(nil))
	require.Equal(t, Hash{}, RootOf(nil))
}

func TestDIME(t *testing.T) {
	recs := []Record{
		{TypeFormat: TypeMedia, Type: "text/plain", ID: "a", Options: []byte{1, 2, 3}, Data: []byte("hello")},
		{TypeFormat: TypeURI, Type: "http://x/y", Data: nil},
		{TypeFormat: TypeNone, Data: make([]byte, 1000)},
	}
	b := AppendDIME(nil, recs)
	require.Zero(t, len(b)%4)
	got, err := DecodeDIME(b)
	require.NoError(t, err)
	require.Len(t, got, 3)
	for i := range recs {
		require.Equal(t, recs[i].Type, got[i].Type)
		require.Equal(t, recs[i].ID, got[i].ID)
		require.Equal(t, recs[i].TypeFormat, got[i].TypeFormat)
		require.Equal(t, string(recs[i].Options), string(got[i].Options))
		require.Equal(t, string(recs[i].Data), string(got[i].Data))
	}
	// Bytes after ME are ignored.
	got, err = DecodeDIME(append(bytes.Clone(b), 0xff, 0xff))
	require.NoError(t, err)
	require.Len(t, got, 3)

	// A chunked record is joined: "hel" (CF) + "lo" (TYPE_T 0).
	chunked := []byte{
		0x0d, 0x10, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3, 't', 'e', 'x', 't', 'h', 'e', 'l', 0,
		0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 'l', 'o', 0, 0,
	}
	got, err = DecodeDIME(chunked)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "text", got[0].Type)
	require.Equal(t, "hello", string(got[0].Data))

	for name, bad := range map[string][]byte{
		"empty":          nil,
		"short header":   b[:11],
		"truncated data": b[:len(b)-4],
		"no ME":          AppendDIME(nil, recs)[:len(AppendDIME(nil, recs[:1]))],
		"version 2":      append([]byte{0x14}, b[1:]...),
		"no MB":          append([]byte{0x08}, b[1:]...),
		"huge length":    {0x0e, 0x10, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff},
		"huge type":      {0x0e, 0x10, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 0, 0},
		"chunk with type": {
			0x0d, 0x10, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 't', 'e', 'x', 't',
			0x0a, 0x10, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 't', 'e', 'x', 't'},
		"TYPE_T 0 first": {0x0e, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"ME and CF":      {0x0f, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"second MB": {
			0x0c, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
			0x0e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		"too many records": bytes.Repeat([]byte{0x08, 0x40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 100),
	} {
		_, err := DecodeDIME(bad)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
}

func TestParseXML(t *testing.T) {
	want := Info{FileSize: 600000, SegmentSize: 1024, Algorithm: DigestAlgorithm, OutputSize: 24,
		Depth: 2, TreeType: TreeType, URI: "uuid:x"}
	for name, s := range map[string]string{
		"lf, spaces, single quotes": "<?xml version='1.0'?>\n<hashtree>\n  <file segmentsize='1024' size=' 600000 '/>\n" +
			"  <digest outputsize='24' algorithm='http://open-content.net/spec/digest/tiger'/>\n" +
			"  <serializedtree uri='uuid:x' type='http://open-content.net/spec/thex/breadthfirst' depth='2'/>\n</hashtree>\n",
		"upper case names": "<HashTree><FILE SIZE=\"600000\" SegmentSize=\"1024\"></FILE>" +
			"<Digest Algorithm=\"http://open-content.net/spec/digest/tiger\" OutputSize=\"24\"/>" +
			"<SerializedTree Depth=\"2\" Type=\"http://open-content.net/spec/thex/breadthfirst\" URI=\"uuid:x\"/></HashTree>",
		"no closing tag (GnucDNA)": "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><hashtree><file size=\"600000\" segmentsize=\"1024\"/>" +
			"<digest algorithm=\"http://open-content.net/spec/digest/tiger\" outputsize=\"24\"/>" +
			"<serializedtree depth=\"2\" type=\"http://open-content.net/spec/thex/breadthfirst\" uri=\"uuid:x\"/>",
	} {
		info, err := ParseXML([]byte(s))
		require.NoError(t, err, name)
		require.Equal(t, want, info, name)
	}
	good := string(AppendXML(nil, 600000, 2, Hash{}))
	info, err := ParseXML([]byte(good))
	require.NoError(t, err)
	require.Equal(t, TreeID(Hash{}), info.URI)

	for name, s := range map[string]string{
		"empty":         "",
		"other root":    "<tree><file size=\"1\" segmentsize=\"1024\"/></tree>",
		"no digest":     "<hashtree><file size=\"1\" segmentsize=\"1024\"/></hashtree>",
		"bad size":      strings.Replace(good, "600000", "6e5", 1),
		"negative size": strings.Replace(good, "600000", "-1", 1),
		"no depth":      strings.Replace(good, "depth=", "deep=", 1),
		"huge depth":    strings.Replace(good, "depth=\"2\"", "depth=\"99999999999999999999\"", 1),
		"too big":       good + strings.Repeat(" ", maxXML),
		"garbage":       "<hashtree><file size=\"1\" <<<",
	} {
		_, err := ParseXML([]byte(s))
		require.ErrorIs(t, err, ErrMalformed, name)
	}
}

// TestDecodeMessageChecks: the XML checks of thex_download.c.
func TestDecodeMessageChecks(t *testing.T) {
	data := pattern(600000)
	h := New()
	h.Write(data)
	tree := h.Tree()
	root := tree.Root()
	xmlGood := string(AppendXML(nil, 600000, 2, root))
	bf := tree.AppendBreadthFirst(nil)
	msg := func(xmlText, id string, typ string) []byte {
		return AppendDIME(nil, []Record{
			{TypeFormat: TypeMedia, Type: XMLType, Data: []byte(xmlText)},
			{TypeFormat: TypeURI, Type: typ, ID: id, Data: bf},
		})
	}
	// BearShare's bogus ID: the first tree record is taken.
	got, _, err := DecodeMessage(msg(xmlGood, "\""+TreeID(root), TreeType), 600000, root)
	require.NoError(t, err)
	require.Equal(t, tree, got)
	// Type in another case.
	_, _, err = DecodeMessage(msg(xmlGood, TreeID(root), strings.ToUpper(TreeType)), 600000, root)
	require.NoError(t, err)

	for name, body := range map[string][]byte{
		"no tree record":    msg(xmlGood, TreeID(root), "http://other"),
		"segment size":      msg(strings.Replace(xmlGood, "\"1024\"", "\"2048\"", 1), TreeID(root), TreeType),
		"algorithm":         msg(strings.Replace(xmlGood, "digest/tiger", "digest/sha1", 1), TreeID(root), TreeType),
		"output size":       msg(strings.Replace(xmlGood, "\"24\"", "\"20\"", 1), TreeID(root), TreeType),
		"tree type":         msg(strings.Replace(xmlGood, "thex/breadthfirst", "thex/depthfirst", 1), TreeID(root), TreeType),
		"no uri":            msg(strings.Replace(xmlGood, " uri=", " url=", 1), TreeID(root), TreeType),
		"depth past leaves": msg(strings.Replace(xmlGood, "depth=\"2\"", "depth=\"11\"", 1), TreeID(root), TreeType),
		"no xml":            AppendDIME(nil, []Record{{TypeFormat: TypeURI, Type: TreeType, ID: TreeID(root), Data: bf}}),
		"not dime":          []byte("<hashtree/>"),
	} {
		_, _, err := DecodeMessage(body, 600000, root)
		require.ErrorIs(t, err, ErrMalformed, name)
	}
}

// TestWorkers: leaves hashed in several goroutines give the same root and
// rows as in one.
func TestWorkers(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 8))
	data := make([]byte, 5<<20+777)
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	for _, workers := range []int{0, 2, 3, 8} {
		for _, size := range []int{64 << 10, 65<<10 + 1, 1 << 20, 3<<20 + 5, len(data)} {
			serial, par := New(), New()
			par.SetWorkers(workers)
			for p := data[:size]; len(p) > 0; {
				k := min(len(p), 1+rnd.IntN(2<<20))
				serial.Write(p[:k])
				par.Write(p[:k])
				p = p[k:]
			}
			require.Equal(t, serial.Root(), par.Root(), "workers %d size %d", workers, size)
			require.Equal(t, serial.Tree(), par.Tree(), "workers %d size %d", workers, size)
		}
	}
}
