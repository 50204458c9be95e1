package servent

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/gnet"
)

// byeError ends a connection whose peer said Bye.
type byeError struct{ bye protocol.Bye }

func (e *byeError) Error() string {
	return fmt.Sprintf("peer said Bye %d %s", e.bye.Code, e.bye.Reason)
}

// The routing rules and their thresholds are the core's (servent/gnet);
// these are the ones the shell's own code uses too.
const (
	maxDupMsgs  = gnet.MaxDupMsgs  // duplicate queries/pings/pushes per window
	maxHitBatch = gnet.MaxHitBatch // results per QueryHit, as GTKG
	hitSpeed    = gnet.HitSpeed
	ourVersion  = gnet.OurVersion
)

// readLoop reads descriptors until the connection fails or must close.
func (c *conn) readLoop() error {
	var r io.Reader = c.n.limits.Get(bwlimit.GnetIn).Reader(c.n.ctx, &countReader{br: c.br, n: &c.bytesIn})
	if c.deflateIn {
		r = bufio.NewReaderSize(protocol.NewInflateReader(r, 0), 16<<10)
	}
	dec := protocol.NewDecoder(r)
	n := c.n
	for {
		h, payload, err := dec.Next()
		if err != nil {
			if errors.Is(err, protocol.ErrTooLarge) {
				n.ban(c, 400, "Too large message")
			}
			return fmt.Errorf("read: %w", err)
		}
		if c.byeMsg.Load() != nil {
			continue // we said Bye: read on to the peer's close, handle nothing
		}
		now := n.cfg.Now()
		c.lastRead.Store(now.UnixNano())
		if c.pingOut.Load() != 0 {
			c.pingOut.Store(0)
		}
		c.msgsIn.Add(1)
		n.stats.msgsIn.Add(1)
		n.stats.inByType[h.Type].Add(1)
		if err := n.handle(c, h, payload, now); err != nil {
			return err
		}
	}
}

// handle processes one descriptor from c: the core decides (concurrently
// with the other connections' readers) and the shell carries the actions
// out. payload is valid only during the call. A returned error closes the
// connection.
func (n *Node) handle(c *conn, h protocol.Header, payload []byte, now time.Time) error {
	c.acts = n.core.r.Receive(c.acts[:0], c.id, h, payload, now)
	return n.act(c, h, payload, c.acts)
}

// countReader counts the bytes read from the connection's reader (the
// wire bytes: before inflation).
type countReader struct {
	br *bufio.Reader
	n  *atomic.Uint64
}

func (r *countReader) Read(p []byte) (int, error) {
	k, err := r.br.Read(p)
	r.n.Add(uint64(k))
	return k, err
}

func (r *countReader) ReadByte() (byte, error) {
	b, err := r.br.ReadByte()
	if err == nil {
		r.n.Add(1)
	}
	return b, err
}

// bad counts a descriptor the shell found malformed against c's abuse
// window; past the limit c is banned (Bye 400).
func (c *conn) bad(why string) {
	n := c.n
	acts := n.core.r.Bad(nil, c.id, n.cfg.Now())
	n.log.Debug("bad message", "peer", c.addr, "why", why)
	_ = n.act(c, protocol.Header{}, nil, acts)
}

// answer matches q against the library and sends our QueryHits back on c.
func (n *Node) answer(c *conn, h protocol.Header, q *protocol.Query) {
	if q.Criteria == "" && len(q.SHA1s) == 0 {
		return
	}
	if n.libEmpty() && (len(q.SHA1s) == 0 || !n.sharesPartials()) {
		return // Search allocates even when nothing can match
	}
	ip, port := n.hitAddr(c)
	if q.HitFamilies() == protocol.HitsIPv6Only {
		// The querier has no IPv4: our IPv6 address, or no answer (as
		// gtk-gnutella, which ignores such a query when it has no IPv6).
		if a := n.self.V6(); a.IsValid() {
			ip, port = a.Addr(), a.Port()
		} else {
			return
		}
	}
	hdr := protocol.Header{GUID: h.GUID, Type: protocol.TypeQueryHit, TTL: routing.HitTTL(h.Hops)}
	var held []protocol.QueryHit // OOB: the hits wait for the querier's LIME/11
	// As GTKG (hops > 1 after its increment on receipt): OOB only for a
	// querier beyond our neighbour.
	oobQuery := q.Flags.Has(protocol.FlagOOB) && h.Hops >= 1 && n.udpReceives()
	n.ourHits(q, netip.AddrPortFrom(ip, port), func(hit *protocol.QueryHit) {
		if oobQuery {
			held = append(held, *hit)
			return
		}
		c.send(protocol.AppendMessage(nil, hdr, hit), true)
	})
	if len(held) > 0 && !n.oobAnswer(h, q, held) {
		for i := range held {
			c.send(protocol.AppendMessage(nil, hdr, &held[i]), true)
		}
	}
}

// ourHits matches q against the library and passes our QueryHits, at
// most maxHitBatch results each, to send; a names us in them.
func (n *Node) ourHits(q *protocol.Query, a netip.AddrPort, send func(*protocol.QueryHit)) {
	files := n.lib.Search(q.Criteria, q.SHA1s, q.Flags.MaxHits())
	partials := n.partialResults(q, files)
	if len(files) == 0 && len(partials) == 0 {
		return
	}
	n.stats.core.QueriesAnswered.Add(1)
	push := n.firewalled()
	var proxies []netip.AddrPort
	if push {
		proxies = n.pushProxies()
	}
	for len(files) > 0 {
		k := min(len(files), maxHitBatch)
		hit := protocol.QueryHit{
			Port: a.Port(), IP: a.Addr(), Speed: hitSpeed, Vendor: protocol.VendorSRVT,
			Push: push, ServentGUID: n.guid,
			Results: make([]protocol.Result, k),
		}
		n.ourTrailer(&hit, proxies, q.HitFamilies() != protocol.HitsIPv4)
		for i, f := range files[:k] {
			hit.Results[i] = protocol.Result{Index: f.Index, Size: uint64(f.Size), Name: f.Name, SHA1: f.SHA1, TTH: f.TTH}
		}
		files = files[k:]
		if len(files) == 0 && len(hit.Results) < maxHitBatch {
			hit.Results = append(hit.Results, partials...) // few: one per urn asked
			partials = nil
		}
		send(&hit)
	}
	if len(partials) > 0 {
		hit := protocol.QueryHit{Port: a.Port(), IP: a.Addr(), Speed: hitSpeed, Vendor: protocol.VendorSRVT,
			Push: push, ServentGUID: n.guid, Results: partials}
		n.ourTrailer(&hit, proxies, q.HitFamilies() != protocol.HitsIPv4)
		send(&hit)
	}
}

// ourTrailer fills what every hit of ours says of us in its trailer: the
// push proxies when we are firewalled, and GGEP TLS when we accept TLS,
// as gtk-gnutella's hits say it.
// ipv6 says the querier takes IPv6 (its "I6"): then IPv6 proxies go in
// PUSH6.
func (n *Node) ourTrailer(hit *protocol.QueryHit, proxies []netip.AddrPort, ipv6 bool) {
	hit.SetPushProxies(proxies, ipv6)
	hit.SetAddr(netip.AddrPortFrom(hit.IP, hit.Port), n.advertised6()) // gtk-gnutella's order: PUSH, 6, TLS
	if n.tls.server != nil {
		hit.GGEP = append(hit.GGEP, protocol.Extension{ID: "TLS"})
	}
}

// hitAddr is the address we put in hits and pongs sent on c.
func (n *Node) hitAddr(c *conn) (netip.Addr, uint16) {
	a := n.advertised()
	if a.IsValid() {
		return a.Addr(), a.Port()
	}
	local := addrPortOf(c.nc.LocalAddr())
	return local.Addr(), n.addr.Port()
}

// ownPong describes us.
func (n *Node) ownPong(c *conn) *protocol.Pong {
	ip, port := n.hitAddr(c)
	files, kb := n.lib.Stats()
	p := &protocol.Pong{Files: uint32(files), KB: uint32(min(kb, 1<<32-1))}
	p.SetAddr(netip.AddrPortFrom(ip, port), netip.Addr{}) // without IPv4: "6" first, as gtk-gnutella
	p.GGEP = append(p.GGEP, protocol.Extension{ID: "VC", Data: []byte{'S', 'R', 'V', 'T', ourVersion}})
	p.GGEP = n.withGUE(p.GGEP)
	if n.ultrapeer.Load() {
		leaves, ups := n.freeSlots()
		p.GGEP = append(p.GGEP, protocol.Extension{ID: "UP", Data: []byte{2, byte(min(leaves, 255)), byte(min(ups, 255))}})
	}
	if e, ok := protocol.IPv6Extension(n.advertised6()); ok && p.IP.Is4() && p.IP != protocol.IPv4None {
		p.GGEP = append(p.GGEP, e) // our second address: after UP, before TLS (gtk-gnutella's dual-stack pongs)
	}
	if n.tls.server != nil {
		p.GGEP = append(p.GGEP, protocol.Extension{ID: "TLS"}) // gtk-gnutella's order: VC, GUE, UP, ..., TLS
	}
	return p
}

// handleVendor takes the vendor messages the core leaves to the shell.
func (n *Node) handleVendor(c *conn, h protocol.Header, payload []byte) {
	var v protocol.Vendor
	if err := v.Decode(payload); err != nil {
		c.bad("vendor")
		return
	}
	if n.reachTCPVendor(c, h, &v, n.cfg.Now()) {
		return
	}
	switch {
	case v.Is(protocol.VendorLIME, protocol.SelPushProxyAck) && c.up && !n.ultrapeer.Load():
		n.pushProxyAcked(c, h, &v)
	case v.Is(protocol.VendorNull, protocol.SelMessagesSupported):
		// Nothing else to adapt: we only send what everyone understands.
		if ms, err := protocol.DecodeMessagesSupported(v.Data); err == nil {
			n.reachAsk(c, ms, n.cfg.Now())
			n.askPushProxy(c, ms)
		}
	}
}
