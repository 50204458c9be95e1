package servent

import (
	"context"
	"net/netip"
	"sync"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/reach"
)

// connectBackTimeout bounds the dial and write of a BEAR/7 answer.
const connectBackTimeout = 10 * time.Second

// reachState guards the pure facts and limiter, and the GUIDs of the UDP
// connect-backs we asked for (a Ping with one of them proves solicited UDP).
type reachState struct {
	mu    sync.Mutex
	facts reach.Facts
	limit reach.Limiter
	asked map[protocol.GUID]time.Time // bounded: one per AskAgain
	out   reach.Outgoing
	asks  reach.Asks // connect-backs we asked for, to count the unanswered
	since time.Time  // start, or the last change of our address
	addr  netip.Addr // our address as last learnt
}

// sentUDP notes a datagram we sent (a hole it may open in our NAT).
func (r *reachState) sentUDP(to netip.Addr, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out.Sent(to, now)
}

// gotUDP takes any datagram: one from a host we did not send to lately
// proves unsolicited UDP reaches us.
func (r *reachState) gotUDP(from netip.AddrPort, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.out.Unsolicited(from.Addr(), now) {
		r.facts.Prove(reach.UDPUnsolicited, from, reach.SourceInbound, now)
	}
}

func (r *reachState) prove(k reach.Kind, from netip.AddrPort, src reach.Source, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.facts.Prove(k, from, src, now)
}

func (r *reachState) reachable(k reach.Kind, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.facts.Reachable(k, now)
}

func (r *reachState) answer(k reach.Kind, ip netip.Addr, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.limit.Answer(k, ip, now)
}

func (r *reachState) ask(k reach.Kind, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.limit.Ask(k, &r.facts, now)
}

// askedUDP remembers g as the GUID of a UDP connect-back we asked for.
func (r *reachState) askedUDP(g protocol.GUID, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.asked == nil {
		r.asked = make(map[protocol.GUID]time.Time)
	}
	for k, t := range r.asked {
		if now.Sub(t) >= reach.AskAgain {
			delete(r.asked, k)
		}
	}
	r.asked[g] = now
}

// solicited tells whether g is a connect-back GUID we asked for; it is
// used once.
func (r *reachState) solicited(g protocol.GUID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.asked[g]
	delete(r.asked, g)
	return ok
}

// Reachability is what proved we are reachable: the last proof of each
// fact and whether it still holds (gtk-gnutella's 30 min windows).
type Reachability struct {
	TCP, UDPSolicited, UDPUnsolicited ReachProof
}

// ReachProof is one fact; a zero At: never proven.
type ReachProof struct {
	Reachable bool
	At        time.Time
	From      netip.AddrPort
	Source    string // reach.SourceInbound or reach.SourceConnectBack
}

func (r *reachState) status(now time.Time) Reachability {
	r.mu.Lock()
	defer r.mu.Unlock()
	one := func(k reach.Kind) ReachProof {
		p := r.facts.Last(k)
		return ReachProof{Reachable: r.facts.Reachable(k, now), At: p.At, From: p.From, Source: string(p.Source)}
	}
	return Reachability{TCP: one(reach.TCP), UDPSolicited: one(reach.UDPSolicited), UDPUnsolicited: one(reach.UDPUnsolicited)}
}

// reachPing takes a UDP Ping that answers our GTKG/7 request; true: it was
// one (and needs no Pong).
func (n *Node) reachPing(from netip.AddrPort, d protocol.Datagram, now time.Time) bool {
	if d.Header.Type != protocol.TypePing || !n.reach.solicited(d.Header.GUID) {
		return false
	}
	n.reach.prove(reach.UDPSolicited, from, reach.SourceConnectBack, now)
	return true
}

// reachVendor takes connect-back requests over UDP; false: not one. Only
// GTKG/7 makes sense there (BEAR/7 asks about the TCP side of a
// connection); the answer goes to the sender's IP.
func (n *Node) reachVendor(from netip.AddrPort, h protocol.Header, v *protocol.Vendor, now time.Time) bool {
	if !v.Is(protocol.VendorGTKG, protocol.SelUDPConnectBack) {
		return false
	}
	n.answerUDPConnectBack(from.Addr(), h, v, now)
	return true
}

// reachTCPVendor takes BEAR/7 and GTKG/7 from a neighbour; false: not one.
func (n *Node) reachTCPVendor(c *conn, h protocol.Header, v *protocol.Vendor, now time.Time) bool {
	switch {
	case v.Is(protocol.VendorBEAR, protocol.SelTCPConnectBack):
		cb, err := protocol.DecodeTCPConnectBack(v.Data)
		if err != nil || cb.Port == 0 {
			c.bad("connect back")
			return true
		}
		n.answerTCPConnectBack(netip.AddrPortFrom(c.addr.Addr(), cb.Port), now)
		return true
	case v.Is(protocol.VendorGTKG, protocol.SelUDPConnectBack):
		n.answerUDPConnectBack(c.addr.Addr(), h, v, now)
		return true
	}
	return false
}

// answerTCPConnectBack dials to and sends "\n\n" as gtk-gnutella's
// node_connect_back does, within the answer limits.
func (n *Node) answerTCPConnectBack(to netip.AddrPort, now time.Time) {
	if n.cfg.Firewalled || !n.running.Load() || !n.reach.answer(reach.TCP, to.Addr(), now) {
		return // not started: no context to dial under (FuzzHandle drives a bare node)
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, connectBackTimeout)
		defer cancel()
		nc, err := n.cfg.Dial(ctx, "tcp", to.String())
		if err != nil {
			n.log.Debug("connect back failed", "to", to, "err", err)
			return
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(connectBackTimeout))
		if _, err := nc.Write([]byte("\n\n")); err != nil {
			n.log.Debug("connect back not written", "to", to, "err", err)
		}
	}()
}

// answerUDPConnectBack sends a Ping with the requested GUID to ip at the
// requested port (handle_udp_connect_back), within the answer limits.
func (n *Node) answerUDPConnectBack(ip netip.Addr, h protocol.Header, v *protocol.Vendor, now time.Time) {
	cb, err := protocol.DecodeUDPConnectBack(v.Version, h.GUID, v.Data)
	if err != nil || !n.reach.answer(reach.UDPSolicited, ip, now) {
		return
	}
	n.sendUDP(netip.AddrPortFrom(ip, cb.Port), protocol.Header{GUID: cb.GUID, Type: protocol.TypePing, TTL: 1}, nil)
}

// reachAsk asks a neighbour whose Messages Supported we just read for the
// connect-backs it announced and we still need.
func (n *Node) reachAsk(c *conn, ms protocol.MessagesSupported, now time.Time) {
	var tcpOK, udpOK bool
	for _, e := range ms.Entries {
		switch {
		case e.Vendor == protocol.VendorBEAR && e.Selector == protocol.SelTCPConnectBack:
			tcpOK = true
		case e.Vendor == protocol.VendorGTKG && e.Selector == protocol.SelUDPConnectBack && e.Version >= 2:
			udpOK = true
		}
	}
	c.connectBack.tcp.Store(tcpOK)
	c.connectBack.udp.Store(udpOK)
	n.askConnectBack(c, false, now)
}

// askConnectBack asks c for the connect-backs it offers and we still need
// (all of them when forced: the user asked for a check); true if any went.
func (n *Node) askConnectBack(c *conn, forced bool, now time.Time) bool {
	port := n.advertised().Port()
	if port == 0 || n.cfg.Firewalled {
		return false
	}
	sent := false
	if c.connectBack.tcp.Load() && (forced || n.reach.ask(reach.TCP, now)) {
		v := protocol.TCPConnectBack{Port: port}.Vendor()
		sent = c.send(protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeVendor, TTL: 1}, &v), true) || sent
		n.reach.askedFor(reach.TCP, now)
	}
	if c.connectBack.udp.Load() && n.udp.sock != nil && (forced || n.reach.ask(reach.UDPSolicited, now)) {
		g := protocol.NewGUID()
		n.reach.askedUDP(g, now)
		v := protocol.UDPConnectBack{Version: 2, Port: n.UDPAddr().Port(), GUID: g}.Vendor()
		sent = c.send(protocol.AppendMessage(nil, protocol.Header{GUID: g, Type: protocol.TypeVendor, TTL: 1}, &v), true) || sent
		n.reach.askedFor(reach.UDPSolicited, now)
	}
	return sent
}
