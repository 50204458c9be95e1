package natmap

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func FuzzSSDPLocation(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nST: " + igdTarget + "\r\nLOCATION: http://192.168.1.1:5000/rootDesc.xml\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nLOCATION: https://192.168.1.1/x\r\n\r\n"))
	f.Add([]byte("NOTIFY * HTTP/1.1\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 200 OK\r\nLocation: http://[::1]:80/\r\nLocation: http://evil/\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		loc, err := ssdpLocation(b)
		if err != nil {
			return
		}
		require.Equal(t, "http", loc.Scheme)
		require.NotEmpty(t, loc.Host)
		// Only the gateway is ever contacted: a LOCATION naming a host is
		// on no gateway.
		if _, err := netip.ParseAddr(loc.Hostname()); err != nil {
			require.False(t, onGateway(loc, netip.MustParseAddr("192.168.1.1")))
		}
	})
}

func FuzzDecodePMP(f *testing.F) {
	f.Add([]byte{0, 128, 0, 0, 0, 0, 0, 9, 203, 0, 113, 7}, byte(0))
	f.Add([]byte{0, 130, 0, 0, 0, 0, 0, 9, 0x18, 0xca, 0x18, 0xca, 0, 0, 0x1c, 0x20}, byte(2))
	f.Add([]byte{0, 129, 0, 2, 0, 0, 0, 9}, byte(1))
	f.Add([]byte{1, 128}, byte(0))
	f.Fuzz(func(t *testing.T, b []byte, op byte) {
		a, err := decodePMP(b, op)
		if err != nil {
			return
		}
		require.Equal(t, pmpReply+op, a.Op)
		require.NotEmpty(t, pmpResult(a.Result))
		if a.Result == 0 && op == pmpOpExternal {
			require.True(t, a.External.Is4())
		}
	})
}

func FuzzParseRoutes(f *testing.F) {
	f.Add([]byte("Iface\tDestination\tGateway\tFlags\neth0\t00000000\t0101A8C0\t0003\n"))
	f.Add([]byte("eth0\t00000000\t00000000\t0001\n"))
	f.Add([]byte("eth0 00000000 zzzzzzzz 0003\n"))
	f.Add([]byte(strings.Repeat("x", 5000) + "\neth0\t00000000\t0101A8C0\t0003\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		gw, err := parseRoutes(b)
		if err != nil {
			require.ErrorIs(t, err, ErrNoGateway)
			return
		}
		require.True(t, gw.Is4() && !gw.IsUnspecified())
	})
}

// FuzzParseExternalIP: what we read from the router's SOAP answer (the
// envelope itself is goupnp's to decode).
func FuzzParseExternalIP(f *testing.F) {
	for _, s := range []string{"203.0.113.5", "0.0.0.0", "::ffff:1.2.3.4", "fe80::1", "", "1.2.3.4\x1b[2J"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, err := parseExternalIP(s)
		if err != nil {
			require.LessOrEqual(t, len(err.Error()), 400, "bounded whatever the router sent")
			require.NotContains(t, err.Error(), "\x1b")
			return
		}
		require.True(t, ip.Is4() && !ip.IsUnspecified())
	})
}
