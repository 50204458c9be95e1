package protocol

import (
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

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

// TestTTHURNs: every urn form of the root of GNUTELLA-TRANSFERS.md 28.2
// and 28.3 (pattern 5000), its writers, and the spellings the parsers
// refuse (one spelling per root).
func TestTTHURNs(t *testing.T) {
	raw, _ := hex.DecodeString("623a7bc5c187e2ae7080bc0084a4ed863d7361ecc32a5ad8")
	root, err := ParseTTHBase32("MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA")
	require.NoError(t, err)
	require.Equal(t, TTH(raw), root)
	require.Equal(t, "MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA", root.Base32())
	require.Equal(t, "urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA", root.TreeURN())
	require.Equal(t, "urn:tree:tiger/:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA", root.URN())
	require.Equal(t, "urn:ttroot:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA", root.TTRootURN())
	require.Equal(t, root.URN(), root.String())
	for _, s := range []string{
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
		"URN:TREE:TIGER:mi5hxrobq7rk44eaxqaijjhnqy6xgypmymvfvwa",
		"urn:tree:tiger/:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
		"urn:ttroot:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
		"URN:TTROOT:mi5hxrobq7rk44eaxqaijjhnqy6xgypmymvfvwa",
		"Urn:TTRoot:Mi5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
		"urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
	} {
		h, err := ParseTTHURN(s)
		require.NoError(t, err, s)
		require.Equal(t, root, h, s)
	}

	bp := "urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA"
	sha, r, err := ParseBitprintURN(bp)
	require.NoError(t, err)
	require.Equal(t, root, r)
	pattern := make([]byte, 5000) // the lab's file: byte i = i mod 251
	for i := range pattern {
		pattern[i] = byte(i % 251)
	}
	require.Equal(t, SHA1(sha1.Sum(pattern)), sha)
	require.Equal(t, "urn:sha1:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF", sha.URN())
	require.Equal(t, bp, BitprintURN(sha, r))
	_, _, err = ParseBitprintURN(strings.ToLower(bp))
	require.NoError(t, err)

	for _, s := range []string{
		"", "urn:tree:tiger:", "urn:sha1:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF",
		"urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF",
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVW",   // 38
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWAA", // 40
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVW1",  // not base32
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWB",  // unused bits set
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVW=",
		"urn:tree:tiger::I5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVW\n", // the decoder skips newlines
		"urn:ttroot:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWb",      // unused bits set, lower case
	} {
		_, err := ParseTTHURN(s)
		require.ErrorIs(t, err, ErrMalformed, s)
	}
	for _, s := range []string{
		"", bp[:len(bp)-1], bp + "A", strings.Replace(bp, ".", ":", 1),
		"urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHH1.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
		"urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWB",
		"urn:bitprimt:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
		"urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHH.FMI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA",
	} {
		_, _, err := ParseBitprintURN(s)
		require.ErrorIs(t, err, ErrMalformed, s)
		_, err = ParseTTHURN(s)
		require.ErrorIs(t, err, ErrMalformed, s)
	}

	// The errors say what is wrong, briefly.
	for s, want := range map[string]string{
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVW":  "tiger tree root of 38 base32 characters, want 39",
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVW1": `tiger tree root "MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVW1" is not base32`,
		"urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWB": `tiger tree root "MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWB" has unused bits set`,
		"urn:md5:x":         `not a tiger tree urn: "urn:md5:x"`,
		"urn:bitprint:AB.C": `bitprint urn "urn:bitprint:AB.C" is not urn:bitprint:<32>.<39>`,
	} {
		_, err := ParseTTHURN(s)
		require.ErrorIs(t, err, ErrMalformed, s)
		require.Equal(t, ErrMalformed.Error()+": "+want, err.Error(), s)
	}
}

// checkParseErr: a refusal wraps ErrMalformed, stays short and prints no
// control characters, whatever the input.
func checkParseErr(t *testing.T, err error) {
	t.Helper()
	require.True(t, errors.Is(err, ErrMalformed), "%v", err)
	require.LessOrEqual(t, len(err.Error()), 512, "error grows with the input")
	for _, r := range err.Error() {
		require.False(t, r < 0x20 || r == 0x7f, "control character in %q", err.Error())
	}
}

// FuzzParseTTHURN: a root read from any urn form is written back the same,
// spelled as the input (case aside); the same for bitprints; a refusal is
// a short ErrMalformed.
func FuzzParseTTHURN(f *testing.F) {
	f.Add("urn:tree:tiger/:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA")
	f.Add("urn:bitprint:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF.MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA")
	f.Add("urn:ttroot:")
	f.Add("urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWA")
	f.Add("URN:TTROOT:mi5hxrobq7rk44eaxqaijjhnqy6xgypmymvfvwa")
	f.Add("urn:tree:tiger:MI5HXROBQ7RK44EAXQAIJJHNQY6XGYPMYMVFVWB")
	f.Add("urn:sha1:42JXVIAWXQDO3KA5HMRH7766QJOYQHHF\x00\xff")
	f.Fuzz(func(t *testing.T, s string) {
		if root, err := ParseTTHURN(s); err != nil {
			checkParseErr(t, err)
			require.True(t, root.IsZero())
		} else {
			forms := []string{root.TreeURN(), root.URN(), root.TTRootURN()}
			if sha, bp, err := ParseBitprintURN(s); err == nil {
				require.Equal(t, root, bp)
				forms = append(forms, BitprintURN(sha, bp))
			}
			found := false
			for _, form := range forms {
				found = found || strings.EqualFold(form, s)
			}
			require.True(t, found, "%q read as %s", s, root.URN())
			for _, form := range forms[:3] {
				again, err := ParseTTHURN(form)
				require.NoError(t, err, form)
				require.Equal(t, root, again, form)
			}
			again, err := ParseTTHBase32(root.Base32())
			require.NoError(t, err)
			require.Equal(t, root, again)
		}
		if sha, root, err := ParseBitprintURN(s); err != nil {
			checkParseErr(t, err)
		} else {
			require.True(t, strings.EqualFold(BitprintURN(sha, root), s), "%q read as %s", s, BitprintURN(sha, root))
		}
	})
}
