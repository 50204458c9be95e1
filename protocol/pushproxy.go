package protocol

import (
	"net/netip"
	"slices"
)

// MaxPushProxies is how many push proxies gtk-gnutella lists in a hit
// (QHIT_MAX_PROXIES); we read and write no more.
const MaxPushProxies = 8

// PushProxies reads the push proxies a firewalled servent lists in its
// hit's trailer GGEP "PUSH" (GNUTELLA-TRANSFERS.md 25.1): IPv4 BE + port
// LE each. Entries with port 0 or an unspecified address are left out, and
// at most MaxPushProxies are kept; a malformed PUSH gives none.
func (m *QueryHit) PushProxies() []netip.AddrPort {
	for _, e := range m.GGEP {
		if e.ID != "PUSH" {
			continue
		}
		hosts, err := ParseIPP(e.Data[:min(len(e.Data), MaxPushProxies*ippLen)])
		if err != nil {
			return nil
		}
		hosts = slices.DeleteFunc(hosts, func(h netip.AddrPort) bool {
			return h.Port() == 0 || h.Addr().IsUnspecified()
		})
		if len(hosts) == 0 {
			return nil
		}
		return hosts
	}
	return nil
}

// SetPushProxies replaces the trailer's GGEP "PUSH" with proxies (IPv4
// only, at most MaxPushProxies); none removes it.
func (m *QueryHit) SetPushProxies(proxies []netip.AddrPort) {
	m.GGEP = slices.DeleteFunc(m.GGEP, func(e Extension) bool { return e.ID == "PUSH" })
	if len(proxies) > MaxPushProxies {
		proxies = proxies[:MaxPushProxies]
	}
	if data := AppendIPP(nil, proxies); len(data) > 0 {
		m.GGEP = append(m.GGEP, Extension{ID: "PUSH", Data: data})
	}
}
