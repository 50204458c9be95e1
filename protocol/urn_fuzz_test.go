package protocol

import (
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol/internal/textwire"
)

// FuzzParseSHA1URN: an urn from a query hit, an X-Alt line, a state file
// or the command line parses to a digest whose urn reads back the same,
// spelled as the input (case aside); a refusal is an ErrMalformed with a
// bounded, escaped message.
func FuzzParseSHA1URN(f *testing.F) {
	f.Add("urn:sha1:2NI45EU7C6CCE5VNJTWM2G4HFP4QWMKU")
	f.Add("URN:SHA1:plsthipqgssztS5FJUPAKUZWUGYQYPFB")
	f.Add("urn:bitprint:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB.TRRWHPU7RSXQMP4ZHJUOXF3ZF6R5CJPNSAPJVUI")
	f.Add("urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPF=")
	f.Add("urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYP\r\n")
	f.Add("urn:md5:" + strings.Repeat("\x1b", 300))
	f.Fuzz(func(t *testing.T, s string) {
		sha, err := ParseSHA1URN(s)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed), "%v", err)
			require.True(t, sha.IsZero())
			require.LessOrEqual(t, len(err.Error()), 1024, "error grows with the input")
			for _, r := range err.Error() {
				require.False(t, r < 0x20 || r == 0x7f, "control character in %q", err.Error())
			}
			return
		}
		again, err := ParseSHA1URN(sha.URN())
		require.NoError(t, err)
		require.Equal(t, sha, again)
		require.Equal(t, strings.ToUpper(sha.Base32()), sha.Base32())
		if textwire.HasPrefixFold(s, sha1URNPrefix) {
			require.True(t, strings.EqualFold(s, sha.URN()), "%q read as %s", s, sha.URN())
		}
	})
}
