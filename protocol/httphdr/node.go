package httphdr

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/servent/servent/protocol/internal/textwire"
)

// ParseNode reads an X-Node value, also the older X-Listen-IP (PARQ 1.0)
// and Listen-IP: the servent's Gnutella address as "ip:port", or
// "[ipv6]:port" (gtkg writes its IPv6 address so in X-Node when it has no
// IPv4 one). The port is required and not 0.
func ParseNode(value string) (netip.AddrPort, error) {
	if err := checkLen("X-Node", value); err != nil {
		return netip.AddrPort{}, err
	}
	ap, ok := parseAddrPort(trimSpace(value), 0)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("%w: X-Node %s: want ip:port", ErrMalformed, textwire.QuoteShort(value))
	}
	return ap, nil
}

// ParseNodeIPv6 reads an X-Node-IPv6 value, "[ipv6]:port", which gtkg
// sends next to an IPv4 X-Node.
func ParseNodeIPv6(value string) (netip.AddrPort, error) {
	ap, err := ParseNode(value)
	if err == nil && !ap.Addr().Is6() {
		return netip.AddrPort{}, fmt.Errorf("%w: X-Node-IPv6 %s: not an IPv6 address", ErrMalformed, textwire.QuoteShort(value))
	}
	return ap, err
}

// AppendNode writes "ip:port" or "[ipv6]:port" (gtkg host_addr_port_to_string).
func AppendNode(dst []byte, ap netip.AddrPort) []byte {
	return appendAddrPort(dst, netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()))
}

// HasFeature reports whether an X-Features value ("tls/1.0, browse/1.0,
// ...", in Gnet handshakes and HTTP alike) lists name, in any case.
func HasFeature(features, name string) bool {
	for f := range strings.SplitSeq(features, ",") {
		n, _, _ := strings.Cut(strings.TrimSpace(f), "/")
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}
