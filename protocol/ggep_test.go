package protocol

import (
	"bytes"
	"compress/zlib"
	"testing"

	"github.com/stretchr/testify/require"
)

var sha1Hello = SHA1{0x22, 0x59, 0x63, 0x63, 0xb3, 0xde, 0x40, 0xb0, 0x6f, 0x98, 0x1f, 0xb8, 0x5d, 0x82, 0x31, 0x2e, 0x8c, 0x0e, 0xd5, 0x11}

func ggepVectors(t testing.TB) []struct {
	name string
	wire []byte
	g    GGEP
} {
	p100 := byteSeq(1, 100)
	a5000 := bytes.Repeat([]byte{0x41}, 5000)
	return []struct {
		name string
		wire []byte
		g    GGEP
	}{
		{"G1 DU", dhex(t, "c3 82 44 55 42 10 0e"), GGEP{{ID: "DU", Data: []byte{0x10, 0x0e}}}},
		{"G2 VC UP GUE", dhex(t, "c3 02 56 43 45 53 52 56 54 01 02 55 50 43 01 1e 02 83 47 55 45 41 01"), GGEP{
			{ID: "VC", Data: []byte("SRVT\x01")}, {ID: "UP", Data: []byte{1, 0x1e, 2}}, {ID: "GUE", Data: []byte{1}}}},
		{"G3 XY 100", append(dhex(t, "c3 82 58 59 81 64"), p100...), GGEP{{ID: "XY", Data: p100}}},
		{"G4 XY 5000", append(dhex(t, "c3 82 58 59 81 8e 48"), a5000...), GGEP{{ID: "XY", Data: a5000}}},
		{"G5 C COBS", dhex(t, "c3 c1 43 47 02 11 02 22 01 02 33"), GGEP{{ID: "C", Data: []byte{0x11, 0, 0x22, 0, 0, 0x33}, COBS: true}}},
		{"G6 Z deflate", dhex(t, "c3 a1 5a 51 78 da cb 48 cd c9 c9 57 c8 c0 47 02 00 eb 55 0d 19"), GGEP{{ID: "Z", Data: []byte("hello hello hello hello hello hello"), Deflate: true}}},
		{"GH H", dhex(t, "c3 81 48 55 01 22 59 63 63 b3 de 40 b0 6f 98 1f b8 5d 82 31 2e 8c 0e d5 11"), GGEP{{ID: "H", Data: append([]byte{1}, sha1Hello[:]...)}}},
	}
}

// GNUTELLA.md 10.4: every block decodes to its extensions and encodes back
// byte for byte (G6: deflate output depends on the zlib build, so our
// encoding is checked by decoding it; GNUTELLA.md 10.0 says so).
func TestGGEPVectors(t *testing.T) {
	for _, tt := range ggepVectors(t) {
		t.Run(tt.name, func(t *testing.T) {
			wire := append(append([]byte{}, tt.wire...), 0xAA, 0xBB) // trailing bytes are not consumed
			g, n, err := ParseGGEP(wire)
			require.NoError(t, err)
			require.Equal(t, len(tt.wire), n)
			require.Equal(t, tt.g, g)
			enc := tt.g.Append([]byte{0x99})
			require.Equal(t, byte(0x99), enc[0])
			if tt.name == "G6 Z deflate" {
				g2, n2, err := ParseGGEP(enc[1:])
				require.NoError(t, err)
				require.Equal(t, len(enc)-1, n2)
				require.Equal(t, tt.g, g2)
				return
			}
			require.Equal(t, tt.wire, enc[1:])
		})
	}
}

func TestGGEPLengthVectors(t *testing.T) {
	tests := []struct {
		n    int
		wire string
	}{
		{0, "40"}, {63, "7f"}, {64, "81 40"}, {100, "81 64"}, {4095, "bf 7f"},
		{4096, "81 80 40"}, {5000, "81 8e 48"}, {262143, "bf bf 7f"},
	}
	for _, tt := range tests {
		got, err := appendGGEPLen(nil, tt.n)
		require.NoError(t, err)
		require.Equal(t, dhex(t, tt.wire), got, "n=%d", tt.n)
		n, used, err := parseGGEPLen(got)
		require.NoError(t, err)
		require.Equal(t, tt.n, n)
		require.Equal(t, len(got), used)
	}
	_, err := appendGGEPLen(nil, 262144)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestGGEPNegative(t *testing.T) {
	tests := []struct {
		name string
		wire string
		want error
	}{
		{"flags bit 4 set", "c3 92 44 55 40", ErrMalformed},
		{"id length 0", "c3 80 40", ErrMalformed},
		{"length byte 00", "c3 82 44 55 00", ErrMalformed},
		{"length byte with CONT and LAST", "c3 82 44 55 c1 00", ErrMalformed},
		{"4 length bytes", "c3 82 44 55 81 81 81 41 00", ErrMalformed},
		{"non-minimal length", "c3 82 44 55 80 41 00", ErrMalformed},
		{"length past the end", "c3 82 44 55 45 01 02", ErrTruncated},
		{"missing LAST", "c3 02 44 55 41 01", ErrTruncated},
		{"missing LAST, next flags absent", "c3 02 44 55 40", ErrTruncated},
		{"id past the end", "c3 85 44 55", ErrTruncated},
		{"id holds 00", "c3 82 44 00 40", ErrMalformed},
		{"length missing", "c3 82 44 55", ErrTruncated},
		{"bad magic", "c2 82 44 55 40", ErrMalformed},
		{"empty", "", ErrTruncated},
		{"bad COBS", "c3 c1 43 43 05 11 22", ErrMalformed},
		{"bad zlib", "c3 a1 5a 43 78 da ff", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, n, err := ParseGGEP(dhex(t, tt.wire))
			require.ErrorIs(t, err, tt.want)
			require.Empty(t, g)
			require.Zero(t, n)
		})
	}
}

func TestGGEPInflateCap(t *testing.T) {
	var buf bytes.Buffer
	zw := zlib.NewWriter(&buf)
	_, _ = zw.Write(make([]byte, MaxGGEPInflate+1))
	require.NoError(t, zw.Close())
	require.Less(t, buf.Len(), 1000) // a small bomb
	bomb := GGEP{{ID: "Z", Data: buf.Bytes()}}.Append(nil)
	bomb[1] |= ggepDeflate // mark the already-deflated data as deflated
	_, _, err := ParseGGEP(bomb)
	require.ErrorIs(t, err, ErrTooLarge)

	// Exactly the cap is fine.
	ok := GGEP{{ID: "Z", Data: deflateBest(make([]byte, MaxGGEPInflate))}}.Append(nil)
	ok[1] |= ggepDeflate
	g, _, err := ParseGGEP(ok)
	require.NoError(t, err)
	require.Len(t, g[0].Data, MaxGGEPInflate)

	// The cap is per block: two extensions of 40 KiB each exceed it.
	two := GGEP{{ID: "A", Data: make([]byte, 40<<10), Deflate: true}, {ID: "B", Data: make([]byte, 40<<10), Deflate: true}}.Append(nil)
	_, _, err = ParseGGEP(two)
	require.ErrorIs(t, err, ErrTooLarge)

	// Truncated zlib stream.
	trunc := GGEP{{ID: "Z", Data: buf.Bytes()[:buf.Len()/2]}}.Append(nil)
	trunc[1] |= ggepDeflate
	_, _, err = ParseGGEP(trunc)
	require.ErrorIs(t, err, ErrMalformed)
}

func TestGGEPAppend(t *testing.T) {
	// Invalid extensions are left out; nothing valid -> nothing written.
	require.Empty(t, GGEP{{ID: ""}, {ID: "0123456789abcdef"}, {ID: "A\x00"}}.Append(nil))
	require.Error(t, GGEP{{ID: ""}}.Validate())
	require.NoError(t, GGEP{{ID: "BH"}}.Validate())
	require.Equal(t, dhex(t, "c3 82 42 48 40"), GGEP{{ID: ""}, {ID: "BH"}}.Append(nil))
	// COBS + deflate together: deflate first, then COBS.
	g := GGEP{{ID: "ZC", Data: bytes.Repeat([]byte{0, 1, 2, 0}, 100), COBS: true, Deflate: true}}
	enc := g.Append(nil)
	require.Equal(t, byte(0xE2), enc[1])
	require.NotContains(t, string(enc), "\x00")
	got, n, err := ParseGGEP(enc)
	require.NoError(t, err)
	require.Equal(t, len(enc), n)
	require.Equal(t, g, got)
	// forceCOBS applies COBS only where a 00 is present.
	enc = appendGGEP2(nil, nil, GGEP{{ID: "A", Data: []byte{1, 2}}, {ID: "B", Data: []byte{0, 1}}}, true)
	require.Equal(t, dhex(t, "c3 01 41 42 01 02 c1 42 43 01 02 01"), enc)
	v, ok := got.Get("ZC")
	require.True(t, ok)
	require.Len(t, v, 400)
	require.False(t, got.Has("H"))
}

func TestVLInt(t *testing.T) {
	for _, tt := range []struct {
		v    uint64
		wire []byte
	}{{0, nil}, {1, []byte{1}}, {3600, []byte{0x10, 0x0e}}, {86400, []byte{0x80, 0x51, 0x01}}, {1 << 32, []byte{0, 0, 0, 0, 1}}, {^uint64(0), bytes.Repeat([]byte{0xff}, 8)}} {
		require.Equal(t, tt.wire, AppendVLInt(nil, tt.v))
		v, err := ParseVLInt(tt.wire)
		require.NoError(t, err)
		require.Equal(t, tt.v, v)
	}
	_, err := ParseVLInt(make([]byte, 9))
	require.ErrorIs(t, err, ErrTooLarge)
}

func FuzzGGEP(f *testing.F) {
	for _, v := range ggepVectors(f) {
		f.Add(v.wire)
	}
	for _, s := range []string{"c392445540", "c3824455c100", "c30244554101", "c3c14343051122", "c3a15a4378daff"} {
		f.Add(dhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		g, n, err := ParseGGEP(b)
		if err != nil {
			require.Zero(t, n)
			return
		}
		require.LessOrEqual(t, n, len(b))
		total := 0
		for _, e := range g {
			if e.Deflate {
				total += len(e.Data)
			}
		}
		require.LessOrEqual(t, total, MaxGGEPInflate)
		// Canonical form: re-encoding and parsing gives the same extensions.
		enc := g.Append(nil)
		g2, n2, err := ParseGGEP(enc)
		require.NoError(t, err)
		require.Equal(t, len(enc), n2)
		require.Equal(t, g, g2)
		// Plain extensions re-encode byte for byte.
		plain := true
		for _, e := range g {
			plain = plain && !e.COBS && !e.Deflate
		}
		if plain {
			require.Equal(t, b[:n], enc)
		}
	})
}

func BenchmarkParseGGEP(b *testing.B) {
	// A GTKG pong's block: VC, GUE, UP, DU, TLS.
	wire := dhex(b, "c3 02 56 43 45 47 54 4b 47 83 03 47 55 45 41 02 02 55 50 43 02 ff 32 02 44 55 43 80 51 01 83 54 4c 53 40")
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	var g GGEP
	defer cpuTimer(b)()
	for b.Loop() {
		g, _, _ = parseGGEP(g[:0], wire)
	}
}

func BenchmarkParseGGEPNew(b *testing.B) {
	wire := dhex(b, "c3 02 56 43 45 47 54 4b 47 83 03 47 55 45 41 02 02 55 50 43 02 ff 32 02 44 55 43 80 51 01 83 54 4c 53 40")
	b.ReportAllocs()
	b.SetBytes(int64(len(wire)))
	defer cpuTimer(b)()
	for b.Loop() {
		_, _, _ = ParseGGEP(wire)
	}
}
