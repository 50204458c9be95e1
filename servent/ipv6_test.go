package servent

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// listen6 listens on [::1] (a kernel-chosen port unless port is set); no
// IPv6 loopback here skips the test.
func listen6(t *testing.T, port uint16) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp6", netip.AddrPortFrom(netip.IPv6Loopback(), port).String())
	if err != nil && port == 0 {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	require.NoError(t, err)
	return ln
}

// withIPv6Only makes the node listen on [::1] only.
func withIPv6Only(t *testing.T) nodeOpt {
	ln := listen6(t, 0)
	return func(c *Config) {
		_ = c.Listener.Close()
		c.Listener = ln
	}
}

// withDualStack adds a [::1] listener on the port of the node's IPv4 one
// (a port taken on ::1 moves both to a new one).
func withDualStack(t *testing.T) nodeOpt {
	return func(c *Config) {
		for range 20 {
			port := addrPortOf(c.Listener.Addr()).Port()
			ln6, err := net.Listen("tcp6", netip.AddrPortFrom(netip.IPv6Loopback(), port).String())
			if err == nil {
				c.Listener6 = ln6
				return
			}
			if !errors.Is(err, syscall.EADDRINUSE) {
				t.Skipf("no IPv6 loopback: %v", err)
			}
			ip := addrPortOf(c.Listener.Addr()).Addr()
			_ = c.Listener.Close()
			ln, err := net.Listen("tcp4", netip.AddrPortFrom(ip, 0).String())
			require.NoError(t, err)
			c.Listener = ln
		}
		t.Fatal("no port free on both 127.0.0.x and ::1")
	}
}

func shareFile(t *testing.T, n *Node, name string, content []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(n.cfg.ShareDir, name), content, 0o644))
	require.NoError(t, n.lib.Rescan())
	require.NoError(t, n.lib.WaitHashed(t.Context()))
}

// searchOne searches from n and waits for one result named name.
func searchOne(t *testing.T, n *Node, words, name string) SearchResult {
	t.Helper()
	s := n.Search(words, nil)
	require.Eventually(t, func() bool {
		for _, r := range s.Results() {
			if r.Name == name {
				return true
			}
		}
		return false
	}, waitFor, tick, "%s finds %q: %+v", n.Addr(), name, s.Results())
	for _, r := range s.Results() {
		if r.Name == name {
			return r
		}
	}
	panic("unreachable")
}

// download fetches r from its sources with n and returns the file.
func download(t *testing.T, n *Node, r SearchResult) []byte {
	t.Helper()
	_, err := n.Downloads().Start(r.SHA1, r.Name, int64(r.Size), r.Sources)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), waitFor)
	defer cancel()
	in, err := n.Downloads().Wait(ctx, r.SHA1)
	require.NoError(t, err)
	got, err := os.ReadFile(in.Path)
	require.NoError(t, err)
	return got
}

// TestIPv6Servents: two servents over [::1] only: handshake, search,
// download, and a push (the firewalled one connects back to [::1]).
func TestIPv6Servents(t *testing.T) {
	a := startNode(t, ModeUltrapeer, withIPv6Only(t), withFiles("six direct.txt"))
	require.True(t, a.Addr().Addr().Is6())
	b := startNode(t, ModeLeaf, withIPv6Only(t), withPeers(addrOf(a)), withFiles("six pushed.txt"),
		func(c *Config) { c.Firewalled = true })
	waitPeers(t, a, 0, 1)
	waitPeers(t, b, 1, 0)
	require.Equal(t, "ipv6", a.Peers()[0].Family)
	require.Equal(t, map[string]int{"ipv6": 1, "tls": 1}, b.Status().Links, "switched to TLS in the handshake")
	require.Equal(t, b.Addr(), b.advertised(), "b's own [::1] address")
	require.Eventually(t, func() bool {
		for _, c := range a.snap.Load().leaves {
			return c.qrt.Load() != nil
		}
		return false
	}, waitFor, tick, "b's QRP table")

	r := searchOne(t, b, "six", "six direct.txt")
	require.Equal(t, a.Addr(), r.Sources[0].Addr, "the hit names a's IPv6 address")
	require.Equal(t, []byte("content of six direct.txt"), download(t, b, r))

	r = searchOne(t, a, "six", "six pushed.txt")
	require.True(t, r.Sources[0].Push)
	require.Equal(t, []byte("content of six pushed.txt"), download(t, a, r), "b connected back to a's [::1] with GIV")
}

// TestMixedFamilies: A listens on IPv6 only, C on IPv4 only, B on both
// and links them. C's query crosses B from IPv4 to IPv6 and A's hit
// carries A's IPv6 address (127.0.0.0 and GGEP "6" on the wire), which C
// downloads from; A's query asks IPv6 hits only and B's names B's IPv6
// address.
func TestMixedFamilies(t *testing.T) {
	b := startNode(t, ModeUltrapeer, withDualStack(t))
	b6 := netip.AddrPortFrom(netip.IPv6Loopback(), b.Addr().Port())
	a := startNode(t, ModeUltrapeer, withIPv6Only(t), withPeers(b6.String()))
	c := startNode(t, ModeUltrapeer, withPeers(addrOf(b)))
	waitPeers(t, b, 2, 0)
	require.Equal(t, map[string]int{"ipv4": 1, "ipv6": 1, "tls": 2}, b.Status().Links)
	require.Equal(t, b.Addr(), b.Status().IPv4)
	require.Equal(t, b6, b.Status().IPv6)

	// B's pong says both of its addresses, "6" after UP and before TLS as
	// gtk-gnutella's dual-stack pongs; A's, without IPv4, "6" first.
	pong := b.ownPong(b.snap.Load().ups[0])
	require.Equal(t, b.Addr().Addr(), pong.IP)
	require.Equal(t, []string{"VC", "GUE", "UP", "6", "TLS"}, ggepIDs(pong.GGEP))
	require.Equal(t, netip.IPv6Loopback(), pong.GGEP.IPv6())
	pong = a.ownPong(a.snap.Load().ups[0])
	require.Equal(t, protocol.IPv4None, pong.IP)
	require.Equal(t, "6", pong.GGEP[0].ID)
	require.Equal(t, a.Addr(), pong.Addr())

	fromA := []byte("a file on the IPv6 side")
	shareFile(t, a, "crossing six.txt", fromA)
	shareFile(t, c, "crossing four.txt", []byte("a file on the IPv4 side"))

	r := searchOne(t, c, "crossing", "crossing six.txt")
	require.Equal(t, a.Addr(), r.Sources[0].Addr, "A's IPv6 address reached C through B")
	require.Equal(t, fromA, download(t, c, r), "C dials IPv6 for it")

	// A has no IPv4: its queries say "I6" 01 (IPv6 only), as gtk-gnutella's
	// do, so B answers with its IPv6 address rather than its first one,
	// and C, which has none, does not answer.
	shareFile(t, b, "crossing both.txt", []byte("on both sides"))
	r = searchOne(t, a, "crossing", "crossing both.txt")
	require.Equal(t, b6, r.Sources[0].Addr, "B's IPv6 address for a querier without IPv4")
	require.Equal(t, []byte("on both sides"), download(t, a, r))
	require.Equal(t, protocol.HitsIPv6Only, a.hitFamilies())
	require.Equal(t, protocol.HitsIPv6Too, b.hitFamilies())
	require.Equal(t, protocol.HitsIPv4, c.hitFamilies())
}

// TestIPv6Hits: our hit from an IPv6-only servent is gtk-gnutella's
// IPv6-Ready form: 127.0.0.0 in the IPv4 field and the address in the
// trailer's GGEP "6".
func TestIPv6Hits(t *testing.T) {
	a := startNode(t, ModeUltrapeer, withIPv6Only(t), withFiles("ready.txt"))
	var got []protocol.QueryHit
	a.ourHits(&protocol.Query{Criteria: "ready"}, a.advertised(), func(h *protocol.QueryHit) {
		got = append(got, *h)
	})
	require.Len(t, got, 1)
	wire := got[0].Append(nil)
	require.Equal(t, []byte{127, 0, 0, 0}, wire[3:7])
	var back protocol.QueryHit
	require.NoError(t, back.Decode(wire))
	require.Equal(t, a.Addr(), back.Addr())
}

// TestPickFamily: a name with both kinds of address is dialled in the
// family that worked last, the other after a failure, IPv4 the first
// time, never IPv6 with IPv6 off.
func TestPickFamily(t *testing.T) {
	v4, v6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	both := []netip.Addr{v6, v4}
	for _, c := range []struct {
		last   netip.Addr
		failed bool
		ipv6   bool
		want   netip.Addr
	}{
		{netip.Addr{}, false, true, v4},
		{v6, false, true, v6},
		{v6, true, true, v4},
		{v4, true, true, v6},
		{v4, false, true, v4},
		{v6, false, false, v4},
	} {
		got, ok := pickFamily(both, c.last, c.failed, c.ipv6)
		require.True(t, ok)
		require.Equal(t, c.want, got, "%+v", c)
	}
	_, ok := pickFamily([]netip.Addr{v6}, netip.Addr{}, false, false)
	require.False(t, ok, "only IPv6, and IPv6 off")
	got, _ := pickFamily([]netip.Addr{v6}, netip.Addr{}, false, true)
	require.Equal(t, v6, got, "only IPv6: that one")
}

// TestIPv6Off: --ipv6 off takes no IPv6 host from pongs or the user, and
// will not listen on an IPv6 address.
func TestIPv6Off(t *testing.T) {
	n := startNode(t, ModeUltrapeer, func(c *Config) { c.NoIPv6 = true })
	n.hosts.add(netip.MustParseAddrPort("[2001:db8::9]:6346"), true)
	require.Empty(t, n.hosts.list())
	require.NoError(t, n.AddPeer("[::1]:6346"))
	require.Eventually(t, func() bool {
		ps := n.NamedPeers()
		return len(ps) == 1 && strings.Contains(ps[0].LastError, "IPv6 is off")
	}, waitFor, tick, "said in words: %+v", n.NamedPeers())

	cfg := DefaultConfig()
	cfg.NoIPv6, cfg.Listen = true, "[::1]:0"
	require.ErrorContains(t, cfg.Validate(), "IPv6 off")
	cfg = DefaultConfig()
	cfg.Listen = "127.0.0.1:0,[::1]:1"
	require.ErrorContains(t, cfg.Validate(), "same port")
	cfg.Listen = "127.0.0.1:0,127.0.0.2:0"
	require.ErrorContains(t, cfg.Validate(), "one address per IP family")
	cfg.Listen = "127.0.0.1:0,[::1]:0"
	require.NoError(t, cfg.Validate())
}

// TestHelloBothAddresses: gtk-gnutella says both of its addresses in
// "Node:"; the one of the connection's family is the peer's.
func TestHelloBothAddresses(t *testing.T) {
	var h protocol.Headers
	h.Add("Node", "192.0.2.4:6346, [2001:db8::4]:6347")
	var n *Node
	p := n.parseHello(h)
	require.Equal(t, netip.MustParseAddrPort("192.0.2.4:6346"), p.listen)
	p.listenFrom(netip.MustParseAddr("2001:db8::99"))
	require.Equal(t, netip.MustParseAddrPort("[2001:db8::4]:6347"), p.listen)
	p.listenFrom(netip.MustParseAddr("::ffff:198.51.100.1"))
	require.Equal(t, netip.MustParseAddrPort("192.0.2.4:6346"), p.listen)
}

// TestOOBToIPv6Querier: an OOB query from a servent without IPv4 names
// 127.0.0.0 in its MUID and its address in GGEP "6" (gtk-gnutella's
// IPv6-Ready queries); our LIME/12 goes to that IPv6 address.
func TestOOBToIPv6Querier(t *testing.T) {
	// leaf - mid - up, so that up sees the query beyond its neighbour;
	// mid is on both families (every IPv6 peer here is ::1, one link each).
	mid := startNode(t, ModeUltrapeer, withDualStack(t), withOOB)
	mid6 := netip.AddrPortFrom(netip.IPv6Loopback(), mid.Addr().Port())
	up := startNode(t, ModeUltrapeer, withIPv6Only(t), withOOB, withFiles("rare oob six.txt"), withPeers(mid6.String()))
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(mid)), withOOB)
	waitPeers(t, mid, 1, 1)
	pc, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback})
	require.NoError(t, err)
	defer pc.Close()
	port := pc.LocalAddr().(*net.UDPAddr).AddrPort().Port()

	g, ok := protocol.WithOOBAddr(protocol.NewGUID(), netip.AddrPortFrom(protocol.IPv4None, port))
	require.True(t, ok)
	six := netip.IPv6Loopback().As16()
	q := &protocol.Query{Flags: protocol.FlagMark | protocol.FlagGGEPH | protocol.FlagOOB, Criteria: "rare oob six",
		GGEP: protocol.GGEP{{ID: "SO"}, {ID: "6", Data: six[:]}, {ID: "I6", Data: []byte{1}}}}
	for _, c := range leaf.snap.Load().ups {
		c.send(protocol.AppendMessage(nil, protocol.Header{GUID: g, Type: protocol.TypeQuery, TTL: 2}, q), true)
	}
	buf := make([]byte, protocol.MaxDatagramLen)
	require.NoError(t, pc.SetReadDeadline(time.Now().Add(waitFor)))
	k, from, err := pc.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	require.Equal(t, up.UDPAddr(), from)
	d, err := protocol.DecodeDatagram(buf[:k], false)
	require.NoError(t, err)
	require.Equal(t, g, d.Header.GUID)
	var v protocol.Vendor
	require.NoError(t, v.Decode(d.Payload))
	require.Equal(t, uint16(protocol.SelOOBReplyNumber), v.Selector, "LIME/12 to the querier's IPv6 address")
}

// TestTryHostsByFamily: X-Try-Ultrapeers carries IPv6 hosts only to a peer
// that said X-Features IP/6.x, and no IPv4 host to one that said IP/6.4;
// we say IP/6.0 on both families and IP/6.4 on IPv6 only, as gtk-gnutella.
func TestTryHostsByFamily(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withDualStack(t))
	v4, v6 := netip.MustParseAddrPort("127.0.200.7:7000"), netip.MustParseAddrPort("[fd00::7]:7000")
	n.hosts.add(v4, true)
	n.hosts.add(v6, true)
	var h protocol.Headers
	h.Add("X-Features", "tls/1.0, sflag/0.1, HSEP/0.2")
	require.Equal(t, v4.String(), n.tryHosts(n.parseHello(h)))
	h.Set("X-Features", "tls/1.0, sflag/0.1, IP/6.0, HSEP/0.2")
	require.ElementsMatch(t, []netip.AddrPort{v4, v6}, protocol.ParseTryHosts(n.tryHosts(n.parseHello(h))))
	h.Set("X-Features", "tls/1.0, sflag/0.1, IP/6.4, HSEP/0.2")
	require.Equal(t, v6.String(), n.tryHosts(n.parseHello(h)))

	require.Contains(t, n.ourHeaders(netip.Addr{}, true).Get("X-Features"), "IP/6.0")
	six := startNode(t, ModeUltrapeer, withIPv6Only(t))
	require.Contains(t, six.ourHeaders(netip.Addr{}, true).Get("X-Features"), "IP/6.4")
	four := startNode(t, ModeUltrapeer)
	require.NotContains(t, four.ourHeaders(netip.Addr{}, true).Get("X-Features"), "IP/")
}

// gtkgHello reads the dialler's first block from a lab handshake text.
func gtkgHello(t *testing.T, name string) protocol.Headers {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ipv6-lab", name))
	require.NoError(t, err)
	_, block, ok := strings.Cut(string(b), "# ---- dialer -> acceptor (c2s):\n")
	require.True(t, ok)
	hs, err := protocol.ReadHandshake(bufio.NewReader(strings.NewReader(block))) // the wire's CRLFs
	require.NoError(t, err)
	return hs.Headers
}

// TestGTKGIPv6Hello replays gtk-gnutella's handshakes over IPv6 (lab,
// dialling a plain servent at [fd00::9]:6346): IPv6 only, "Node:
// [fd00::1]:6346" and IP/6.4; on both families one Node header with both
// addresses and IP/6.0.
func TestGTKGIPv6Hello(t *testing.T) {
	var n *Node
	p := n.parseHello(gtkgHello(t, "gtkg6-handshake-ipv6only-gtkg-dials-plainpeer.txt"))
	require.Equal(t, netip.MustParseAddrPort("[fd00::1]:6346"), p.listen)
	require.True(t, p.ipv6 && p.ipv6Only && p.tls)

	p = n.parseHello(gtkgHello(t, "gtkg6-handshake-dualstack-gtkg-dials-plainpeer.txt"))
	require.Len(t, p.listens, 2)
	require.True(t, p.ipv6)
	require.False(t, p.ipv6Only)
	p.listenFrom(netip.MustParseAddr("fd00::1"))
	require.True(t, p.listen.Addr().Is6(), "the link is IPv6: its IPv6 address")
}

// TestListenList: Listen names one address per family; with port 0 both
// get the port the kernel chose for the first.
func TestListenList(t *testing.T) {
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	} else {
		ln.Close()
	}
	cfg := testConfig(t, ModeUltrapeer)
	_ = cfg.Listener.Close()
	cfg.Listener = nil
	cfg.Listen = nextIP() + ":0,[::1]:0"
	n, err := New(cfg)
	require.NoError(t, err)
	err = n.Start(t.Context())
	if errors.Is(err, syscall.EADDRINUSE) {
		t.Skipf("the port chosen on IPv4 is taken on ::1: %v", err)
	}
	require.NoError(t, err)
	defer n.Close()
	port := n.Addr().Port()
	require.Equal(t, netip.AddrPortFrom(netip.IPv6Loopback(), port), n.Status().IPv6)
	require.Equal(t, n.Addr(), n.Status().IPv4)
	require.Equal(t, n.Addr().String()+", [::1]:"+strconv.Itoa(int(port)), n.Status().Listen)
}
