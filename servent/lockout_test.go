package servent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// holdSocket dials n from ip and keeps the socket open until the test
// ends; it returns nil when the node never let it in (closed or reset).
func holdSocket(t *testing.T, n *Node, ip string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addrOf(n))
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// trickle writes b one byte at a time, every `every`, until the peer
// closes (a write fails) or stop is closed.
func trickle(c net.Conn, b []byte, every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for i := 0; ; i++ {
		if _, err := c.Write(b[i%len(b) : i%len(b)+1]); err != nil {
			return
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// TestInboundLockout: sources spread over 32 /24s and many addresses of
// one /24 hold every inbound socket with silent and half-sent handshakes.
// A new Gnutella handshake and a new HTTP request must still get through
// (the oldest half-open sockets are evicted), and the flood is counted.
func TestInboundLockout(t *testing.T) {
	cfg := testConfig(t, ModeUltrapeer, withFiles("wanted file.txt"))
	// Timeouts far longer than the test: only eviction can let anyone in.
	cfg.HandshakeTimeout = time.Minute
	cfg.FirstByteTimeout = time.Minute
	cfg.MaxConnsPerNet = 4
	warns := &countingHandler{level: slog.LevelWarn}
	cfg.Logger = slog.New(warns)
	n := startConfig(t, cfg)
	require.Equal(t, 128, n.cfg.MaxConns)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(stop); wg.Wait() })
	hold := func(ip string, i int) {
		c := holdSocket(t, n, ip)
		if i%2 == 1 {
			// Half a handshake, trickled: the socket looks alive.
			wg.Add(1)
			go func() {
				defer wg.Done()
				trickle(c, []byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: True\r\nX-Padding: "), 100*time.Millisecond, stop)
			}()
		}
	}
	k := 0
	for group := range 32 { // 32 /24s, 4 addresses each: the whole table
		for host := range 4 {
			hold(fmt.Sprintf("127.61.%d.%d", group, host+1), k)
			k++
		}
	}
	for host := range 60 { // one /24, many addresses, two sockets each
		hold(fmt.Sprintf("127.62.0.%d", host+1), k)
		hold(fmt.Sprintf("127.62.0.%d", host+1), k+1)
		k += 2
	}
	require.Eventually(t, func() bool {
		st := n.Status().Inbound
		return st.Admitted+st.RefusedNetCap+st.RefusedFull == uint64(k)
	}, waitFor, tick)
	st := n.Status().Inbound
	require.Equal(t, n.cfg.MaxConns, st.Open)
	require.Equal(t, n.cfg.MaxConns, st.Handshaking)
	// The one /24 got its 4 sockets (evicting 4 older ones), no more.
	require.EqualValues(t, 4, st.Evicted)
	require.EqualValues(t, 120-4, st.RefusedNetCap)

	// A servent and a downloader from fresh networks get through.
	connectRaw(t, n, true, "127.63.0.1")
	waitPeers(t, n, 1, 0)

	c := holdSocket(t, n, "127.64.0.1")
	_ = c.SetDeadline(time.Now().Add(waitFor))
	_, err := io.WriteString(c, "GET /uri-res/N2R?urn:sha1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA HTTP/1.1\r\nHost: x\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)

	st = n.Status().Inbound
	require.EqualValues(t, 4+2, st.Evicted, "each newcomer evicted a half-open socket")
	require.Zero(t, st.RefusedFull)
	// 122 evictions and refusals, logged, but not once each.
	require.Positive(t, warns.n.Load())
	require.LessOrEqual(t, warns.n.Load(), int64(3))
}

// TestHandshakeDeadlineNotExtended: a peer that trickles its handshake or
// HTTP request head a byte at a time is closed once the one deadline set
// at accept time passes; the bytes do not buy it more time.
func TestHandshakeDeadlineNotExtended(t *testing.T) {
	cfg := testConfig(t, ModeUltrapeer)
	cfg.HandshakeTimeout = 400 * time.Millisecond
	cfg.FirstByteTimeout = 200 * time.Millisecond
	n := startConfig(t, cfg)
	heads := map[string]string{
		"gnutella": "GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: True\r\nX-Padding: ",
		"http":     "GET /get/1/x HTTP/1.1\r\nX-Padding: ",
		"giv":      "GIV 1:",
	}
	for name, head := range heads {
		t.Run(name, func(t *testing.T) {
			c := holdSocket(t, n, nextIP())
			stop := make(chan struct{})
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, _ = io.WriteString(c, head)
				trickle(c, []byte("abcdefgh"), 20*time.Millisecond, stop)
			}()
			defer func() { close(stop); <-done }()
			// Safety net only: the node must close well before this.
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			requireClosedByPeer(t, c)
		})
	}
	// Each was closed by its deadline, not for another reason.
	require.Eventually(t, func() bool { return n.Status().Inbound.HandshakeTimeouts == uint64(len(heads)) }, waitFor, tick)
}

func inboundSockets(n *Node) int { return n.Status().Inbound.Open }

// requireClosedByPeer reads c to its end: the node must close it (EOF or
// reset) before c's own read deadline, the test's safety net, expires.
func requireClosedByPeer(t *testing.T, c net.Conn) {
	t.Helper()
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "not closed by the node: %v", err)
}

// countingHandler counts log records at level or above.
type countingHandler struct {
	level slog.Level
	n     atomic.Int64
}

func (h *countingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }
func (h *countingHandler) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }
