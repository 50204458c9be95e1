package gnet

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/flood"
)

// Receive handles one descriptor that arrived on link id at now, appending
// what to do to dst. payload is only read during the call. A descriptor on
// a link not open (or closed by an earlier Close) is ignored, as the node
// ignores what arrives after it said Bye.
func (r *Router) Receive(dst Actions, id LinkID, h protocol.Header, payload []byte, now time.Time) Actions {
	r.tick(now)
	l := r.link(id)
	if l == nil {
		return dst
	}
	// Node.handle
	if k := flood.KindOf(h.Type); l.meter != nil && !l.meter.Allow(k, now) {
		return r.close(dst, l, 412, ReasonFlood, "Flood of "+k.String()+" messages", now) // Node.flooded
	}
	s := r.serial
	if s == nil {
		// The link's own: calls for one link never overlap.
		if l.scratch == nil {
			l.scratch = new(scratch)
		}
		s = l.scratch
	}
	defer func() { s.query = protocol.Query{} }() // no reference to a payload outlives the call
	if now.Sub(l.winStart) > AbuseWindow {
		l.winStart, l.winBad, l.winDups = now, 0, 0
	}
	switch h.Type {
	case protocol.TypeQuery:
		dst = r.handleQuery(s, dst, l, h, payload, now)
	case protocol.TypeQueryHit:
		dst = r.handleHit(s, dst, l, h, payload)
	case protocol.TypePing:
		dst = r.handlePing(s, dst, l, h, now)
	case protocol.TypePong:
		dst = r.handlePong(s, dst, l, h, payload, now)
	case protocol.TypePush:
		dst = r.handlePush(s, dst, l, h, payload)
	case protocol.TypeQRP:
		return r.handleQRP(dst, l, payload, now)
	case protocol.TypeVendor, protocol.TypeStdVendor:
		dst = r.handleVendor(s, dst, l, h, payload, now)
	case protocol.TypeBye:
		r.stats.Closed.Add(1)
		r.stats.Dropped[ReasonPeerBye].Add(1)
		r.LinkClosed(l.id, now)
		return append(dst, Action{Kind: Close, Link: l.id, Reason: ReasonPeerBye})
	default:
		dst = r.bad(dst, l, ReasonUnknownType)
	}
	if l.winBad > MaxBadMsgs {
		return r.close(dst, l, 400, ReasonTooManyBad, "Too many bad messages", now)
	}
	if l.winDups > MaxDupMsgs {
		return r.close(dst, l, 401, ReasonTooManyDups, "Too many duplicates", now)
	}
	return dst
}

// handleQuery is Node.handleQuery (without OOB proxying and test hooks).
func (r *Router) handleQuery(s *scratch, dst Actions, l *link, h protocol.Header, payload []byte, now time.Time) Actions {
	if err := routing.Check(h); err != nil {
		r.rstats.CountCheck(err)
		return r.bad(dst, l, reasonOfCheck(err))
	}
	if !l.info.Ultrapeer && h.Hops > 0 {
		return r.bad(dst, l, ReasonLeafRelayed)
	}
	maxTTL := r.cfg.MaxTTL
	fttl, fhops, fok := routing.ForwardTTL(h, maxTTL)
	leafQuery := false
	up := r.ultrapeer()
	if !up {
		fok = false
	} else if !l.info.Ultrapeer {
		fttl, fhops, fok = max(maxTTL-1, 1), 1, maxTTL > 1
		leafQuery = fok && !r.cfg.NoDynamicQuery
	}
	var ttlKey uint8
	if fok {
		ttlKey = fttl
	}
	verdict := r.routes.AddTTL(h.GUID, protocol.TypeQuery, l.id, ttlKey)
	if verdict == routing.Duplicate {
		return r.dup(dst, l)
	}
	if err := s.query.DecodeShared(payload); err != nil {
		return r.bad(dst, l, ReasonMalformed)
	}
	q := &s.query
	if q.Flags == 0 && up {
		return r.drop(dst, l, ReasonAncient)
	}
	if verdict == routing.New {
		r.stats.QueriesHandled.Add(1)
		switch {
		case r.cfg.ShellAnswers:
			dst = append(dst, Action{Kind: Answer, Link: l.id})
		case !(q.Flags.Has(protocol.FlagFirewalled) && r.firewalled()):
			dst = r.answer(dst, l, h, q)
		}
	}
	if !up {
		return dst
	}
	leafMUID := h.GUID
	if verdict == routing.New && fok && !l.info.Ultrapeer && r.cfg.ProxyQuery != nil {
		h, payload = r.cfg.ProxyQuery(l.id, h, payload, q)
	}
	if verdict == routing.New && leafQuery && len(payload) <= protocol.MaxForwardQueryLen {
		dh := h
		dh.Hops = fhops
		if out, ok := r.dqLaunch(s, dst, l, leafMUID, dh, payload, q, now); ok {
			return out
		}
		fttl = min(fttl, 2) // too many running: a probe's worth only
	}
	// A copy with a higher TTL goes on to the ultrapeers only: the leaves
	// had the first one (found by fuzzing: a leaf got it twice at TTL 1).
	return r.forwardQuery(s, dst, l, h, payload, q, fttl, fhops, fok, verdict == routing.New, Relayed)
}

// forwardQuery is Node.forwardQuery: to every other ultrapeer while TTL
// allows (last hop only where its QRP table matches), to each leaf whose
// table matches. from is nil for our own queries.
func (r *Router) forwardQuery(s *scratch, dst Actions, from *link, h protocol.Header, payload []byte, q *protocol.Query, fttl, fhops uint8, fok, leaves bool, pri Priority) Actions {
	hashed := false
	match := func(t *routing.QueryRouteTable) bool {
		if !hashed {
			s.hash.Reset(q)
			hashed = true
		}
		return t.Match(&s.hash)
	}
	var byTTL [16][]byte
	encode := func(ttl uint8) []byte {
		if byTTL[ttl] == nil {
			byTTL[ttl] = s.relayed(h, ttl, fhops, payload)
		}
		return byTTL[ttl]
	}
	v := r.v.Load()
	sent := len(dst)
	defer func() { r.stats.QueriesForwarded.Add(uint64(len(dst) - sent)) }()
	if fok && len(payload) <= protocol.MaxForwardQueryLen {
		for _, p := range v.ups {
			if p == from || uint32(fhops) >= p.hopsFlow.Load() {
				continue
			}
			ttl := fttl
			if p.info.MaxTTL > 0 && ttl > p.info.MaxTTL {
				ttl = p.info.MaxTTL
			}
			if t := p.qrt.Load(); ttl == 1 && t != nil && !match(t) {
				continue // last-hop QRP
			}
			dst = append(dst, Action{Kind: Send, Link: p.id, Msg: encode(ttl), Priority: pri})
		}
	}
	if !leaves || len(v.leaves) == 0 {
		return dst
	}
	ttl := max(fttl, 1)
	if !fok {
		ttl = 1
	}
	for _, p := range v.leaves {
		if p == from || uint32(fhops) >= p.hopsFlow.Load() {
			continue
		}
		if t := p.qrt.Load(); t == nil || !match(t) {
			continue // a leaf without a table gets nothing (GTKG)
		}
		dst = append(dst, Action{Kind: Send, Link: p.id, Msg: encode(ttl), Priority: pri})
	}
	return dst
}

// answer is Node.answer and Node.ourHits without OOB: our hits go back on
// the link the query came from.
func (r *Router) answer(dst Actions, l *link, h protocol.Header, q *protocol.Query) Actions {
	if (q.Criteria == "" && len(q.SHA1s) == 0) || r.cfg.Lookup == nil {
		return dst
	}
	res := r.cfg.Lookup(q)
	if len(res) == 0 {
		return dst
	}
	r.stats.QueriesAnswered.Add(1)
	a := r.hitAddr(l.id)
	fw := r.firewalled()
	var proxies []netip.AddrPort
	if fw && r.cfg.PushProxies != nil {
		proxies = r.cfg.PushProxies()
	}
	hdr := protocol.Header{GUID: h.GUID, Type: protocol.TypeQueryHit, TTL: routing.HitTTL(h.Hops)}
	for len(res) > 0 {
		k := min(len(res), MaxHitBatch)
		hit := protocol.QueryHit{
			Port: a.Port(), IP: a.Addr(), Speed: HitSpeed, Vendor: protocol.VendorSRVT,
			Push: fw, ServentGUID: r.cfg.GUID, Results: res[:k:k],
		}
		if fw {
			hit.SetPushProxies(proxies, false)
		}
		res = res[k:]
		dst = append(dst, Action{Kind: Send, Link: l.id, Msg: protocol.AppendMessage(nil, hdr, &hit), Priority: Own})
	}
	return dst
}

// handleHit is Node.handleHit (without the GUESS and OOB relays).
func (r *Router) handleHit(s *scratch, dst Actions, l *link, h protocol.Header, payload []byte) Actions {
	if err := routing.Check(h); err != nil {
		r.rstats.CountCheck(err)
		return r.bad(dst, l, reasonOfCheck(err))
	}
	if len(payload) < 11+16+7 {
		return r.bad(dst, l, ReasonMalformed)
	}
	servent := protocol.GUID(payload[len(payload)-16:])
	if servent != r.cfg.GUID {
		r.pushes.Add(servent, l.id)
	}
	to, ok := r.routes.Lookup(h.GUID, protocol.TypeQuery)
	if !ok {
		r.stats.HitsUnroutable.Add(1)
		return r.drop(dst, l, ReasonUnroutable)
	}
	if to == routing.Local {
		r.dqHits(h.GUID, int(payload[0]))
		r.stats.HitsDelivered.Add(1)
		return append(dst, Action{Kind: Deliver, Link: l.id, Msg: s.relayed(h, h.TTL, h.Hops, payload)})
	}
	p := r.link(to)
	ttl, hops, ok := routing.RelayTTL(h)
	if p != nil && !p.info.Ultrapeer {
		r.dqHits(h.GUID, int(payload[0]))
	}
	switch {
	case p == nil:
		r.stats.HitsUnroutable.Add(1)
		return r.drop(dst, l, ReasonUnroutable)
	case !ok:
		r.stats.HitsUnroutable.Add(1)
		return r.drop(dst, l, ReasonRelayTTL)
	case len(payload) > protocol.MaxForwardHitLen:
		r.stats.HitsUnroutable.Add(1)
		return r.drop(dst, l, ReasonTooLarge)
	}
	r.stats.HitsRouted.Add(1)
	return append(dst, Action{Kind: Send, Link: p.id, Msg: s.relayed(h, ttl, hops, payload)})
}

// handlePush is Node.handlePush.
func (r *Router) handlePush(s *scratch, dst Actions, l *link, h protocol.Header, payload []byte) Actions {
	if err := routing.Check(h); err != nil {
		r.rstats.CountCheck(err)
		return r.bad(dst, l, reasonOfCheck(err))
	}
	if r.routes.Add(h.GUID, protocol.TypePush, l.id) {
		return r.dup(dst, l)
	}
	var p protocol.Push
	if err := p.Decode(payload); err != nil {
		return r.bad(dst, l, ReasonMalformed)
	}
	if p.ServentGUID == r.cfg.GUID {
		if p.Index == 0x7FFFFFFD {
			return r.drop(dst, l, ReasonPushF2F)
		}
		return append(dst, Action{Kind: Pushed, Link: l.id, Index: p.Index, Addr: p.Addr(), TLS: p.GGEP.Has("TLS")})
	}
	to, ok := r.pushes.Lookup(p.ServentGUID)
	if !ok || to == routing.Local {
		return r.drop(dst, l, ReasonPushNoRoute)
	}
	ttl, hops, ok := routing.RelayTTL(h)
	if r.link(to) == nil {
		return r.drop(dst, l, ReasonPushNoRoute)
	}
	if !ok {
		return r.drop(dst, l, ReasonRelayTTL)
	}
	r.stats.PushesRouted.Add(1)
	return append(dst, Action{Kind: Send, Link: to, Msg: s.relayed(h, ttl, hops, payload)})
}

// handlePing is Node.handlePing: our pong and cached pongs, never a flood.
func (r *Router) handlePing(s *scratch, dst Actions, l *link, h protocol.Header, now time.Time) Actions {
	if err := routing.Check(h); err != nil {
		r.rstats.CountCheck(err)
		return r.bad(dst, l, reasonOfCheck(err))
	}
	if h.Hops == 0 && h.TTL == 1 {
		if now.Sub(l.lastPing) >= time.Second || l.lastPing.IsZero() {
			l.lastPing = now
			return r.ownPong(dst, l, h)
		}
		return r.drop(dst, l, ReasonPingThrottled)
	}
	if !l.lastPing.IsZero() && now.Sub(l.lastPing) < PingEvery {
		return r.drop(dst, l, ReasonPingThrottled)
	}
	if r.routes.Add(h.GUID, protocol.TypePing, l.id) {
		return r.dup(dst, l)
	}
	l.lastPing = now
	dst = r.ownPong(dst, l, h)
	hdr := protocol.Header{GUID: h.GUID, Type: protocol.TypePong, TTL: routing.PongTTL(h.Hops, r.cfg.MaxTTL)}
	n := 0
	r.mu.Lock()
	defer r.mu.Unlock()
	r.expirePongs(false, now)
	for pass := 0; pass < 2 && n < MaxPongsOut; pass++ { // pongCache.pick
		for _, e := range r.pongs {
			if n == MaxPongsOut {
				break
			}
			if e.up != (pass == 0) || e.from == l.id || e.addr == l.info.Listen || e.addr.Addr() == l.info.Addr.Addr() {
				continue
			}
			hdr.Hops = min(e.hops+1, 14)
			dst = append(dst, Action{Kind: Send, Link: l.id, Msg: s.relayed(hdr, hdr.TTL, hdr.Hops, e.payload)})
			r.stats.PongsSent.Add(1)
			n++
		}
	}
	return dst
}

// ownPong is Node.sendOwnPong (without GUE and the UP free-slot counts,
// which the shell knows).
func (r *Router) ownPong(dst Actions, l *link, ping protocol.Header) Actions {
	r.stats.PingsAnswered.Add(1)
	r.stats.PongsSent.Add(1)
	hdr := protocol.Header{GUID: ping.GUID, Type: protocol.TypePong, TTL: routing.PongTTL(ping.Hops, r.cfg.MaxTTL)}
	var p *protocol.Pong
	if r.cfg.OwnPong != nil {
		p = r.cfg.OwnPong(l.id)
	} else {
		a := r.hitAddr(l.id)
		p = &protocol.Pong{Port: a.Port(), IP: a.Addr(), Files: r.cfg.Files, KB: r.cfg.KB,
			GGEP: protocol.GGEP{{ID: "VC", Data: []byte{'S', 'R', 'V', 'T', OurVersion}}}}
	}
	return append(dst, Action{Kind: Send, Link: l.id, Msg: protocol.AppendMessage(nil, hdr, p)})
}

// handlePong is Node.handlePong (the host cache is the shell's).
func (r *Router) handlePong(s *scratch, dst Actions, l *link, h protocol.Header, payload []byte, now time.Time) Actions {
	if err := routing.Check(h); err != nil && h.TTL != 0 {
		r.rstats.CountCheck(err)
		return r.bad(dst, l, reasonOfCheck(err))
	}
	p := &s.pong
	*p = protocol.Pong{}
	if err := p.Decode(payload); err != nil {
		return r.bad(dst, l, ReasonMalformed)
	}
	addr := p.Addr()
	up := p.GGEP.Has("UP")
	if h.Hops == 0 {
		up = up || l.info.Ultrapeer
	}
	if r.usableHost(addr) && !r.isSelf(addr) {
		r.addPong(addr, payload, h.Hops, l.id, up, now)
		dst = append(dst, Action{Kind: Host, Link: l.id, Addr: addr, Up: up, TLS: p.GGEP.Has("TLS")})
	}
	if h.Hops == 0 {
		return dst
	}
	to, ok := r.routes.Lookup(h.GUID, protocol.TypePing)
	if !ok || to == routing.Local || r.link(to) == nil {
		return r.drop(dst, l, ReasonUnroutable)
	}
	ttl, hops, ok := routing.RelayTTL(h)
	if !ok {
		return r.drop(dst, l, ReasonRelayTTL)
	}
	return append(dst, Action{Kind: Send, Link: to, Msg: s.relayed(h, ttl, hops, payload)})
}

// addPong is pongCache.add.
func (r *Router) addPong(addr netip.AddrPort, payload []byte, hops uint8, from LinkID, up bool, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.pongs[addr]
	if !ok {
		if len(r.pongs) >= PongCacheMax {
			r.expirePongs(true, now)
		}
		e = &pongEntry{addr: addr}
		r.pongs[addr] = e
	}
	e.payload = append([]byte(nil), payload...)
	e.hops, e.from, e.up, e.at = hops, from, up, now
}

// expirePongs is pongCache.expireLocked; r.mu held.
func (r *Router) expirePongs(force bool, now time.Time) {
	life := PongLifeLeaf
	if r.ultrapeer() {
		life = PongLifeUP
	}
	var oldest *pongEntry
	for a, e := range r.pongs {
		if now.Sub(e.at) > life {
			delete(r.pongs, a)
			continue
		}
		if oldest == nil || e.at.Before(oldest.at) {
			oldest = e
		}
	}
	if force && len(r.pongs) >= PongCacheMax && oldest != nil {
		delete(r.pongs, oldest.addr)
	}
}

// PongCacheLen is the number of cached pongs.
func (r *Router) PongCacheLen() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pongs)
}

// handleQRP is Node.handleQRP.
func (r *Router) handleQRP(dst Actions, l *link, payload []byte, now time.Time) Actions {
	if !r.ultrapeer() {
		return r.drop(dst, l, ReasonNotForUs) // a leaf has no use for a table
	}
	if l.qrpRecv == nil {
		l.qrpRecv = new(protocol.QRPReceiver)
	}
	t, err := l.qrpRecv.HandlePayload(payload)
	if err != nil {
		return r.close(dst, l, 413, ReasonBadQRP, "Bad QRP: "+err.Error(), now)
	}
	if t != nil {
		qrt := routing.NewQueryRouteTable(t)
		l.qrt.Store(qrt)
		dst = append(dst, Action{Kind: QRPComplete, Link: l.id, QRT: qrt})
	}
	return dst
}

// handleVendor is Node.handleVendor for what routing needs: hops-flow and
// push-proxy requests (reachability vendor messages stay the shell's).
func (r *Router) handleVendor(s *scratch, dst Actions, l *link, h protocol.Header, payload []byte, now time.Time) Actions {
	var v protocol.Vendor
	if err := v.Decode(payload); err != nil {
		return r.bad(dst, l, ReasonMalformed)
	}
	switch {
	case v.Is(protocol.VendorBEAR, protocol.SelHopsFlow):
		if hf, err := protocol.DecodeHopsFlow(v.Data); err == nil {
			l.hopsFlow.Store(uint32(hf.MaxHops))
		}
	case v.Is(protocol.VendorBEAR, protocol.SelQueryStatusReq):
		if !r.ultrapeer() && l.info.Ultrapeer {
			dst = r.answerStatus(dst, l, h.GUID)
		}
	case v.Is(protocol.VendorBEAR, protocol.SelQueryStatusResp):
		qs, err := protocol.DecodeQueryStatusResponse(v.Data)
		if err != nil {
			return r.bad(dst, l, ReasonMalformed)
		}
		if r.ultrapeer() && !l.info.Ultrapeer {
			dst = r.dqStatus(s, dst, l, h.GUID, qs.Hits, now)
		}
	case v.Is(protocol.VendorNull, protocol.SelMessagesSupported):
		// A leaf announcing the query-status messages guides (vmsg.c).
		if ms, err := protocol.DecodeMessagesSupported(v.Data); err == nil {
			_, req := ms.Supports(protocol.VendorBEAR, protocol.SelQueryStatusReq)
			_, resp := ms.Supports(protocol.VendorBEAR, protocol.SelQueryStatusResp)
			l.guides.Store(req || resp)
		}
		dst = append(dst, Action{Kind: Vendor, Link: l.id})
	case v.Is(protocol.VendorLIME, protocol.SelPushProxyReq) && r.ultrapeer() && !l.info.Ultrapeer && !r.firewalled():
		r.pushes.Add(h.GUID, l.id)
		ack := protocol.PushProxyAck{Addr: r.hitAddr(l.id)}.Vendor()
		dst = append(dst, Action{Kind: Send, Link: l.id, Priority: Own,
			Msg: protocol.AppendMessage(nil, protocol.Header{GUID: h.GUID, Type: protocol.TypeVendor, TTL: 1}, &ack)})
	default:
		dst = append(dst, Action{Kind: Vendor, Link: l.id})
	}
	return dst
}

// usableHost is servent's usableHost (hostcache.go).
func (r *Router) usableHost(a netip.AddrPort) bool {
	return UsableHost(a, !r.cfg.NoIPv6)
}

// UsableHost says whether a may enter a host cache: a unicast address (an
// IPv6 one only with ipv6, and none that needs a zone) and a port.
// gtk-gnutella also wants a port >= 1024 in X-Try; we keep any non-zero
// port since tests use kernel-chosen ports anyway.
func UsableHost(a netip.AddrPort, ipv6 bool) bool {
	ip := a.Addr()
	if !a.IsValid() || a.Port() == 0 || ip.Zone() != "" || (!ip.Is4() && !ipv6) || ip.Is4In6() {
		return false
	}
	return !ip.IsUnspecified() && !ip.IsMulticast() && !ip.IsLinkLocalUnicast() &&
		ip != netip.AddrFrom4([4]byte{255, 255, 255, 255}) && ip != protocol.IPv4None
}

// Bad counts a descriptor the shell found malformed (a vendor message it
// decodes itself) against link id's abuse window, and closes the link with
// Bye 400 past MaxBadMsgs, as Receive does.
func (r *Router) Bad(dst Actions, id LinkID, now time.Time) Actions {
	r.tick(now)
	l := r.link(id)
	if l == nil {
		return dst
	}
	if now.Sub(l.winStart) > AbuseWindow {
		l.winStart, l.winBad, l.winDups = now, 0, 0
	}
	dst = r.bad(dst, l, ReasonMalformed)
	if l.winBad > MaxBadMsgs {
		return r.close(dst, l, 400, ReasonTooManyBad, "Too many bad messages", now)
	}
	return dst
}

// PongCached reports whether the pong cache holds a pong from addr.
func (r *Router) PongCached(addr netip.AddrPort) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pongs[addr] != nil
}
