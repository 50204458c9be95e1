package servent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent/reach"
)

// testClock is real time shifted by what the test advanced it.
type testClock struct{ off atomic.Int64 }

func (c *testClock) Now() time.Time          { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *testClock) Advance(d time.Duration) { c.off.Add(int64(d)) }

func withClock(clk *testClock, promoteAfter time.Duration) nodeOpt {
	return func(c *Config) {
		c.Now = clk.Now
		c.PromoteAfter = promoteAfter
	}
}

// TestAutoPromotion: an auto node stays leaf without an inbound connection
// and before PromoteAfter; with both it becomes an ultrapeer, says Bye to
// the ultrapeer it reached as a leaf, redials it no sooner than one backoff
// step, accepts a leaf, and that leaf's query reaches the other ultrapeer.
func TestAutoPromotion(t *testing.T) {
	const after = time.Minute
	clk := &testClock{}
	// u cannot dial out, so its connect-back never proves a reachable.
	u := startNode(t, ModeUltrapeer, withFiles("promotion anthem.mp3"), func(c *Config) {
		c.Dial = func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no route") }
	})
	a := startNode(t, ModeAuto, withPeers(addrOf(u)), withClock(clk, after))
	l := startNode(t, ModeLeaf)
	waitPeers(t, a, 1, 0)
	waitPeers(t, u, 0, 1)
	require.Equal(t, "leaf", a.Status().Mode)

	// Up long enough but never reached from outside: stays leaf.
	require.False(t, a.shouldPromote(clk.Now().Add(10*after)), "no inbound connection yet")

	// A leaf dials it: refused (a leaf takes no leaves) but it proves we
	// are reachable.
	require.NoError(t, l.AddPeer(addrOf(a)))
	require.Eventually(t, func() bool { return a.reach.reachable(reach.TCP, time.Now()) }, waitFor, tick)
	require.Zero(t, l.Status().Peers)
	require.False(t, a.shouldPromote(clk.Now()), "before PromoteAfter")
	require.Equal(t, "leaf", a.Status().Mode)

	clk.Advance(after + time.Second)
	require.Eventually(t, func() bool { return a.Status().Mode == "ultrapeer" }, waitFor, tick)
	// The link on which we are u's leaf is closed; it is not redialled at
	// once (30-60 s spacing on our clock).
	waitPeers(t, u, 0, 0)
	waitPeers(t, a, 0, 0)
	require.Eventually(t, func() bool {
		p := a.NamedPeers()[0]
		return !p.Dialing && p.NextTry.Sub(clk.Now()) >= backoffBase/2-time.Second && a.peerBook.failures(addrOf(u)) == 0
	}, waitFor, tick, "next dial one backoff step away, no failure counted")

	// Now it takes leaves and answers as an ultrapeer.
	require.NoError(t, l.AddPeer(addrOf(a)))
	waitPeers(t, a, 0, 1)
	waitPeers(t, l, 1, 0)
	require.Equal(t, "ultrapeer", l.Peers()[0].Mode)
	require.Zero(t, u.Status().Peers, "redialled before the backoff")

	clk.Advance(backoffBase + time.Second)
	waitPeers(t, a, 1, 1)
	waitPeers(t, u, 1, 0)
	require.Equal(t, "ultrapeer", u.Peers()[0].Mode, "u sees a as an ultrapeer now")

	s := l.Search("promotion anthem", nil)
	require.Eventually(t, func() bool { return len(s.Results()) > 0 }, waitFor, tick)
	require.Equal(t, []string{"promotion anthem.mp3"}, resultNames(s))
}

// TestAutoStaysLeafWhenNotNeeded: an ultrapeer whose ultrapeer slots are
// full answers "X-Ultrapeer-Needed: False"; an auto node connected to it
// does not promote even when reachable and up long enough.
func TestAutoStaysLeafWhenNotNeeded(t *testing.T) {
	const after = time.Minute
	clk := &testClock{}
	u := startNode(t, ModeUltrapeer, func(c *Config) { c.MaxPeers = 1 })
	startNode(t, ModeUltrapeer, withPeers(addrOf(u)))
	waitPeers(t, u, 1, 0)
	a := startNode(t, ModeAuto, withPeers(addrOf(u)), withClock(clk, after))
	waitPeers(t, u, 1, 1)
	waitPeers(t, a, 1, 0)

	// Reached over HTTP this time.
	nc, err := net.Dial("tcp", addrOf(a))
	require.NoError(t, err)
	_, err = fmt.Fprintf(nc, "HEAD /uri-res/N2R?urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.reach.reachable(reach.TCP, time.Now()) }, waitFor, tick)
	require.NoError(t, nc.Close())

	clk.Advance(after + time.Second)
	require.False(t, a.shouldPromote(clk.Now()))
	require.Equal(t, "ultrapeer", a.Peers()[0].Mode)
	require.Equal(t, "leaf", a.Status().Mode)
}

// TestFirewalledAutoStaysLeaf: a firewalled auto node never promotes.
func TestFirewalledAutoStaysLeaf(t *testing.T) {
	clk := &testClock{}
	a := startNode(t, ModeAuto, withClock(clk, time.Minute), func(c *Config) { c.Firewalled = true })
	a.reach.prove(reach.TCP, netip.MustParseAddrPort("10.0.0.1:1"), reach.SourceInbound, time.Now()) // cannot happen firewalled; the rule must hold anyway
	clk.Advance(time.Hour)
	require.False(t, a.shouldPromote(clk.Now()))
}

// TestFirewalledUltrapeerDemoted: an auto node promoted earlier that turns
// firewalled (no inbound for 30 min, its connect-back unanswered) becomes a
// leaf again: its leaf is told Bye 203 and it dials ultrapeers as a leaf.
func TestFirewalledUltrapeerDemoted(t *testing.T) {
	clk := &testClock{}
	a := startNode(t, ModeAuto, withClock(clk, time.Minute))
	a.mu.Lock()
	a.ultrapeer.Store(true) // as autoPromote does
	a.mu.Unlock()
	l := startNode(t, ModeLeaf, withPeers(addrOf(a)))
	waitPeers(t, a, 0, 1)
	a.autoPromote(clk.Now())
	require.Equal(t, "ultrapeer", a.Status().Mode, "not firewalled yet")

	a.reach.askedFor(reach.TCP, clk.Now())
	clk.Advance(reach.TCPWindow + reach.FirewalledAfter) // the leaf's inbound proof lapses too
	require.True(t, a.firewalled())
	a.autoPromote(clk.Now())
	require.Equal(t, "leaf", a.Status().Mode)
	waitPeers(t, a, 0, 0)
	waitPeers(t, l, 0, 0)
}
