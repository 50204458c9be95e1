package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// GNUTELLA.md 10.5.
func TestQRPHashVectors(t *testing.T) {
	cases := []struct {
		word string
		bits uint
		want uint32
	}{
		{"alpha", 16, 46060},
		{"beta", 16, 10705},
		{"gnutella", 16, 21293},
		{"Gnutella", 16, 13988},
		{"gnutella", 32, 1395470776},
		{"metallica", 13, 6174},
		{"café", 16, 38385},
		{"cafe", 16, 9713},
		{"naïve", 16, 41508},
		{"straße", 16, 29733},
		{"日本語", 20, 98524},
		{"😀", 16, 55708},
		{"mp3", 21, 927861},
		{"alpha", 6, 44},
		{"beta", 6, 10},
		{"urn:sha1:EJMWGY5T3ZALA34YD64F3ARRF2GA5VIR", 16, 39598},
		{"", 16, 0},
		{"ebcklmenq", 13, 3527},
		{"ndflalem", 16, 37658},
		{"7777a88a8a8a8", 10, 342},
	}
	for _, c := range cases {
		require.Equal(t, c.want, QRPHash(c.word, c.bits), "%q/%d", c.word, c.bits)
	}
}

func BenchmarkQRPHash(b *testing.B) {
	const word = "metallica"
	b.ReportAllocs()
	b.SetBytes(int64(len(word)))
	for b.Loop() {
		_ = QRPHash(word, 16)
	}
}

// LimeWire's HashFunction lower-cases what it hashes: a sha1 urn enters its
// table as the lower-case string.
func TestQRPURNCode(t *testing.T) {
	hello, err := ParseSHA1URN("urn:sha1:EJMWGY5T3ZALA34YD64F3ARRF2GA5VIR")
	require.NoError(t, err)
	require.Equal(t, QRPHashCode("urn:sha1:ejmwgy5t3zala34yd64f3arrf2ga5vir"), QRPURNCode(hello))
	require.NotEqual(t, QRPHashCode(hello.URN()), QRPURNCode(hello))
	require.Zero(t, testing.AllocsPerRun(10, func() { _ = QRPURNCode(hello) }))
}
