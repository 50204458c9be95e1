package protocol

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestIPv6Ready: an IPv6-only host writes 127.0.0.0 in the IPv4 field and
// its address in GGEP "6"; a dual-stack one its IPv4 and "6" beside it
// (gtk-gnutella's build_pong, qhit.c, pproxy.c).
func TestIPv6Ready(t *testing.T) {
	v6 := netip.MustParseAddr("2001:db8::7")
	v4 := netip.MustParseAddr("192.0.2.7")

	var p Pong
	p.SetAddr(netip.AddrPortFrom(v6, 6346), netip.Addr{})
	b := p.Append(nil)
	require.Equal(t, []byte{127, 0, 0, 0}, b[2:6], "IPv4 field says none")
	var got Pong
	require.NoError(t, got.Decode(b))
	require.Equal(t, netip.AddrPortFrom(v6, 6346), got.Addr())
	require.Equal(t, v6, got.GGEP.IPv6())

	p = Pong{}
	p.SetAddr(netip.AddrPortFrom(v4, 6346), v6)
	require.NoError(t, got.Decode(p.Append(nil)))
	require.Equal(t, netip.AddrPortFrom(v4, 6346), got.Addr(), "the IPv4 field wins when it is an address")
	require.Equal(t, v6, got.GGEP.IPv6())

	// Setting again replaces "6", never doubles it.
	p.SetAddr(netip.AddrPortFrom(v4, 6346), netip.Addr{})
	require.False(t, p.GGEP.Has("6"))

	hit := QueryHit{Results: []Result{{Name: "a", Size: 1}}}
	hit.SetAddr(netip.AddrPortFrom(v6, 7000), netip.Addr{})
	var gh QueryHit
	require.NoError(t, gh.Decode(hit.Append(nil)))
	require.Equal(t, netip.AddrPortFrom(v6, 7000), gh.Addr())
	require.Equal(t, IPv4None, gh.IP)

	push := Push{Index: 3}
	push.SetAddr(netip.AddrPortFrom(v6, 7001), netip.Addr{})
	var gp Push
	require.NoError(t, gp.Decode(push.Append(nil)))
	require.Equal(t, netip.AddrPortFrom(v6, 7001), gp.Addr())

	// 127.0.0.0 without "6" stays what it says; a mapped or short "6" is
	// no IPv6 address.
	odd := Pong{IP: IPv4None, Port: 1, GGEP: GGEP{{ID: "6", Data: make([]byte, 15)}}}
	require.Equal(t, IPv4None, odd.Addr().Addr())
	mapped := netip.MustParseAddr("::ffff:192.0.2.1").As16()
	odd.GGEP = GGEP{{ID: "6", Data: mapped[:]}}
	require.Equal(t, IPv4None, odd.Addr().Addr())
	old := v6.As16()
	odd.GGEP = GGEP{{ID: "GTKG.IPV6", Data: old[:]}}
	require.Equal(t, v6, odd.Addr().Addr(), "gtk-gnutella's deprecated key is read")
}

// TestHitFamilies: gtk-gnutella's "I6" in queries, absent, empty or 01.
func TestHitFamilies(t *testing.T) {
	for _, f := range []HitFamilies{HitsIPv4, HitsIPv6Too, HitsIPv6Only} {
		q := Query{Flags: FlagMark, Criteria: "six", GGEP: GGEP{{ID: "SO"}}}
		q.SetHitFamilies(f)
		q.SetHitFamilies(f) // never twice
		var got Query
		require.NoError(t, got.Decode(q.Append(nil)))
		require.Equal(t, f, got.HitFamilies())
		require.True(t, got.GGEP.Has("SO"))
	}
	q := Query{GGEP: GGEP{{ID: "I6", Data: []byte{0}}}}
	require.Equal(t, HitsIPv6Too, q.HitFamilies(), "a zero byte is not IPv6 only")
}
