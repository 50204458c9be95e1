package servent

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/udp"
)

// udpPeer is a bare UDP socket on a fresh loopback address, for talking
// to a node's UDP side by hand.
type udpPeer struct {
	t    testing.TB
	conn *net.UDPConn
}

func newUDPPeer(t testing.TB) *udpPeer {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.ParseIP(nextIP())})
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &udpPeer{t: t, conn: conn}
}

func (p *udpPeer) send(n *Node, h protocol.Header, payload protocol.Payload) {
	p.t.Helper()
	_, err := p.conn.WriteToUDPAddrPort(protocol.AppendDatagram(nil, h, payload, false), n.UDPAddr())
	require.NoError(p.t, err)
}

// recv reads the next datagram, failing after a few seconds.
func (p *udpPeer) recv() protocol.Datagram {
	p.t.Helper()
	buf := make([]byte, protocol.MaxDatagramLen)
	require.NoError(p.t, p.conn.SetReadDeadline(time.Now().Add(waitFor)))
	k, _, err := p.conn.ReadFromUDPAddrPort(buf)
	require.NoError(p.t, err)
	d, err := protocol.DecodeDatagram(buf[:k], true)
	require.NoError(p.t, err)
	return d
}

// TestUDPOnTheGnutellaPort: the node's UDP socket shares the TCP
// listener's address and port, answers a UDP ping with a Pong carrying
// that address, and counts a datagram it does not take.
func TestUDPOnTheGnutellaPort(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("a.txt"))
	require.Equal(t, n.Addr(), n.UDPAddr())
	p := newUDPPeer(t)
	g := protocol.NewGUID()
	p.send(n, protocol.Header{GUID: protocol.GUID{1}, Type: protocol.TypeBye, TTL: 1}, &protocol.Bye{Code: 200})
	p.send(n, protocol.Header{GUID: g, Type: protocol.TypePing, TTL: 1}, nil)
	d := p.recv()
	require.Equal(t, protocol.TypePong, d.Header.Type)
	assert.Equal(t, g, d.Header.GUID)
	var pong protocol.Pong
	require.NoError(t, pong.Decode(d.Payload))
	assert.Equal(t, n.Addr().Addr(), pong.IP)
	assert.Equal(t, n.Addr().Port(), pong.Port)
	assert.Equal(t, uint32(1), pong.Files)
	st := n.Status().UDP
	assert.True(t, st.Enabled)
	assert.Equal(t, uint64(1), st.NotAccepted)
	assert.Equal(t, uint64(1), st.Received)
	// The count follows the write, so the pong can arrive before it.
	require.Eventually(t, func() bool { return n.Status().UDP.Sent == 1 }, waitFor, time.Millisecond)
}

func TestNoUDP(t *testing.T) {
	n := startNode(t, ModeLeaf, func(c *Config) { c.NoUDP = true })
	assert.False(t, n.UDPAddr().IsValid())
	st := n.Status().UDP
	assert.False(t, st.Enabled)
	assert.Equal(t, "disabled", st.Error)
}

// TestUDPFloodFromOneSource: a source past its budget is dropped before
// decoding and counted; with the clock stopped exactly the burst gets
// through, however many it sends, and the node's memory does not care.
func TestUDPFloodFromOneSource(t *testing.T) {
	stopped := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	n := startNode(t, ModeUltrapeer, func(c *Config) { c.Now = func() time.Time { return stopped } })
	p := newUDPPeer(t)
	const flood = 300
	for i := range flood {
		p.send(n, protocol.Header{GUID: protocol.GUID{byte(i), byte(i >> 8)}, Type: protocol.TypePing, TTL: 1}, nil)
		// One at a time: the kernel's socket buffer must not be what drops them.
		require.Eventually(t, func() bool {
			st := n.Status().UDP
			return st.Received+st.RateLimited == uint64(i+1)
		}, waitFor, time.Millisecond)
	}
	st := n.Status().UDP
	assert.Equal(t, uint64(udp.DefaultInPerSource.Burst), st.Received)
	assert.Equal(t, uint64(flood-udp.DefaultInPerSource.Burst), st.RateLimited)
}
