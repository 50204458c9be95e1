package servent

import (
	"context"
	"net"
	"net/netip"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// TestHostilePushFlood: Pushes addressed to us, each with a fresh message
// GUID, all naming a host that accepts and then says nothing. The node
// must not open a connection (and a goroutine) per Push: connect-backs
// in flight are capped.
func TestHostilePushFlood(t *testing.T) {
	sink, err := net.Listen("tcp", nextIP()+":0")
	require.NoError(t, err)
	held := make(chan net.Conn, 1000)
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			held <- c // never read from nor answered
		}
	}()
	sinkAddr := netip.MustParseAddrPort(sink.Addr().String())
	var dials atomic.Int32
	cfg := testConfig(t, ModeUltrapeer, withFiles("bait.txt"))
	cfg.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		if addr == sinkAddr.String() {
			dials.Add(1)
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	n, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, n.Start(context.Background()))
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = n.Close()
		}
		_ = sink.Close()
		<-acceptDone
	})
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, n.lib.WaitHashed(ctx))
	files := n.lib.Files()
	require.Len(t, files, 1)

	p := connectRaw(t, n, true, "")
	const pushes = 4 * maxPushConnects
	for range pushes {
		push := protocol.Push{ServentGUID: n.GUID(), Index: files[0].Index, IP: sinkAddr.Addr(), Port: sinkAddr.Port()}
		p.write(protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePush, TTL: 3, Hops: 1}, &push))
	}
	// Barrier: the keep-alive ping is answered after every Push was handled.
	ping := protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}
	p.write(protocol.AppendMessage(nil, ping, &protocol.Ping{}))
	for {
		h, _ := p.nextOf(protocol.TypePong)
		if h.GUID == ping.GUID {
			break
		}
	}
	// Close waits for every goroutine the Pushes started.
	closed = true
	require.NoError(t, n.Close())
	_ = sink.Close()
	<-acceptDone
	close(held)
	for c := range held {
		_ = c.Close()
	}
	require.LessOrEqual(t, int(dials.Load()), maxPushConnects, "connect-backs for %d pushes", pushes)
}
