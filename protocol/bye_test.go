package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestByeDecode(t *testing.T) {
	var b Bye
	require.ErrorIs(t, b.Decode(nil), ErrTruncated)
	require.ErrorIs(t, b.Decode([]byte{0xc8}), ErrTruncated)
	require.NoError(t, b.Decode([]byte{0xc8, 0x00}))
	require.Equal(t, Bye{Code: 200}, b)
	// Missing NUL accepted; bytes after the NUL ignored.
	require.NoError(t, b.Decode(append([]byte{0x95, 0x01}, "Activity timeout"...)))
	require.Equal(t, Bye{Code: 405, Reason: "Activity timeout"}, b)
	require.NoError(t, b.Decode(append([]byte{0x90, 0x01}, "Too large\x00junk"...)))
	require.Equal(t, Bye{Code: 400, Reason: "Too large"}, b)
	// HTTP-like reason with headers (bye spec).
	require.NoError(t, b.Decode(append([]byte{0xc8, 0}, "Bye\r\nServer: x\r\n\r\n\x00"...)))
	require.Equal(t, "Bye\r\nServer: x\r\n\r\n", b.Reason)
}

func TestByeRoundTrip(t *testing.T) {
	for _, b := range []Bye{{Code: 200, Reason: "Shutting down"}, {Code: 502}, {Code: 0xFFFF, Reason: "é ü"}} {
		var got Bye
		require.NoError(t, got.Decode(b.Append(nil)))
		require.Equal(t, b, got)
	}
}

func FuzzBye(f *testing.F) {
	addInteropSeeds(f, typePtr(TypeBye))
	f.Add(dhex(f, "c800 5368757474696e6720646f776e00"))
	f.Add([]byte{0xc8, 0x00})
	f.Add([]byte{0x90, 0x01, 'x'})
	f.Fuzz(func(t *testing.T, p []byte) {
		var b Bye
		if err := b.Decode(p); err != nil {
			require.Less(t, len(p), 2)
			return
		}
		var again Bye
		require.NoError(t, again.Decode(b.Append(nil)))
		require.Equal(t, b, again)
	})
}
