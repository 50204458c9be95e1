package servent

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

const interop = "../testdata/interop"

func readInterop(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(interop, name))
	if os.IsNotExist(err) {
		t.Skipf("interop file %s not available", name)
	}
	require.NoError(t, err)
	return b
}

// rawPeer is a hand-driven peer on its own 127.0.x.y.
type rawPeer struct {
	t    *testing.T
	conn net.Conn
	br   *bufio.Reader
	dec  *protocol.Decoder
	zw   *zlib.Writer
}

func dialFrom(t *testing.T, to string) *rawPeer {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(nextIP())}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", to)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(waitFor))
	return &rawPeer{t: t, conn: c, br: bufio.NewReader(c)}
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	if p.zw != nil {
		_, err := p.zw.Write(b)
		require.NoError(p.t, err)
		require.NoError(p.t, p.zw.Flush())
		return
	}
	_, err := p.conn.Write(b)
	require.NoError(p.t, err)
}

func (p *rawPeer) readHandshake() *protocol.Handshake {
	p.t.Helper()
	hs, err := protocol.ReadHandshake(p.br)
	require.NoError(p.t, err)
	return hs
}

// startStream switches to descriptors; inflate/deflate per direction.
func (p *rawPeer) startStream(inflate, deflate bool) {
	var r io.Reader = p.br
	if inflate {
		zr := protocol.NewInflateReader(p.br, 0)
		r = bufio.NewReader(zr)
	}
	p.dec = protocol.NewDecoder(r)
	if deflate {
		p.zw = zlib.NewWriter(p.conn)
	}
}

func (p *rawPeer) next() (protocol.Header, []byte) {
	p.t.Helper()
	h, b, err := p.dec.Next()
	require.NoError(p.t, err)
	return h, bytes.Clone(b)
}

// nextOf skips descriptors until one of type typ.
func (p *rawPeer) nextOf(typ protocol.PayloadType) (protocol.Header, []byte) {
	p.t.Helper()
	for {
		h, b := p.next()
		if h.Type == typ {
			return h, b
		}
	}
}

// greeting reads what a fresh connection gets (GNUTELLA.md 4.10), in any
// order: a Ping, Messages Supported (TTL 1) when the peer announced
// Vendor-Message, and a QRP RESET then PATCH from a leaf.
func (p *rawPeer) greeting(vendor, qrp bool) []protocol.PayloadType {
	p.t.Helper()
	var seen []protocol.PayloadType
	gotPing, gotVendor, gotReset, gotPatch := false, !vendor, !qrp, !qrp
	for !gotPing || !gotVendor || !gotReset || !gotPatch {
		h, b := p.next()
		seen = append(seen, h.Type)
		switch h.Type {
		case protocol.TypePing:
			gotPing = true
		case protocol.TypeVendor:
			require.Equal(p.t, uint8(1), h.TTL)
			var v protocol.Vendor
			require.NoError(p.t, v.Decode(b))
			require.True(p.t, v.Is(protocol.VendorNull, protocol.SelMessagesSupported))
			gotVendor = true
		case protocol.TypeQRP:
			reset, patch, err := protocol.DecodeQRP(b)
			require.NoError(p.t, err)
			if reset != nil {
				gotReset = true
			} else {
				require.True(p.t, gotReset, "PATCH before RESET")
				gotPatch = patch.SeqNo == patch.SeqSize
			}
		}
	}
	require.False(p.t, !vendor && slices.Contains(seen, protocol.TypeVendor))
	return seen
}

// requireGTKGHeaders checks what gtk-gnutella demands of a peer (its
// README and GNUTELLA.md 2.3).
func requireGTKGHeaders(t *testing.T, h protocol.Headers, up bool) {
	t.Helper()
	for _, name := range []string{"User-Agent", "X-Ultrapeer", "X-Query-Routing", "Accept-Encoding", "Remote-IP",
		"Listen-IP", "Pong-Caching", "GGEP", "Vendor-Message", "Bye-Packet", "X-Dynamic-Querying"} {
		require.True(t, h.Has(name), "missing %s in %v", name, h)
	}
	require.Equal(t, "deflate", h.Get("Accept-Encoding"))
	require.Equal(t, "0.2", h.Get("Vendor-Message"))
	require.Equal(t, up, h.Bool("X-Ultrapeer"))
	if up {
		d, err := strconv.Atoi(h.Get("X-Degree"))
		require.NoError(t, err)
		require.GreaterOrEqual(t, d, 16)
		require.True(t, h.Has("X-Ultrapeer-Query-Routing"))
		require.Equal(t, "4", h.Get("X-Max-TTL"))
	}
}

// TestAcceptRecordedGTKG replays what gtk-gnutella sent when it connected
// to a servent, as an ultrapeer (20) and as a leaf (21), against our
// ultrapeer: accepted, with every header GTKG needs, deflate both ways,
// then Ping and Messages Supported arrive and a TTL-1 ping is answered.
func TestAcceptRecordedGTKG(t *testing.T) {
	up := startNode(t, ModeUltrapeer)
	for _, tc := range []struct {
		file   string
		leaf   bool
		hs3ack string
	}{
		{"gtk-gnutella/20-gtkg-ultra-connects-to-us", false, "gtk-gnutella/20-gtkg-ultra-connects-to-us.hs3-ack.bin"},
		{"gtk-gnutella/21-gtkg-leaf-connects-to-us", true, "gtk-gnutella/21-gtkg-leaf-connects-to-us.hs3-ack.bin"},
		{"gnutella-bun-client/30-bun-ultra-connects-to-us", false, "gnutella-bun-client/30-bun-ultra-connects-to-us.hs3-ack.bin"},
		{"gnutella-bun-client/31-bun-leaf-connects-to-us", true, "gnutella-bun-client/31-bun-leaf-connects-to-us.hs3-ack.bin"},
	} {
		t.Run(filepath.Base(tc.file), func(t *testing.T) {
			req := readInterop(t, tc.file+".hs1-request.bin")
			ack := readInterop(t, tc.hs3ack)
			// 20 and 21 carry the same GUID: the previous one must be gone.
			require.Eventually(t, func() bool { return len(up.Peers()) == 0 }, waitFor, tick)
			p := dialFrom(t, addrOf(up))
			p.write(req)
			resp := p.readHandshake()
			require.Equal(t, 200, resp.Code, "%s", resp.Reason)
			requireGTKGHeaders(t, resp.Headers, true)
			require.Equal(t, "deflate", resp.Headers.Get("Content-Encoding"))
			require.Equal(t, p.conn.LocalAddr().(*net.TCPAddr).IP.String(), resp.Headers.Get("Remote-IP"))
			p.write(ack)
			p.startStream(true, bytes.Contains(ack, []byte("Content-Encoding: deflate")))
			first := p.greeting(bytes.Contains(req, []byte("Vendor-Message")), false)
			require.Contains(t, first, protocol.TypePing)
			ping := protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}, nil)
			p.write(ping)
			h, b := p.nextOf(protocol.TypePong)
			require.Equal(t, protocol.GUID(ping[:16]), h.GUID)
			var pong protocol.Pong
			require.NoError(t, pong.Decode(b))
			require.Equal(t, up.Addr().Port(), pong.Port)
			require.Equal(t, up.Addr().Addr(), pong.IP)
			require.True(t, pong.GGEP.Has("UP"))
			waitPeersLeaf(t, up, tc.leaf)
		})
	}
}

func waitPeersLeaf(t *testing.T, n *Node, leaf bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		for _, c := range n.snap.Load().byID {
			if c.up != leaf {
				return true
			}
		}
		return false
	}, waitFor, tick)
}

// TestInitiateAgainstRecordedGTKG plays the acceptor with gtk-gnutella's
// recorded answers: our leaf to a GTKG ultrapeer (02), our ultrapeer to a
// GTKG ultrapeer (03) and to a GTKG leaf (08), and the same with
// GnutellaBun. What we send must hold every header GTKG requires; our ack
// turns deflate on; then Ping, Messages Supported and (leaf) QRP follow.
func TestInitiateAgainstRecordedGTKG(t *testing.T) {
	for _, tc := range []struct {
		resp string
		mode Mode
	}{
		{"gtk-gnutella/02-leaf-deflate-ping-query.hs2-response.bin", ModeLeaf},
		{"gtk-gnutella/03-ultra-deflate.hs2-response.bin", ModeUltrapeer},
		{"gtk-gnutella/08-gtkg-as-leaf-accepts-ultra.hs2-response.bin", ModeUltrapeer},
		{"gnutella-bun-client/02-leaf-deflate-ping-query.hs2-response.bin", ModeLeaf},
		{"gnutella-bun-client/42-bun-leaf-accepts-ultra.hs2-response.bin", ModeUltrapeer},
		{"gnutella-bun-client/01-leaf-no-deflate.hs2-response.bin", ModeLeaf},
	} {
		t.Run(filepath.Base(tc.resp), func(t *testing.T) {
			resp := readInterop(t, tc.resp)
			ln, err := net.Listen("tcp", nextIP()+":0")
			require.NoError(t, err)
			defer ln.Close()
			n := startNode(t, tc.mode, withPeers(ln.Addr().String()), withFiles("alpha beta.txt"))
			c, err := ln.Accept()
			require.NoError(t, err)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(waitFor))
			p := &rawPeer{t: t, conn: c, br: bufio.NewReader(c)}
			req := p.readHandshake()
			require.True(t, req.Connect)
			requireGTKGHeaders(t, req.Headers, tc.mode == ModeUltrapeer)
			require.Equal(t, n.GUID().String(), req.Headers.Get("GUID"))
			p.write(resp)
			ack := p.readHandshake()
			require.Equal(t, 200, ack.Code)
			wantDeflate := bytes.Contains(resp, []byte("Accept-Encoding: deflate"))
			require.Equal(t, wantDeflate, ack.Headers.Get("Content-Encoding") == "deflate")
			p.startStream(wantDeflate, bytes.Contains(resp, []byte("Content-Encoding: deflate")))
			p.greeting(bytes.Contains(resp, []byte("Vendor-Message")), tc.mode == ModeLeaf)
			respHS, err := protocol.ReadHandshake(bufio.NewReader(bytes.NewReader(resp)))
			require.NoError(t, err)
			require.Eventually(t, func() bool { return len(n.Peers()) == 1 }, waitFor, tick)
			require.Equal(t, respHS.Headers.Get("User-Agent"), n.Peers()[0].UserAgent)
		})
	}
}

// TestRefusals: a leaf refuses leaves (503), a second connection from one
// IP gets 409, a request without X-Ultrapeer 403, CONNECT/0.4 is closed
// without a word.
func TestRefusals(t *testing.T) {
	leaf := startNode(t, ModeLeaf)
	up := startNode(t, ModeUltrapeer)
	gtkgLeaf := readInterop(t, "gtk-gnutella/21-gtkg-leaf-connects-to-us.hs1-request.bin")

	p := dialFrom(t, addrOf(leaf))
	p.write(gtkgLeaf)
	resp := p.readHandshake()
	require.Equal(t, 503, resp.Code)
	require.True(t, resp.Headers.Has("Remote-IP"))

	// Same IP twice: the first is connected, the second gets 409.
	ip := nextIP()
	dial := func() *rawPeer {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
		c, err := d.Dial("tcp", addrOf(up))
		require.NoError(t, err)
		t.Cleanup(func() { _ = c.Close() })
		_ = c.SetDeadline(time.Now().Add(waitFor))
		return &rawPeer{t: t, conn: c, br: bufio.NewReader(c)}
	}
	gtkgUP := readInterop(t, "gtk-gnutella/20-gtkg-ultra-connects-to-us.hs1-request.bin")
	p1 := dial()
	p1.write(gtkgUP)
	require.Equal(t, 200, p1.readHandshake().Code)
	p1.write([]byte("GNUTELLA/0.6 200 OK\r\n\r\n"))
	waitPeers(t, up, 1, 0)
	p2 := dial()
	p2.write(bytes.Replace(gtkgUP, []byte("GUID: b9"), []byte("GUID: c9"), 1))
	r2 := p2.readHandshake()
	require.Equal(t, 409, r2.Code)
	// Same GUID from another IP: 409 too.
	p3 := dialFrom(t, addrOf(up))
	p3.write(gtkgUP)
	require.Equal(t, 409, p3.readHandshake().Code)

	p4 := dialFrom(t, addrOf(up))
	p4.write([]byte("GNUTELLA CONNECT/0.6\r\nUser-Agent: x\r\n\r\n"))
	require.Equal(t, 403, p4.readHandshake().Code)

	p5 := dialFrom(t, addrOf(up))
	p5.write(readInterop(t, "gnutella-bun-client/74-connect-0.4.request.bin"))
	_, err := p5.br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
}

func TestLeafToLeafAndUltrapeerPair(t *testing.T) {
	a := startNode(t, ModeUltrapeer)
	b := startNode(t, ModeUltrapeer, withPeers(addrOf(a)))
	waitPeers(t, a, 1, 0)
	waitPeers(t, b, 1, 0)
	for _, p := range append(a.Peers(), b.Peers()...) {
		require.True(t, p.Compressed)
		require.Equal(t, "ultrapeer", p.Mode)
	}
	// A leaf dialling a leaf is refused and stays unconnected.
	l1 := startNode(t, ModeLeaf)
	l2 := startNode(t, ModeLeaf, withPeers(addrOf(l1)))
	require.Eventually(t, func() bool { return l2.peerBook.failures(addrOf(l1)) > 0 }, waitFor, tick)
	require.Empty(t, l1.Peers())
	require.Empty(t, l2.Peers())
}

// TestXTryUltrapeers: 200 and 503 both carry X-Try-Ultrapeers with the
// ultrapeers we know.
func TestXTryUltrapeers(t *testing.T) {
	cfg := testConfig(t, ModeUltrapeer)
	cfg.MaxPeers = 1
	n := startConfig(t, cfg)
	a := startNode(t, ModeUltrapeer, withPeers(addrOf(n)))
	waitPeers(t, n, 1, 0)
	require.Eventually(t, func() bool { return len(n.Hosts()) > 0 }, waitFor, tick)

	full := dialFrom(t, addrOf(n))
	full.write([]byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: True\r\n\r\n"))
	r := full.readHandshake()
	require.Equal(t, 503, r.Code)
	require.Contains(t, protocol.ParseTryHosts(r.Headers.Get("X-Try-Ultrapeers")), a.Addr())
	require.Equal(t, "True", r.Headers.Get("X-Ultrapeer"))

	leaf := dialFrom(t, addrOf(n))
	leaf.write([]byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: False\r\n\r\n"))
	r = leaf.readHandshake()
	require.Equal(t, 200, r.Code)
	require.Contains(t, protocol.ParseTryHosts(r.Headers.Get("X-Try-Ultrapeers")), a.Addr())
	require.Equal(t, "False", r.Headers.Get("X-Ultrapeer-Needed"))
}
