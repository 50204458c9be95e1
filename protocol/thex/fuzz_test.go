package thex

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// checkErr: a refusal wraps ErrMalformed, stays short and prints no
// control characters, whatever the input.
func checkErr(t *testing.T, err error) {
	t.Helper()
	require.True(t, errors.Is(err, ErrMalformed), "%v", err)
	require.LessOrEqual(t, len(err.Error()), 512, "error grows with the input")
	for _, r := range err.Error() {
		require.False(t, r < 0x20 || r == 0x7f, "control character in %q", err.Error())
	}
}

func addServed(f *testing.F, add func(body []byte)) {
	for _, name := range []string{"gtkg-50-600000.dime", "gtkg-51-3mb.dime", "gtkg-52-5000.dime"} {
		b, err := os.ReadFile("testdata/" + name)
		require.NoError(f, err)
		add(b)
	}
}

// FuzzDecodeDIME: a DIME message decodes without panic; what decodes
// encodes back (unchunked) to a message that decodes to the same records.
func FuzzDecodeDIME(f *testing.F) {
	addServed(f, func(b []byte) { f.Add(b) })
	f.Add(AppendDIME(nil, []Record{{TypeFormat: TypeNone}}))
	f.Add([]byte{
		0x0d, 0x10, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3, 't', 'e', 'x', 't', 'h', 'e', 'l', 0,
		0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 'l', 'o', 0, 0,
	})
	f.Add([]byte{0x0e, 0x10, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := DecodeDIME(b)
		if err != nil {
			checkErr(t, err)
			return
		}
		require.NotEmpty(t, recs)
		total := 0
		for _, r := range recs {
			total += len(r.Options) + len(r.ID) + len(r.Type) + len(r.Data)
		}
		require.LessOrEqual(t, total, len(b))
		again, err := DecodeDIME(AppendDIME(nil, recs))
		require.NoError(t, err)
		require.Len(t, again, len(recs))
		for i := range recs {
			require.Equal(t, recs[i].TypeFormat&0x0f, again[i].TypeFormat)
			require.Equal(t, recs[i].Type, again[i].Type)
			require.Equal(t, recs[i].ID, again[i].ID)
			require.Equal(t, string(recs[i].Options), string(again[i].Options))
			require.Equal(t, string(recs[i].Data), string(again[i].Data))
		}
	})
}

// FuzzDecodeMessage: a THEX reply, checked against the root its own tree
// record starts with, decodes without panic to a tree whose bottom row
// folds to that root and that survives a write and a read.
func FuzzDecodeMessage(f *testing.F) {
	sizes := []int64{600000, 3 << 20, 5000}
	i := 0
	addServed(f, func(b []byte) { f.Add(b, sizes[i]); i++ })
	f.Add([]byte("not dime"), int64(0))
	f.Fuzz(func(t *testing.T, body []byte, size int64) {
		var root Hash
		if recs, err := DecodeDIME(body); err == nil {
			for _, r := range recs {
				if len(r.Data) >= HashSize && strings.EqualFold(r.Type, TreeType) {
					root = Hash(r.Data)
					break
				}
			}
		}
		tree, info, err := DecodeMessage(body, size, root)
		if err != nil {
			checkErr(t, err)
			return
		}
		require.Equal(t, size, info.FileSize)
		require.Equal(t, root, tree.Root())
		require.Equal(t, root, RootOf(tree.Bottom()))
		require.LessOrEqual(t, tree.Depth, info.Depth)
		require.LessOrEqual(t, tree.Depth, GoodDepth(size))
		require.Len(t, tree.Rows, tree.Depth+1)
		require.Equal(t, NodeCount(size, tree.Depth), int64(len(tree.Bottom())))
		again, _, err := DecodeMessage(AppendMessage(nil, tree), size, root)
		require.NoError(t, err)
		require.Equal(t, tree, again)
	})
}

// FuzzParseBreadthFirst: any tree record, size and depth: no panic, and
// a tree that is accepted is consistent.
func FuzzParseBreadthFirst(f *testing.F) {
	sizes := []int64{600000, 3 << 20, 5000}
	depths := []int{2, 4, 0}
	i := 0
	addServed(f, func(b []byte) {
		recs, err := DecodeDIME(b)
		require.NoError(f, err)
		f.Add(recs[1].Data, sizes[i], depths[i])
		i++
	})
	f.Fuzz(func(t *testing.T, data []byte, size int64, depth int) {
		var root Hash
		if len(data) >= HashSize {
			root = Hash(data)
		}
		tree, err := ParseBreadthFirst(data, size, depth, root)
		if err != nil {
			checkErr(t, err)
			return
		}
		require.Equal(t, root, RootOf(tree.Bottom()))
		require.Equal(t, tree.AppendBreadthFirst(nil)[:HashSize], data[:HashSize])
	})
}

// FuzzParseXML: any XML record: no panic, bounded fields, and what
// gtk-gnutella's writer makes of the fields reads back the same.
func FuzzParseXML(f *testing.F) {
	addServed(f, func(b []byte) {
		recs, err := DecodeDIME(b)
		require.NoError(f, err)
		f.Add(recs[0].Data)
	})
	f.Add([]byte("<hashtree><file size='1' segmentsize='1024'><digest algorithm='x' outputsize='24'/><serializedtree depth='0' uri='u' type='t'>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		info, err := ParseXML(data)
		if err != nil {
			checkErr(t, err)
			return
		}
		require.GreaterOrEqual(t, info.FileSize, int64(0))
		require.GreaterOrEqual(t, info.Depth, 0)
		require.LessOrEqual(t, info.Depth, maxXMLDepth)
		again, err := ParseXML(AppendXML(nil, info.FileSize, info.Depth, Hash{}))
		require.NoError(t, err)
		require.Equal(t, info.FileSize, again.FileSize)
		require.Equal(t, info.Depth, again.Depth)
	})
}
