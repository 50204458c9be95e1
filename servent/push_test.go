package servent

import (
	"bufio"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/transfer"
)

// pushedSource: a searcher (whose GIVs come out on giv), an ultrapeer,
// and behind it a firewalled leaf sharing "hidden treasure.txt"; src is the
// leaf's source from the searcher's search.
func pushedSource(t *testing.T) (searcher, leaf *Node, src transfer.Source, giv <-chan string) {
	t.Helper()
	givs := make(chan string, 1)
	scfg := testConfig(t, ModeUltrapeer)
	scfg.GIVHandler = func(c net.Conn, _ *bufio.Reader, line string) {
		givs <- line
		_ = c.Close()
	}
	searcher = startConfig(t, scfg)
	up := startNode(t, ModeUltrapeer, withPeers(addrOf(searcher)))
	lcfg := testConfig(t, ModeLeaf, withPeers(addrOf(up)), withFiles("hidden treasure.txt"))
	lcfg.Firewalled = true
	leaf = startConfig(t, lcfg)
	waitPeers(t, up, 1, 1)
	require.Eventually(t, func() bool {
		for _, c := range up.snap.Load().leaves {
			return c.qrt.Load() != nil
		}
		return false
	}, waitFor, tick)
	s := searcher.Search("treasure", nil)
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
	return searcher, leaf, s.Results()[0].Sources[0], givs
}

// TestPushRouting: a firewalled leaf answers with the push flag; the
// searcher's Push is routed by servent GUID through the ultrapeer (push
// table filled from the hit), and the leaf connects back with GIV.
func TestPushRouting(t *testing.T) {
	searcher, leaf, src, giv := pushedSource(t)
	require.True(t, src.Push)
	require.Equal(t, leaf.GUID(), src.ServentGUID)

	require.NoError(t, searcher.sendPush(src))
	line := <-giv
	require.True(t, strings.HasPrefix(line, "GIV "), line)
	index, guid, name, err := transfer.ParseGIV(line)
	require.NoError(t, err)
	require.Equal(t, src.Index, index)
	require.Equal(t, leaf.GUID(), guid)
	require.Equal(t, "hidden treasure.txt", name)

	// gtk-gnutella pushes index 0 for a download by urn: answered too, with
	// its literal name "file"; the GET that follows names the urn.
	byURN := src
	byURN.Index = 0
	require.NoError(t, searcher.sendPush(byURN))
	line = <-giv
	require.Equal(t, "GIV 0:"+leaf.GUID().String()+"/file", strings.TrimRight(line, "\r\n"))

	// A firewalled node does not take inbound Gnet connections.
	p := dialFrom(t, addrOf(leaf))
	p.write([]byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: True\r\n\r\n"))
	_, err = p.br.ReadByte()
	require.Error(t, err)
}

// TestHTTPDispatch: GET and HEAD on the Gnutella port reach the HTTP
// handler with the peeked bytes intact.
func TestHTTPDispatch(t *testing.T) {
	got := make(chan string, 2)
	cfg := testConfig(t, ModeLeaf)
	cfg.HTTPHandler = func(c net.Conn, br *bufio.Reader) {
		line, _ := br.ReadString('\n')
		got <- line
		_ = c.Close()
	}
	n := startConfig(t, cfg)
	for _, req := range []string{"GET /get/1/a.txt HTTP/1.1\r\n\r\n", "HEAD / HTTP/1.1\r\n\r\n"} {
		p := dialFrom(t, addrOf(n))
		p.write([]byte(req))
		require.Equal(t, strings.SplitAfter(req, "\n")[0], <-got)
	}
}

// TestPushProxy: a leaf's Push Proxy Request gets an Ack with our address,
// and a Push for that leaf's GUID is routed to it without any QueryHit seen.
func TestPushProxy(t *testing.T) {
	up := startNode(t, ModeUltrapeer)
	leaf := connectRaw(t, up, false, "")
	waitPeers(t, up, 0, 1)
	leafGUID := protocol.NewGUID()
	req := protocol.PushProxyRequest{}.Vendor()
	leaf.write(protocol.AppendMessage(nil, protocol.Header{GUID: leafGUID, Type: protocol.TypeVendor, TTL: 1}, &req))
	h, b := leaf.nextOf(protocol.TypeVendor)
	for {
		var v protocol.Vendor
		require.NoError(t, v.Decode(b))
		if v.Is(protocol.VendorLIME, protocol.SelPushProxyAck) {
			ack, err := protocol.DecodePushProxyAck(v.Version, v.Data)
			require.NoError(t, err)
			require.Equal(t, up.Addr(), ack.Addr)
			require.Equal(t, leafGUID, h.GUID)
			break
		}
		h, b = leaf.nextOf(protocol.TypeVendor)
	}
	other := connectRaw(t, up, true, "")
	waitPeers(t, up, 1, 1)
	push := &protocol.Push{ServentGUID: leafGUID, Index: 7, IP: netip.MustParseAddr("192.0.2.1"), Port: 6346}
	other.write(protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePush, TTL: 3}, push))
	_, b = leaf.nextOf(protocol.TypePush)
	var got protocol.Push
	require.NoError(t, got.Decode(b))
	require.Equal(t, uint32(7), got.Index)
}
