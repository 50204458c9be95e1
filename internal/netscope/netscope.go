// Package netscope says which addresses may be handed to whom: hosts of a
// private or loopback network only to peers of that same network.
package netscope

import "net/netip"

// Listable reports whether host (IPv4 or IPv6) may be handed to requester: in a
// host-cache answer, or as the X-Node a push proxy makes its leaf connect
// to. gtk-gnutella takes only routable hosts (host_is_valid()); a host of
// a private or loopback network is taken only from a requester of that
// same kind of network (a lab, a LAN), never from one on the Internet.
func Listable(host netip.AddrPort, requester netip.Addr) bool {
	h, r := host.Addr().Unmap(), requester.Unmap()
	if !host.IsValid() || host.Port() == 0 || h.Zone() != "" {
		return false
	}
	switch s := scope(h); s {
	case scopeGlobal:
		return true
	case scopeNone:
		return false
	default:
		return scope(r) == s
	}
}

type addrScope int

const (
	scopeNone addrScope = iota // never listed: unspecified, multicast, broadcast, link-local, reserved
	scopeGlobal
	scopeLoopback
	scopePrivate
)

var (
	cgnat    = netip.MustParsePrefix("100.64.0.0/10")
	reserved = []netip.Prefix{
		netip.MustParsePrefix("0.0.0.0/8"),
		netip.MustParsePrefix("192.0.0.0/24"),
		netip.MustParsePrefix("192.0.2.0/24"),
		netip.MustParsePrefix("198.18.0.0/15"),
		netip.MustParsePrefix("198.51.100.0/24"),
		netip.MustParsePrefix("203.0.113.0/24"),
		netip.MustParsePrefix("240.0.0.0/4"),
		netip.MustParsePrefix("2001:db8::/32"), // IPv6 documentation
	}
)

func scope(a netip.Addr) addrScope {
	a = a.Unmap()
	switch {
	case !a.IsValid(), a.IsUnspecified(), a.IsMulticast(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast():
		return scopeNone
	case a.IsLoopback():
		return scopeLoopback
	case a.IsPrivate(), cgnat.Contains(a):
		return scopePrivate
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return scopeNone
		}
	}
	return scopeGlobal
}
