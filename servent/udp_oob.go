package servent

import (
	"crypto/rand"
	mrand "math/rand/v2"
	"net/netip"
	"sync"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/oob"
)

// oobSide is the node's out-of-band hits state (issue 10 item 4); the
// decisions live in package oob, this only locks and sends.
type oobSide struct {
	mu        sync.Mutex
	searcher  *oob.Searcher
	responder *oob.Responder
	proxy     *oob.Proxy
}

func newOOBSide() *oobSide {
	return &oobSide{
		searcher: oob.NewSearcher(func() []byte {
			b := make([]byte, oob.TokenLen)
			_, _ = rand.Read(b)
			return b
		}),
		responder: oob.NewResponder(func(d time.Duration) time.Duration { return mrand.N(d) }),
		proxy:     oob.NewProxy(),
	}
}

// lazyOOB makes the OOB state on first use (a node without UDP never does).
type lazyOOB struct {
	once sync.Once
	s    *oobSide
}

// oobState is the node's OOB state.
func (n *Node) oobState() *oobSide {
	n.udp.oob.once.Do(func() { n.udp.oob.s = newOOBSide() })
	return n.udp.oob.s
}

// udpReceives says whether datagrams reach us: UDP runs, is not forced
// off by Config.Firewalled, and the verdict does not find UDP firewalled
// (unknown is given the benefit of the doubt, as gtk-gnutella does before
// its first UDP check). Enough to answer OOB: the querier's LIME/11
// comes back to the socket we sent from, in either family.
func (n *Node) udpReceives() bool {
	return n.udp.sock != nil && !n.cfg.noOOB && !n.cfg.Firewalled && n.udpNotFirewalled()
}

// canReceiveUDP says whether our OOB queries (ours, or our leaves' we
// proxy) may ask for hits over UDP: udpReceives, and an IPv4 address for
// the MUID.
func (n *Node) canReceiveUDP() bool {
	return n.udpReceives() && n.oobReturnAddr().Addr().Is4()
}

// oobQueryGUID returns the MUID and flags of a new search of ours: with
// our UDP address and FlagOOB when we can receive UDP, registered with the
// searcher.
func (n *Node) oobQueryGUID(g protocol.GUID, want int) (protocol.GUID, protocol.QueryFlags) {
	if !n.canReceiveUDP() {
		return g, 0
	}
	og, ok := protocol.WithOOBAddr(g, n.oobReturnAddr())
	if !ok {
		return g, 0
	}
	o := n.oobState()
	o.mu.Lock()
	ok = o.searcher.Add(og, want, n.cfg.Now())
	o.mu.Unlock()
	if !ok {
		return g, 0
	}
	return og, protocol.FlagOOB
}

// oobReturnAddr is the UDP address peers send OOB hits to: the advertised
// address when known (the port is the same for TCP and UDP), else the bound one.
func (n *Node) oobReturnAddr() netip.AddrPort {
	if a := n.advertised(); a.IsValid() && a.Addr().Unmap().Is4() {
		return a
	}
	if a := n.UDPAddr(); a.Addr().Is4() && !a.Addr().IsUnspecified() {
		return a
	}
	return netip.AddrPort{} // none known yet: "[::]" is no address
}

// oobAnswer holds hits for an OOB query and sends LIME/12 to the querier;
// false: answer over TCP as before (not OOB, no UDP, an address we cannot
// send to), as gtk-gnutella falls back.
func (n *Node) oobAnswer(h protocol.Header, q *protocol.Query, hits []protocol.QueryHit) bool {
	if !q.Flags.Has(protocol.FlagOOB) || !n.udpReceives() {
		return false // we could not receive the querier's LIME/11
	}
	to := protocol.OOBAddr(h.GUID)
	if v6 := q.GGEP.IPv6(); v6.IsValid() && !n.cfg.NoIPv6 &&
		(to.Addr() == protocol.IPv4None || q.HitFamilies() == protocol.HitsIPv6Only) {
		// IPv6-Ready: an IPv6 querier's OOB address is its GGEP "6", the
		// port still in the MUID (gtk-gnutella's search.c).
		to = netip.AddrPortFrom(v6, to.Port())
	}
	if to.Port() == 0 || !to.Addr().IsValid() || to.Addr().IsUnspecified() || to.Addr().IsMulticast() || to.Addr() == protocol.IPv4None {
		return false
	}
	_, secure := q.GGEP.Get("SO")
	o := n.oobState()
	o.mu.Lock()
	rn, ok := o.responder.Hold(to, h.GUID, hits, secure, n.cfg.Now())
	o.mu.Unlock()
	if !ok {
		return true // already held for this query, or full: GTKG drops
	}
	v := rn.Vendor()
	n.sendUDP(to, protocol.Header{GUID: h.GUID, Type: protocol.TypeVendor, TTL: 1}, &v)
	return true
}

// udpHit takes a QueryHit sent over UDP: accepted only when claimed by our
// LIME/11 (for our search, or a leaf's query we proxy); others dropped and
// counted.
func (n *Node) udpHit(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	if n.guessHit(from, d, now) {
		return
	}
	var hit protocol.QueryHit
	if err := hit.Decode(d.Payload); err != nil {
		n.udp.unused.Add(1)
		return
	}
	so, _ := hit.GGEP.Get("SO")
	o := n.oobState()
	o.mu.Lock()
	ok := o.searcher.Accept(from, d.Header.GUID, len(hit.Results), so, now)
	orig, leaf, proxied := o.proxy.Lookup(d.Header.GUID, now)
	o.mu.Unlock()
	if !ok {
		return
	}
	if proxied {
		n.core.r.Results(d.Header.GUID, len(hit.Results)) // the leaf's dynamic query counts them
		n.proxyHit(leaf, orig, d.Header.Hops, &hit)
		return
	}
	n.deliverHit(d.Header, &hit)
}

// oobProxyQuery rewrites a leaf's query that asks for no OOB so that its
// hits come to us over UDP (oob_proxy.c): our address in the MUID, FlagOOB
// set, the mapping kept to route the hits back to the leaf with its MUID.
// Unchanged when we cannot receive UDP or the table is full.
func (n *Node) oobProxyQuery(c *conn, h protocol.Header, payload []byte, q *protocol.Query) (protocol.Header, []byte) {
	if q.Flags&protocol.FlagMark == 0 || q.Flags.Has(protocol.FlagOOB) || !n.canReceiveUDP() {
		return h, payload
	}
	now := n.cfg.Now()
	o := n.oobState()
	o.mu.Lock()
	g, ok := o.proxy.Rewrite(h.GUID, uint64(c.id), n.oobReturnAddr(), now)
	if ok && !o.searcher.Add(g, oobWant, now) {
		ok = false
	}
	o.mu.Unlock()
	if !ok {
		return h, payload
	}
	// TCP hits for the new MUID come here too, and go to the leaf.
	n.routes.Add(g, protocol.TypeQuery, routing.Local)
	pq := *q
	pq.Flags |= protocol.FlagOOB
	h.GUID = g
	return h, pq.Append(nil)
}

// oobProxiedHit routes a TCP hit for a MUID we proxied to its leaf; false:
// not a proxied query.
func (n *Node) oobProxiedHit(h protocol.Header, hit *protocol.QueryHit) bool {
	if n.udp.sock == nil {
		return false
	}
	o := n.oobState()
	o.mu.Lock()
	orig, leaf, ok := o.proxy.Lookup(h.GUID, n.cfg.Now())
	o.mu.Unlock()
	if ok {
		n.proxyHit(leaf, orig, h.Hops, hit)
	}
	return ok
}

// proxyHit routes a hit claimed for a leaf over TCP with its own MUID.
func (n *Node) proxyHit(leaf uint64, orig protocol.GUID, hops uint8, hit *protocol.QueryHit) {
	for _, c := range n.snap.Load().leaves {
		if uint64(c.id) == leaf {
			h := protocol.Header{GUID: orig, Type: protocol.TypeQueryHit, TTL: routing.HitTTL(hops)}
			c.send(protocol.AppendMessage(nil, h, hit), true)
			return
		}
	}
}

// oobVendor takes LIME/12 and LIME/11; false: not an OOB message.
func (n *Node) oobVendor(from netip.AddrPort, h protocol.Header, v *protocol.Vendor, now time.Time) bool {
	if v.Vendor != protocol.VendorLIME {
		return false
	}
	switch v.Selector {
	case protocol.SelOOBReplyNumber:
		rn, err := protocol.DecodeOOBReplyNumber(v.Version, v.Data)
		if err != nil {
			n.udp.unused.Add(1)
			return true
		}
		o := n.oobState()
		o.mu.Lock()
		ack, ok := o.searcher.Reply(from, h.GUID, rn, now)
		o.mu.Unlock()
		if ok {
			av := ack.Vendor()
			n.sendUDP(from, protocol.Header{GUID: h.GUID, Type: protocol.TypeVendor, TTL: 1}, &av)
		}
		return true
	case protocol.SelOOBReplyAck:
		ack, err := protocol.DecodeOOBReplyAck(v.Version, v.Data)
		if err != nil {
			n.udp.unused.Add(1)
			return true
		}
		o := n.oobState()
		o.mu.Lock()
		first, ok := o.responder.Ack(from, h.GUID, ack, now)
		o.mu.Unlock()
		if ok {
			n.sendOOBHit(first)
		}
		return true
	}
	return false
}

// oobTick sends the paced hits that are due and expires old state; the
// maintenance loop calls it.
func (n *Node) oobTick(now time.Time) {
	if n.udp.sock == nil {
		return
	}
	o := n.oobState()
	o.mu.Lock()
	due := o.responder.Due(now)
	o.searcher.Expire(now)
	o.proxy.Expire(now)
	o.mu.Unlock()
	for _, d := range due {
		n.sendOOBHit(d)
	}
}

func (n *Node) sendOOBHit(d oob.Delivery) {
	n.sendUDP(d.To, protocol.Header{GUID: d.GUID, Type: protocol.TypeQueryHit, TTL: 1}, &d.Hit)
}

// OOBStats are the OOB counters for status and tests.
type OOBStats struct {
	oob.SearcherStats
	oob.ResponderStats
}

// oobStats reads the OOB counters.
func (n *Node) oobStats() OOBStats {
	o := n.oobState()
	o.mu.Lock()
	defer o.mu.Unlock()
	return OOBStats{o.searcher.Stats, o.responder.Stats}
}
