package protocol

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// FuzzParseGUID: a GUID from a handshake header, a GIV line or a state file
// parses only as 32 hex digits, prints back to the same digits (lower
// case), and a refusal is an ErrMalformed whose message shows the input
// quoted (no raw control bytes reach a log or terminal).
func FuzzParseGUID(f *testing.F) {
	f.Add("b95e310229469f0cb2ee0b09d317fa1a") // gtk-gnutella's GUID header (testdata/interop)
	f.Add("B0B0C11E47000000FF0000000000BB00") // GnutellaBun's, upper case
	f.Add("b95e310229469f0cb2ee0b09d317fa1")  // one digit short
	f.Add("b95e310229469f0cb2ee0b09d317fa1g")
	f.Add(" b95e310229469f0cb2ee0b09d317fa1a")
	f.Add("\x1b]0;title\x07b95e310229469f0cb2ee0b09d31")
	f.Add("")
	f.Add(strings.Repeat("\xff", 4096))
	f.Fuzz(func(t *testing.T, s string) {
		g, err := ParseGUID(s)
		if err != nil {
			require.True(t, errors.Is(err, ErrMalformed), "%v", err)
			require.Equal(t, GUID{}, g)
			for _, r := range err.Error() {
				require.False(t, r < 0x20 || r == 0x7f, "control character in %q", err.Error())
			}
			require.True(t, utf8.ValidString(err.Error()))
			require.LessOrEqual(t, len(err.Error()), 1024, "error grows with the input")
			return
		}
		require.Len(t, s, 32)
		require.Equal(t, strings.ToLower(s), g.String())
		again, err := ParseGUID(g.String())
		require.NoError(t, err)
		require.Equal(t, g, again)
	})
}
