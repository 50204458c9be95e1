package servent

import (
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/reach"
)

// Leaf to ultrapeer promotion of a ModeAuto node, in the spirit of GTKG's
// auto mode: start as a leaf; become an ultrapeer once we have shown we are
// reachable (an inbound TCP connection was accepted, Gnet or HTTP), have
// been up for PromoteAfter, are not Firewalled, and no ultrapeer we are
// connected to told us "X-Ultrapeer-Needed: False". Promotion happens once;
// there is no demotion.
//
// The role of a live link was fixed by its handshake (X-Ultrapeer), so it
// cannot change: promotion only changes the role of NEW connections, and
// maintenance says Bye 203 "Becoming an ultrapeer" (GTKG's role-change code,
// not 200, which tells the peer we are going away) to every link on which
// we handshook as a leaf (c.weLeaf), including one that finished its
// handshake while we were being promoted. Those ultrapeers are not redialled
// before the usual 30-60 s spacing (one backoff step, not counted as a
// failure), so a promotion never makes us reconnect faster than a drop does;
// in the meantime the maintenance dials other hosts and leaves may connect.

const promoteReason = "Becoming an ultrapeer"

// demoteReason ends the links of a promoted node that turned firewalled.
const demoteReason = "Becoming a leaf (firewalled)"

// maxPeers is the ultrapeer-link limit of our current role.
func (n *Node) maxPeers() int {
	if n.cfg.Mode == ModeAuto && n.ultrapeer.Load() {
		return n.cfg.upMaxPeers
	}
	return n.cfg.MaxPeers
}

// shouldPromote reports whether an auto node that is still a leaf may become
// an ultrapeer now.
func (n *Node) shouldPromote(now time.Time) bool {
	if n.cfg.Mode != ModeAuto || n.ultrapeer.Load() || n.firewalled() || n.closing.Load() {
		return false
	}
	if !n.reach.reachable(reach.TCP, now) || now.Sub(n.started) < n.cfg.PromoteAfter {
		return false
	}
	for _, c := range n.snap.Load().ups {
		if c.upNotNeeded {
			return false // GTKG's hint: the network has enough ultrapeers
		}
	}
	return true
}

// autoPromote runs on every maintenance step: it promotes when due, then
// drops the links still holding our old leaf role.
func (n *Node) autoPromote(now time.Time) {
	if n.cfg.Mode != ModeAuto {
		return
	}
	if n.shouldPromote(now) {
		n.setRole(true)
		n.upTableDirty.Store(true)
		n.log.Info("promoted to ultrapeer", "uptime", now.Sub(n.started))
	}
	if n.ultrapeer.Load() && n.firewalled() {
		n.demote(now)
	}
	if !n.ultrapeer.Load() {
		return
	}
	for _, c := range n.snap.Load().byID {
		if !c.weLeaf || c.byeMsg.Load() != nil {
			continue
		}
		n.spaceRedial(c, now)
		c.bye(protocol.ByeRoleChange, promoteReason)
	}
}

// spaceRedial keeps a link we drop on promotion from being redialled before
// one backoff step (30-60 s), without counting a failure against it.
func (n *Node) spaceRedial(c *conn, now time.Time) {
	if c.listen.IsValid() {
		n.hosts.hold(c.listen, now.Add(backoff(1)))
	}
	// A user-named peer: dial's deferred bookkeeping (namedPeers.done)
	// sets its next try one backoff step after the drop, the same spacing.
}

// demote makes a promoted auto node a leaf again once it is firewalled:
// an ultrapeer nobody can connect to cannot take leaves, and its leaves
// could not be pushed through it. The links it holds as an ultrapeer end
// with Bye 203 (role change) and maintenance dials ultrapeers as a leaf.
func (n *Node) demote(now time.Time) {
	n.setRole(false)
	n.log.Info("back to leaf: firewalled", "uptime", now.Sub(n.started))
	for _, c := range n.snap.Load().byID {
		if c.weLeaf || c.byeMsg.Load() != nil {
			continue
		}
		n.spaceRedial(c, now)
		c.bye(protocol.ByeRoleChange, demoteReason)
	}
	n.kickMaintain()
}
