package servent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/hitfilter"
	"github.com/servent/servent/servent/transfer"
)

// browseHits names every shared file in hits for a browse of our host.
func (n *Node) browseHits() []protocol.QueryHit {
	a := n.ContactAddr()
	files := n.lib.Files()
	results := make([]protocol.Result, 0, len(files))
	for _, f := range files {
		results = append(results, protocol.Result{Index: f.Index, Size: uint64(max(f.Size, 0)), Name: f.Name, SHA1: f.SHA1, TTH: f.TTH})
	}
	tmpl := protocol.QueryHit{Port: a.Port(), IP: a.Addr(), Speed: hitSpeed, Vendor: protocol.VendorSRVT,
		Push: n.firewalled(), ServentGUID: n.guid}
	var proxies []netip.AddrPort
	if tmpl.Push {
		proxies = n.pushProxies()
	}
	n.ourTrailer(&tmpl, proxies, false)
	return transfer.BrowseHits(tmpl, results)
}

// Browse asks the servent at addr for the files it shares. The files come
// in as the results of a search (its Criteria "browse ADDR"), so that
// they can be downloaded like search results; the search stops when the
// host's list ended, and Err says why it failed.
func (n *Node) Browse(addr netip.AddrPort) *Search {
	return n.BrowseHost(transfer.Source{Addr: addr})
}

// BrowseHost browses the host of a search result's source: directly, or
// through a push to its servent GUID (index 0, as gtk-gnutella) when it
// is firewalled or cannot be reached.
func (n *Node) BrowseHost(src transfer.Source) *Search {
	criteria := "browse " + src.Addr.String()
	if src.Push {
		criteria += " (firewalled, by push)"
	}
	s := n.newSearch(criteria, protocol.NewGUID(), nil, hitfilter.NewQuery(""))
	take := func(hit *protocol.QueryHit) error {
		n.takeHit(s, hit)
		return context.Cause(n.ctx)
	}
	push := src
	push.Index, push.Name = 0, ""
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		var err error
		switch {
		case n.hostile(src.Addr.Addr()):
			err = fmt.Errorf("browse %s: the address is in the hostile list", src.Addr)
		case src.Push:
			err = transfer.Browse(n.ctx, n.transfer.manager.PushDialer(push), src.Addr.String(), n.cfg.UserAgent, take)
		default:
			// Dialled from our listening address, as every connection of ours.
			err = transfer.Browse(n.ctx, n.dialTLS, src.Addr.String(), n.cfg.UserAgent, take)
			var oe *net.OpError
			if err != nil && errors.As(err, &oe) && oe.Op == "dial" && !src.ServentGUID.IsZero() && n.ctx.Err() == nil {
				n.log.Debug("browse: cannot connect, trying a push", "addr", src.Addr, "err", err)
				if perr := transfer.Browse(n.ctx, n.transfer.manager.PushDialer(push), src.Addr.String(), n.cfg.UserAgent, take); perr != nil {
					err = fmt.Errorf("%w; by push: %w", err, perr)
				} else {
					err = nil
				}
			}
		}
		s.finish(err)
	}()
	return s
}
