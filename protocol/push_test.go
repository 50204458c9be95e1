package protocol

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPushDecode(t *testing.T) {
	var p Push
	require.ErrorIs(t, p.Decode(make([]byte, 25)), ErrTruncated)
	payload := dhex(t, "53525654c0ffee11ff2233445566aa00 01000000 c6336407 cb18")
	require.NoError(t, p.Decode(append(payload, dhex(t, "c3 83 54 4c 53 40")...)))
	require.Equal(t, GGEP{{ID: "TLS"}}, p.GGEP)
	require.NoError(t, p.Decode(append(payload, 0xc3, 0x10)))
	require.Empty(t, p.GGEP)
	require.Equal(t, uint16(6347), p.Port)
}

func TestPushRoundTrip(t *testing.T) {
	for _, p := range []Push{
		{ServentGUID: GUID{1}, Index: 0x7FFFFFFD, IP: netip.MustParseAddr("203.0.113.9"), Port: 1},
		{ServentGUID: NewGUID(), Index: 3, IP: netip.MustParseAddr("127.0.0.2"), Port: 6347,
			GGEP: GGEP{{ID: "6", Data: netip.MustParseAddr("2001:db8::1").AsSlice()}, {ID: "TLS"}}},
	} {
		var got Push
		require.NoError(t, got.Decode(p.Append(nil)))
		require.Equal(t, p, got)
	}
}

func FuzzPush(f *testing.F) {
	addInteropSeeds(f, typePtr(TypePush))
	f.Add(dhex(f, "53525654c0ffee11ff2233445566aa00 01000000 c6336407 cb18"))
	f.Add(dhex(f, "53525654c0ffee11ff2233445566aa00 01000000 c6336407 cb18 c3 83 54 4c 53 40"))
	f.Add(make([]byte, 25))
	f.Add(dhex(f, "53525654c0ffee11ff2233445566aa00 01000000 7f000000 cb18 c3 81 36 50 20010db8000000000000000000000007"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Push
		if err := p.Decode(b); err != nil {
			require.Less(t, len(b), PushLen)
			return
		}
		if a := p.Addr().Addr(); a != p.IP {
			require.True(t, a.Is6() && !a.Is4In6() && p.IP == IPv4None)
		}
		enc := p.Append(nil)
		require.Equal(t, b[:PushLen], enc[:PushLen])
		var again Push
		require.NoError(t, again.Decode(enc))
		require.Equal(t, normalize(&p), normalize(&again))
	})
}
