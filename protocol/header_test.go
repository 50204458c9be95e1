package protocol

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// unhex decodes hex with any spaces and newlines in it.
func dhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	require.NoError(t, err)
	return b
}

func mustGUID(t testing.TB, s string) GUID {
	t.Helper()
	g, err := ParseGUID(s)
	require.NoError(t, err)
	return g
}

func TestParseHeader(t *testing.T) {
	b := dhex(t, "0a1b2c3d4e5f6071ff8192a3b4c5d600 00 01 00 06000000")
	h, err := ParseHeader(b)
	require.NoError(t, err)
	require.Equal(t, Header{GUID: mustGUID(t, "0a1b2c3d4e5f6071ff8192a3b4c5d600"), Type: TypePing, TTL: 1, Hops: 0, Length: 6}, h)
	require.Equal(t, b, h.Append(nil))

	_, err = ParseHeader(b[:22])
	require.ErrorIs(t, err, ErrTruncated)

	big := append([]byte(nil), b...)
	copy(big[19:], []byte{0x00, 0x00, 0x01, 0x00}) // 65536
	h, err = ParseHeader(big)
	require.ErrorIs(t, err, ErrTooLarge)
	require.Equal(t, uint32(65536), h.Length)
	copy(big[19:], []byte{0xff, 0xff, 0x00, 0x00}) // 65535 is fine
	_, err = ParseHeader(big)
	require.NoError(t, err)
	copy(big[19:], []byte{0x10, 0x00, 0x00, 0x80}) // GTKG "marked" size: refused
	_, err = ParseHeader(big)
	require.ErrorIs(t, err, ErrTooLarge)
}

func TestPayloadTypeString(t *testing.T) {
	require.Equal(t, "QueryHit", TypeQueryHit.String())
	require.Equal(t, "Type(0x44)", PayloadType(0x44).String())
}

func FuzzHeader(f *testing.F) {
	f.Add(make([]byte, HeaderLen))
	f.Add([]byte("\x0a\x1b\x2c\x3d\x4e\x5f\x60\x71\xff\x81\x92\xa3\xb4\xc5\xd6\x00\x00\x01\x00\x06\x00\x00\x00"))
	f.Add([]byte("\x0a\x1b\x2c\x3d\x4e\x5f\x60\x71\xff\x81\x92\xa3\xb4\xc5\xd6\x00\x80\x04\x00\xff\xff\x01\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := ParseHeader(b)
		if err != nil {
			return
		}
		require.LessOrEqual(t, h.Length, uint32(MaxPayloadLen))
		require.Equal(t, b[:HeaderLen], h.Append(nil))
	})
}

func BenchmarkParseHeader(b *testing.B) {
	buf := dhex(b, "3f2e1d0c4b5a6978ff0123456789ab00 80 04 00 36000000")
	b.ReportAllocs()
	b.SetBytes(HeaderLen)
	var sum uint64
	defer cpuTimer(b)()
	for b.Loop() {
		h, err := ParseHeader(buf)
		if err == nil {
			sum += uint64(h.Length) + uint64(h.TTL)
		}
	}
	require.Equal(b, uint64(54+4), sum/uint64(b.N))
}

//go:noinline
func baselineCall(b []byte) int { return len(b) }

// BenchmarkBaselineCall times an empty non-inlined call: on a shared,
// loaded machine it shows how much the other figures are inflated.
func BenchmarkBaselineCall(b *testing.B) {
	buf := make([]byte, HeaderLen)
	b.ReportAllocs()
	defer cpuTimer(b)()
	for b.Loop() {
		baselineCall(buf)
	}
}

func BenchmarkHeaderDecode(b *testing.B) {
	buf := dhex(b, "3f2e1d0c4b5a6978ff0123456789ab00 80 04 00 36000000")
	b.ReportAllocs()
	b.SetBytes(HeaderLen)
	var sum uint64
	var h Header
	defer cpuTimer(b)()
	for b.Loop() {
		if err := h.Decode(buf); err == nil {
			sum += uint64(h.Length) + uint64(h.TTL)
		}
	}
	require.Equal(b, uint64(54+4), sum/uint64(b.N))
}
