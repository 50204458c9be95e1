package servent

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/transfer"
)

// deadProxy is a loopback address where nothing listens.
func deadProxy(t *testing.T) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", nextIP()+":0")
	require.NoError(t, err)
	a := netip.MustParseAddrPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	return a
}

// givProxy is a push proxy standing in for a proxy and its leaf at once:
// it answers 202 and connects to the X-Node address with the GIV the
// pushed servent would send. It hands back each request it took.
func givProxy(t *testing.T, guid protocol.GUID) (netip.AddrPort, <-chan *http.Request) {
	t.Helper()
	ln, err := net.Listen("tcp", nextIP()+":0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	reqs := make(chan *http.Request, 4)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(nc))
			if err != nil {
				_ = nc.Close()
				continue
			}
			_, _ = nc.Write([]byte("HTTP/1.1 202 Push-proxy: message sent to node\r\nConnection: close\r\n\r\n"))
			_ = nc.Close()
			reqs <- req
			if back, err := net.Dial("tcp", req.Header.Get("X-Node")); err == nil {
				_, _ = fmt.Fprintf(back, "GIV %s:%s/file\n\n", req.URL.Query().Get("file"), guid)
				_ = back.Close()
			}
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), reqs
}

// TestPushViaProxiesFirst: a source with push proxies is pushed through
// them over HTTP, several at once, one dead: the live one takes it, names
// the file and our address, and the GIV comes back; no Gnutella route is
// needed (the searcher has no link at all).
func TestPushViaProxiesFirst(t *testing.T) {
	giv := make(chan string, 1)
	cfg := testConfig(t, ModeUltrapeer)
	cfg.GIVHandler = func(c net.Conn, _ *bufio.Reader, line string) {
		giv <- line
		_ = c.Close()
	}
	searcher := startConfig(t, cfg)
	guid := protocol.NewGUID()
	live, reqs := givProxy(t, guid)
	src := transfer.Source{Push: true, ServentGUID: guid, Index: 7, Proxies: []netip.AddrPort{deadProxy(t), live}}

	require.NoError(t, searcher.sendPush(src))
	req := <-reqs
	assert.Equal(t, "/gnutella/push-proxy", req.URL.Path)
	assert.Equal(t, "7", req.URL.Query().Get("file"))
	assert.Equal(t, addrOf(searcher), req.Header.Get("X-Node"))
	line := <-giv
	assert.True(t, strings.HasPrefix(line, "GIV 7:"+guid.String()), line)
	assert.Equal(t, uint64(1), searcher.transfer.proxiedPushes.Load())
}

// TestPushProxiesGoneRouteUsed: when every proxy of a source is dead the
// Push goes over Gnutella, and the firewalled leaf still connects back.
func TestPushProxiesGoneRouteUsed(t *testing.T) {
	searcher, leaf, src, giv := pushedSource(t)
	src.Proxies = []netip.AddrPort{deadProxy(t), deadProxy(t)}

	require.NoError(t, searcher.sendPush(src))
	line := <-giv
	require.True(t, strings.HasPrefix(line, "GIV "), line)
	_, guid, _, err := transfer.ParseGIV(line)
	require.NoError(t, err)
	assert.Equal(t, leaf.GUID(), guid)
	assert.Zero(t, searcher.transfer.proxiedPushes.Load())
}

// TestPushNoProxyNoRoute: dead proxies and no route: the error says both.
func TestPushNoProxyNoRoute(t *testing.T) {
	n := startNode(t, ModeUltrapeer)
	err := n.sendPush(transfer.Source{Push: true, ServentGUID: protocol.NewGUID(), Proxies: []netip.AddrPort{deadProxy(t)}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "none of 1 proxies took it")
	assert.Contains(t, err.Error(), "no route")
}

// TestResultsCarryProxies: a firewalled hit's GGEP PUSH reaches the
// result's source; a hit without the push flag gets none.
func TestResultsCarryProxies(t *testing.T) {
	n := startNode(t, ModeLeaf)
	s := n.Search("proxied file", nil)
	proxies := []netip.AddrPort{netip.MustParseAddrPort("192.0.2.1:6346"), netip.MustParseAddrPort("192.0.2.2:6347")}
	hit := protocol.QueryHit{IP: netip.MustParseAddr("10.0.0.1"), Port: 6346, Push: true, ServentGUID: protocol.GUID{1},
		Results: []protocol.Result{{Index: 1, Name: "proxied file.txt", SHA1: protocol.SHA1{1}}}}
	hit.SetPushProxies(proxies, false)
	s.add(&hit)
	open := hit
	open.Push, open.ServentGUID, open.IP = false, protocol.GUID{2}, netip.MustParseAddr("192.0.2.3")
	s.add(&open)
	res := s.Results()
	require.Len(t, res, 1)
	require.Len(t, res[0].Sources, 2)
	assert.Equal(t, proxies, res[0].Sources[0].Proxies)
	assert.Empty(t, res[0].Sources[1].Proxies)
}
