package servent

import (
	"context"
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/reach"
)

// firewalled tells whether peers cannot open TCP connections to us, so we
// serve by push: forced by Config.Firewalled (tests), else the
// reachability verdict.
func (n *Node) firewalled() bool {
	if n.cfg.Firewalled {
		return true
	}
	tcp, _ := n.reach.states(n.cfg.Now())
	return tcp == reach.Firewalled
}

// udpNotFirewalled: the UDP verdict is not firewalled (unknown counts as
// open, as gtk-gnutella assumes before its first UDP check).
func (n *Node) udpNotFirewalled() bool {
	_, udp := n.reach.states(n.cfg.Now())
	return udp != reach.Firewalled
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

// ReachVerdict is the reachability verdict as status shows it.
type ReachVerdict struct {
	TCP, UDP     reach.State
	Reason       string
	Advice       string
	ExternalAddr netip.AddrPort // our address as peers or the router see it
	Mapping      reach.Mapping
}

// Reachability is the verdict with what it rests on, for status.
func (n *Node) Reachability() ReachVerdict {
	m := n.mapping()
	ext := n.advertised() // the mapped address when the router gave one
	port := ext.Port()
	if port == 0 {
		port = n.addr.Port()
	}
	v := n.reach.decide(m, port, n.cfg.Now())
	if n.cfg.Firewalled {
		v.TCP, v.Reason = reach.Firewalled, "firewalled by configuration; "+v.Reason
	}
	return ReachVerdict{TCP: v.TCP, UDP: v.UDP, Reason: v.Reason, Advice: v.Advice, ExternalAddr: ext, Mapping: m}
}

// recheckReach asks a connected peer for connect-backs while we are not
// known reachable (the limiter spaces the asks, reach.AskAgain).
func (n *Node) recheckReach(now time.Time) {
	if n.reach.reachable(reach.TCP, now) && n.reach.reachable(reach.UDPSolicited, now) {
		return
	}
	for _, c := range n.snap.Load().byID {
		if n.askConnectBack(c, false, now) {
			return
		}
	}
}

// CheckReachability asks every connected peer that offers it for a TCP
// and a UDP connect-back now, unless both are proven already, and waits
// until the missing proof arrives (TCP, else UDP), ctx ends, or wait
// passes. It returns the
// verdict then and how many peers were asked.
func (n *Node) CheckReachability(ctx context.Context, wait time.Duration) (ReachVerdict, int) {
	start := n.cfg.Now()
	if n.reach.reachable(reach.TCP, start) && n.reach.reachable(reach.UDPSolicited, start) {
		return n.Reachability(), 0 // proven within the window: nothing to ask
	}
	asked := 0
	for _, c := range n.snap.Load().byID {
		if n.askConnectBack(c, true, start) {
			asked++
		}
	}
	if asked > 0 {
		// Wait for what was missing: TCP, or UDP when TCP held already.
		want := reach.TCP
		if n.reach.reachable(reach.TCP, start) {
			want = reach.UDPSolicited
		}
		ctx, cancel := context.WithTimeout(ctx, wait)
		defer cancel()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
	poll:
		for n.reach.lastProof(want).Before(start) {
			select {
			case <-ctx.Done():
				break poll
			case <-t.C:
			}
		}
	}
	return n.Reachability(), asked
}

func (r *reachState) begin(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.since = now
}

// addressSeen notes our address as a peer saw it; a new one voids what
// we knew (the proofs were about the old address) and asks again.
func (r *reachState) addressSeen(ip netip.Addr, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.addr == ip {
		return
	}
	// Only a change of public address voids the proofs: peers on our LAN
	// and on the Internet see two addresses at once, both ours.
	if public(r.addr) && public(ip) {
		r.facts = reach.Facts{}
		r.restartLocked(now)
	}
	r.addr = ip
}

// restartLocked forgets our asks and waits afresh from now, asking again
// at once: what we asked before proves nothing about a new way in.
func (r *reachState) restartLocked(now time.Time) {
	r.asks, r.since = reach.Asks{}, now
	r.limit.Forget()
}

func (r *reachState) askedFor(k reach.Kind, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.asks.Asked(k, now)
}

func (r *reachState) lastProof(k reach.Kind) time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.facts.Last(k).At
}

// states is the verdict without words (reach.States).
func (r *reachState) states(now time.Time) (tcp, udp reach.State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.inputsLocked(now)
	return reach.States(&in, now)
}

func (r *reachState) decide(m reach.Mapping, port uint16, now time.Time) reach.Verdict {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := r.inputsLocked(now)
	in.Mapping, in.Port = m, port
	return reach.Decide(in, now)
}

// inputsLocked is what the verdict is drawn from; a node not started
// counts its time from now.
func (r *reachState) inputsLocked(now time.Time) reach.Inputs {
	in := reach.Inputs{Facts: r.facts, Asks: r.asks, Since: r.since}
	if in.Since.IsZero() {
		in.Since = now
	}
	return in
}

func public(ip netip.Addr) bool {
	return ip.IsValid() && ip.IsGlobalUnicast() && !ip.IsPrivate()
}
