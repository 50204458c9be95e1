package servent

import (
	"context"
	"encoding/binary"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// gtkgDatagrams reads a capture's .udp-*.bin: each datagram behind a
// 4-byte big-endian length.
func gtkgDatagrams(t *testing.T, name string) []protocol.Datagram {
	t.Helper()
	var out []protocol.Datagram
	for _, b := range readDatagramFile(t, name) {
		d, err := protocol.DecodeDatagram(b, true)
		require.NoError(t, err)
		out = append(out, d)
	}
	return out
}

func ggepIDsOf(g protocol.GGEP) []string {
	var ids []string
	for _, e := range g {
		ids = append(ids, e.ID)
	}
	return ids
}

// withQK returns the Query datagram d with its GGEP QK replaced by key
// (nil: QK removed).
func withQK(t *testing.T, d protocol.Datagram, key []byte) (protocol.Header, *protocol.Query) {
	t.Helper()
	var q protocol.Query
	require.NoError(t, q.Decode(d.Payload))
	var g protocol.GGEP
	for _, e := range q.GGEP {
		if e.ID == "QK" {
			if key == nil {
				continue
			}
			e.Data = key
		}
		g = append(g, e)
	}
	q.GGEP = g
	return d.Header, &q
}

// TestGUESSServerReplay replays gtk-gnutella's client side of 32 and 33
// against our ultrapeer: the QK ping gets a Pong with GUE and a 4-byte QK
// as gtk-gnutella's (TTL 1 hops 0, MUID echoed); the GUESS query with
// that key gets the acknowledgement Pong (TTL 1 hops 1, GUE) and the hit
// over UDP (TTL 6 hops 0), as gtk-gnutella answered.
func TestGUESSServerReplay(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("alpha beta.txt"))
	p := newUDPPeer(t)
	tx := gtkgDatagrams(t, "33-guess-query-hit.udp-tx.bin")
	rx := gtkgDatagrams(t, "33-guess-query-hit.udp-rx.bin")
	require.Equal(t, protocol.TypePing, tx[0].Header.Type)

	p.send(n, tx[0].Header, rawPayload(tx[0].Payload))
	got := p.recv()
	assert.Equal(t, rx[0].Header.GUID, got.Header.GUID)
	assert.Equal(t, rx[0].Header.Type, got.Header.Type)
	assert.Equal(t, [2]uint8{rx[0].Header.TTL, rx[0].Header.Hops}, [2]uint8{got.Header.TTL, got.Header.Hops})
	var pong protocol.Pong
	require.NoError(t, pong.Decode(got.Payload))
	info, err := protocol.ParsePongInfo(pong.GGEP)
	require.NoError(t, err)
	assert.Equal(t, uint8(protocol.GUESSVersion), info.GUESS)
	require.Len(t, info.QueryKey, protocol.QueryKeyLen)
	assert.Contains(t, ggepIDsOf(pong.GGEP), "QK")

	h, q := withQK(t, tx[1], info.QueryKey)
	require.Equal(t, "alpha", q.Criteria)
	p.send(n, h, q)
	ack := p.recv()
	assert.Equal(t, rx[1].Header, ack.Header, "ack: same MUID, Pong, TTL 1 hops 1, same length")
	var ackPong protocol.Pong
	require.NoError(t, ackPong.Decode(ack.Payload))
	assert.Equal(t, []string{"GUE"}, ggepIDsOf(ackPong.GGEP), "GGEP as gtk-gnutella's U9 (we know no other GUESS host: IPP absent)")
	hit := p.recv()
	assert.Equal(t, protocol.TypeQueryHit, hit.Header.Type)
	assert.Equal(t, rx[2].Header.GUID, hit.Header.GUID)
	assert.Equal(t, [2]uint8{rx[2].Header.TTL, rx[2].Header.Hops}, [2]uint8{hit.Header.TTL, hit.Header.Hops})
	var qh protocol.QueryHit
	require.NoError(t, qh.Decode(hit.Payload))
	require.Len(t, qh.Results, 1)
	assert.Equal(t, "alpha beta.txt", qh.Results[0].Name)
	assert.Equal(t, n.guid, qh.ServentGUID)
	assert.Equal(t, GUESSStatus{Answered: 1}, n.Status().UDP.GUESS)
}

// TestGUESSBadKeys replays 34: a wrong key, no key at all (which
// gtk-gnutella answers; we do not), SCP without a key, and a good key
// from another source port are all refused with a Pong carrying a fresh
// key, no hits, and counted.
func TestGUESSBadKeys(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("alpha beta.txt", "gamma.txt"))
	p := newUDPPeer(t)
	other := newUDPPeer(t)
	tx := gtkgDatagrams(t, "34-guess-bad-qk.udp-tx.bin")
	require.Len(t, tx, 6)

	p.send(n, tx[0].Header, rawPayload(tx[0].Payload))
	var pong protocol.Pong
	require.NoError(t, pong.Decode(p.recv().Payload))
	info, _ := protocol.ParsePongInfo(pong.GGEP)
	good := info.QueryKey
	require.Len(t, good, 4)

	refused := func(peer *udpPeer, h protocol.Header, q *protocol.Query) {
		t.Helper()
		peer.send(n, h, q)
		d := peer.recv()
		require.Equal(t, protocol.TypePong, d.Header.Type, "no hit")
		assert.Equal(t, h.GUID, d.Header.GUID)
		assert.Equal(t, [2]uint8{1, 1}, [2]uint8{d.Header.TTL, d.Header.Hops})
		var pp protocol.Pong
		require.NoError(t, pp.Decode(d.Payload))
		in, _ := protocol.ParsePongInfo(pp.GGEP)
		assert.Equal(t, uint8(protocol.GUESSVersion), in.GUESS)
		assert.Len(t, in.QueryKey, 4, "a fresh key to retry with")
	}
	bad := append([]byte(nil), good...)
	bad[0] ^= 0xff
	h, q := withQK(t, tx[1], bad)
	refused(p, h, q)
	h, q = withQK(t, tx[3], nil) // gtk-gnutella answers this one
	require.Empty(t, q.GGEP)
	refused(p, h, q)
	h, q = withQK(t, tx[4], nil)
	require.Equal(t, []string{"SCP"}, ggepIDsOf(q.GGEP))
	refused(p, h, q)
	h, q = withQK(t, tx[5], good) // the good key from another port
	refused(other, h, q)
	assert.Equal(t, GUESSStatus{MissingKey: 2, BadKey: 2}, n.Status().UDP.GUESS)

	// With the right key from the right port it is answered.
	p.send(n, h, q)
	require.Equal(t, protocol.TypePong, p.recv().Header.Type)
	require.Equal(t, protocol.TypeQueryHit, p.recv().Header.Type)
	assert.Equal(t, uint64(1), n.Status().UDP.GUESS.Answered)
}

// TestGUESSLeafHitsOverUDP: a GUESS query is sent to the ultrapeer's leaf
// whose QRP table matches (QK/SCP stripped), and the leaf's hit reaches
// the GUESS client over UDP.
func TestGUESSLeafHitsOverUDP(t *testing.T) {
	up := startNode(t, ModeUltrapeer)
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(up)), withFiles("leafy green.txt"))
	waitPeers(t, up, 0, 1)
	require.Eventually(t, func() bool { return up.snap.Load().leaves[0].qrt.Load() != nil }, waitFor, tick)
	_ = leaf
	p := newUDPPeer(t)
	p.send(up, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}, &protocol.Ping{GGEP: protocol.GGEP{{ID: "QK"}}})
	var pong protocol.Pong
	require.NoError(t, pong.Decode(p.recv().Payload))
	info, _ := protocol.ParsePongInfo(pong.GGEP)
	g := protocol.NewGUID()
	p.send(up, protocol.Header{GUID: g, Type: protocol.TypeQuery, TTL: 1},
		&protocol.Query{Flags: protocol.FlagMark, Criteria: "leafy", GGEP: protocol.GGEP{{ID: "QK", Data: info.QueryKey}}})
	require.Equal(t, protocol.TypePong, p.recv().Header.Type)
	d := p.recv()
	require.Equal(t, protocol.TypeQueryHit, d.Header.Type)
	assert.Equal(t, g, d.Header.GUID)
	var qh protocol.QueryHit
	require.NoError(t, qh.Decode(d.Payload))
	assert.Equal(t, "leafy green.txt", qh.Results[0].Name)
	assert.Equal(t, leaf.guid, qh.ServentGUID)
}

// TestGUESSSearchThroughALine: a leaf under a line of three ultrapeers
// searches a file only the far one has. The TCP flood (MaxTTL 2: the
// leaf's ultrapeer probes at TTL 1) stops one short of it; the search
// continues over GUESS, learning the next ultrapeer from each
// acknowledgement Pong, and finds it.
func TestGUESSSearchThroughALine(t *testing.T) {
	ttl2 := func(c *Config) { c.MaxTTL = 2 }
	u3 := startNode(t, ModeUltrapeer, ttl2, withFiles("rare zebra.txt"))
	u2 := startNode(t, ModeUltrapeer, ttl2, withPeers(addrOf(u3)))
	u1 := startNode(t, ModeUltrapeer, ttl2, withPeers(addrOf(u2)))
	cfg := testConfig(t, ModeLeaf, ttl2, withPeers(addrOf(u1)))
	leaf, err := New(cfg)
	require.NoError(t, err)
	leaf.hooks.guessAfter = time.Millisecond
	require.NoError(t, leaf.Start(context.Background()))
	t.Cleanup(func() { _ = leaf.Close() })
	waitPeers(t, u1, 1, 1)
	waitPeers(t, u2, 2, 0)
	waitPeers(t, leaf, 1, 0)

	s := leaf.Search("rare zebra", nil)
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
	assert.Equal(t, []string{"rare zebra.txt"}, resultNames(s))
	assert.Equal(t, uint64(1), u3.Status().UDP.GUESS.Answered, "found over GUESS")
	assert.Zero(t, u3.stats.core.QueriesHandled.Load()-u3.Status().UDP.GUESS.Answered, "the TCP flood never reached u3")
}

// BenchmarkGUESSQueryAnswered: the cost of one GUESS query answered by
// the node (datagram decoded, key checked, ack Pong and one hit encoded
// and written to a loopback socket). The clock moves 100 ms a query so
// the output budgets never refuse a send: every datagram is written.
func BenchmarkGUESSQueryAnswered(b *testing.B) {
	var clock atomic.Int64
	clock.Store(time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC).UnixNano())
	n := startNode(b, ModeUltrapeer, withFiles("alpha beta.txt"), func(c *Config) {
		c.Now = func() time.Time { return time.Unix(0, clock.Load()) }
	})
	to := newUDPPeer(b) // receives nothing: the kernel drops what overflows its buffer
	from := to.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	q := &protocol.Query{Flags: protocol.FlagMark, Criteria: "alpha"}
	h := protocol.Header{Type: protocol.TypeQuery, TTL: 1}
	sent := n.Status().UDP.Sent
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		now := time.Unix(0, clock.Add(int64(100*time.Millisecond)))
		if i%10000 == 0 { // keys rotate daily: 10000 queries are 17 min
			key := n.udp.guess.serverKeys(now).Key(from, now)
			q.GGEP = protocol.GGEP{{ID: "QK", Data: key[:]}, {ID: "SCP"}}
		}
		i++
		binary.LittleEndian.PutUint64(h.GUID[:], i)
		d, err := protocol.DecodeDatagram(protocol.AppendDatagram(nil, h, q, false), true)
		if err != nil {
			b.Fatal(err)
		}
		n.udpQuery(from, d, now)
	}
	if got := n.Status().UDP.GUESS.Answered; got != i {
		b.Fatalf("answered %d of %d", got, i)
	}
	if got := n.Status().UDP.Sent - sent; got != 2*i {
		b.Fatalf("sent %d datagrams for %d queries", got, i)
	}
}

// rawPayload sends recorded payload bytes as they are.
type rawPayload []byte

func (r rawPayload) Append(dst []byte) []byte { return append(dst, r...) }

// TestGUESSRefusalNoLarger: the Pong refusing a keyless query is no larger
// than gtk-gnutella's refusal (52 bytes in 34): no amplification towards
// a spoofed source beyond what gtk-gnutella does.
func TestGUESSRefusalNoLarger(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("alpha beta.txt"))
	p := newUDPPeer(t)
	p.send(n, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeQuery, TTL: 1}, &protocol.Query{Flags: protocol.FlagMark, Criteria: "alpha"})
	d := p.recv()
	require.Equal(t, protocol.TypePong, d.Header.Type)
	assert.LessOrEqual(t, protocol.HeaderLen+len(d.Payload), 52)
}

// TestGUESSInPongs: an ultrapeer with UDP says GUE in its Pongs (TCP and
// UDP) and X-Guess in its handshake; a leaf says neither.
func TestGUESSInPongs(t *testing.T) {
	up := startNode(t, ModeUltrapeer)
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(up)))
	waitPeers(t, up, 0, 1)
	c := leaf.snap.Load().ups[0]
	assert.True(t, c.guess, "the ultrapeer announced X-Guess")
	tcp := up.ownPong(up.snap.Load().leaves[0])
	assert.Equal(t, []string{"VC", "GUE", "UP", "TLS"}, ggepIDsOf(tcp.GGEP), "GTKG's order")
	assert.Equal(t, []string{"VC", "GUE", "UP", "DU", "TLS"}, ggepIDsOf(up.udpOwnPong().GGEP), "GTKG's order")
	assert.Equal(t, []string{"VC", "DU", "TLS"}, ggepIDsOf(leaf.udpOwnPong().GGEP))
}

// FuzzGUESSDatagram: any datagram, through the dispatcher to the GUESS
// server and client paths (Query, Ping, Pong, QueryHit), is handled or
// dropped without panicking.
func FuzzGUESSDatagram(f *testing.F) {
	for _, name := range []string{"32-guess-qk", "33-guess-query-hit", "34-guess-bad-qk"} {
		for _, dir := range []string{"tx", "rx"} {
			for _, b := range readDatagramFile(f, name+".udp-"+dir+".bin") {
				f.Add(b)
			}
		}
	}
	n := startNode(f, ModeUltrapeer, withFiles("alpha beta.txt"))
	s := n.Search("alpha", nil)
	from := netip.MustParseAddrPort("127.0.0.99:40000")
	n.startGuess(s, 10) // a run, so that Pongs and hits for it are looked at
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := protocol.DecodeDatagram(b, true)
		if err != nil {
			return
		}
		n.handleDatagram(from, d, n.cfg.Now())
	})
}
