package servent

import (
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/reach"
)

// TestConnectBackBothWays: two of our nodes announce BEAR/7 and GTKG/7 in
// Messages Supported, each asks the other, and each answer proves the
// asker reachable: TCP by the "\n\n" connect-back, UDP by the Ping with
// the GUID it asked for. The dialler has no other TCP evidence.
func TestConnectBackBothWays(t *testing.T) {
	u := startNode(t, ModeUltrapeer)
	a := startNode(t, ModeUltrapeer, withPeers(addrOf(u)))
	waitPeers(t, a, 1, 0)
	for _, n := range []*Node{a, u} {
		require.Eventually(t, func() bool {
			r := n.Status().Reach
			return r.TCP.Reachable && r.UDPSolicited.Reachable && r.UDPSolicited.Source == string(reach.SourceConnectBack)
		}, waitFor, tick)
	}
	r := a.Status().Reach
	require.Equal(t, string(reach.SourceConnectBack), r.TCP.Source, "the dialler is reached only by the connect-back")
	require.Equal(t, u.Addr().Addr(), r.TCP.From.Addr())
	require.Equal(t, u.UDPAddr(), r.UDPSolicited.From)
	require.False(t, r.UDPUnsolicited.Reachable)
}

// TestConnectBackAnswersLimited: BEAR/7 and GTKG/7 requests from one IP
// are answered once within the per-IP limit, however often asked.
func TestConnectBackAnswersLimited(t *testing.T) {
	u := startNode(t, ModeUltrapeer)
	p := newUDPPeer(t)
	from := p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	ln, err := net.Listen("tcp", net.JoinHostPort(from.Addr().String(), "0"))
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan []byte, 8)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b, _ := io.ReadAll(c)
			_ = c.Close()
			accepted <- b
		}
	}()
	now := u.cfg.Now()
	g := protocol.NewGUID()
	w := protocol.UDPConnectBack{Version: 2, Port: from.Port(), GUID: g}.Vendor()
	for range 3 {
		u.answerTCPConnectBack(addrPortOf(ln.Addr()), now)
		require.True(t, u.reachVendor(netip.AddrPortFrom(from.Addr(), 1), protocol.Header{GUID: g}, &w, now))
	}
	require.Equal(t, []byte("\n\n"), <-accepted)
	d := p.recv()
	require.Equal(t, protocol.TypePing, d.Header.Type)
	require.Equal(t, g, d.Header.GUID)
	// One request of each kind was answered: the per-IP limit. A marker
	// sent after the requests comes next on the same socket pair.
	marker := protocol.NewGUID()
	require.True(t, u.sendUDP(from, protocol.Header{GUID: marker, Type: protocol.TypePong, TTL: 1}, &protocol.Pong{}))
	require.Equal(t, marker, p.recv().Header.GUID, "a second UDP connect-back was answered")
	// The node's goroutines end at Close; then nothing more can arrive.
	require.NoError(t, u.Close())
	require.NoError(t, ln.Close())
	<-done
	require.Empty(t, accepted)
}

// TestUnsolicitedUDP: a Ping from a host we never sent to proves
// unsolicited UDP; one from a host we just sent to does not.
func TestUnsolicitedUDP(t *testing.T) {
	u := startNode(t, ModeUltrapeer)
	p := newUDPPeer(t)
	from := p.conn.LocalAddr().(*net.UDPAddr).AddrPort()
	require.True(t, u.sendUDP(from, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}, nil))
	p.recv()
	p.send(u, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}, nil)
	require.Equal(t, protocol.TypePong, p.recv().Header.Type) // handled: the datagram was judged
	require.False(t, u.Status().Reach.UDPUnsolicited.Reachable, "we had just sent to it")

	q := newUDPPeer(t)
	q.send(u, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}, nil)
	require.Eventually(t, func() bool { return u.Status().Reach.UDPUnsolicited.Reachable }, waitFor, tick)
	r := u.Status().Reach
	require.Equal(t, q.conn.LocalAddr().(*net.UDPAddr).AddrPort(), r.UDPUnsolicited.From)
	require.Equal(t, string(reach.SourceInbound), r.UDPUnsolicited.Source)
	require.True(t, r.UDPSolicited.Reachable, "unsolicited implies solicited")
}
