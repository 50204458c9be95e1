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
	"github.com/servent/servent/servent/flood"
)

// byeError ends a connection whose peer said Bye.
type byeError struct{ bye protocol.Bye }

func (e *byeError) Error() string {
	return fmt.Sprintf("peer said Bye %d %s", e.bye.Code, e.bye.Reason)
}

// Misbehaviour thresholds per connection and window.
const (
	abuseWindow = 10 * time.Second
	maxBadMsgs  = 50  // malformed, TTL 0, hops 255, over the hard TTL limit
	maxDupMsgs  = 500 // duplicate queries/pings/pushes
	pingEvery   = 2 * time.Second
	maxHitBatch = 10 // results per QueryHit, as GTKG
	hitSpeed    = 1000
	ourVersion  = 0x01
	maxPongsOut = 10
)

// readLoop reads descriptors until the connection fails or must close.
func (c *conn) readLoop() error {
	var r io.Reader = &countReader{br: c.br, n: &c.bytesIn}
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
		if err := n.handle(c, h, payload, now); err != nil {
			return err
		}
	}
}

// handle processes one descriptor from c. payload is valid only during
// the call. A returned error closes the connection.
func (n *Node) handle(c *conn, h protocol.Header, payload []byte, now time.Time) error {
	if !c.meter.Allow(flood.KindOf(h.Type), now) {
		// Before anything is decoded or remembered: a flood costs nothing.
		return n.flooded(c, flood.KindOf(h.Type))
	}
	if now.Sub(c.winStart) > abuseWindow {
		c.winStart, c.winBad, c.winDups = now, 0, 0
	}
	switch h.Type {
	case protocol.TypeQuery:
		n.handleQuery(c, h, payload)
	case protocol.TypeQueryHit:
		n.handleHit(c, h, payload)
	case protocol.TypePing:
		n.handlePing(c, h, payload, now)
	case protocol.TypePong:
		n.handlePong(c, h, payload)
	case protocol.TypePush:
		n.handlePush(c, h, payload)
	case protocol.TypeQRP:
		return n.handleQRP(c, payload)
	case protocol.TypeVendor, protocol.TypeStdVendor:
		n.handleVendor(c, h, payload)
	case protocol.TypeBye:
		var b protocol.Bye
		_ = b.Decode(payload) // a short Bye still ends the link, as code 0
		n.log.Debug("peer said bye", "peer", c.addr, "code", b.Code, "reason", b.Reason)
		return &byeError{bye: b}
	default:
		c.bad("unknown type")
	}
	if c.winBad > maxBadMsgs {
		n.ban(c, 400, "Too many bad messages")
		return errors.New("too many bad messages")
	}
	if c.winDups > maxDupMsgs {
		n.ban(c, 401, "Too many duplicates")
		return errors.New("too many duplicates")
	}
	return nil
}

// floodMeter is the message budget of a new connection: a leaf's own
// traffic is held to what a servent sends, an ultrapeer link carries
// relayed traffic (servent/flood has the numbers).
func (n *Node) floodMeter(peerUp bool) flood.Meter {
	switch {
	case n.cfg.noFloodLimits:
		return flood.NewMeter(flood.Unlimited())
	case peerUp:
		return flood.NewMeter(flood.ForUltrapeer())
	}
	return flood.NewMeter(flood.ForLeaf())
}

// flooded closes c for a flood of k as gtk-gnutella closes a peer it bans
// (Bye 412 with ban_record, nodes.c), bans its address and counts it.
func (n *Node) flooded(c *conn, k flood.Kind) error {
	n.stats.floods.Add(1)
	n.log.Debug("flood", "peer", c.addr, "kind", k)
	n.ban(c, 412, "Flood of "+k.String()+" messages")
	return fmt.Errorf("%v flood", k)
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

func (c *conn) bad(why string) {
	c.winBad++
	c.n.stats.bad.Add(1)
}

// arenaChunk is the size of the reader's arena chunks. A chunk lives as
// long as its last queued message, so a queue that keeps one message in
// every chunk pins a chunk per message: 16 KiB bounds that at 16 KiB per
// queued descriptor while still sharing one allocation among ~250 queries.
const arenaChunk = 16 << 10

// alloc carves n bytes out of the reader's arena: forwarded descriptors
// are built once and shared by every queue they go to, and the arena saves
// an allocation per message. Large descriptors get their own allocation.
func (c *conn) alloc(size int) []byte {
	if size > arenaChunk/8 {
		return make([]byte, size)
	}
	if cap(c.arena)-len(c.arena) < size {
		c.arena = make([]byte, 0, arenaChunk)
	}
	l := len(c.arena)
	c.arena = c.arena[:l+size]
	return c.arena[l : l+size : l+size]
}

// relayed builds the forwarded form of a descriptor with new TTL and hops.
func (c *conn) relayed(h protocol.Header, ttl, hops uint8, payload []byte) []byte {
	b := c.alloc(protocol.HeaderLen + len(payload))
	h.TTL, h.Hops, h.Length = ttl, hops, uint32(len(payload))
	h.Append(b[:0])
	copy(b[protocol.HeaderLen:], payload)
	return b
}

func (n *Node) handleQuery(c *conn, h protocol.Header, payload []byte) {
	if err := routing.Check(h); err != nil {
		n.rstats.CountCheck(err)
		c.bad("ttl")
		return
	}
	if !c.up && h.Hops > 0 {
		c.bad("leaf relayed a query") // a leaf only sends its own queries
		return
	}
	fttl, fhops, fok := routing.ForwardTTL(h, n.cfg.MaxTTL)
	leafQuery := false
	if !n.ultrapeer.Load() {
		fok = false
	} else if !c.up {
		// A query of one of our leaves: we query on its behalf, whatever
		// TTL the leaf chose (GTKG leaves count on the ultrapeer).
		// Simple dynamic querying (GNUTELLA.md 7.6): probe at TTL 2 now,
		// and at MaxTTL-1 after dqWait if the leaf got too few results.
		fttl, fhops, fok = min(2, max(n.cfg.MaxTTL-1, 1)), 1, n.cfg.MaxTTL > 1
		leafQuery = fok && n.cfg.MaxTTL-1 > fttl
	}
	var ttlKey uint8
	if fok {
		ttlKey = fttl
	}
	verdict := n.routes.AddTTL(h.GUID, protocol.TypeQuery, c.id, ttlKey)
	if verdict == routing.Duplicate {
		c.winDups++
		return
	}
	if verdict == routing.New && leafQuery && len(payload) <= protocol.MaxForwardQueryLen {
		n.dq.start(h.GUID, c, payload, n.cfg.Now())
	}
	if err := c.query.DecodeShared(payload); err != nil {
		c.bad("query")
		return
	}
	q := &c.query
	if q.Flags == 0 && n.ultrapeer.Load() {
		// GTKG drops "ancient" queries with a zero flags word; so do we,
		// not to relay what the rest of the network refuses.
		return
	}
	if verdict == routing.New {
		n.stats.queriesHandled.Add(1)
		if h := n.hooks.onQuery; h != nil {
			h(c, q)
		}
		if !(q.Flags.Has(protocol.FlagFirewalled) && n.firewalled()) {
			n.answer(c, h, q)
		}
	}
	if !n.ultrapeer.Load() {
		return
	}
	if verdict == routing.New && fok && !c.up {
		h, payload = n.oobProxyQuery(c, h, payload, q)
	}
	n.forwardQuery(c, h, payload, q, fttl, fhops, fok, true)
}

// forwardQuery sends a query on: to every other ultrapeer while TTL
// allows (last hop only where the peer's QRP table matches) and to each
// leaf whose QRP table matches (GNUTELLA.md 7.2-7.4). from is nil for our
// own searches; leaves false skips the leaves.
func (n *Node) forwardQuery(from *conn, h protocol.Header, payload []byte, q *protocol.Query, fttl, fhops uint8, fok, leaves bool) {
	s := n.snap.Load()
	var hashes routing.QueryHashes
	hashed := false
	match := func(t *routing.QueryRouteTable) bool {
		if !hashed {
			hashes.Reset(q)
			hashed = true
		}
		return t.Match(&hashes)
	}
	var alloc func(int) []byte
	if from != nil {
		alloc = from.alloc
	} else {
		alloc = func(size int) []byte { return make([]byte, size) }
	}
	var byTTL [16][]byte // encoded once per TTL value, shared by the queues
	encode := func(ttl uint8) []byte {
		if byTTL[ttl] == nil {
			b := alloc(protocol.HeaderLen + len(payload))
			hh := h
			hh.TTL, hh.Hops, hh.Length = ttl, fhops, uint32(len(payload))
			hh.Append(b[:0])
			copy(b[protocol.HeaderLen:], payload)
			byTTL[ttl] = b
		}
		return byTTL[ttl]
	}
	if fok && len(payload) <= protocol.MaxForwardQueryLen {
		for _, p := range s.ups {
			if p == from || uint32(fhops) >= p.hopsFlow.Load() {
				continue
			}
			ttl := fttl
			if p.maxTTL > 0 && ttl > p.maxTTL {
				ttl = p.maxTTL
			}
			if ttl == 1 {
				if t := p.qrt.Load(); t != nil && !match(t) {
					continue // last-hop QRP
				}
			}
			if p.send(encode(ttl), from == nil) {
				n.stats.queriesForwarded.Add(1)
			}
		}
	}
	if !leaves || len(s.leaves) == 0 {
		return
	}
	ttl := max(fttl, 1)
	if !fok {
		ttl = 1
	}
	for _, p := range s.leaves {
		if p == from || uint32(fhops) >= p.hopsFlow.Load() {
			continue
		}
		t := p.qrt.Load()
		if t == nil || !match(t) {
			continue // a leaf without a table gets nothing (GTKG)
		}
		if p.send(encode(ttl), from == nil) {
			n.stats.queriesForwarded.Add(1)
		}
	}
}

// answer matches q against the library and sends our QueryHits back on c.
func (n *Node) answer(c *conn, h protocol.Header, q *protocol.Query) {
	if q.Criteria == "" && len(q.SHA1s) == 0 {
		return
	}
	if files, _ := n.lib.Stats(); files == 0 {
		return // Search allocates even when nothing can match
	}
	ip, port := n.hitAddr(c)
	hdr := protocol.Header{GUID: h.GUID, Type: protocol.TypeQueryHit, TTL: routing.HitTTL(h.Hops)}
	var held []protocol.QueryHit // OOB: the hits wait for the querier's LIME/11
	// As GTKG (hops > 1 after its increment on receipt): OOB only for a
	// querier beyond our neighbour.
	oobQuery := q.Flags.Has(protocol.FlagOOB) && h.Hops >= 1 && n.canReceiveUDP()
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
	if len(files) == 0 {
		return
	}
	n.stats.queriesAnswered.Add(1)
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
		hit.SetPushProxies(proxies)
		for i, f := range files[:k] {
			hit.Results[i] = protocol.Result{Index: f.Index, Size: uint64(f.Size), Name: f.Name, SHA1: f.SHA1}
		}
		files = files[k:]
		send(&hit)
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

func (n *Node) handleHit(c *conn, h protocol.Header, payload []byte) {
	if err := routing.Check(h); err != nil {
		n.rstats.CountCheck(err)
		c.bad("ttl")
		return
	}
	if len(payload) < 11+16+7 {
		c.bad("short hit")
		return
	}
	servent := protocol.GUID(payload[len(payload)-16:])
	if servent != n.guid {
		n.pushes.Add(servent, c.id)
	}
	to, ok := n.routes.Lookup(h.GUID, protocol.TypeQuery)
	if !ok {
		n.stats.hitsUnroutable.Add(1)
		return
	}
	if to == routing.Local {
		if n.guessRelayHit(h, payload) {
			return
		}
		if err := c.hit.Decode(payload); err != nil {
			c.bad("hit")
			return
		}
		n.deliverHit(h, &c.hit)
		return
	}
	p := n.snap.Load().byID[to]
	ttl, hops, ok := routing.RelayTTL(h)
	if p != nil && !p.up {
		n.dq.hits(h.GUID, int(payload[0]))
	}
	if p == nil || !ok || len(payload) > protocol.MaxForwardHitLen {
		n.stats.hitsUnroutable.Add(1)
		return
	}
	n.stats.hitsRouted.Add(1)
	p.send(c.relayed(h, ttl, hops, payload), false)
}

func (n *Node) handlePush(c *conn, h protocol.Header, payload []byte) {
	if err := routing.Check(h); err != nil {
		n.rstats.CountCheck(err)
		c.bad("ttl")
		return
	}
	if n.routes.Add(h.GUID, protocol.TypePush, c.id) {
		c.winDups++
		return
	}
	var p protocol.Push
	if err := p.Decode(payload); err != nil {
		c.bad("push")
		return
	}
	if p.ServentGUID == n.guid {
		if p.Index == 0x7FFFFFFD { // GTKG firewall-to-firewall: not supported
			return
		}
		n.pushed(p.Index, netip.AddrPortFrom(p.IP, p.Port))
		return
	}
	to, ok := n.pushes.Lookup(p.ServentGUID)
	if !ok || to == routing.Local {
		return
	}
	dst := n.snap.Load().byID[to]
	ttl, hops, ok := routing.RelayTTL(h)
	if dst == nil || !ok {
		return
	}
	dst.send(c.relayed(h, ttl, hops, payload), false)
}

func (n *Node) handlePing(c *conn, h protocol.Header, payload []byte, now time.Time) {
	if err := routing.Check(h); err != nil {
		n.rstats.CountCheck(err)
		c.bad("ttl")
		return
	}
	if h.Hops == 0 && h.TTL == 1 {
		// Keep-alive / "who are you": our own Pong only, at once.
		if now.Sub(c.lastPing) >= time.Second || c.lastPing.IsZero() {
			c.lastPing = now
			n.sendOwnPong(c, h)
		}
		return
	}
	if !c.lastPing.IsZero() && now.Sub(c.lastPing) < pingEvery {
		// Throttled, as GTKG PING_REG_THROTTLE, before the route table:
		// a ping we do not answer need not be remembered.
		return
	}
	if n.routes.Add(h.GUID, protocol.TypePing, c.id) {
		c.winDups++
		return
	}
	c.lastPing = now
	n.sendOwnPong(c, h)
	// Pong caching: answer from the cache, never flood the ping.
	hdr := protocol.Header{GUID: h.GUID, Type: protocol.TypePong, TTL: routing.PongTTL(h.Hops, n.cfg.MaxTTL)}
	for _, e := range n.pongs.pick(maxPongsOut, c) {
		hdr.Hops = min(e.hops+1, 14)
		b := hdr.Append(make([]byte, 0, protocol.HeaderLen+len(e.payload)))
		b = append(b, e.payload...)
		b[19], b[20], b[21], b[22] = byte(len(e.payload)), byte(len(e.payload)>>8), 0, 0
		c.send(b, false)
		n.stats.pongsSent.Add(1)
	}
}

// ownPong describes us.
func (n *Node) ownPong(c *conn) *protocol.Pong {
	ip, port := n.hitAddr(c)
	files, kb := n.lib.Stats()
	p := &protocol.Pong{Port: port, IP: ip, Files: uint32(files), KB: uint32(min(kb, 1<<32-1))}
	p.GGEP = append(p.GGEP, protocol.Extension{ID: "VC", Data: []byte{'S', 'R', 'V', 'T', ourVersion}})
	p.GGEP = n.withGUE(p.GGEP)
	if n.ultrapeer.Load() {
		leaves, ups := n.freeSlots()
		p.GGEP = append(p.GGEP, protocol.Extension{ID: "UP", Data: []byte{2, byte(min(leaves, 255)), byte(min(ups, 255))}})
	}
	return p
}

func (n *Node) sendOwnPong(c *conn, ping protocol.Header) {
	n.stats.pingsAnswered.Add(1)
	hdr := protocol.Header{GUID: ping.GUID, Type: protocol.TypePong, TTL: routing.PongTTL(ping.Hops, n.cfg.MaxTTL)}
	c.send(protocol.AppendMessage(nil, hdr, n.ownPong(c)), false)
	n.stats.pongsSent.Add(1)
}

func (n *Node) handlePong(c *conn, h protocol.Header, payload []byte) {
	if err := routing.Check(h); err != nil && h.TTL != 0 {
		n.rstats.CountCheck(err)
		c.bad("ttl")
		return
	}
	var p protocol.Pong
	if err := p.Decode(payload); err != nil {
		c.bad("pong")
		return
	}
	addr := netip.AddrPortFrom(p.IP.Unmap(), p.Port)
	up := p.GGEP.Has("UP")
	if h.Hops == 0 {
		up = up || c.up // the neighbour itself
	}
	if usableHost(addr) && !n.isSelf(addr) {
		n.hosts.add(addr, up)
		n.pongs.add(addr, payload, h.Hops, c.id, up)
	}
	if h.Hops == 0 {
		return
	}
	// Pongs are routed back along the ping's path; we never relay pings,
	// so this is rare (a ping from before a restart, or ours).
	to, ok := n.routes.Lookup(h.GUID, protocol.TypePing)
	if !ok || to == routing.Local {
		return
	}
	if dst := n.snap.Load().byID[to]; dst != nil {
		if ttl, hops, ok := routing.RelayTTL(h); ok {
			dst.send(c.relayed(h, ttl, hops, payload), false)
		}
	}
}

func (n *Node) handleQRP(c *conn, payload []byte) error {
	// Tables come from leaves (to an ultrapeer) and from ultrapeers that
	// do last-hop QRP; a leaf has no use for one.
	if !n.ultrapeer.Load() {
		return nil
	}
	t, err := c.qrpRecv.HandlePayload(payload)
	if err != nil {
		c.bye(413, "Bad QRP: "+err.Error())
		return fmt.Errorf("qrp: %w", err)
	}
	if t != nil {
		c.qrt.Store(routing.NewQueryRouteTable(t))
		if !c.up {
			n.upTableDirty.Store(true)
		}
		n.log.Debug("qrp table complete", "peer", c.addr, "slots", t.Len(), "present", t.Count())
	}
	return nil
}

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
	case v.Is(protocol.VendorBEAR, protocol.SelHopsFlow):
		if hf, err := protocol.DecodeHopsFlow(v.Data); err == nil {
			c.hopsFlow.Store(uint32(hf.MaxHops)) // 0: no queries at all
		}
	case v.Is(protocol.VendorLIME, protocol.SelPushProxyReq) && n.ultrapeer.Load() && !c.up && !n.firewalled():
		// A leaf asks us to be its push proxy; the header GUID is its
		// servent GUID (GNUTELLA.md 4.8). Pushes for it come to us.
		n.pushes.Add(h.GUID, c.id)
		ip, port := n.hitAddr(c)
		ack := protocol.PushProxyAck{Addr: netip.AddrPortFrom(ip, port)}.Vendor()
		c.send(protocol.AppendMessage(nil, protocol.Header{GUID: h.GUID, Type: protocol.TypeVendor, TTL: 1}, &ack), true)
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
