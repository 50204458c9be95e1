package servent

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/tlsid"
)

func tlsDial(t *testing.T, n *Node) *tls.Conn {
	t.Helper()
	cert, err := tlsid.Load("")
	require.NoError(t, err)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(nextIP())}, Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(&d, "tcp", n.Addr().String(), tlsid.Client(cert))
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

// TestTLSInbound: TLS on the Gnutella port, told from plain by its first
// bytes: a Gnet handshake and a download over TLS (byte-identical), the
// certificate kept in the data folder (0600); garbage after a TLS record
// header, a handshake that stalls, and TLS to a servent that refuses it
// are closed, and the servent goes on.
func TestTLSInbound(t *testing.T) {
	n := startNode(t, ModeUltrapeer, withFiles("over tls.txt"), func(c *Config) { c.HandshakeTimeout = time.Second })
	require.NoError(t, n.lib.WaitHashed(t.Context()))
	st, err := os.Stat(filepath.Join(n.cfg.DataDir, tlsid.KeyFile))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	// Gnet over TLS: a leaf connects.
	c := tlsDial(t, n)
	_, err = io.WriteString(c, "GNUTELLA CONNECT/0.6\r\nUser-Agent: tls-test\r\nX-Ultrapeer: False\r\n\r\n")
	require.NoError(t, err)
	br := bufio.NewReader(c)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "GNUTELLA/0.6 200 OK\r\n", line)
	for line != "\r\n" {
		line, err = br.ReadString('\n')
		require.NoError(t, err)
	}
	_, err = io.WriteString(c, "GNUTELLA/0.6 200 OK\r\n\r\n")
	require.NoError(t, err)
	waitPeers(t, n, 0, 1)

	// HTTP over TLS: the file, byte for byte.
	f := n.lib.Files()[0]
	h := tlsDial(t, n)
	_, err = io.WriteString(h, "GET /get/1/over%20tls.txt HTTP/1.1\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(h), nil)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	want, err := os.ReadFile(f.Path)
	require.NoError(t, err)
	require.Equal(t, want, body)

	// Garbage after a TLS record header; a handshake that stalls.
	for _, first := range []string{"\x16\x03\x01\x00\x05garbage-not-a-client-hello", "\x16\x03\x01"} {
		raw := dialFrom(t, addrOf(n)).conn
		_, err = io.WriteString(raw, first)
		require.NoError(t, err)
		_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, err = io.ReadAll(raw)
		require.NoError(t, err, "closed by the servent (EOF), not by our deadline: %q", first)
	}
	// Still serving.
	h2 := tlsDial(t, n)
	_, err = io.WriteString(h2, "HEAD /get/1/over%20tls.txt HTTP/1.1\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	resp, err = http.ReadResponse(bufio.NewReader(h2), &http.Request{Method: "HEAD"})
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)

	// A servent with TLS off closes a TLS handshake without a word.
	off := startNode(t, ModeUltrapeer, func(c *Config) { c.TLS = TLSOff })
	raw := dialFrom(t, addrOf(off)).conn
	_, err = io.WriteString(raw, "\x16\x03\x01\x00\x05hello")
	require.NoError(t, err)
	_ = raw.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(raw)
	require.NoError(t, err)
	require.Empty(t, b)
	require.False(t, strings.Contains(string(b), "GNUTELLA"))
}

// TestGTKGClientHello replays the ClientHello gtk-gnutella 1.2.3 (GnuTLS)
// sent when told `node add tls:IP PORT` in the lab: our port answers it
// with a ServerHello (a handshake record), not an alert. In the lab the
// link then came up over TLS.
func TestGTKGClientHello(t *testing.T) {
	hello, err := os.ReadFile("testdata/lab-gtkg-tls-clienthello.bin")
	require.NoError(t, err)
	require.True(t, tlsid.IsClientHello(hello))
	n := startNode(t, ModeUltrapeer)
	raw := dialFrom(t, addrOf(n)).conn
	_, err = raw.Write(hello)
	require.NoError(t, err)
	head := make([]byte, 5)
	_, err = io.ReadFull(raw, head)
	require.NoError(t, err)
	require.Equal(t, byte(0x16), head[0], "a handshake record (ServerHello), not an alert (0x15)")
	require.Equal(t, byte(0x03), head[1])
}

// TestTLSBetweenServents: a servent set to TLS on dials over TLS and the
// link is TLS on both sides; one that prefers TLS dials plain a peer not
// known to speak it, and both switch to TLS within the handshake
// (gtk-gnutella's Upgrade: TLS/1.0); it learns from that handshake that its
// peer speaks TLS (X-Features: tls/1.0) and dials TLS from the first byte
// the next time; a servent with TLS off says nothing of TLS, is dialled
// plain, and refuses a TLS-only dialler.
func TestTLSBetweenServents(t *testing.T) {
	b := startNode(t, ModeUltrapeer)
	a := startNode(t, ModeUltrapeer, withPeers(addrOf(b)), func(c *Config) { c.TLS = TLSOn })
	waitPeers(t, a, 1, 0)
	waitPeers(t, b, 1, 0)
	require.True(t, a.Peers()[0].TLS)
	require.True(t, b.Peers()[0].TLS)

	// Not known to speak TLS: dialled plain, and switched in the handshake
	// (Upgrade: TLS/1.0, gtk-gnutella's way).
	before := b.Status().Inbound.TLS
	p := startNode(t, ModeUltrapeer, withPeers(addrOf(b)))
	waitPeers(t, p, 1, 0)
	require.True(t, p.Peers()[0].TLS, "upgraded")
	require.Eventually(t, func() bool { return b.Status().Inbound.TLS == before+1 }, waitFor, tick)
	require.True(t, p.tls.wants(b.Addr()), "learnt from its X-Features")
	require.NoError(t, p.DropPeer(addrOf(b)))
	require.Eventually(t, func() bool { return len(p.Peers()) == 0 && len(b.Peers()) == 1 }, waitFor, tick,
		"gone on both sides (else b refuses the new link as a duplicate)")
	require.NoError(t, p.AddPeer(addrOf(b)))
	require.Eventually(t, func() bool {
		ps := p.Peers()
		return len(ps) == 1 && ps[0].TLS
	}, waitFor, tick, "dialled over TLS the next time: %+v, b: %+v", p.Peers(), b.Peers())

	off := startNode(t, ModeUltrapeer, func(c *Config) { c.TLS = TLSOff })
	q := startNode(t, ModeUltrapeer, withPeers(addrOf(off)))
	waitPeers(t, q, 1, 0)
	require.False(t, q.Peers()[0].TLS)
	require.False(t, q.tls.wants(off.Addr()))
}

// TestTLSDownloadBetweenServents: a's pongs and hits (GGEP TLS) tell a
// searcher that never spoke to a that it speaks TLS, and the download goes
// over TLS, byte-identical; a searcher with TLS off downloads the same
// file in plain.
func TestTLSDownloadBetweenServents(t *testing.T) {
	a := startNode(t, ModeUltrapeer, withFiles("tls download.txt"))
	u := startNode(t, ModeUltrapeer, withPeers(addrOf(a)))
	b := startNode(t, ModeLeaf, withPeers(addrOf(u)))
	off := startNode(t, ModeLeaf, withPeers(addrOf(u)), func(c *Config) { c.TLS = TLSOff })
	waitPeers(t, u, 1, 2)

	r := searchOne(t, b, "download", "tls download.txt")
	require.True(t, b.tls.wants(a.Addr()), "learnt from a's pong or hit (GGEP TLS), relayed by u")
	before := a.Status().Inbound.TLS
	require.Equal(t, []byte("content of tls download.txt"), download(t, b, r))
	require.Equal(t, before+1, a.Status().Inbound.TLS, "the download came over TLS")

	r = searchOne(t, off, "download", "tls download.txt")
	require.Equal(t, []byte("content of tls download.txt"), download(t, off, r))
	require.Equal(t, before+1, a.Status().Inbound.TLS, "TLS off: plain")
}

// TestTLSDialStalls: a host that takes the TCP connection and never
// answers our ClientHello costs one handshake deadline, and the peer list
// says so in words.
func TestTLSDialStalls(t *testing.T) {
	ln, err := net.Listen("tcp", nextIP()+":0")
	require.NoError(t, err)
	held := make(chan net.Conn, 64) // the backoff allows a few dials at most
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			held <- c // never read, never answered
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		close(held)
		for c := range held {
			c.Close()
		}
	})
	n := startNode(t, ModeUltrapeer, func(c *Config) { c.TLS = TLSOn; c.HandshakeTimeout = time.Second })
	require.NoError(t, n.AddPeer(ln.Addr().String()))
	require.Eventually(t, func() bool {
		ps := n.NamedPeers()
		return len(ps) == 1 && strings.Contains(ps[0].LastError, "timed out")
	}, waitFor, tick, "%+v", n.NamedPeers())
}

// TestGTKGUpgradeToTLS replays gtk-gnutella's handshake as it dials a
// servent it does not know to speak TLS ("Upgrade: TLS/1.0" in its
// request, lab capture). With gtk-gnutella itself we do not agree: its
// switch fails against a peer as quick as we are (upgradesTLS), so the
// link stays plain. The same request from another servent is agreed
// (Upgrade, Connection: Upgrade), its ack says Connection: Upgrade, and
// the link goes on over TLS.
func TestGTKGUpgradeToTLS(t *testing.T) {
	n := startNode(t, ModeUltrapeer)
	req := gtkgHello(t, "gtkg6-handshake-ipv6only-gtkg-dials-plainpeer.txt")
	require.Equal(t, "TLS/1.0", req.Get("Upgrade"))
	req.Set("Node", "") // its [fd00::1] would be dialled back in vain
	p := dialFrom(t, addrOf(n))
	require.NoError(t, writeHandshake(p.conn, &protocol.Handshake{Connect: true, Headers: req}))
	resp, err := protocol.ReadHandshake(p.br)
	require.NoError(t, err)
	require.Equal(t, 200, resp.Code)
	require.False(t, resp.Headers.Has("Upgrade"), "not with gtk-gnutella")
	require.False(t, resp.Headers.Has("Connection"))
	_, err = io.WriteString(p.conn, "GNUTELLA/0.6 200 OK\r\n\r\n")
	require.NoError(t, err)
	waitPeers(t, n, 1, 0)
	require.False(t, n.Peers()[0].TLS)

	req.Set("User-Agent", "another/1.0")
	req.Set("GUID", protocol.NewGUID().String())
	p = dialFrom(t, addrOf(n))
	require.NoError(t, writeHandshake(p.conn, &protocol.Handshake{Connect: true, Headers: req}))
	resp, err = protocol.ReadHandshake(p.br)
	require.NoError(t, err)
	require.Equal(t, 200, resp.Code)
	require.Equal(t, "TLS/1.0", resp.Headers.Get("Upgrade"))
	require.Equal(t, "Upgrade", resp.Headers.Get("Connection"))
	_, err = io.WriteString(p.conn, "GNUTELLA/0.6 200 OK\r\nConnection: Upgrade\r\n\r\n")
	require.NoError(t, err)
	cert, err := tlsid.Load("")
	require.NoError(t, err)
	tc := tls.Client(p.conn, tlsid.Client(cert))
	require.NoError(t, tc.Handshake())
	waitPeers(t, n, 2, 0)
	require.Equal(t, 1, n.Status().Links["tls"])

	// A ping over TLS gets our pong over TLS.
	ping := protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}, &protocol.Ping{})
	_, err = tc.Write(ping)
	require.NoError(t, err)
	d := protocol.NewDecoder(bufio.NewReader(tc))
	for {
		h, _, err := d.Next()
		require.NoError(t, err)
		if h.Type == protocol.TypePong {
			break
		}
	}
}
