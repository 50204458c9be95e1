package protocol

import (
	"net/netip"
	"slices"
)

// MaxPushProxies is how many push proxies gtk-gnutella lists in a hit
// (QHIT_MAX_PROXIES); we read and write no more.
const MaxPushProxies = 8

// PushProxies reads the push proxies a firewalled servent lists in its
// hit's trailer: GGEP "PUSH" (GNUTELLA-TRANSFERS.md 25.1), IPv4 BE + port
// LE each, then "PUSH6", IPv6 + port LE each (gtk-gnutella writes it to a
// querier whose "I6" takes IPv6). Entries with port 0, an unspecified
// address or an IPv4-mapped one in PUSH6 are left out, and at most MaxPushProxies are kept; a malformed
// extension gives none of its entries.
func (m *QueryHit) PushProxies() []netip.AddrPort {
	var hosts []netip.AddrPort
	for _, e := range m.GGEP {
		size := ippLen
		switch e.ID {
		case "PUSH":
		case "PUSH6":
			size = ipp6Len
		default:
			continue
		}
		d := e.Data[:min(len(e.Data), MaxPushProxies*size)]
		if len(d)%size != 0 {
			continue
		}
		for ; len(d) > 0 && len(hosts) < MaxPushProxies; d = d[size:] {
			h, _ := parseEchoedAddr(d[:size]) // 6 or 18 bytes: no error
			if h.Port() != 0 && !h.Addr().IsUnspecified() && !h.Addr().Is4In6() {
				if hosts == nil {
					hosts = make([]netip.AddrPort, 0, MaxPushProxies)
				}
				hosts = append(hosts, h)
			}
		}
	}
	return hosts
}

// SetPushProxies replaces the trailer's GGEP "PUSH" and "PUSH6" with
// proxies (at most MaxPushProxies): the IPv4 ones in PUSH, the IPv6 ones
// in PUSH6 when ipv6 (the querier takes IPv6, as gtk-gnutella decides);
// none removes them.
func (m *QueryHit) SetPushProxies(proxies []netip.AddrPort, ipv6 bool) {
	m.GGEP = slices.DeleteFunc(m.GGEP, func(e Extension) bool { return e.ID == "PUSH" || e.ID == "PUSH6" })
	if len(proxies) > MaxPushProxies {
		proxies = proxies[:MaxPushProxies]
	}
	if data := AppendIPP(nil, proxies); len(data) > 0 {
		m.GGEP = append(m.GGEP, Extension{ID: "PUSH", Data: data})
	}
	if !ipv6 {
		return
	}
	if data := AppendIPP6(nil, proxies); len(data) > 0 {
		m.GGEP = append(m.GGEP, Extension{ID: "PUSH6", Data: data})
	}
}
