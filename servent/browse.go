package servent

import (
	"context"
	"fmt"
	"net/netip"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/hitfilter"
	"github.com/servent/servent/servent/transfer"
)

// browseHits names every shared file in hits for a browse of our host.
func (n *Node) browseHits() []protocol.QueryHit {
	a := n.advertised()
	if !a.IsValid() {
		a = netip.AddrPortFrom(n.addr.Addr(), n.addr.Port())
	}
	files := n.lib.Files()
	results := make([]protocol.Result, 0, len(files))
	for _, f := range files {
		results = append(results, protocol.Result{Index: f.Index, Size: uint64(max(f.Size, 0)), Name: f.Name, SHA1: f.SHA1})
	}
	tmpl := protocol.QueryHit{Port: a.Port(), IP: a.Addr(), Speed: hitSpeed, Vendor: protocol.VendorSRVT,
		Push: n.firewalled(), ServentGUID: n.guid}
	if tmpl.Push {
		tmpl.SetPushProxies(n.pushProxies())
	}
	return transfer.BrowseHits(tmpl, results)
}

// Browse asks the servent at addr for the files it shares. The files come
// in as the results of a search (its Criteria "browse ADDR"), so that
// they can be downloaded like search results; the search stops when the
// host's list ended, and Err says why it failed.
func (n *Node) Browse(addr netip.AddrPort) *Search {
	s := n.newSearch("browse "+addr.String(), protocol.NewGUID(), nil, hitfilter.NewQuery(""))
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		var err error
		if n.hostile(addr.Addr()) {
			err = fmt.Errorf("browse %s: the address is in the hostile list", addr)
		} else {
			// Dialled from our listening address, as every connection of ours.
			err = transfer.Browse(n.ctx, n.cfg.Dial, addr.String(), n.cfg.UserAgent, func(hit *protocol.QueryHit) error {
				n.takeHit(s, hit)
				return context.Cause(n.ctx)
			})
		}
		s.finish(err)
	}()
	return s
}
