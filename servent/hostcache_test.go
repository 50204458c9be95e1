package servent

import (
	"net"
	"net/netip"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func hostAddrs(n *Node) []netip.AddrPort {
	var out []netip.AddrPort
	for _, h := range n.Hosts() {
		out = append(out, h.Addr)
	}
	return out
}

// TestPongCachingAndHostCache: A - B - C. A learns C from B's pong cache,
// A's ping never reaches C (no flooding), A's host cache survives a
// restart, and a node allowed to use its host cache dials what it learnt.
func TestPongCachingAndHostCache(t *testing.T) {
	c := startNode(t, ModeUltrapeer)
	b := startNode(t, ModeUltrapeer, withPeers(addrOf(c)))
	waitPeers(t, b, 1, 0)
	// B's greeting ping to C was answered: C is in B's pong cache.
	require.Eventually(t, func() bool { return b.pongCacheLen() >= 1 }, waitFor, tick)
	cPings := c.stats.core.PingsAnswered.Load()

	dataA := t.TempDir()
	a := startNode(t, ModeUltrapeer, withPeers(addrOf(b)), withDataDir(dataA))
	waitPeers(t, a, 1, 0)
	require.Eventually(t, func() bool {
		hs := hostAddrs(a)
		return slices.Contains(hs, c.Addr()) && slices.Contains(hs, b.Addr())
	}, waitFor, tick)
	require.Equal(t, cPings, c.stats.core.PingsAnswered.Load(), "A's ping was flooded to C")
	for _, h := range a.Hosts() {
		require.True(t, h.Ultrapeer)
	}

	require.NoError(t, a.Close())
	a2 := startNode(t, ModeUltrapeer, withDataDir(dataA))
	require.Equal(t, a.GUID(), a2.GUID(), "servent GUID persisted")
	hs := hostAddrs(a2)
	require.Contains(t, hs, c.Addr())
	require.Contains(t, hs, b.Addr())

	// Maintenance: D knows only B but may use its host cache; with
	// MaxPeers 2 it connects to C (learnt from B's pongs) by itself.
	cfg := testConfig(t, ModeUltrapeer, withPeers(addrOf(b)))
	cfg.fixedPeers = false
	cfg.MaxPeers = 2
	d := startConfig(t, cfg)
	require.Eventually(t, func() bool {
		for _, p := range d.Peers() {
			if p.Addr == c.Addr() {
				return true
			}
		}
		return false
	}, waitFor, tick)
	waitPeers(t, d, 2, 0)
}

// TestBackoff: a user-named host that refuses connections is retried with
// growing delays, never in a tight loop: maintenance rounds run on a clock
// the test moves, and none dials before the backoff has passed.
func TestBackoff(t *testing.T) {
	ln, err := net.Listen("tcp", nextIP()+":0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close())
	clk := &testClock{}
	cfg := drivenConfig(t, ModeLeaf, clk, withPeers(dead))
	dials := countDials(&cfg)
	n := startConfig(t, cfg)
	failed := func(k int) NamedPeer {
		t.Helper()
		require.Eventually(t, func() bool { return n.peerBook.failures(dead) == k }, waitFor, tick)
		settle(t, n, dead)
		p := n.NamedPeers()[0]
		require.Equal(t, "connection refused", p.LastError)
		require.Equal(t, k, dials.count(dead))
		return p
	}
	p := failed(1) // Start kicks the first round
	first := p.NextTry.Sub(p.LastErrorAt)
	require.GreaterOrEqual(t, first, backoffBase/2)
	require.LessOrEqual(t, first, backoffBase)

	// Rounds up to just before the next try dial nothing.
	for range 5 {
		round(t, n, dead)
	}
	clk.Advance(p.NextTry.Sub(clk.Now()) - time.Second)
	round(t, n, dead)
	require.Equal(t, 1, dials.count(dead), "dialled before the backoff passed")

	// Then one dial, and a longer wait after it.
	clk.Advance(2 * time.Second)
	n.connectMore()
	p = failed(2)
	second := p.NextTry.Sub(p.LastErrorAt)
	require.GreaterOrEqual(t, second, backoffBase)
	require.LessOrEqual(t, second, 2*backoffBase)
}

func TestHostCacheBackoffUnit(t *testing.T) {
	now := time.Unix(1000, 0)
	hc := newHostCache(func() time.Time { return now })
	a := netip.MustParseAddrPort("192.0.2.1:6346")
	hc.add(a, true)
	require.Equal(t, []netip.AddrPort{a}, hc.candidates(5, nil))
	hc.failed(a)
	require.Empty(t, hc.candidates(5, nil))
	now = now.Add(backoffBase)
	require.Len(t, hc.candidates(5, nil), 1)
	for range 5 {
		hc.failed(a)
	}
	now = now.Add(backoffBase * 4)
	require.Empty(t, hc.candidates(5, nil), "backoff grows")
	hc.succeeded(a, true)
	require.Len(t, hc.candidates(5, nil), 1)
	// Unusable addresses never enter.
	hc.add(netip.MustParseAddrPort("0.0.0.0:6346"), true)
	hc.add(netip.MustParseAddrPort("192.0.2.2:0"), true)
	require.Equal(t, 1, hc.len())
	dir := t.TempDir()
	require.NoError(t, hc.save(dir))
	hc2 := newHostCache(time.Now)
	require.NoError(t, hc2.load(dir))
	require.Equal(t, hc.list()[0].Addr, hc2.list()[0].Addr)
}

func TestParseBannedFor(t *testing.T) {
	cases := []struct {
		code   int
		reason string
		want   time.Duration
	}{
		{429, "Banned for 5m 0s", 5 * time.Minute},
		{429, "Banned for 1h 2m 3s", backoffMax}, // capped
		{429, "Banned for 30s", 30 * time.Second},
		{429, "Too frequent connections", 5 * time.Minute},
		{503, "Banned for 5m 0s", 0},
		{200, "OK", 0},
	}
	for _, c := range cases {
		require.Equal(t, c.want, parseBannedFor(&handshakeError{Code: c.code, Reason: c.reason}), c.reason)
	}
}

// GTKG bans an IP that opens a third Gnet connection within 60 s: no two
// retries of one address may come closer than 30 s.
func TestBackoffNeverTwiceInHalfAMinute(t *testing.T) {
	for failures := 1; failures < 20; failures++ {
		d := backoff(failures)
		require.GreaterOrEqual(t, d, 30*time.Second, "failures=%d", failures)
		require.LessOrEqual(t, d, backoffMax)
	}
}

// freshUltrapeers is tryHosts without skip, whatever the cache holds.
func TestFreshUltrapeersIsTryHosts(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	c := newHostCache(func() time.Time { return now })
	for i := range 500 {
		now = now.Add(time.Duration((i*7919)%1000) * time.Second)
		c.add(netip.AddrPortFrom(netip.AddrFrom4([4]byte{8, 8, byte(i >> 8), byte(i)}), 6346), i%3 != 0)
		if i%11 == 0 {
			c.failed(netip.AddrPortFrom(netip.AddrFrom4([4]byte{8, 8, byte(i >> 8), byte(i)}), 6346))
		}
	}
	for _, k := range []int{0, 1, 7, 60, 1000} {
		require.Equal(t, c.tryHosts(k, nil), c.freshUltrapeers(k), "k=%d", k)
	}
}
