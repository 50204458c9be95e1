package servent

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/reach"
)

func hitsPush(t *testing.T, n *Node, word string) bool {
	t.Helper()
	var push []bool
	n.ourHits(&protocol.Query{Criteria: word}, n.Addr(), func(h *protocol.QueryHit) { push = append(push, h.Push) })
	require.Len(t, push, 1)
	return push[0]
}

// TestFirewalledAfterFailedConnectBack: a node whose connect-back never
// comes (the ultrapeer cannot dial it) and that sees no inbound TCP is
// "unknown" at first, then firewalled after reach.FirewalledAfter: its
// hits then carry the push flag, and status says why and what to do.
// Before: nothing ever set the push flag but Config.Firewalled.
func TestFirewalledAfterFailedConnectBack(t *testing.T) {
	clock := &testClock{}
	up := startNode(t, ModeUltrapeer, func(c *Config) {
		c.Dial = func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("unreachable") }
	})
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(up)), withFiles("hidden.txt"), func(c *Config) { c.Now = clock.Now })
	waitPeers(t, leaf, 1, 0)
	require.Eventually(t, func() bool {
		leaf.reach.mu.Lock()
		defer leaf.reach.mu.Unlock()
		return leaf.reach.asks.Unanswered(reach.TCP, &leaf.reach.facts, clock.Now().Add(reach.AskTimeout)) == 1
	}, waitFor, tick, "the leaf asked for a TCP connect-back")
	assert.Equal(t, reach.Unknown, leaf.Reachability().TCP)
	assert.False(t, hitsPush(t, leaf, "hidden"))

	clock.Advance(reach.FirewalledAfter)
	v := leaf.Reachability()
	assert.Equal(t, reach.Firewalled, v.TCP)
	assert.Contains(t, v.Reason, "TCP: no inbound connection in 5 min and 1 connect-back request unanswered")
	assert.Contains(t, v.Advice, "forward TCP and UDP port")
	assert.True(t, leaf.firewalled())
	assert.True(t, hitsPush(t, leaf, "hidden"))
}

// TestReachableByConnectBack: the same node, with an ultrapeer that can
// dial it, is reachable once the connect-back arrives, and stays so
// after FirewalledAfter: no push flag.
func TestReachableByConnectBack(t *testing.T) {
	clock := &testClock{}
	up := startNode(t, ModeUltrapeer)
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(up)), withFiles("open.txt"), func(c *Config) { c.Now = clock.Now })
	waitPeers(t, leaf, 1, 0)
	require.Eventually(t, func() bool { return leaf.Reachability().TCP == reach.Reachable }, waitFor, tick)
	clock.Advance(reach.FirewalledAfter + time.Minute)
	v := leaf.Reachability()
	assert.Equal(t, reach.Reachable, v.TCP)
	assert.Contains(t, v.Reason, "TCP: TCP connect-back from "+up.Addr().Addr().String())
	assert.Empty(t, v.Advice)
	assert.False(t, hitsPush(t, leaf, "open"))
}

// TestCheckReachability: the on-demand check asks at once, whatever the
// usual spacing of asks, and returns once the answer is in; a node proven
// reachable is not asked again.
func TestCheckReachability(t *testing.T) {
	clock := &testClock{}
	up := startNode(t, ModeUltrapeer, func(c *Config) { c.Now = clock.Now })
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(up)))
	waitPeers(t, leaf, 1, 0)
	require.Eventually(t, func() bool { return leaf.Reachability().TCP == reach.Reachable }, waitFor, tick)
	v, asked := leaf.CheckReachability(context.Background(), waitFor)
	assert.Zero(t, asked)
	assert.Equal(t, reach.Reachable, v.TCP)

	// The proofs are gone (as after an address change); the ultrapeer
	// answers one connect-back per IP per 10 min, so its clock moves on.
	leaf.reach.mu.Lock()
	leaf.reach.facts = reach.Facts{}
	leaf.reach.mu.Unlock()
	clock.Advance(reach.AnswerPerIP)
	v, asked = leaf.CheckReachability(context.Background(), waitFor)
	assert.Equal(t, 1, asked)
	assert.Equal(t, reach.Reachable, v.TCP)

	alone := startNode(t, ModeLeaf)
	v, asked = alone.CheckReachability(context.Background(), waitFor)
	assert.Zero(t, asked)
	assert.Equal(t, reach.Unknown, v.TCP)
}
