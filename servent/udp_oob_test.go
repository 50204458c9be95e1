package servent

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/stretchr/testify/require"
)

// TestOOBHitsToLeaf: a leaf that receives UDP searches with FlagOOB and
// its address in the MUID; the ultrapeer holding the hit sends LIME/12 to
// that address, the leaf claims it with LIME/11 and its token, and the hit
// arrives over UDP, not over TCP.
func TestOOBHitsToLeaf(t *testing.T) {
	up, leaf := oobLine(t)

	s := leaf.Search("rare oob", nil)
	require.Equal(t, leaf.UDPAddr(), protocol.OOBAddr(s.guid), "our UDP address in the MUID")
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)

	us, ls := up.oobStats(), leaf.oobStats()
	require.Equal(t, uint64(1), us.Held)
	require.Equal(t, uint64(1), us.Acked)
	require.Equal(t, uint64(1), us.ResponderStats.Sent)
	require.Equal(t, uint64(1), ls.Claimed)
	require.Equal(t, uint64(1), ls.Accepted)
}

// TestOOBNoAckNoHits: a querier that never sends LIME/11 gets LIME/12 and
// nothing else; the held hits expire unsent.
func TestOOBNoAckNoHits(t *testing.T) {
	up, leaf := oobLine(t)
	peer := newUDPPeer(t)

	// A query from the leaf whose MUID names peer as the OOB return address.
	g, ok := protocol.WithOOBAddr(protocol.NewGUID(), peer.addr())
	require.True(t, ok)
	q := &protocol.Query{Flags: protocol.FlagMark | protocol.FlagGGEPH | protocol.FlagOOB, Criteria: "rare oob",
		GGEP: protocol.GGEP{{ID: "SO"}}}
	for _, c := range leaf.snap.Load().ups {
		c.send(protocol.AppendMessage(nil, protocol.Header{GUID: g, Type: protocol.TypeQuery, TTL: 2}, q), true)
	}

	d := peer.recv()
	require.Equal(t, g, d.Header.GUID)
	var v protocol.Vendor
	require.NoError(t, v.Decode(d.Payload))
	require.Equal(t, uint16(protocol.SelOOBReplyNumber), v.Selector)
	rn, err := protocol.DecodeOOBReplyNumber(v.Version, v.Data)
	require.NoError(t, err)
	require.Equal(t, protocol.OOBReplyNumber{Version: 3, Hits: 1}, rn)

	up.oobTick(time.Now().Add(time.Hour)) // past the ACK timeout
	st := up.oobStats()
	require.Equal(t, uint64(1), st.Expired)
	require.Zero(t, st.ResponderStats.Sent)
	require.Zero(t, st.Acked)
}

// TestOOBUnsolicitedHitDropped: a UDP hit nobody claimed is dropped and
// counted, and a claimed hit with the wrong token too.
func TestOOBUnsolicitedHitDropped(t *testing.T) {
	n := startNode(t, ModeLeaf, withOOB)
	s := n.Search("something", nil)
	require.Equal(t, n.UDPAddr(), protocol.OOBAddr(s.guid), "a node with UDP searches OOB")
	peer := newUDPPeer(t)
	hit := &protocol.QueryHit{Port: 6346, IP: netipAddr("10.1.2.3"), Vendor: protocol.VendorSRVT,
		Results: []protocol.Result{{Index: 1, Name: "something.txt"}}}

	peer.send(n, protocol.Header{GUID: s.guid, Type: protocol.TypeQueryHit, TTL: 1}, hit)
	require.Eventually(t, func() bool { return n.oobStats().Unsolicited == 1 }, waitFor, tick)

	// Claimed, but the hit carries a token not ours.
	rn := protocol.OOBReplyNumber{Version: 3, Hits: 1}.Vendor()
	peer.send(n, protocol.Header{GUID: s.guid, Type: protocol.TypeVendor, TTL: 1}, &rn)
	d := peer.recv()
	var v protocol.Vendor
	require.NoError(t, v.Decode(d.Payload))
	ack, err := protocol.DecodeOOBReplyAck(v.Version, v.Data)
	require.NoError(t, err)
	require.Equal(t, uint8(1), ack.Wanted)
	require.Len(t, ack.Token, 8)
	hit.GGEP = protocol.GGEP{{ID: "SO", Data: []byte("notours!")}}
	peer.send(n, protocol.Header{GUID: s.guid, Type: protocol.TypeQueryHit, TTL: 1}, hit)
	require.Eventually(t, func() bool { return n.oobStats().BadToken == 1 }, waitFor, tick)
	require.Empty(t, s.Results())

	// With the token it is taken.
	hit.GGEP = protocol.GGEP{{ID: "SO", Data: ack.Token}}
	peer.send(n, protocol.Header{GUID: s.guid, Type: protocol.TypeQueryHit, TTL: 1}, hit)
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
}

func (p *udpPeer) addr() netip.AddrPort { return p.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

// TestOOBProxyForLeafWithoutUDP: a leaf without UDP searches without OOB;
// its ultrapeer rewrites the MUID with its own address, claims the hits of
// the next ultrapeer over UDP and routes them to the leaf over TCP with the
// leaf's MUID.
func TestOOBProxyForLeafWithoutUDP(t *testing.T) {
	far := startNode(t, ModeUltrapeer, withFiles("rare proxied file.txt"), withOOB)
	up := startNode(t, ModeUltrapeer, withPeers(addrOf(far)), withOOB)
	waitPeers(t, up, 1, 0)
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(up)), withOOB, func(c *Config) { c.NoUDP = true })
	waitPeers(t, leaf, 1, 0)
	waitPeers(t, up, 1, 1)

	s := leaf.Search("rare proxied", nil)
	require.NotEqual(t, leaf.UDPAddr(), protocol.OOBAddr(s.guid))
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)

	us, fs := up.oobStats(), far.oobStats()
	require.Equal(t, uint64(1), us.Claimed, "the proxy claimed the hit")
	require.Equal(t, uint64(1), us.Accepted)
	require.Equal(t, uint64(1), fs.Acked)
	require.Equal(t, uint64(1), fs.ResponderStats.Sent)
}

func withOOB(c *Config) { c.noOOB = false }

// oobLine starts leaf - mid - up with OOB on, up sharing "rare oob file.txt":
// up sees the leaf's queries at hops 1, beyond its neighbour.
func oobLine(t *testing.T) (up, leaf *Node) {
	up = startNode(t, ModeUltrapeer, withFiles("rare oob file.txt"), withOOB)
	mid := startNode(t, ModeUltrapeer, withPeers(addrOf(up)), withOOB)
	waitPeers(t, mid, 1, 0)
	leaf = startNode(t, ModeLeaf, withPeers(addrOf(mid)), withOOB)
	waitPeers(t, leaf, 1, 0)
	waitPeers(t, mid, 1, 1)
	return up, leaf
}
