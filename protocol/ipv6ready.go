package protocol

import (
	"net/netip"
	"slices"
)

// IPv4None is what an IPv6-Ready servent writes in the IPv4 field of a
// Pong, QueryHit or Push when it has no IPv4 address: 127.0.0.0, its real
// address in GGEP "6" (gtk-gnutella's ipv6-ready.c, IPV4_NONE).
var IPv4None = netip.AddrFrom4([4]byte{127, 0, 0, 0})

// IPv6 is the address in GGEP "6" (or gtk-gnutella's deprecated
// "GTKG.IPV6"): 16 bytes, a real IPv6 address. Anything else, an
// IPv4-mapped or unspecified address included, gives the zero Addr.
func (g GGEP) IPv6() netip.Addr {
	for _, e := range g {
		if (e.ID == "6" || e.ID == "GTKG.IPV6") && len(e.Data) == 16 {
			a := netip.AddrFrom16([16]byte(e.Data))
			if a.Is4In6() || a.IsUnspecified() || a.IsMulticast() {
				return netip.Addr{}
			}
			return a
		}
	}
	return netip.Addr{}
}

// readyAddr is the address meant by an IPv4 field and its GGEP block: the
// GGEP "6" address when the field says IPv4None, else the field (an
// IPv4-mapped field read as IPv4).
func readyAddr(ip netip.Addr, g GGEP) netip.Addr {
	if ip == IPv4None {
		if a := g.IPv6(); a.IsValid() {
			return a
		}
	}
	return ip.Unmap()
}

// setReady writes addr in the IPv4-field-and-GGEP form: an IPv4 address
// goes in the field, an IPv6 one in GGEP "6" with IPv4None in the field.
// also, an IPv6 address of the same host (dual stack), goes in "6" next to
// an IPv4 field, as gtk-gnutella advertises its second address. It
// returns the field value; g loses any "6" it had.
func setReady(g *GGEP, addr, also netip.Addr) netip.Addr {
	*g = slices.DeleteFunc(*g, func(e Extension) bool { return e.ID == "6" })
	addr = addr.Unmap()
	v6 := also
	field := addr
	if addr.Is6() {
		v6, field = addr, IPv4None
		if addr.IsUnspecified() {
			field = netip.IPv4Unspecified() // no address known: as before IPv6
		}
	}
	if e, ok := IPv6Extension(v6); ok && !v6.IsUnspecified() {
		*g = append(*g, e)
	}
	return field
}

// IPv6Extension is GGEP "6" holding a, an IPv6 address; false for an
// IPv4 or IPv4-mapped one.
func IPv6Extension(a netip.Addr) (Extension, bool) {
	if !a.Is6() || a.Is4In6() {
		return Extension{}, false
	}
	b := a.WithZone("").As16()
	return Extension{ID: "6", Data: b[:]}, true
}

// Addr is the host a Pong describes, IPv6-Ready: its GGEP "6" address
// when the IPv4 field is IPv4None.
func (m *Pong) Addr() netip.AddrPort { return netip.AddrPortFrom(readyAddr(m.IP, m.GGEP), m.Port) }

// SetAddr sets the Pong's host to a (IPv4 or IPv6) with also, its IPv6
// address besides an IPv4 one, in GGEP "6".
func (m *Pong) SetAddr(a netip.AddrPort, also netip.Addr) {
	m.IP, m.Port = setReady(&m.GGEP, a.Addr(), also), a.Port()
}

// Addr is the responder's address, IPv6-Ready: its trailer's GGEP "6"
// address when the IPv4 field is IPv4None.
func (m *QueryHit) Addr() netip.AddrPort {
	return netip.AddrPortFrom(readyAddr(m.IP, m.GGEP), m.Port)
}

// IPv6 is the responder's IPv6 address, from its trailer (the address of
// Addr when it has no IPv4, else its second address).
func (m *QueryHit) IPv6() netip.Addr { return m.GGEP.IPv6() }

// SetAddr sets the responder's address as Pong.SetAddr does.
func (m *QueryHit) SetAddr(a netip.AddrPort, also netip.Addr) {
	m.IP, m.Port = setReady(&m.GGEP, a.Addr(), also), a.Port()
}

// Addr is where the requester waits for the GIV, IPv6-Ready: its GGEP "6"
// address when the IPv4 field is IPv4None.
func (m *Push) Addr() netip.AddrPort { return netip.AddrPortFrom(readyAddr(m.IP, m.GGEP), m.Port) }

// IPv6 is the requester's IPv6 address from GGEP "6": gtk-gnutella
// connects there when it runs IPv6, even with an IPv4 field.
func (m *Push) IPv6() netip.Addr { return m.GGEP.IPv6() }

// SetAddr sets the requester's address as Pong.SetAddr does.
func (m *Push) SetAddr(a netip.AddrPort, also netip.Addr) {
	m.IP, m.Port = setReady(&m.GGEP, a.Addr(), also), a.Port()
}

// HitFamilies is what a query's GGEP "I6" asks of the hits' addresses
// (gtk-gnutella's search.c): absent, IPv4 only; empty, IPv6 too; one
// non-zero byte, IPv6 only (the querier has no IPv4).
type HitFamilies uint8

const (
	HitsIPv4     HitFamilies = iota // no "I6"
	HitsIPv6Too                     // "I6" empty
	HitsIPv6Only                    // "I6" = 01
)

// HitFamilies reads the query's "I6".
func (q *Query) HitFamilies() HitFamilies {
	d, ok := q.GGEP.Get("I6")
	switch {
	case !ok:
		return HitsIPv4
	case len(d) > 0 && d[0] != 0:
		return HitsIPv6Only
	}
	return HitsIPv6Too
}

// SetHitFamilies writes the query's "I6" (none for HitsIPv4).
func (q *Query) SetHitFamilies(f HitFamilies) {
	q.GGEP = slices.DeleteFunc(q.GGEP, func(e Extension) bool { return e.ID == "I6" })
	switch f {
	case HitsIPv6Too:
		q.GGEP = append(q.GGEP, Extension{ID: "I6"})
	case HitsIPv6Only:
		q.GGEP = append(q.GGEP, Extension{ID: "I6", Data: []byte{1}})
	}
}
