package servent

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// TestSearchFiltersSpam: a neighbour answers our search with a good
// result, a spam-listed SHA-1, a name without the query's words, an
// executable named after the query, and a hit from a hostile address. The
// search keeps the good one and counts the rest by reason; the spammer's
// later good-looking hit is dropped too (karma).
func TestSearchFiltersSpam(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "spam.txt"), []byte("SHA1 Y5P65ZOJ5MHQYZXBBIO2A2ZD4SK3KBMD\nADDED 2026-12-05\nEND\n"), 0o644))
	hostiles := filepath.Join(t.TempDir(), "mine.txt")
	require.NoError(t, os.WriteFile(hostiles, []byte("203.0.113.0/24\n"), 0o644))
	n := startNode(t, ModeLeaf, withDataDir(dir), func(c *Config) { c.HostileLists = []string{hostiles} })
	p := connectRaw(t, n, true, "")
	waitPeers(t, n, 1, 0)
	s := n.Search("zebra song", nil)
	qh := p.awaitQuery("zebra song")
	spam, err := protocol.ParseSHA1Base32("Y5P65ZOJ5MHQYZXBBIO2A2ZD4SK3KBMD")
	require.NoError(t, err)
	send := func(ip string, guid byte, results ...protocol.Result) {
		hit := protocol.QueryHit{Port: 6346, IP: netip.MustParseAddr(ip), Speed: 1, Vendor: protocol.VendorSRVT,
			ServentGUID: protocol.GUID{guid, 7}, Results: results}
		p.write(protocol.AppendMessage(nil, protocol.Header{GUID: qh.GUID, Type: protocol.TypeQueryHit, TTL: 3}, &hit))
	}
	send("198.51.100.1", 1,
		protocol.Result{Index: 1, Size: 100, Name: "Zebra Song (live).mp3"},
		protocol.Result{Index: 2, Size: 100, Name: "Other thing.mp3"},
	)
	send("198.51.100.2", 2,
		protocol.Result{Index: 1, Size: 100, Name: "zebra song.exe"},
		protocol.Result{Index: 2, Size: 100, Name: "zebra song remix.mp3", SHA1: spam},
	)
	send("198.51.100.2", 3, protocol.Result{Index: 3, Size: 100, Name: "zebra song acoustic.mp3"}) // karma: same address
	send("203.0.113.9", 4, protocol.Result{Index: 1, Size: 100, Name: "zebra song demo.mp3"})
	// A ping behind the hits: its pong means they were all handled.
	ping := protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}
	p.write(protocol.AppendMessage(nil, ping, &protocol.Ping{}))
	for {
		if h, _ := p.nextOf(protocol.TypePong); h.GUID == ping.GUID {
			break
		}
	}
	rs := s.Results()
	require.Len(t, rs, 1)
	assert.Equal(t, "Zebra Song (live).mp3", rs[0].Name)
	assert.Equal(t, map[string]int{"no-match": 1, "echoes-query": 1, "spam-sha1": 1, "karma": 1, "hostile": 1}, s.Filtered())
	rej := s.Rejected()
	require.Len(t, rej, 5)
	assert.Equal(t, RejectedResult{Reason: "no-match", Name: "Other thing.mp3", Size: 100,
		From: netip.MustParseAddrPort("198.51.100.1:6346"), Vendor: "SRVT"}, rej[0])
	assert.Equal(t, "hostile", rej[4].Reason)
}

// TestHostileRefused: an address in the hostile list is refused at accept,
// gets no pushed upload, and a list the user named must exist.
func TestHostileRefused(t *testing.T) {
	list := filepath.Join(t.TempDir(), "hostiles.txt")
	require.NoError(t, os.WriteFile(list, []byte("# lab\n127.0.0.77\n"), 0o644))
	var pushedTo []netip.AddrPort
	n := startNode(t, ModeUltrapeer, func(c *Config) {
		c.HostileLists = []string{list}
		c.PushHandler = func(_ uint32, a netip.AddrPort) { pushedTo = append(pushedTo, a) }
	})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.77")}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addrOf(n))
	require.NoError(t, err)
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(waitFor))
	_, _ = c.Write([]byte("GNUTELLA CONNECT/0.6\r\n\r\n"))
	_, err = c.Read(make([]byte, 1))
	require.Error(t, err, "the hostile address is closed without an answer")
	assert.True(t, n.hostile(netip.MustParseAddr("127.0.0.77")))
	assert.False(t, n.hostile(netip.MustParseAddr("127.0.0.78")))
	// A push naming a hostile address gets no upload.
	n.pushed(1, netip.MustParseAddrPort("127.0.0.77:6346"))
	n.pushed(1, netip.MustParseAddrPort("127.0.0.78:6346"))
	assert.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.78:6346")}, pushedTo)

	cfg := testConfig(t, ModeLeaf)
	cfg.SpamLists = []string{filepath.Join(t.TempDir(), "missing.txt")}
	_, err = New(cfg)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "missing.txt")
}

// TestTLSFromHit: a hit's GGEP TLS marks its (direct) responder as
// speaking TLS; a firewalled one's address is not dialled, so not marked.
func TestTLSFromHit(t *testing.T) {
	n := startNode(t, ModeLeaf)
	s := n.Search("tls", nil)
	hit := protocol.QueryHit{IP: netipAddr("192.0.2.44"), Port: 6346, Vendor: protocol.VendorSRVT,
		Results: []protocol.Result{{Name: "tls.txt", Size: 3}}, GGEP: protocol.GGEP{{ID: "TLS"}}}
	n.takeHit(s, &hit)
	require.True(t, n.tls.wants(netip.MustParseAddrPort("192.0.2.44:6346")))
	hit.IP, hit.Push = netipAddr("192.0.2.45"), true
	n.takeHit(s, &hit)
	require.False(t, n.tls.wants(netip.MustParseAddrPort("192.0.2.45:6346")))
}
