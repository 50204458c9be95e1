package magnet

import (
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// FuzzMagnet: a magnet from a user or a peer never panics the parser; a
// refusal is one bounded, printable line; an accepted magnet respects the
// bounds, and String reads back to the same Magnet (when String's text is
// within MaxLen: escaping may lengthen it) and is then stable.
func FuzzMagnet(f *testing.F) {
	f.Add(section27)
	data, err := os.ReadFile("testdata/64-magnet-download-add.txt")
	require.NoError(f, err)
	for line := range strings.Lines(string(data)) {
		if i := strings.Index(line, "magnet:?"); i >= 0 {
			f.Add(strings.TrimSpace(line[i:]))
		}
	}
	f.Add("magnet:?xt=urn:bitprint:" + labSHA1 + "." + labTTH + "&xs=push://ff813102bd073f81a4f2a7647628f937:1.2.4.7:6346:[2001:db8::2]:7000/")
	f.Add("magnet:?xs=http://[::ffff:1.2.3.4]/get/1/a%2520b&kt=x+y&x.parq-id=1&x.dht=1&X.G2=2&dn=caf%E9")
	f.Add("magnet:?xs=http://peer.example:80/&as=http://010.1.2.3:8080/&xl=0&xt=urn:sha1:7abada9536ce46c2be775935181e12626caa96f7")
	f.Fuzz(func(t *testing.T, s string) {
		m, err := Parse(s)
		if err != nil {
			var me *Error
			require.True(t, errors.As(err, &me), "%T %v", err, err)
			require.True(t, errors.Is(err, protocol.ErrMalformed))
			msg := err.Error()
			require.True(t, strings.HasPrefix(msg, "magnet: "), msg)
			require.LessOrEqual(t, len(msg), 400, "error grows with the input")
			require.True(t, utf8.ValidString(msg))
			for _, r := range msg {
				require.False(t, r < 0x20 || r == 0x7f, "control character in %q", msg)
			}
			return
		}
		require.LessOrEqual(t, len(m.Sources), MaxSources)
		require.LessOrEqual(t, len(m.Keywords), MaxKeywords)
		require.LessOrEqual(t, len(m.Name), MaxValueLen)
		require.True(t, utf8.ValidString(m.Name))
		require.GreaterOrEqual(t, m.Size, int64(0))
		for _, src := range m.Sources {
			require.LessOrEqual(t, len(src.Proxies), MaxProxies)
			require.True(t, src.Push || src.Addr.IsValid() != (src.Host != ""), "%+v", src)
			require.True(t, src.SHA1.IsZero() != (src.Path == ""), "%+v", src)
			if !src.SHA1.IsZero() {
				require.Equal(t, m.SHA1, src.SHA1)
			}
		}

		out := m.String()
		if len(out) > MaxLen {
			return
		}
		again, err := Parse(out)
		require.NoError(t, err, "%q from %q", out, s)
		require.Equal(t, m, again, "%q from %q", out, s)
		require.Equal(t, out, again.String())
	})
}
