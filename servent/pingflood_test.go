package servent

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/flood"
)

func ping(ttl uint8) []byte {
	return protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: ttl}, &protocol.Ping{})
}

func connOf(n *Node, p *rawPeer) *conn {
	for _, c := range n.snap.Load().byID {
		if c.addr.String() == p.conn.LocalAddr().String() {
			return c
		}
	}
	return nil
}

// TestHostilePingFlood: a leaf sends distinct pings as fast as it can. It
// is told Bye, closed and banned, and its pings leave no more than a burst
// behind in the route table; a leaf pinging within budget stays.
func TestHostilePingFlood(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("target file.txt"))
	good := connectRaw(t, n, false, "")
	ip := nextIP()
	bad := connectRaw(t, n, false, ip)
	waitPeers(t, n, 0, 2)

	// The good leaf: a handful of pings, as a servent sends on connect.
	for range 10 {
		good.write(ping(2))
	}
	goodConn := connOf(n, good)
	require.NotNil(t, goodConn)
	require.Eventually(t, func() bool { return goodConn.msgsIn.Load() >= 10 }, waitFor, tick)

	routes := n.routes.Len()
	const pings = 20000
	burst := make([]byte, 0, pings*protocol.HeaderLen)
	for range pings {
		burst = append(burst, ping(3)...)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = bad.conn.Write(burst) // fails once the node closes
	}()
	require.EqualValues(t, 412, bad.expectByeThenEOF())
	<-done
	require.True(t, n.banned(netipAddr(ip)))
	require.EqualValues(t, 1, n.Status().Floods)
	// Pings cut as a flood are not remembered: the route table grew by
	// at most the ping burst, not by the flood.
	require.LessOrEqual(t, n.routes.Len()-routes, flood.ForLeaf()[flood.Ping].Burst)

	waitPeers(t, n, 0, 1)
	_, ok := n.snap.Load().byID[goodConn.id]
	require.True(t, ok, "the well-behaved leaf is still connected")
	// And it is still served.
	good.write(query("target", 3, 0))
	good.nextOf(protocol.TypeQueryHit)
}
