package servent

import (
	"errors"
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/gnet"
)

// routingCore is the node's routing decisions (servent/gnet). Each
// connection's reader calls it for its own descriptors, concurrently with
// the others, as the node routed before the core; act carries out what it
// decided. The hooks it calls (Config.HitAddr, OwnPong, ...) must not call
// back into it.
type routingCore struct {
	r *gnet.Router
}

// newCore wires the node's tables, counters and address rules into a
// router.
func (n *Node) newCore() *gnet.Router {
	return gnet.New(gnet.Config{
		GUID:           n.guid,
		Addr:           n.addr,
		Ultrapeer:      n.ultrapeer.Load(),
		NoIPv6:         n.cfg.NoIPv6,
		MaxTTL:         n.cfg.MaxTTL,
		DQTimeScale:    n.cfg.dqTimeScale,
		NoFloodLimits:  n.cfg.noFloodLimits,
		NoDynamicQuery: n.cfg.noDynamicQuery,
		HitAddr: func(id gnet.LinkID) netip.AddrPort {
			if c := n.snap.Load().byID[id]; c != nil {
				return netip.AddrPortFrom(n.hitAddr(c))
			}
			return n.advertised()
		},
		OwnPong: func(id gnet.LinkID) *protocol.Pong {
			if c := n.snap.Load().byID[id]; c != nil {
				return n.ownPong(c)
			}
			return &protocol.Pong{}
		},
		FirewalledNow: n.firewalled,
		IsSelf:        n.isSelf,
		ShellAnswers:  true,
		ProxyQuery: func(id gnet.LinkID, h protocol.Header, payload []byte, q *protocol.Query) (protocol.Header, []byte) {
			if c := n.snap.Load().byID[id]; c != nil {
				return n.oobProxyQuery(c, h, payload, q)
			}
			return h, payload
		},
		Routes:     n.routes,
		Pushes:     n.pushes,
		RouteStats: &n.rstats,
		Stats:      &n.stats.core,
	})
}

// act carries out what the core decided about the descriptor (h,
// payload) that arrived on c, or, with c nil, about our own work (Search,
// Tick). An error means c must close.
func (n *Node) act(c *conn, h protocol.Header, payload []byte, acts gnet.Actions) error {
	var s *connSnap
	link := func(id gnet.LinkID) *conn {
		if c != nil && id == c.id {
			return c
		}
		if s == nil {
			s = n.snap.Load()
		}
		return s.byID[id]
	}
	var closeErr error
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case gnet.Send:
			if p := link(a.Link); p != nil {
				p.send(a.Msg, a.Priority == gnet.Own)
			}
		case gnet.Answer:
			n.answerQuery(c, h, payload)
		case gnet.Deliver:
			n.deliverOwnHit(c, a.Msg)
		case gnet.Pushed:
			if a.TLS {
				n.tls.learn(a.Addr)
			}
			n.pushed(a.Index, a.Addr)
		case gnet.Host:
			if a.TLS {
				n.tls.learn(a.Addr)
			}
			n.hosts.add(a.Addr, a.Up)
		case gnet.QRPComplete:
			if p := link(a.Link); p != nil {
				p.qrt.Store(a.QRT)
				if !p.up {
					n.upTableDirty.Store(true)
				}
				n.log.Debug("qrp table complete", "peer", p.addr, "slots", a.QRT.Table().Len(), "present", a.QRT.Table().Count())
			}
		case gnet.Vendor:
			n.handleVendor(c, h, payload)
		case gnet.Close:
			if p := link(a.Link); p != nil {
				closeErr = n.closeLink(p, a, payload)
			}
		}
	}
	return closeErr
}

// closeLink ends c as the core asked: the peer's Bye, a flood, too many
// bad messages or duplicates (bans), or a bad QRP table.
func (n *Node) closeLink(c *conn, a *gnet.Action, payload []byte) error {
	switch a.Reason {
	case gnet.ReasonPeerBye:
		var b protocol.Bye
		_ = b.Decode(payload) // a short Bye still ends the link, as code 0
		n.log.Debug("peer said bye", "peer", c.addr, "code", b.Code, "reason", b.Reason)
		return &byeError{bye: b}
	case gnet.ReasonFlood:
		// As gtk-gnutella closes a peer it bans (Bye 412 with ban_record,
		// nodes.c), before anything is decoded or remembered.
		n.stats.floods.Add(1)
		n.log.Debug("flood", "peer", c.addr, "why", a.ByeReason)
		n.ban(c, a.ByeCode, a.ByeReason)
	case gnet.ReasonBadQRP:
		c.bye(a.ByeCode, a.ByeReason)
	default:
		n.ban(c, a.ByeCode, a.ByeReason)
	}
	return errors.New(a.ByeReason)
}

// answerQuery answers a new query from c (the test hook sees it first).
func (n *Node) answerQuery(c *conn, h protocol.Header, payload []byte) {
	if c == nil || (n.hooks.onQuery == nil && n.libEmpty() && !n.sharesPartials()) {
		return // decoding costs; an empty library answers nothing
	}
	if err := c.query.DecodeShared(payload); err != nil {
		return // the core decoded it: cannot happen
	}
	q := &c.query
	if h := n.hooks.onQuery; h != nil {
		h(c, q)
	}
	if !(q.Flags.Has(protocol.FlagFirewalled) && n.firewalled()) {
		n.answer(c, h, q)
	}
}

// deliverOwnHit gives a hit for one of our queries (msg, a whole
// descriptor) to GUESS, OOB or its search.
func (n *Node) deliverOwnHit(c *conn, msg []byte) {
	h, err := protocol.ParseHeader(msg)
	if err != nil {
		return
	}
	payload := msg[protocol.HeaderLen:]
	if n.guessRelayHit(h, payload) {
		return
	}
	var hit *protocol.QueryHit
	if c != nil {
		hit = &c.hit
	} else {
		hit = new(protocol.QueryHit)
	}
	if err := hit.Decode(payload); err != nil {
		if c != nil {
			c.bad("hit")
		}
		return
	}
	n.deliverHit(h, hit)
}

// coreSearch sends our query q with MUID g through the core.
func (n *Node) coreSearch(g protocol.GUID, q *protocol.Query) {
	acts := n.core.r.Search(nil, g, q, n.cfg.Now())
	_ = n.act(nil, protocol.Header{}, nil, acts)
}

// coreKept tells the core how many results of search g we kept: our
// dynamic query counts them, or, as a leaf, our ultrapeers hear it
// (BEAR/12).
func (n *Node) coreKept(g protocol.GUID, kept int) {
	acts := n.core.r.Kept(nil, g, kept, n.cfg.Now())
	_ = n.act(nil, protocol.Header{}, nil, acts)
}

// coreStopSearch ends the querying for search g (BEAR/12 0xFFFF as a leaf).
func (n *Node) coreStopSearch(g protocol.GUID) {
	acts := n.core.r.StopSearch(nil, g, n.cfg.Now())
	_ = n.act(nil, protocol.Header{}, nil, acts)
}

// coreTick runs the core's timed work (dynamic querying's second step).
func (n *Node) coreTick(now time.Time) {
	var acts gnet.Actions
	if at, ok := n.core.r.NextWake(); ok && !now.Before(at) {
		acts = n.core.r.Tick(nil, now)
	}
	_ = n.act(nil, protocol.Header{}, nil, acts)
}

// linkOpened tells the core about a new connection, before its reader runs.
func (n *Node) linkOpened(c *conn, h peerHello) {
	n.core.r.LinkOpened(c.id, gnet.LinkInfo{Ultrapeer: h.up, UpQRP: h.upQRP, MaxTTL: h.maxTTL, Degree: h.degree, ExtProbes: h.extProbes, Addr: c.addr, Listen: h.listen}, n.cfg.Now())
}

func (n *Node) linkClosed(c *conn) {
	n.core.r.LinkClosed(c.id, n.cfg.Now())
}

// setRole switches the node's role (promotion, demotion); callers hold no lock.
func (n *Node) setRole(up bool) {
	n.mu.Lock() // reserve and the slot counters see one role change
	n.ultrapeer.Store(up)
	n.mu.Unlock()
	n.core.r.SetUltrapeer(up)
}

// pongCacheLen is the number of pongs in the core's cache (tests).
func (n *Node) pongCacheLen() int {
	return n.core.r.PongCacheLen()
}

// pongCached reports whether the core's pong cache holds addr (tests).
func (n *Node) pongCached(addr netip.AddrPort) bool {
	return n.core.r.PongCached(addr)
}

func (n *Node) libEmpty() bool {
	files, _ := n.lib.Stats()
	return files == 0
}
