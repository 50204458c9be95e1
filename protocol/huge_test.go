package protocol

import (
	"crypto/sha1"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// GNUTELLA.md 10.6.
func TestSHA1URNVectors(t *testing.T) {
	cases := []struct {
		content []byte
		urn     string
	}{
		{nil, "urn:sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ"},
		{[]byte("hello world\n"), "urn:sha1:EJMWGY5T3ZALA34YD64F3ARRF2GA5VIR"},
		{make([]byte, 1<<20), "urn:sha1:HNY7IP7TB5FRLNONQXOZ5FPLY7UE5NND"},
	}
	for _, c := range cases {
		sum := SHA1(sha1.Sum(c.content))
		require.Equal(t, c.urn, sum.URN())
		back, err := ParseSHA1URN(c.urn)
		require.NoError(t, err)
		require.Equal(t, sum, back)
		lower, err := ParseSHA1URN("URN:SHA1:" + strings.ToLower(c.urn[9:]))
		require.NoError(t, err)
		require.Equal(t, sum, lower)
	}
}

func TestParseSHA1URNBitprintAndErrors(t *testing.T) {
	got, err := ParseSHA1URN("urn:bitprint:EJMWGY5T3ZALA34YD64F3ARRF2GA5VIR.ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFG")
	require.NoError(t, err)
	require.Equal(t, "urn:sha1:EJMWGY5T3ZALA34YD64F3ARRF2GA5VIR", got.URN())
	for _, bad := range []string{"", "urn:sha1:", "urn:sha1:EJMWGY5T3ZALA34YD64F3ARRF2GA5VI", "urn:sha1:EJMWGY5T3ZALA34YD64F3ARRF2GA5VI1", "urn:md5:x"} {
		_, err := ParseSHA1URN(bad)
		require.True(t, errors.Is(err, ErrMalformed), bad)
	}
}
