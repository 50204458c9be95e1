package uhc

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCachesRoundTrip(t *testing.T) {
	cs := []Cache{
		{Kind: UDP, Name: "uhc.example:6346", LastAnswer: t0, Failures: 0},
		{Kind: UDP, Name: "[2001:db8::1]:6346", Failures: 4},
		{Kind: Web, Name: "http://gwc.example/cache.php?net=gnutella", LastAnswer: t0.Add(time.Hour)},
		{Kind: UDP, Name: "bad name:1"}, // not written
	}
	b := EncodeCaches(cs)
	got, err := ReadCaches(strings.NewReader(string(b)))
	require.NoError(t, err)
	cs[0].LastAnswer, cs[2].LastAnswer = time.Unix(t0.Unix(), 0), time.Unix(t0.Add(time.Hour).Unix(), 0)
	require.Equal(t, cs[:3], got)
}

func TestReadCachesSkipsBadLines(t *testing.T) {
	in := "# comment\n" +
		"uhc a.example:6346 0 0\n" +
		"uhc no-port 0 0\n" +
		"uhc b.example:0 0 0\n" +
		"gwc ftp://x/ 0 0\n" +
		"gwc http://ok.example/ -1 0\n" +
		"xyz a:1 0 0\n" +
		"uhc c.example:1 0 -3\n" +
		"uhc d.example:1 0 99\n" +
		"uhc e.example:1 0\n" +
		"uhc " + strings.Repeat("x", 2000) + ":1 0 0\n" +
		"gwc https://fine.example/g 1700000000 1"
	got, err := ReadCaches(strings.NewReader(in))
	require.NoError(t, err)
	require.Equal(t, []Cache{
		{Kind: UDP, Name: "a.example:6346"},
		{Kind: UDP, Name: "d.example:1", Failures: 30},
		{Kind: Web, Name: "https://fine.example/g", LastAnswer: time.Unix(1700000000, 0), Failures: 1},
	}, got)
}

func TestReadCachesBounded(t *testing.T) {
	var b strings.Builder
	for range 2 * MaxCaches {
		b.WriteString("uhc a.example:6346 0 0\n")
	}
	got, err := ReadCaches(strings.NewReader(b.String()))
	require.NoError(t, err)
	require.Len(t, got, MaxCaches)

	_, err = ReadCaches(&countingReader{})
	require.Error(t, err, "an endless file stops with an error")
}

func FuzzReadCaches(f *testing.F) {
	f.Add(EncodeCaches([]Cache{{Kind: UDP, Name: "a.example:6346", LastAnswer: t0}, {Kind: Web, Name: "http://g.example/"}}))
	f.Add([]byte("uhc [::1]:1 0 0\ngwc http://x 1 1\n"))
	f.Add([]byte("uhc a:1 99999999999999999999 0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cs, _ := ReadCaches(strings.NewReader(string(b)))
		require.LessOrEqual(t, len(cs), MaxCaches)
		// what was read writes back and reads again the same
		again, err := ReadCaches(strings.NewReader(string(EncodeCaches(cs))))
		require.NoError(t, err)
		if len(cs) == 0 {
			require.Empty(t, again)
			return
		}
		require.Equal(t, cs, again)
	})
}
