package servent

import (
	"bufio"
	"context"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// dialCounter wraps the default dialer (bound to the node's listening IP)
// and counts the dials to each address.
type dialCounter struct {
	mu sync.Mutex
	to map[string]int
}

func countDials(cfg *Config) *dialCounter {
	dc := &dialCounter{to: map[string]int{}}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: addrPortOf(cfg.Listener.Addr()).Addr().AsSlice()}}
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dc.mu.Lock()
		dc.to[addr]++
		dc.mu.Unlock()
		return d.DialContext(ctx, network, addr)
	}
	return dc
}

func (dc *dialCounter) count(addr string) int {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	return dc.to[addr]
}

// drivenConfig is a node config whose maintenance runs only when kicked or
// called by the test, on a clock the test moves.
func drivenConfig(t *testing.T, mode Mode, clk *testClock, opts ...nodeOpt) Config {
	cfg := testConfig(t, mode, opts...)
	cfg.Now = clk.Now
	cfg.MaintainInterval = time.Hour
	return cfg
}

// settle waits until no dial to key is in flight.
func settle(t *testing.T, n *Node, key string) {
	t.Helper()
	require.Eventually(t, func() bool {
		n.mu.Lock()
		defer n.mu.Unlock()
		return !n.dialing[key]
	}, waitFor, tick)
}

// round runs one maintenance round and waits for what it started towards
// key to end.
func round(t *testing.T, n *Node, key string) {
	t.Helper()
	n.connectMore()
	settle(t, n, key)
}

// TestByeShutdownNotRedialled: B is connected to A, which it knows from its
// host cache; A shuts down (Bye 200 "Servent shutdown"). B used to redial A
// within a millisecond; now A stays out of B's dials for the long hold, and
// comes back after it.
func TestByeShutdownNotRedialled(t *testing.T) {
	clk := &testClock{}
	a := startNode(t, ModeUltrapeer)
	cfg := drivenConfig(t, ModeUltrapeer, clk)
	cfg.fixedPeers = false
	dials := countDials(&cfg)
	b := startConfig(t, cfg)
	b.hosts.add(a.Addr(), true)
	b.kickMaintain()
	waitPeers(t, b, 1, 0)
	waitPeers(t, a, 1, 0) // registered on A's side too, or A's Close has no one to say Bye to
	require.Equal(t, 1, dials.count(addrOf(a)))

	require.NoError(t, a.Close())
	waitPeers(t, b, 0, 0)
	round(t, b, addrOf(a))
	require.Equal(t, 1, dials.count(addrOf(a)), "redialled right after its Bye 200")

	clk.Advance(goneHold - time.Minute)
	round(t, b, addrOf(a))
	require.Equal(t, 1, dials.count(addrOf(a)), "redialled within the hold")

	clk.Advance(2 * time.Minute)
	round(t, b, addrOf(a))
	require.Equal(t, 2, dials.count(addrOf(a)), "a candidate again after the hold")
}

// TestNamedPeerBye: a user-named peer that shuts down is shown with its
// Bye and waits the long hold, not one backoff step.
func TestNamedPeerBye(t *testing.T) {
	clk := &testClock{}
	u := startNode(t, ModeUltrapeer)
	l := startConfig(t, drivenConfig(t, ModeLeaf, clk, withPeers(addrOf(u))))
	waitPeers(t, l, 1, 0)
	waitPeers(t, u, 0, 1)
	require.NoError(t, u.Close())
	var p NamedPeer
	require.Eventually(t, func() bool { p = l.NamedPeers()[0]; return !p.Dialing }, waitFor, tick)
	require.Equal(t, "peer said Bye 200 Servent shutdown", p.LastError)
	require.Equal(t, p.LastErrorAt.Add(goneHold), p.NextTry)
	require.Zero(t, l.peerBook.failures(addrOf(u)), "a link that worked is no failure")
}

// shieldedLeaf is a raw listener that refuses every handshake as
// GnutellaBun's leaf does (shared/interop/gnutella-bun-client/
// 40-bun-leaf-rejects-leaf.hs2-response.bin), counting the attempts.
func shieldedLeaf(t *testing.T) (addr netip.AddrPort, accepts *atomic.Int64) {
	ln, err := net.Listen("tcp", nextIP()+":0")
	require.NoError(t, err)
	accepts = &atomic.Int64{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if _, err := protocol.ReadHandshake(bufio.NewReader(c)); err == nil {
				accepts.Add(1)
				_, _ = c.Write([]byte("GNUTELLA/0.6 503 Shielded leaf node (8 ultrapeers max)\r\n" +
					"Remote-IP: 127.0.0.22\r\n\r\n"))
			}
			_ = c.Close()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		<-done
	})
	return addrPortOf(ln.Addr()), accepts
}

// TestShieldedLeafDialledOnce: our leaf kept redialling a leaf that
// answered "503 Shielded leaf node" each time. It is dialled once; it is
// then a leaf in the host cache, passed over even when a peer calls it an
// ultrapeer, also after the long hold.
func TestShieldedLeafDialledOnce(t *testing.T) {
	clk := &testClock{}
	leafAddr, accepts := shieldedLeaf(t)
	cfg := drivenConfig(t, ModeLeaf, clk)
	cfg.fixedPeers = false
	n := startConfig(t, cfg)
	n.hosts.add(leafAddr, true) // as from X-Try-Ultrapeers
	n.kickMaintain()
	require.Eventually(t, func() bool { return accepts.Load() == 1 }, waitFor, tick)
	settle(t, n, leafAddr.String())

	for _, step := range []time.Duration{time.Minute, 10 * time.Minute, goneHold} {
		clk.Advance(step)
		n.hosts.add(leafAddr, true) // a pong or X-Try-Ultrapeers says ultrapeer again
		round(t, n, leafAddr.String())
		require.EqualValues(t, 1, accepts.Load(), "redialled a shielded leaf %v later", step)
	}
	hs := n.Hosts()
	require.Len(t, hs, 1)
	require.False(t, hs[0].Ultrapeer, "still an ultrapeer in the host cache")
}

// TestNamedPeerErrors: a user-named peer that cannot be reached says why,
// with when: a closed port and a name that does not resolve (.invalid is
// reserved, RFC 6761: answered without asking DNS).
func TestNamedPeerErrors(t *testing.T) {
	ln, err := net.Listen("tcp", nextIP()+":0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	require.NoError(t, ln.Close())
	const unresolvable = "servent-test.invalid:6346"

	clk := &testClock{}
	n := startConfig(t, drivenConfig(t, ModeLeaf, clk))
	before := clk.Now()
	require.NoError(t, n.AddPeer(closed))
	require.NoError(t, n.AddPeer(unresolvable))
	require.Error(t, n.AddPeer("192.0.2.1:0"), "port 0")
	require.Error(t, n.AddPeer("::1:6346"), "IPv6 without brackets")
	var got map[string]NamedPeer
	require.Eventually(t, func() bool {
		got = map[string]NamedPeer{}
		for _, p := range n.NamedPeers() {
			if !p.Dialing && p.LastError != "" {
				got[p.Addr] = p
			}
		}
		return len(got) == 2
	}, waitFor, tick)
	require.Equal(t, "connection refused", got[closed].LastError)
	require.Equal(t, "cannot resolve servent-test.invalid: no such host", got[unresolvable].LastError)
	for _, p := range got {
		require.False(t, p.LastErrorAt.Before(before), p.Addr)
		require.True(t, p.NextTry.After(p.LastErrorAt), "backs off: %+v", p)
	}
}

// TestAddPeerForms: "[::1]:PORT" and a host name reach the peer (the dial
// from a node listening on an IPv4 address used to be bound to it, which
// fails for an IPv6 peer).
func TestAddPeerForms(t *testing.T) {
	ln6, err := net.Listen("tcp", "[::1]:0")
	if err != nil {
		t.Skip("no IPv6 loopback:", err)
	}
	cfg := testConfig(t, ModeUltrapeer)
	require.NoError(t, cfg.Listener.Close())
	cfg.Listener = ln6
	u6 := startConfig(t, cfg)
	l := startNode(t, ModeLeaf)
	six := "[::1]:" + strconv.Itoa(int(u6.Addr().Port()))
	require.NoError(t, l.AddPeer(six))
	waitPeers(t, l, 1, 0)
	np := l.NamedPeers()
	require.Len(t, np, 1)
	require.Equal(t, six, np[0].Addr)
	require.Equal(t, netip.MustParseAddrPort(six), np[0].Resolved)
	require.Empty(t, np[0].LastError)

	// "localhost" is in /etc/hosts: no DNS query leaves the machine.
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip4", "localhost")
	if err != nil || len(ips) == 0 || ips[0] != netip.MustParseAddr("127.0.0.1") {
		t.Skip("localhost is not 127.0.0.1 here")
	}
	ln4, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	cfg = testConfig(t, ModeUltrapeer)
	require.NoError(t, cfg.Listener.Close())
	cfg.Listener = ln4
	u4 := startConfig(t, cfg)
	l2 := startNode(t, ModeLeaf)
	name := "localhost:" + strconv.Itoa(int(u4.Addr().Port()))
	require.NoError(t, l2.AddPeer(name))
	waitPeers(t, l2, 1, 0)
	require.Equal(t, u4.Addr(), l2.NamedPeers()[0].Resolved)

	// Dropped by the name it was added with.
	require.NoError(t, l2.DropPeer(name))
	waitPeers(t, l2, 0, 0)
	require.Empty(t, l2.NamedPeers())
}

// TestDropPeerSticks: a dropped peer used to be redialled within a second
// (from the host cache, where the link had put it). It stays dropped, from
// both the named set and the host cache, until added again.
func TestDropPeerSticks(t *testing.T) {
	clk := &testClock{}
	u := startNode(t, ModeUltrapeer)
	cfg := drivenConfig(t, ModeLeaf, clk)
	cfg.fixedPeers = false
	dials := countDials(&cfg)
	l := startConfig(t, cfg)
	require.NoError(t, l.AddPeer(addrOf(u)))
	waitPeers(t, l, 1, 0)
	require.Contains(t, hostAddrs(l), u.Addr())

	require.NoError(t, l.DropPeer(addrOf(u)))
	waitPeers(t, l, 0, 0)
	waitPeers(t, u, 0, 0)
	require.Empty(t, l.NamedPeers())
	for _, step := range []time.Duration{0, time.Second, backoffMax / 2} {
		clk.Advance(step)
		round(t, l, addrOf(u))
		require.Equal(t, 1, dials.count(addrOf(u)), "redialled %v after the drop", step)
	}

	require.NoError(t, l.AddPeer(addrOf(u)))
	waitPeers(t, l, 1, 0)
	require.Equal(t, 2, dials.count(addrOf(u)))
}

// TestByeParting: what each Bye code means for redialling (GTKG's codes).
func TestByeParting(t *testing.T) {
	cases := []struct {
		code uint16
		want parting
	}{
		{protocol.ByeShutdown, parting{hold: goneHold}},
		{protocol.ByeUserClosed, parting{hold: goneHold}},
		{protocol.ByeGoingOffline, parting{hold: goneHold}},
		{protocol.ByeRoleChange, parting{}},
		{400, parting{hold: goneHold}}, // too large: it thinks we misbehave
		{401, parting{hold: goneHold}},
		{405, parting{}}, // inactivity: ordinary backoff
		{502, parting{}}, // its send queue
		{0, parting{}},   // a short or garbled Bye
	}
	for _, c := range cases {
		require.Equal(t, c.want, byeParting(protocol.Bye{Code: c.code, Reason: "x"}), "code %d", c.code)
	}
	require.Equal(t, parting{hold: goneHold, leaf: true}, refusalParting(&handshakeError{Code: 503, leaf: true}))
	require.Equal(t, parting{}, refusalParting(&handshakeError{Code: 503, Reason: "Too many ultra connections"}))
}

// TestHostCacheParted drives parted with a fake clock.
func TestHostCacheParted(t *testing.T) {
	now := time.Unix(1000, 0)
	hc := newHostCache(func() time.Time { return now })
	gone := netip.MustParseAddrPort("192.0.2.1:6346")
	leaf := netip.MustParseAddrPort("192.0.2.2:6346")
	fresh := netip.MustParseAddrPort("192.0.2.3:6346")
	hc.add(gone, true)
	hc.add(fresh, true)
	hc.parted(gone, parting{hold: goneHold}, now)
	hc.parted(leaf, parting{hold: goneHold, leaf: true}, now) // not cached before: remembered
	hc.parted(fresh, parting{}, now)                          // nothing to do
	require.Equal(t, []netip.AddrPort{fresh}, hc.candidates(5, nil))
	require.Equal(t, []netip.AddrPort{fresh}, hc.tryHosts(5, nil), "a parted host is not handed out")

	now = now.Add(goneHold)
	hc.add(leaf, true)
	require.Equal(t, []netip.AddrPort{fresh, gone}, hc.candidates(5, nil), "back of the queue, leaf passed over")
	now = now.Add(leafFor)
	require.Equal(t, []netip.AddrPort{fresh, gone, leaf}, hc.candidates(5, nil))
	hc.add(leaf, true)
	require.Equal(t, []netip.AddrPort{fresh, leaf, gone}, hc.candidates(5, nil), "an ultrapeer again")

	// A leaf that answered us as an ultrapeer is one again.
	hc.parted(leaf, parting{hold: time.Minute, leaf: true}, now)
	hc.succeeded(leaf, true)
	require.Contains(t, hc.candidates(5, nil), leaf)
}

// TestNamedPeersBook: the named set's backoff and errors on a fake clock.
func TestNamedPeersBook(t *testing.T) {
	now := time.Unix(1000, 0)
	p := newNamedPeers([]string{"192.0.2.1:6346", "b.example:6346"})
	require.Equal(t, []string{"192.0.2.1:6346", "b.example:6346"}, p.due(now))
	require.True(t, p.dialing("192.0.2.1:6346"))
	require.Equal(t, []string{"b.example:6346"}, p.due(now), "not twice at once")
	p.done("192.0.2.1:6346", now, true, "connection refused", 0)
	got := p.list()[0]
	require.Equal(t, "connection refused", got.LastError)
	require.Equal(t, now, got.LastErrorAt)
	require.False(t, got.Dialing)
	first := got.NextTry.Sub(now)
	require.GreaterOrEqual(t, first, backoffBase/2)
	require.Equal(t, []string{"b.example:6346"}, p.due(now.Add(first-time.Second)))

	p.dialing("192.0.2.1:6346")
	p.done("192.0.2.1:6346", now, true, "connection refused", 0)
	require.GreaterOrEqual(t, p.list()[0].NextTry.Sub(now), backoffBase, "grows")
	require.Equal(t, 2, p.failures("192.0.2.1:6346"))

	// A link that came up and ended with a Bye: no failure counted, the
	// Bye's hold honoured, the error says what it said.
	p.dialing("192.0.2.1:6346")
	p.connected("192.0.2.1:6346")
	require.Empty(t, p.list()[0].LastError)
	p.done("192.0.2.1:6346", now, false, "peer said Bye 200 Servent shutdown", goneHold)
	require.Zero(t, p.failures("192.0.2.1:6346"))
	require.Equal(t, now.Add(goneHold), p.list()[0].NextTry)

	// Dropped: gone, and a dial that ends afterwards does not bring it back.
	p.dialing("b.example:6346")
	_, ok := p.drop("b.example:6346")
	require.True(t, ok)
	p.done("b.example:6346", now, true, "x", 0)
	require.False(t, p.has("b.example:6346"))
	require.Len(t, p.list(), 1)
	_, ok = p.drop("b.example:6346")
	require.False(t, ok)

	// A reason from the network cannot drive a terminal.
	p.done("192.0.2.1:6346", now, true, "peer said Bye 200 \x1b]0;owned\x07\u202egpj.exe\n"+strings.Repeat("x", 300), 0)
	e := p.list()[0].LastError
	require.True(t, strings.HasPrefix(e, "peer said Bye 200 \uFFFD]0;owned\uFFFD\uFFFDgpj.exe\uFFFDxx"), e)
	require.LessOrEqual(t, len(e), maxErrorLen)
	require.True(t, utf8.ValidString(e))

	// Added again: due at once.
	p.add("192.0.2.1:6346")
	require.Equal(t, []string{"192.0.2.1:6346"}, p.due(now))
}
