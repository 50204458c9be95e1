package protocol

import (
	"encoding/hex"
	"testing"

	"github.com/stretchr/testify/require"
)

// Vectors of GNUTELLA-TRANSFERS.md 28.2, 28.3.
func TestTTHURNs(t *testing.T) {
	root, _ := hex.DecodeString("623a7bc5c187e2ae7080bc0084a4ed863d7361ecc32a5ad8")
	want := TTH(root)
	require.Equal(t, "MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA", want.Base32())
	for _, s := range []string{
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
		"urn:tree:tiger/:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
		"URN:TTROOT:mi5hxrobq7rk44eaxqaijjhnqy6xgypmymvfvwa",
		"urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
	} {
		got, err := ParseTTHURN(s)
		require.NoError(t, err, s)
		require.Equal(t, want, got, s)
	}
	sha, tth, err := ParseBitprintURN("urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA")
	require.NoError(t, err)
	require.Equal(t, "urn:sha1:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF", sha.URN())
	require.Equal(t, "urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA", BitprintURN(sha, tth))
	require.Equal(t, "urn:tree:tiger/:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA", tth.URN())
	for _, bad := range []string{"", "urn:tree:tiger:", "urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVW", "urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVW1",
		"urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF", "urn:sha1:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF"} {
		_, err := ParseTTHURN(bad)
		require.ErrorIs(t, err, ErrMalformed, bad)
	}
}

// A hit's root travels as GGEP TT (COBS when it holds a NUL, as 28.2's
// 5000-byte file does), as H type 02, or as bitprint text: all decode.
func TestResultTTH(t *testing.T) {
	root, _ := hex.DecodeString("623a7bc5c187e2ae7080bc0084a4ed863d7361ecc32a5ad8")
	sha, err := ParseSHA1URN("urn:sha1:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF")
	require.NoError(t, err)
	hit := QueryHit{Port: 6346, Speed: 1, Vendor: VendorSRVT, Results: []Result{{Index: 1, Size: 5000, Name: "pattern.bin", SHA1: sha, TTH: TTH(root)}}}
	b := hit.Append(nil)
	require.Contains(t, string(b), "\xc2TT\x59\x0c\x62\x3a\x7b", "COBS-encoded TT as gtk-gnutella writes it (last: 0x80)")
	var back QueryHit
	require.NoError(t, back.Decode(b))
	require.Equal(t, TTH(root), back.Results[0].TTH)
	require.Equal(t, sha, back.Results[0].SHA1)
	require.Empty(t, back.Results[0].GGEP)

	// Bitprint text, and GGEP H type 02.
	text := QueryHit{Results: []Result{{Index: 2, Name: "x", URNs: []string{"urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA"}}}}
	require.NoError(t, back.Decode(text.Append(nil)))
	require.Equal(t, sha, back.Results[0].SHA1)
	require.Equal(t, TTH(root), back.Results[0].TTH)
	h := append(append([]byte{0x02}, sha[:]...), root...)
	hh := QueryHit{Results: []Result{{Index: 3, Name: "y", GGEP: GGEP{{ID: "H", Data: h}}}}}
	require.NoError(t, back.Decode(hh.Append(nil)))
	require.Equal(t, sha, back.Results[0].SHA1)
	require.Equal(t, TTH(root), back.Results[0].TTH)
}

func FuzzParseTTHURN(f *testing.F) {
	f.Add("urn:tree:tiger/:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA")
	f.Add("urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA")
	f.Add("urn:ttroot:")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTTHURN(s)
		if err != nil {
			return
		}
		again, err := ParseTTHURN(got.URN())
		require.NoError(t, err)
		require.Equal(t, got, again)
	})
}
