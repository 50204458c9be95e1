package protocol

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPongDecode(t *testing.T) {
	var p Pong
	require.ErrorIs(t, p.Decode(make([]byte, 13)), ErrTruncated)
	require.NoError(t, p.Decode(dhex(t, "ca18 c000020a 2a000000 40e20100")))
	require.Equal(t, Pong{Port: 6346, IP: netip.MustParseAddr("192.0.2.10"), Files: 42, KB: 123456}, p)
	// Bad GGEP after a valid fixed part: block dropped, Pong kept.
	require.NoError(t, p.Decode(dhex(t, "ca18 c000020a 2a000000 40e20100 c3 82 44 55 45 10")))
	require.Empty(t, p.GGEP)
	require.Equal(t, uint32(42), p.Files)
	// IPv6 or unset addresses are written as 0.0.0.0.
	enc := (&Pong{IP: netip.MustParseAddr("2001:db8::1")}).Append(nil)
	require.Equal(t, make([]byte, 14), enc)
	enc = (&Pong{IP: netip.MustParseAddr("::ffff:192.0.2.10")}).Append(nil)
	require.Equal(t, dhex(t, "0000 c000020a 00000000 00000000"), enc)
}

func TestPongRoundTrip(t *testing.T) {
	for _, p := range []Pong{
		{Port: 1, IP: netip.MustParseAddr("10.0.0.1")},
		{Port: 6346, IP: netip.MustParseAddr("192.0.2.10"), Files: 1 << 31, KB: 0xFFFFFFFF,
			GGEP: GGEP{{ID: "VC", Data: []byte("SRVT\x01")}, {ID: "UP", Data: []byte{2, 30, 2}}, {ID: "IPP", Data: []byte{192, 0, 2, 1, 0xca, 0x18}}}},
	} {
		var got Pong
		require.NoError(t, got.Decode(p.Append(nil)))
		require.Equal(t, p, got)
	}
}

func FuzzPong(f *testing.F) {
	addInteropSeeds(f, typePtr(TypePong))
	f.Add(dhex(f, "ca18 c000020a 2a000000 40e20100 c3 82 44 55 42 10 0e"))
	f.Add(dhex(f, "ca18 7f000001 03000000 08000000 c3 02 56 43 45 47 54 4b 47 83 03 47 55 45 41 02 02 55 50 43 02 ff 32 02 44 55 43 80 51 01 83 54 4c 53 40"))
	f.Add(make([]byte, 14))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Pong
		if err := p.Decode(b); err != nil {
			require.Less(t, len(b), PongLen)
			return
		}
		if a := p.Addr().Addr(); a != p.IP {
			require.True(t, a.Is6() && !a.Is4In6() && p.IP == IPv4None)
		}
		enc := p.Append(nil)
		require.Equal(t, b[:PongLen], enc[:PongLen])
		var again Pong
		require.NoError(t, again.Decode(enc))
		require.Equal(t, normalize(&p), normalize(&again))
	})
}
