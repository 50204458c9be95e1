package servent

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// connectRaw handshakes a hand-driven ultrapeer (or leaf) to n, without
// compression, from ip (fresh one when "").
func connectRaw(t *testing.T, n *Node, up bool, ip string) *rawPeer {
	t.Helper()
	if ip == "" {
		ip = nextIP()
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addrOf(n))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitFor))
	p := &rawPeer{t: t, conn: c, br: newBR(c)}
	role := "False"
	if up {
		role = "True"
	}
	p.write([]byte("GNUTELLA CONNECT/0.6\r\nUser-Agent: raw/1\r\nX-Ultrapeer: " + role +
		"\r\nBye-Packet: 0.1\r\nX-Query-Routing: 0.1\r\n\r\n"))
	resp := p.readHandshake()
	require.Equal(t, 200, resp.Code, resp.Reason)
	require.False(t, resp.Headers.Has("Content-Encoding"))
	p.write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"))
	p.startStream(false, false)
	return p
}

// expectByeThenEOF reads until the connection ends and returns the Bye
// code seen (0 if none).
func (p *rawPeer) expectByeThenEOF() uint16 {
	p.t.Helper()
	var code uint16
	for {
		h, b, err := p.dec.Next()
		if err != nil {
			require.True(p.t, errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
				isReset(err), "%v", err)
			return code
		}
		if h.Type == protocol.TypeBye {
			var bye protocol.Bye
			require.NoError(p.t, bye.Decode(b))
			code = bye.Code
		}
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op)
}

func query(criteria string, ttl, hops uint8) []byte {
	q := protocol.Query{Flags: protocol.FlagMark, Criteria: criteria}
	return protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeQuery, TTL: ttl, Hops: hops}, &q)
}

// healthy checks a well-behaved neighbour still searches through n.
func healthy(t *testing.T, good *Node, file string) {
	t.Helper()
	s := good.Search(file, nil)
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
}

func TestHostileGarbage(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("target file.txt"))
	good := startNode(t, ModeUltrapeer, withPeers(addrOf(n)))
	waitPeers(t, n, 1, 0)

	ip := nextIP()
	p := connectRaw(t, n, true, ip)
	waitPeers(t, n, 2, 0)
	junk := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range junk {
		junk[i] = byte(rng.Uint32())
	}
	_, _ = p.conn.Write(junk)
	p.expectByeThenEOF()
	waitPeers(t, n, 1, 0)
	// The address is remembered: it cannot come straight back.
	require.True(t, n.banned(netipAddr(ip)))
	healthy(t, good, "target")
}

func TestHostileOversizedPayload(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("target file.txt"))
	good := startNode(t, ModeUltrapeer, withPeers(addrOf(n)))
	waitPeers(t, n, 1, 0)
	p := connectRaw(t, n, true, "")
	hdr := protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeQuery, TTL: 2, Length: 0x10000}
	p.write(hdr.Append(nil))
	require.EqualValues(t, 400, p.expectByeThenEOF())
	// A query over the per-type limit (1024) is cut off the same way.
	p2 := connectRaw(t, n, true, "")
	hdr.Length = 2000
	p2.write(append(hdr.Append(nil), make([]byte, 2000)...))
	require.EqualValues(t, 400, p2.expectByeThenEOF())
	healthy(t, good, "target")
}

func TestHostileDuplicateFlood(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("target file.txt"))
	good := startNode(t, ModeUltrapeer, withPeers(addrOf(n)))
	waitPeers(t, n, 1, 0)
	p := connectRaw(t, n, true, "")
	q := query("nothing here", 3, 0)
	var flood bytes.Buffer
	for range maxDupMsgs + 10 {
		flood.Write(q)
	}
	go func() { _, _ = p.conn.Write(flood.Bytes()) }()
	require.EqualValues(t, 401, p.expectByeThenEOF())
	// The query itself was handled and forwarded once only.
	require.EqualValues(t, 1, n.stats.core.QueriesHandled.Load())
	healthy(t, good, "target")
}

// TestHostileSlowReader: a peer that never reads. Our queue toward it
// stays bounded (droppable queries are dropped), the connection is
// dropped, the others keep working.
func TestHostileSlowReader(t *testing.T) {
	cfg := testConfig(t, ModeUltrapeer, withFiles("target file.txt"))
	cfg.WriteTimeout = 300 * time.Millisecond
	cfg.QueueBytes = 96 << 10
	cfg.Listener = smallBufListener{cfg.Listener}
	// 20,000 queries from one link: on a fast run that is over the relayed
	// query budget, and the flooder would be cut before the slow reader.
	cfg.noFloodLimits = true
	n := startConfig(t, cfg)
	// The same for good, which gets every one of them relayed: past
	// 10,000 in a second it would cut n for a flood.
	good := startNode(t, ModeUltrapeer, withPeers(addrOf(n)), func(c *Config) { c.noFloodLimits = true })
	waitPeers(t, n, 1, 0)

	slow := connectRaw(t, n, true, "")
	_ = slow.conn.(*net.TCPConn).SetReadBuffer(4096)
	flooder := connectRaw(t, n, true, "")
	waitPeers(t, n, 3, 0)
	var slowConn *conn
	for _, c := range n.snap.Load().byID {
		if c.addr.String() == slow.conn.LocalAddr().String() {
			slowConn = c
		}
	}
	require.NotNil(t, slowConn)

	// Flood distinct queries (each forwarded to slow and good) until the
	// node gives up on slow.
	done := make(chan struct{})
	go func() {
		defer close(done)
		crit := string(bytes.Repeat([]byte("x"), 200))
		var batch []byte
		for range 200 {
			batch = batch[:0]
			for range 100 {
				batch = append(batch, query(crit, 3, 0)...)
			}
			if _, err := flooder.conn.Write(batch); err != nil {
				return
			}
			select {
			case <-slowConn.closed:
				return
			default:
			}
		}
	}()
	maxSeen := 0
	require.Eventually(t, func() bool {
		b, _ := slowConn.q.stats()
		maxSeen = max(maxSeen, b)
		select {
		case <-slowConn.closed:
			return true
		default:
			return false
		}
	}, 20*time.Second, tick)
	<-done
	require.LessOrEqual(t, maxSeen, cfg.QueueBytes)
	_, dropped := slowConn.q.stats()
	require.Positive(t, dropped+n.stats.queueOverflows.Load())
	waitPeers(t, n, 2, 0)
	healthy(t, good, "target")
}

// smallBufListener shrinks the send buffer of accepted sockets so a peer
// that does not read blocks our writes after kilobytes, not megabytes.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(8192)
	}
	return c, err
}

// TestKeepAliveAndIdle: a quiet link gets a TTL-1 ping; a peer that stays
// silent is closed with Bye 405.
func TestKeepAliveAndIdle(t *testing.T) {
	cfg := testConfig(t, ModeUltrapeer)
	cfg.KeepAlive = 150 * time.Millisecond
	cfg.IdleTimeout = 600 * time.Millisecond
	n := startConfig(t, cfg)
	p := connectRaw(t, n, true, "")
	start := time.Now()
	// The greeting ping (TTL 4), then a keep-alive TTL-1 ping.
	for {
		h, _ := p.nextOf(protocol.TypePing)
		if h.TTL == 1 {
			break
		}
	}
	require.GreaterOrEqual(t, time.Since(start), cfg.KeepAlive)
	require.EqualValues(t, 405, p.expectByeThenEOF())
	require.GreaterOrEqual(t, time.Since(start), cfg.IdleTimeout)
}

func TestLeafRelayedQueryIsBad(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("target file.txt"))
	leaf := connectRaw(t, n, false, "")
	waitPeers(t, n, 0, 1)
	leaf.write(query("target", 3, 1)) // a leaf never relays
	leaf.write(query("target", 3, 0))
	h, b := leaf.nextOf(protocol.TypeQueryHit)
	require.EqualValues(t, 0, h.Hops)
	var hit protocol.QueryHit
	require.NoError(t, hit.Decode(b))
	require.Equal(t, protocol.VendorSRVT, hit.Vendor)
	require.Equal(t, n.GUID(), hit.ServentGUID)
	require.EqualValues(t, 1, n.stats.core.QueriesHandled.Load())
	require.EqualValues(t, 1, n.stats.core.Bad.Load())
}

// TestHandshakeTimeoutAndCaps: a socket that says nothing is closed by the
// first-byte deadline and one that sends half a request by the handshake
// deadline, both counted as timeouts (not closed for another reason); an
// address group (here a /24) gets at most MaxConnsPerNet sockets, the next
// one is closed at once and counted as refused.
func TestHandshakeTimeoutAndCaps(t *testing.T) {
	cfg := testConfig(t, ModeUltrapeer)
	cfg.FirstByteTimeout = 200 * time.Millisecond
	cfg.HandshakeTimeout = 400 * time.Millisecond
	cfg.MaxConnsPerNet = 2
	n := startConfig(t, cfg)
	dial := func(ip string) net.Conn {
		c := holdSocket(t, n, ip)
		_ = c.SetDeadline(time.Now().Add(waitFor))
		return c
	}
	silent, half := dial("127.65.0.1"), dial("127.65.0.2")
	// Its first bytes at once, so that the handshake deadline, not the
	// first-byte one, closes it.
	_, _ = half.Write([]byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: True\r\n"))
	require.Eventually(t, func() bool { return n.Status().Inbound.Open == 2 }, waitFor, tick)
	over := dial("127.65.0.3") // another host of the same /24: over the cap
	requireClosedByPeer(t, over)
	// Refused, not timed out (no timeout check here: on a loaded machine
	// silent's 200 ms may already be over).
	require.EqualValues(t, 1, n.Status().Inbound.RefusedNetCap)

	requireClosedByPeer(t, silent)
	requireClosedByPeer(t, half)
	require.Eventually(t, func() bool {
		st := n.Status().Inbound
		return st.HandshakeTimeouts == 2 && st.Open == 0
	}, waitFor, tick)
	require.Empty(t, n.Peers())
}

// TestNoDuplicateViaListenIP: a peer we are connected to that dials us
// again from another source address, announcing the same Listen-IP, gets
// 409 (GnutellaBun dials from 127.0.0.1 while listening elsewhere).
func TestNoDuplicateViaListenIP(t *testing.T) {
	n := startNode(t, ModeUltrapeer)
	p := dialFrom(t, addrOf(n))
	p.write([]byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: True\r\nListen-IP: 192.0.2.5:6346\r\n\r\n"))
	require.Equal(t, 200, p.readHandshake().Code)
	p.write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"))
	waitPeers(t, n, 1, 0)
	require.True(t, n.listening(netip.MustParseAddrPort("192.0.2.5:6346")))
	p2 := dialFrom(t, addrOf(n))
	p2.write([]byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: True\r\nListen-IP: 192.0.2.5:6346\r\n\r\n"))
	require.Equal(t, 409, p2.readHandshake().Code)
}
