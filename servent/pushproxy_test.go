package servent

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base32"
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

// proxiedLeaf is an ultrapeer with a firewalled leaf that took it as its
// push proxy (LIME/21 -> LIME/22), the leaf sharing files.
func proxiedLeaf(t *testing.T, files ...string) (up, leaf *Node) {
	t.Helper()
	up = startNode(t, ModeUltrapeer)
	lcfg := testConfig(t, ModeLeaf, withPeers(addrOf(up)), withFiles(files...))
	lcfg.Firewalled = true
	leaf = startConfig(t, lcfg)
	waitPeers(t, up, 0, 1)
	require.Eventually(t, func() bool { return len(leaf.pushProxies()) == 1 }, waitFor, tick)
	require.Equal(t, up.Addr(), leaf.pushProxies()[0])
	return up, leaf
}

// proxyGet sends a push-proxy request to n and returns the status line.
func proxyGet(t *testing.T, n *Node, method, target, xnode string) string {
	t.Helper()
	nc, err := net.Dial("tcp", addrOf(n))
	require.NoError(t, err)
	defer nc.Close()
	req := method + " " + target + " HTTP/1.1\r\nHost: " + addrOf(n) + "\r\n"
	if xnode != "" {
		req += "X-Node: " + xnode + "\r\n"
	}
	_, err = fmt.Fprint(nc, req+"Connection: close\r\n\r\n")
	require.NoError(t, err)
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	require.NoError(t, err)
	require.True(t, resp.Close)
	return resp.Proto + " " + resp.Status
}

// givListener stands for a downloader: it hands back each GIV line.
func givListener(t *testing.T) (string, <-chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", nextIP()+":0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	lines := make(chan string, 8)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			line, _ := bufio.NewReader(nc).ReadString('\n')
			_ = nc.Close()
			lines <- line
		}
	}()
	return ln.Addr().String(), lines
}

// TestPushProxyEndpoint: our ultrapeer relays HTTP push-proxy requests
// for its firewalled leaf in every form gtk-gnutella takes (and ServerID),
// and refuses as gtk-gnutella does (captures 57, 59).
func TestPushProxyEndpoint(t *testing.T) {
	up, leaf := proxiedLeaf(t, "proxied file.txt")
	xnode, givs := givListener(t)
	g := leaf.GUID()
	b32 := base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(g[:])

	for _, target := range []string{
		"/gnutella/push-proxy?ServerId=" + b32,
		"/gnutella/push-proxy?ServerID=" + b32 + "&file=0",
		"/gnet/push-proxy?guid=" + g.String(),
	} {
		require.Equal(t, "HTTP/1.1 202 Push-proxy: message sent to node", proxyGet(t, up, "GET", target, xnode), target)
		line := <-givs
		assert.True(t, strings.HasPrefix(line, "GIV 0:"+g.String()+"/"), line)
	}
	other := protocol.NewGUID()
	assert.Equal(t, "HTTP/1.1 410 Push proxy: no route to servent GUID "+other.String(),
		proxyGet(t, up, "GET", "/gnet/push-proxy?guid="+other.String(), xnode))
	assert.Equal(t, "HTTP/1.1 400 Malformed push-proxy request: supplied no valid address",
		proxyGet(t, up, "GET", "/gnutella/push-proxy?ServerId="+b32, ""))
	assert.Equal(t, "HTTP/1.1 400 Request not understood",
		proxyGet(t, up, "HEAD", "/gnutella/push-proxy-v2?ServerId="+b32, xnode))
	// Our own GUID: we connect back ourselves.
	ug := up.GUID()
	assert.Equal(t, "HTTP/1.1 202 Push-proxy: you found the target GUID", proxyGet(t, up, "GET", "/gnet/push-proxy?guid="+ug.String(), xnode))
	assert.True(t, strings.HasPrefix(<-givs, "GIV 0:"+ug.String()+"/"))
}

// TestLeafAdvertisesProxies: a firewalled leaf's hits carry its push
// proxy in GGEP PUSH; when the proxy's link closes it is forgotten.
func TestLeafAdvertisesProxies(t *testing.T) {
	up, leaf := proxiedLeaf(t, "advertised.txt")
	var hits []*protocol.QueryHit
	leaf.ourHits(&protocol.Query{Criteria: "advertised"}, leaf.Addr(), func(h *protocol.QueryHit) { hits = append(hits, h) })
	require.Len(t, hits, 1)
	assert.True(t, hits[0].Push)
	assert.Equal(t, []netip.AddrPort{up.Addr()}, hits[0].PushProxies())

	require.NoError(t, up.Close())
	require.Eventually(t, func() bool { return len(leaf.pushProxies()) == 0 }, waitFor, tick)
}

// TestDownloadThroughPushProxy: a downloader finds a firewalled leaf's
// file, the hit names our ultrapeer as its proxy, and the download goes
// through the HTTP push-proxy request (also when another listed proxy is
// dead) and completes, verified.
func TestDownloadThroughPushProxy(t *testing.T) {
	up, _ := proxiedLeaf(t, "through the proxy.bin")
	dl := startNode(t, ModeLeaf, withPeers(addrOf(up)))
	waitPeers(t, up, 0, 2)
	require.Eventually(t, func() bool {
		n := 0
		for _, c := range up.snap.Load().leaves {
			if c.qrt.Load() != nil {
				n++
			}
		}
		return n == 2
	}, waitFor, tick)

	s := dl.Search("through proxy", nil)
	defer s.Stop()
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
	src := s.Results()[0].Sources[0]
	require.True(t, src.Push)
	require.Equal(t, []netip.AddrPort{up.Addr()}, src.Proxies)
	src.Proxies = append([]netip.AddrPort{deadProxy(t)}, src.Proxies...)

	content := []byte("content of through the proxy.bin")
	sha := protocol.SHA1(sha1.Sum(content))
	m := dl.Downloads()
	_, err := m.Start(sha, "through the proxy.bin", int64(len(content)), []transfer.Source{src})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	in, err := m.Wait(ctx, sha)
	require.NoError(t, err, "state %+v", in)
	require.Equal(t, transfer.StateComplete, in.State, in.Err)
	assert.Equal(t, uint64(1), dl.transfer.proxiedPushes.Load())
}
