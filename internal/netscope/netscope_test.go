package netscope

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestListable(t *testing.T) {
	global := netip.MustParseAddr("203.0.113.9")
	for _, c := range []struct {
		host string
		req  netip.Addr
		want bool
	}{
		{"8.8.8.8:6346", global, true},
		{"127.0.0.5:6346", global, false},
		{"127.0.0.5:6346", netip.MustParseAddr("127.0.0.1"), true},
		{"10.1.2.3:6346", global, false},
		{"192.168.1.2:6346", netip.MustParseAddr("10.0.0.1"), true},
		{"192.168.1.2:6346", netip.MustParseAddr("127.0.0.1"), false},
		{"100.64.1.1:6346", global, false},
		{"169.254.1.1:6346", netip.MustParseAddr("169.254.1.2"), false},
		{"0.0.0.0:6346", global, false},
		{"224.0.0.1:6346", global, false},
		{"255.255.255.255:6346", global, false},
		{"8.8.8.8:0", global, false},
		{"[2001:db8::1]:6346", global, false}, // documentation
		{"[2606:4700::1111]:6346", global, true},
		{"[::1]:6346", global, false},
		{"[::1]:6346", netip.IPv6Loopback(), true},
		{"[fd00::5]:6346", netip.MustParseAddr("fd00::9"), true},
		{"[fd00::5]:6346", global, false},
		{"[fe80::1]:6346", netip.MustParseAddr("fe80::2"), false},
		{"[ff02::1]:6346", global, false},
	} {
		require.Equal(t, c.want, Listable(netip.MustParseAddrPort(c.host), c.req), "%s to %s", c.host, c.req)
	}
}
