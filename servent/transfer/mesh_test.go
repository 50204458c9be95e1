package transfer

import (
	"bufio"
	"context"
	"crypto/sha1"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
)

func alt(s string) httphdr.Alt { return httphdr.Alt{Addr: netip.MustParseAddrPort(s)} }

func addrsOf(alts []httphdr.Alt) []string {
	var out []string
	for _, a := range alts {
		out = append(out, a.Addr.String())
	}
	return out
}

// TestMesh: the mesh store on a fake clock.
func TestMesh(t *testing.T) {
	m := NewMesh()
	var sha protocol.SHA1
	sha[0] = 1
	public := netip.MustParseAddr("198.51.100.9")
	t0 := parqT0
	m.Add(sha, public, []httphdr.Alt{alt("1.2.4.5:6346"), alt("1.2.4.6:6348"), alt("10.0.0.1:6346"), alt("127.0.0.1:6346"), alt("0.0.0.0:1")}, nil, t0)
	assert.ElementsMatch(t, []string{"1.2.4.5:6346", "1.2.4.6:6348"}, addrsOf(m.Alts(sha, netip.Addr{}, 10, t0)),
		"private and loopback sources from the open network are refused (bogons)")
	// From a host on the LAN (or the lab), its own kind of address is taken.
	m.Add(sha, netip.MustParseAddr("10.0.0.7"), []httphdr.Alt{alt("10.0.0.1:6346"), alt("127.0.0.1:6346")}, nil, t0)
	assert.Contains(t, addrsOf(m.Alts(sha, netip.Addr{}, 10, t0)), "10.0.0.1:6346")
	assert.NotContains(t, addrsOf(m.Alts(sha, netip.Addr{}, 10, t0)), "127.0.0.1:6346")
	// The asker is left out; the freshest come first.
	m.Add(sha, public, []httphdr.Alt{alt("1.2.4.5:6346")}, nil, t0.Add(time.Minute))
	assert.Equal(t, "1.2.4.5:6346", m.Alts(sha, netip.Addr{}, 1, t0.Add(time.Minute))[0].Addr.String())
	assert.NotContains(t, addrsOf(m.Alts(sha, netip.MustParseAddr("1.2.4.5"), 10, t0)), "1.2.4.5:6346")

	// X-Nalt retracts, and the source is refused for a while.
	m.Remove(sha, []httphdr.Alt{alt("1.2.4.6:6348")}, t0)
	assert.NotContains(t, addrsOf(m.Alts(sha, netip.Addr{}, 10, t0)), "1.2.4.6:6348")
	m.Add(sha, public, []httphdr.Alt{alt("1.2.4.6:6348")}, nil, t0.Add(time.Minute))
	assert.NotContains(t, addrsOf(m.Alts(sha, netip.Addr{}, 10, t0.Add(time.Minute))), "1.2.4.6:6348")
	assert.True(t, m.Bad(sha, netip.MustParseAddrPort("1.2.4.6:6348"), t0))
	later := t0.Add(meshBadFor + 2*time.Minute)
	assert.False(t, m.Bad(sha, netip.MustParseAddrPort("1.2.4.6:6348"), later))
	m.Add(sha, public, []httphdr.Alt{alt("1.2.4.6:6348")}, nil, later)
	assert.Contains(t, addrsOf(m.Alts(sha, netip.Addr{}, 10, later)), "1.2.4.6:6348")
	// Sources not heard of again are forgotten.
	assert.Equal(t, []string{"1.2.4.6:6348"}, addrsOf(m.Alts(sha, netip.Addr{}, 10, later.Add(meshLifetime-time.Second))))

	// Bounded per file.
	for i := range 3 * meshPerFile {
		m.Add(sha, public, []httphdr.Alt{{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{1, 3, 0, byte(i)}), 6346)}}, nil, later)
	}
	assert.Len(t, m.Alts(sha, netip.Addr{}, 1000, later), meshPerFile)

	// Firewalled sources need a proxy.
	guid := [16]byte{1, 2, 3}
	m.Add(sha, public, nil, []httphdr.Falt{{GUID: guid, Proxies: []httphdr.Alt{alt("1.2.4.7:6346")}}, {GUID: [16]byte{9}}}, t0)
	fs := m.Falts(sha, 10, t0)
	require.Len(t, fs, 1)
	assert.Equal(t, guid, fs[0].GUID)
}

// TestMeshGTKGReplay replays the five downloaders of interop 58 against
// our uploader and checks that it answers as gtk-gnutella 1.2.3 did: what
// A told is in every later answer (A's too), X-Falt in a request is
// ignored, and D's X-Nalt removes a source at once and for good.
func TestMeshGTKGReplay(t *testing.T) {
	content := make([]byte, 600000)
	for i := range content {
		content[i] = byte(i % 251)
	}
	f := shareFile(t, t.TempDir(), 1, "thex pattern 600000.bin", content)
	require.Equal(t, "urn:sha1:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC", protocol.SHA1(sha1.Sum(content)).URN())
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), Mesh: NewMesh()})
	srv := startServer(t, "127.0.0.1", up, nil)
	ask := func(who, from string) (altsSeen []string, falt string) {
		t.Helper()
		resp, _ := splitResponse(t, exchange(t, from, srv.addr, readInterop(t, "gtk-gnutella/58-download-mesh-x-alt-x-falt-x-nalt."+who+".request.bin")))
		require.Equal(t, 206, resp.code, who)
		alts, err := httphdr.ParseAlt(resp.header.Get("X-Alt"), 10)
		require.NoError(t, err)
		return addrsOf(alts), resp.header.Get("X-Falt")
	}
	told := []string{"1.2.4.5:6346", "1.2.4.6:6348"}
	a, falt := ask("A", "127.0.15.1")
	assert.ElementsMatch(t, told, a, "gtk-gnutella answered A with what A told it")
	assert.Empty(t, falt, "X-Falt in a request is ignored, as gtk-gnutella does")
	b, _ := ask("B", "127.0.15.2")
	assert.ElementsMatch(t, told, b)
	c, _ := ask("C", "127.0.15.3")
	assert.ElementsMatch(t, told, c)
	d, _ := ask("D", "127.0.15.4")
	assert.Equal(t, []string{"1.2.4.5:6346"}, d, "D's X-Nalt removed 1.2.4.6:6348 at once")
	e, _ := ask("E", "127.0.15.5")
	assert.Equal(t, []string{"1.2.4.5:6346"}, e)
	// Told again by A: still refused (remembered as bad).
	a, _ = ask("A", "127.0.15.1")
	assert.Equal(t, []string{"1.2.4.5:6346"}, a)
}

// TestDownloaderMesh: a source's X-Falt adds a firewalled source with its
// proxies, its X-Nalt retracts another source; our later requests carry
// fwalt, X-Alt of the good sources and X-Nalt of the failed one.
func TestDownloaderMesh(t *testing.T) {
	content := []byte("mesh content")
	sha := protocol.SHA1(sha1.Sum(content))
	other := startConnServer(t, "127.0.0.81", func(ctx context.Context, c net.Conn) { c.Close() })
	guid := "0123456789abcdef0123456789abcdef"
	requests := make(chan string, 8)
	srv := startConnServer(t, "127.0.0.82", func(ctx context.Context, c net.Conn) {
		defer c.Close()
		req, err := readHead(bufio.NewReader(c))
		if err != nil {
			return
		}
		requests <- string(req)
		fmt.Fprintf(c, "HTTP/1.1 503 Busy\r\nRetry-After: 1\r\nX-Falt: %s;1.2.4.7:6346;1.2.4.8:7000\r\nX-Nalt: %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", guid, other.addr)
	})
	m := openManager(t, newDirs(t), func(c *ManagerConfig) { c.RetryBackoff = 50 * time.Millisecond })
	_, err := m.Start(sha, "x.bin", int64(len(content)), []Source{{Addr: srv.addr}})
	require.NoError(t, err)
	<-requests
	m.mu.Lock()
	d := m.downloads[sha]
	m.mu.Unlock()
	require.Eventually(t, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		s, ok := d.sources["push:"+guid]
		return ok && len(s.src.Proxies) == 2 && s.src.Proxies[1] == netip.MustParseAddrPort("1.2.4.8:7000")
	}, 5*time.Second, time.Millisecond, "the firewalled source and its proxies joined")

	// Another source is known (not tried for now); the next X-Nalt
	// retracts it.
	d.mu.Lock()
	require.True(t, d.addSourceLocked(Source{Addr: other.addr}))
	d.sources[other.addr.String()].nextTry = time.Now().Add(time.Hour)
	d.mu.Unlock()
	require.Eventually(t, func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		s := d.sources[other.addr.String()]
		return s.dead && s.why == "retracted by another source (X-Nalt)"
	}, 5*time.Second, time.Millisecond)
	// Our next request to srv names it in X-Nalt and announces fwalt.
	require.Eventually(t, func() bool {
		select {
		case req := <-requests:
			return strings.Contains(req, "X-Nalt: "+other.addr.String()) && strings.Contains(req, "X-Features: fwalt/0.1")
		default:
			return false
		}
	}, 10*time.Second, time.Millisecond)
	require.NoError(t, m.Close())
}

// TestMeshByFamily: X-Alt names IPv6 sources only to a downloader whose
// X-Features says IP/6.x, and no IPv4 source to one that says IP/6.4, as
// gtk-gnutella's uploads choose (uploads.c).
func TestMeshByFamily(t *testing.T) {
	f := shareFile(t, t.TempDir(), 1, "both families.bin", make([]byte, 4096))
	mesh := NewMesh()
	v4, v6 := netip.MustParseAddrPort("1.2.4.40:6346"), netip.MustParseAddrPort("[2606:4700::40]:6346")
	mesh.Add(f.SHA1, netip.MustParseAddr("1.2.4.1"), []httphdr.Alt{{Addr: v4}, {Addr: v6}}, nil, time.Now())
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), Mesh: mesh})
	srv := startServer(t, "127.0.0.1", up, nil)
	for _, c := range []struct {
		features string
		want     []string
	}{
		{"fwalt/0.1", []string{v4.String()}},
		{"fwalt/0.1, IP/6.0", []string{v4.String(), v6.String()}},
		{"tls/1.0, IP/6.4", []string{v6.String()}},
	} {
		req := "GET /uri-res/N2R?" + f.SHA1.URN() + " HTTP/1.1\r\nX-Features: " + c.features + "\r\nConnection: close\r\n\r\n"
		resp, _ := splitResponse(t, exchange(t, "127.0.15.9", srv.addr, []byte(req)))
		require.Equal(t, 200, resp.code)
		alts, err := httphdr.ParseAlt(resp.header.Get("X-Alt"), 10)
		require.NoError(t, err)
		assert.ElementsMatch(t, c.want, addrsOf(alts), c.features)
	}
}
