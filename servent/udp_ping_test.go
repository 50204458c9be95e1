package servent

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/reach"
	"github.com/servent/servent/servent/uhc"
)

func withUHC(caches ...string) nodeOpt {
	return func(c *Config) { c.UHC = append(c.UHC, caches...) }
}

func withGWC(urls ...string) nodeOpt {
	return func(c *Config) { c.GWC = append(c.GWC, urls...) }
}

// withHostCache lets the node dial hosts it learns (test nodes dial only
// their named peers by default).
func withHostCache() nodeOpt { return func(c *Config) { c.fixedPeers = false } }

// sendBytes sends one raw datagram to n's UDP socket.
func (p *udpPeer) sendBytes(n *Node, b []byte) {
	p.t.Helper()
	_, err := p.conn.WriteToUDPAddrPort(b, n.UDPAddr())
	require.NoError(p.t, err)
}

func (p *udpPeer) local() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// pingWith sends a TTL-1 Ping with g's GGEP and returns its MUID.
func (p *udpPeer) pingWith(n *Node, g protocol.GGEP) protocol.GUID {
	p.t.Helper()
	muid := protocol.NewGUID()
	p.send(n, protocol.Header{GUID: muid, Type: protocol.TypePing, TTL: 1}, &protocol.Ping{GGEP: g})
	return muid
}

// recvPong waits for a Pong answering muid and parses it.
func (p *udpPeer) recvPong(muid protocol.GUID) (protocol.Datagram, protocol.Pong, protocol.PongInfo) {
	p.t.Helper()
	d := p.recv()
	require.Equal(p.t, protocol.TypePong, d.Header.Type)
	require.Equal(p.t, muid, d.Header.GUID, "the Pong carries the Ping's MUID")
	var pong protocol.Pong
	require.NoError(p.t, pong.Decode(d.Payload))
	info, err := protocol.ParsePongInfo(pong.GGEP)
	require.NoError(p.t, err)
	return d, pong, info
}

// silent asserts no datagram is waiting. Call it only once the node has
// decided not to send (a counter says so): it never races a datagram
// still on its way.
func (p *udpPeer) silent() {
	p.t.Helper()
	require.NoError(p.t, p.conn.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
	_, _, err := p.conn.ReadFromUDPAddrPort(make([]byte, 64))
	require.Error(p.t, err, "no datagram expected")
}

func ggepIDs(g protocol.GGEP) []string {
	var ids []string
	for _, e := range g {
		ids = append(ids, e.ID)
	}
	return ids
}

// servingUP starts an ultrapeer that acts as a UDP host cache: another
// ultrapeer dialled it, so it has accepted an inbound connection.
func servingUP(t *testing.T) (up, other *Node) {
	t.Helper()
	up = startNode(t, ModeUltrapeer)
	other = startNode(t, ModeUltrapeer, withPeers(addrOf(up)))
	waitPeers(t, up, 1, 0)
	require.Eventually(t, up.servesCaches, waitFor, tick)
	return up, other
}

// A UDP Ping gets our Pong (TTL 1, hops 0, the Ping's MUID, our address
// and GGEP VC); a second Ping from the same IP, even from another port,
// within a minute gets nothing (gtk-gnutella's UDP_PING_FREQ).
func TestUDPPingAnsweredOncePerIP(t *testing.T) {
	n := startNode(t, ModeLeaf)
	p := newUDPPeer(t)
	muid := p.pingWith(n, nil)
	d, pong, info := p.recvPong(muid)
	require.Equal(t, uint8(1), d.Header.TTL)
	require.Equal(t, uint8(0), d.Header.Hops)
	require.Equal(t, n.Addr().Port(), pong.Port)
	require.Equal(t, n.Addr().Addr(), pong.IP)
	require.True(t, info.HasVC)
	require.Equal(t, "SRVT", string(info.Vendor[:]))
	require.False(t, info.Ultrapeer, "a leaf has no UP")
	require.Empty(t, info.Hosts)

	again, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(p.local().Addr(), 0)))
	require.NoError(t, err)
	defer again.Close()
	p2 := &udpPeer{t: t, conn: again}
	p2.pingWith(n, nil)
	require.Eventually(t, func() bool { return n.udp.caches.stats.pingsThrottled.Load() == 1 }, waitFor, tick)
	p2.silent()

	other := newUDPPeer(t) // another IP is answered
	muid = other.pingWith(n, nil)
	other.recvPong(muid)
}

// A UHC ping (GGEP SCP) to an ultrapeer that others can reach is
// answered with IPP: ultrapeers from its host cache and its neighbours,
// never itself or the requester. A leaf answers with its Pong only.
func TestUHCPingAnsweredWithIPP(t *testing.T) {
	up, other := servingUP(t)
	p := newUDPPeer(t)
	cached := []netip.AddrPort{
		netip.MustParseAddrPort("127.0.200.1:7001"),
		netip.MustParseAddrPort("127.0.200.2:7002"),
		netip.AddrPortFrom(p.local().Addr(), 6346), // the requester's IP: never listed
	}
	for _, h := range cached {
		up.hosts.add(h, true)
	}
	up.hosts.add(netip.MustParseAddrPort("127.0.200.3:7003"), false) // a leaf: not listed
	six := netip.MustParseAddrPort("[::1]:7004")
	up.hosts.add(six, true) // IPv6: only to who asks for IPP6

	scp := protocol.PingRequest{UHC: true, SCP: protocol.SCPUltrapeers}.GGEP()
	muid := p.pingWith(up, scp)
	_, pong, info := p.recvPong(muid)
	require.Equal(t, up.Addr().Port(), pong.Port)
	require.True(t, info.Ultrapeer)
	require.ElementsMatch(t, []netip.AddrPort{cached[0], cached[1], other.Addr()}, info.Hosts,
		"cached ultrapeers and the connected one, not the requester, not a leaf, not us")
	require.NotContains(t, info.Hosts, up.Addr())
	require.Empty(t, info.Hosts6)
	// Counted after the send: the Pong may arrive first.
	require.Eventually(t, func() bool { return up.udp.caches.stats.uhcAnswers.Load() == 1 }, waitFor, tick)

	p6 := newUDPPeer(t)
	muid = p6.pingWith(up, protocol.PingRequest{UHC: true, SCP: protocol.SCPUltrapeers | protocol.SCPIPv6}.GGEP())
	_, _, info = p6.recvPong(muid)
	require.Equal(t, []netip.AddrPort{six}, info.Hosts6, "SCP 04 asks IPv6 hosts too, in IPP6")
	require.Len(t, info.Hosts, 4, "and the IPv4 ones (the first requester's address among them now)")

	leaf := startNode(t, ModeLeaf)
	leaf.hosts.add(cached[0], true)
	muid = p.pingWith(leaf, scp)
	_, _, info = p.recvPong(muid)
	require.Empty(t, info.Hosts, "a leaf is no host cache")
}

// A cold node (no peers, empty host cache) given only --uhc of an
// ultrapeer pings it, learns it and the hosts of its IPP, and connects.
func TestUHCBootstrapColdNode(t *testing.T) {
	up, other := servingUP(t)
	cold := startNode(t, ModeLeaf, withUHC(addrOf(up)), withHostCache())
	require.Eventually(t, func() bool { return cold.Status().Peers >= 1 }, waitFor, tick, "the cold node connects")
	require.Eventually(t, func() bool {
		return cold.udp.caches.stats.pongsTaken.Load() == 1 && hostCached(cold, other.Addr())
	}, waitFor, tick, "the IPP host is in the cold node's host cache")
	st := cold.HostCaches()
	require.Len(t, st.Caches, 1)
	require.False(t, st.Caches[0].LastAnswer.IsZero(), "the cache answered")
	require.Equal(t, uint64(1), st.Probes)
	require.NotZero(t, st.HostsLearnt)
	require.Equal(t, uint64(1), up.HostCaches().UHCAnswers)
}

func hostCached(n *Node, a netip.AddrPort) bool {
	for _, h := range n.Hosts() {
		if h.Addr == a {
			return true
		}
	}
	return false
}

// A Pong that answers none of our pings is dropped: its IPP hosts never
// reach the host cache.
func TestUnsolicitedPongIgnored(t *testing.T) {
	n := startNode(t, ModeLeaf)
	p := newUDPPeer(t)
	info := protocol.PongInfo{Hosts: []netip.AddrPort{netip.MustParseAddrPort("127.0.201.1:7001")}}
	pong := &protocol.Pong{Port: 6346, IP: p.local().Addr(), GGEP: info.AppendGGEP(nil)}
	p.sendBytes(n, protocol.AppendDatagram(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePong, TTL: 1}, pong, false))
	require.Eventually(t, func() bool { return n.udp.caches.stats.pongsUnsolicited.Load() == 1 }, waitFor, tick)
	require.Zero(t, n.hosts.len())
}

// The named caches are saved beside hosts.txt and asked again after a
// restart without the flags.
func TestCachesPersisted(t *testing.T) {
	dir := t.TempDir()
	n := startNode(t, ModeLeaf, withDataDir(dir), withUHC("uhc.example:6346"), withGWC("http://gwc.example/cache.php"))
	require.NoError(t, n.Close())
	b, err := os.ReadFile(filepath.Join(dir, uhc.CachesFile))
	require.NoError(t, err)
	require.Contains(t, string(b), "uhc uhc.example:6346 ")
	require.Contains(t, string(b), "gwc http://gwc.example/cache.php ")

	again := startNode(t, ModeLeaf, withDataDir(dir))
	var names []string
	for _, c := range again.hosts.caches.Caches() {
		names = append(names, c.Kind.String()+" "+c.Name)
	}
	require.Equal(t, []string{"uhc uhc.example:6346", "gwc http://gwc.example/cache.php"}, names)
}

func TestConfigRejectsBadCaches(t *testing.T) {
	for _, c := range []Config{{UHC: []string{"no-port"}}, {UHC: []string{"host:0"}}, {GWC: []string{"ftp://x/"}}, {GWC: []string{"gwc.example"}}} {
		c.Mode = ModeLeaf
		require.Error(t, c.Validate(), "%+v", c)
	}
}

// gwcServer is a GWebCache on loopback: get answers hosts, update
// records the address announced.
type gwcServer struct {
	*httptest.Server
	mu      sync.Mutex
	hosts   []netip.AddrPort
	updates []string // guarded by mu
	gets    int      // guarded by mu
}

func newGWCServer(t *testing.T, hosts ...netip.AddrPort) *gwcServer {
	g := &gwcServer{hosts: hosts}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client") != uhc.GWCClient || q.Get("net") != "gnutella" {
			fmt.Fprint(w, "ERROR: bad client\n")
			return
		}
		g.mu.Lock()
		defer g.mu.Unlock()
		switch {
		case q.Get("get") == "1":
			g.gets++
			fmt.Fprint(w, "I|pong|test-gwc|gnutella\n")
			for _, h := range g.hosts {
				fmt.Fprintf(w, "H|%s|10\n", h)
			}
			fmt.Fprint(w, "U|http://elsewhere.example/|10\n")
		case q.Get("update") == "1":
			g.updates = append(g.updates, q.Get("ip"))
			fmt.Fprint(w, "I|update|OK\n")
		}
	}))
	t.Cleanup(g.Close)
	return g
}

// A cold node given only --gwc of a web cache that lists an ultrapeer
// connects to it.
func TestGWCBootstrapColdNode(t *testing.T) {
	up := startNode(t, ModeUltrapeer)
	g := newGWCServer(t, up.Addr())
	cold := startNode(t, ModeLeaf, withGWC(g.URL+"/gwc.php"), withHostCache())
	require.Eventually(t, func() bool { return cold.Status().Peers == 1 }, waitFor, tick, "the cold node connects")
	g.mu.Lock()
	defer g.mu.Unlock()
	require.Equal(t, 1, g.gets)
	require.Empty(t, g.updates, "a leaf does not announce itself")
}

// An ultrapeer others reach announces its address to the web cache it
// asks (the update form).
func TestGWCUpdateWhenServing(t *testing.T) {
	g := newGWCServer(t)
	up := startNode(t, ModeUltrapeer, withGWC(g.URL), withHostCache())
	startNode(t, ModeUltrapeer, withPeers(addrOf(up)))
	require.Eventually(t, func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return len(g.updates) > 0
	}, waitFor, tick)
	g.mu.Lock()
	defer g.mu.Unlock()
	require.Equal(t, addrOf(up), g.updates[0])
}

// Replays of gtk-gnutella's UDP lab (testdata/interop/gtk-gnutella/30-*,
// 31-*): the pings its probe sent are sent to our node, and our answers
// must have the shape of gtk-gnutella's recorded answers.

const interopDir = "../testdata/interop/gtk-gnutella"

// readDatagramFile splits a .udp-*.bin file (each datagram after a
// 4-byte big-endian length).
func readDatagramFile(t testing.TB, name string) [][]byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(interopDir, name))
	require.NoError(t, err)
	var out [][]byte
	for len(b) > 0 {
		require.GreaterOrEqual(t, len(b), 4)
		k := int(binary.BigEndian.Uint32(b))
		require.LessOrEqual(t, 4+k, len(b))
		out = append(out, b[4:4+k])
		b = b[4+k:]
	}
	return out
}

// keyOrder is gtk-gnutella's order of Pong keys (build_pong_msg()).
var keyOrder = []string{"6", "VC", "GUE", "UP", "LOC", "DU", "TLS", "DHT", "IPP", "IPP_TLS", "IPP6", "DHTIPP", "IP", "QK"}

func inKeyOrder(t *testing.T, ids []string) {
	t.Helper()
	last := -1
	for _, id := range ids {
		i := indexOf(keyOrder, id)
		require.Greater(t, i, last, "key %s out of gtk-gnutella's order in %v", id, ids)
		last = i
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestReplayGTKGUDPPings(t *testing.T) {
	up, other := servingUP(t)
	up.hosts.add(netip.MustParseAddrPort("127.0.202.43:7003"), true)

	for _, file := range []string{"30-udp-ping-pong", "31-uhc-scp-ipp"} {
		sent := readDatagramFile(t, file+".udp-tx.bin")
		got := readDatagramFile(t, file+".udp-rx.bin")
		theirs := map[protocol.GUID]protocol.Datagram{}
		for _, b := range got {
			d, err := protocol.DecodeDatagram(b, false)
			require.NoError(t, err)
			theirs[d.Header.GUID] = d
		}
		for i, b := range sent {
			d, err := protocol.DecodeDatagram(b, false)
			require.NoError(t, err)
			if d.Header.Type != protocol.TypePing {
				continue
			}
			var ping protocol.Ping
			require.NoError(t, ping.Decode(d.Payload))
			req := protocol.ParsePingRequest(ping.GGEP)
			if req.GUESSHosts || req.QueryKey {
				continue // GUESS pings: not this file's concern
			}
			want, answered := theirs[d.Header.GUID]
			t.Run(fmt.Sprintf("%s/%d", file, i), func(t *testing.T) {
				p := newUDPPeer(t) // each from its own IP, as the lab's pings
				p.sendBytes(up, b)
				if !answered {
					t.Skip("gtk-gnutella did not answer (same IP within a minute): see TestUDPPingAnsweredOncePerIP")
				}
				ours, pong, info := p.recvPong(d.Header.GUID)
				require.Equal(t, want.Header.TTL, ours.Header.TTL)
				require.Equal(t, want.Header.Hops, ours.Header.Hops)
				var theirPong protocol.Pong
				require.NoError(t, theirPong.Decode(want.Payload))
				theirInfo, err := protocol.ParsePongInfo(theirPong.GGEP)
				require.NoError(t, err)
				inKeyOrder(t, ggepIDs(pong.GGEP))
				// The keys gtk-gnutella sends that servent has: VC, UP
				// (an ultrapeer), DU; IPP exactly when gtk-gnutella's
				// answer has one. GUE is GUESS's, TLS servent lacks.
				for _, id := range []string{"VC", "UP", "DU", "IPP"} {
					require.Equal(t, indexOf(ggepIDs(theirPong.GGEP), id) >= 0, indexOf(ggepIDs(pong.GGEP), id) >= 0, "key %s", id)
				}
				require.Equal(t, up.Addr().Port(), pong.Port)
				require.Equal(t, theirInfo.Ultrapeer, info.Ultrapeer)
				if len(theirInfo.Hosts) > 0 {
					require.Contains(t, info.Hosts, other.Addr())
					require.NotContains(t, info.Hosts, up.Addr())
					require.LessOrEqual(t, len(info.Hosts), uhc.MaxHosts)
				}
			})
		}
	}
}

// BenchmarkUHCAnswer is the cost of answering a UHC ping on an ultrapeer
// whose host cache is full (2000 hosts) and that has 32 neighbours: the
// per-IP check, the IPP pick, the Pong and its datagram (not the send).
func BenchmarkUHCAnswer(b *testing.B) {
	cfg := testConfig(b, ModeUltrapeer)
	n, err := New(cfg)
	require.NoError(b, err)
	defer n.Close()
	n.started = time.Now()
	n.reach.prove(reach.TCP, netip.MustParseAddrPort("10.0.0.1:6346"), reach.SourceInbound, time.Now())
	for i := range hostCacheMax {
		n.hosts.add(netip.AddrPortFrom(netip.AddrFrom4([4]byte{8, byte(i >> 8), byte(i), 1}), 6346), true)
	}
	scp := protocol.PingRequest{UHC: true, SCP: protocol.SCPUltrapeers}
	now := time.Now()
	hdr := protocol.Header{Type: protocol.TypePong, TTL: 1}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		now = now.Add(5 * time.Millisecond) // the limiter forgets as fast as it learns
		from := netip.AddrPortFrom(netip.AddrFrom4([4]byte{9, byte(i >> 16), byte(i >> 8), byte(i)}), 6346)
		if !n.udp.caches.limiter.Allow(from.Addr(), now) {
			b.Fatal("limited")
		}
		pong, k := n.udpAnswer(from, scp, now)
		if k != uhc.MaxHosts {
			b.Fatalf("%d hosts", k)
		}
		_ = protocol.AppendDatagram(nil, hdr, pong, false)
	}
}

// A banned address gets no Pong (GTKG answers no bad node).
func TestUDPPingFromBannedIgnored(t *testing.T) {
	n := startNode(t, ModeLeaf)
	p := newUDPPeer(t)
	n.mu.Lock()
	n.bans[banKey(p.local().Addr())] = time.Now().Add(time.Hour)
	n.mu.Unlock()
	p.pingWith(n, nil)
	require.Eventually(t, func() bool { return n.udp.caches.stats.pingsBanned.Load() == 1 }, waitFor, tick)
	p.silent()
}

// The client side against gtk-gnutella's bytes: our UHC Ping is a
// gtk-gnutella UHC Ping (TTL 1, hops 0, SCP with its flag byte, VC), and
// gtk-gnutella's recorded answer (U4 of 31-uhc-scp-ipp, its MUID set to
// our Ping's) fills the cold node's host cache with the sender and the
// three IPP hosts.
func TestUHCClientReadsGTKGAnswer(t *testing.T) {
	cache := newUDPPeer(t)
	cold := startNode(t, ModeLeaf, withUHC(cache.local().String()), withHostCache())
	buf := make([]byte, protocol.MaxDatagramLen)
	require.NoError(t, cache.conn.SetReadDeadline(time.Now().Add(waitFor)))
	k, from, err := cache.conn.ReadFromUDPAddrPort(buf)
	require.NoError(t, err)
	require.Equal(t, cold.UDPAddr(), from, "sent from the Gnutella port")
	d, err := protocol.DecodeDatagram(buf[:k], false)
	require.NoError(t, err)
	require.Equal(t, protocol.TypePing, d.Header.Type)
	require.Equal(t, uint8(1), d.Header.TTL)
	require.Equal(t, uint8(0), d.Header.Hops)
	var ping protocol.Ping
	require.NoError(t, ping.Decode(d.Payload))
	require.Equal(t, []string{"SCP", "VC"}, ggepIDs(ping.GGEP), "GTKG's build_ping_msg() order")
	req := protocol.ParsePingRequest(ping.GGEP)
	require.True(t, req.UHC)
	require.Zero(t, req.SCP&protocol.SCPUltrapeers, "a leaf wants hosts with leaf slots")
	require.Equal(t, protocol.SCPTLS|protocol.SCPIPv6, req.SCP, "we speak TLS and want IPv6 hosts too")

	var u4 []byte
	for _, b := range readDatagramFile(t, "31-uhc-scp-ipp.udp-rx.bin") {
		if len(b) == 93 { // U4: the Pong with IPP to the SCP 01 ping
			u4 = append([]byte(nil), b...)
			break
		}
	}
	require.NotNil(t, u4)
	copy(u4, d.Header.GUID[:])
	_, err = cache.conn.WriteToUDPAddrPort(u4, from)
	require.NoError(t, err)
	want := []string{"127.0.0.43:7003", "127.0.0.42:7002", "127.0.0.31:6399"}
	require.Eventually(t, func() bool {
		for _, h := range want {
			if !hostCached(cold, netip.MustParseAddrPort(h)) {
				return false
			}
		}
		return true
	}, waitFor, tick, "the IPP hosts are cached")
	// the Pong names 127.0.0.1:6346 but came from the cache's address: the
	// source is what we know to reach it by
	require.True(t, hostCached(cold, cache.local()))
}
