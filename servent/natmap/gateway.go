package natmap

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
)

// ErrNoGateway: no default route, so no router to ask.
var ErrNoGateway = errors.New("no default gateway (no router to ask for a port mapping)")

// DefaultGateway reads the IPv4 default route from /proc/net/route
// (Linux); elsewhere it reports ErrNoGateway and --nat needs a manual
// port forward.
func DefaultGateway() (netip.Addr, error) {
	b, err := os.ReadFile("/proc/net/route")
	if err != nil {
		return netip.Addr{}, fmt.Errorf("%w: %v", ErrNoGateway, err)
	}
	return parseRoutes(b)
}

// parseRoutes finds the gateway of the default route in the text of
// /proc/net/route: "Iface Destination Gateway Flags ..." with addresses
// as 8 hex digits in host (little-endian) order.
func parseRoutes(b []byte) (netip.Addr, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 512), 4096)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || f[1] != "00000000" || len(f[2]) != 8 {
			continue
		}
		raw, err := hex.DecodeString(f[2])
		if err != nil {
			continue
		}
		var flags uint32
		if _, err := fmt.Sscanf(f[3], "%x", &flags); err != nil || flags&0x2 == 0 { // RTF_GATEWAY
			continue
		}
		ip := netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, binary.LittleEndian.Uint32(raw))))
		if ip.IsUnspecified() {
			continue
		}
		return ip, nil
	}
	return netip.Addr{}, ErrNoGateway
}

// localAddrFor is our address on the way to gateway (no packet is sent:
// connecting a UDP socket only picks the route).
func localAddrFor(gateway netip.Addr) (netip.Addr, error) {
	c, err := net.DialUDP("udp4", nil, net.UDPAddrFromAddrPort(netip.AddrPortFrom(gateway, 9)))
	if err != nil {
		return netip.Addr{}, fmt.Errorf("route to the gateway %s: %w", gateway, err)
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).AddrPort().Addr().Unmap(), nil
}
