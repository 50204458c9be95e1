package httphdr

import (
	"fmt"
	"net/netip"
	"strconv"
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
	_, _, ok := Feature(features, name)
	return ok
}

// Feature finds name in an X-Features value ("tls/1.0, IP/6.4") and reads
// its version; a version that is not "major.minor" in digits gives 0, 0
// (the feature is still there).
func Feature(features, name string) (major, minor int, ok bool) {
	for f := range strings.SplitSeq(features, ",") {
		n, v, _ := strings.Cut(strings.TrimSpace(f), "/")
		if !strings.EqualFold(n, name) {
			continue
		}
		a, b, _ := strings.Cut(v, ".")
		ma, err1 := strconv.ParseUint(a, 10, 16)
		mi, err2 := strconv.ParseUint(b, 10, 16)
		if err1 != nil || err2 != nil {
			return 0, 0, true
		}
		return int(ma), int(mi), true
	}
	return 0, 0, false
}
