package servent

import (
	"net/netip"

	"github.com/servent/servent/protocol"
)

// firewalled tells whether peers cannot open TCP connections to us, so we
// serve by push: forced by Config.Firewalled (tests), else the
// reachability verdict (issue 11: reach.Verdict).
func (n *Node) firewalled() bool {
	return n.cfg.Firewalled
}

// pushProxies are the ultrapeers that accepted to be our push proxies
// (LIME/22), listed in our hits (GGEP PUSH) while we are firewalled.
func (n *Node) pushProxies() []netip.AddrPort {
	var out []netip.AddrPort
	for _, c := range n.snap.Load().ups {
		if a := c.proxy.addr.Load(); a != nil && len(out) < protocol.MaxPushProxies {
			out = append(out, *a)
		}
	}
	return out
}
