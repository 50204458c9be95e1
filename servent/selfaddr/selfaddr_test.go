package selfaddr

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

var (
	ap = netip.MustParseAddrPort
	ip = netip.MustParseAddr
)

func TestDualStackWildcard(t *testing.T) {
	b := New([]netip.AddrPort{ap("[::]:6346")}, true)
	require.False(t, b.Primary().IsValid(), "nothing known before a peer says")
	require.True(t, b.Learn(ip("2001:db8::5")))
	require.Equal(t, ap("[2001:db8::5]:6346"), b.Primary(), "IPv6 only known: it is primary")
	require.False(t, b.Also().IsValid())
	require.True(t, b.Learn(ip("::ffff:198.51.100.4")), "a mapped address is IPv4")
	require.Equal(t, ap("198.51.100.4:6346"), b.Primary(), "IPv4 is primary once known")
	require.Equal(t, ip("2001:db8::5"), b.Also())
	require.Equal(t, ap("[2001:db8::5]:6346"), b.For(ip("2001:db8::99")))
	require.Equal(t, ap("198.51.100.4:6346"), b.For(ip("203.0.113.1")))
	require.False(t, b.Learn(ip("198.51.100.4")), "the same again is no news")
	require.False(t, b.Learn(ip("fe80::1")), "link-local is no address to tell")
	require.True(t, b.Self(ap("[::ffff:198.51.100.4]:6346")))
	require.True(t, b.Self(ap("[::]:6346")))
	require.False(t, b.Self(ap("198.51.100.4:6347")))
}

func TestIPv6Off(t *testing.T) {
	b := New([]netip.AddrPort{ap("[::]:6346")}, false)
	require.False(t, b.Learn(ip("2001:db8::5")))
	require.False(t, b.Listening(ip("2001:db8::5")))
	require.True(t, b.Listening(ip("192.0.2.1")))
	b = New([]netip.AddrPort{ap("[::1]:7000")}, false)
	require.False(t, b.Primary().IsValid(), "an IPv6 listener with IPv6 off is no address")
}

func TestSpecificListeners(t *testing.T) {
	b := New([]netip.AddrPort{ap("127.0.0.5:7000"), ap("[::1]:7000")}, true)
	b.Learn(ip("192.0.2.9")) // a specific listener beats what peers say
	require.Equal(t, ap("127.0.0.5:7000"), b.Primary())
	require.Equal(t, ip("::1"), b.Also())
	require.Equal(t, ap("[::1]:7000"), b.For(ip("::1")))

	v6only := New([]netip.AddrPort{ap("[::1]:7001")}, true)
	require.Equal(t, ap("[::1]:7001"), v6only.Primary())
	require.False(t, v6only.Also().IsValid())
	require.False(t, v6only.Listening(ip("127.0.0.1")))
	require.Equal(t, ap("[::1]:7001"), v6only.For(ip("127.0.0.1")), "no IPv4 of ours: the IPv6 one")
}

// TestNilBook: before the servent listens it has no book, and no address.
func TestNilBook(t *testing.T) {
	var b *Book
	require.False(t, b.Primary().IsValid())
	require.False(t, b.Also().IsValid())
	require.False(t, b.For(ip("::1")).IsValid())
	require.False(t, b.Learn(ip("192.0.2.1")))
	require.False(t, b.Listening(ip("192.0.2.1")))
	require.False(t, b.Self(ap("192.0.2.1:6346")))
	require.Zero(t, b.Port())
}
