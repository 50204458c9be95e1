package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// Replays of Push/GIV exchanges captured in the interop lab with
// gtk-gnutella 1.2.3 and GnutellaBun on loopback (testdata/interop/lab-push,
// see its README). The live runs completed byte-identical; these tests keep
// the wire details they showed.

const labPush = "lab-push/"

// TestLabPushDescriptors decodes the Push descriptors seen on the wire:
// ours, gtk-gnutella's (GGEP "TLS"; index 0 for a download started from a
// magnet) and GnutellaBun's (TTL = query hops + 2).
func TestLabPushDescriptors(t *testing.T) {
	gtkgGUID := protocol.GUID{0x1a, 0xa3, 0x31, 0x02, 0xd2, 0x10, 0xd6, 0x82, 0x43, 0x15, 0xfd, 0x49, 0xf4, 0x2c, 0x53, 0x8a}
	bunGUID := mustGUID(t, "0d191aa33857005fffcbe0a807d21700")
	oursFW := mustGUID(t, "77559171718496acfffeac24ce6da900")
	for _, tc := range []struct {
		file       string
		ttl, hops  uint8
		guid       protocol.GUID
		index      uint32
		requester  string
		tls, exact bool
	}{
		{"our-push-to-gtkg.bin", 4, 0, gtkgGUID, 1, "127.0.0.63:6350", false, true},
		{"our-push-to-bun.bin", 4, 0, bunGUID, 2, "127.0.0.63:6350", false, true},
		{"gtkg-push-index0-tls.bin", 4, 0, oursFW, 0, "127.0.0.61:6346", true, false},
		{"gtkg-push-index1-tls.bin", 4, 0, oursFW, 1, "127.0.0.61:6346", true, false},
		{"bun-push.bin", 2, 0, oursFW, 1, "127.0.0.62:6346", false, true},
		{"bun-push-routed-by-gtkg.bin", 2, 1, mustGUID(t, "52b829f5f07341a7ff7d855511d7d200"), 1, "127.0.0.62:6346", false, true},
	} {
		t.Run(tc.file, func(t *testing.T) {
			raw := readInterop(t, labPush+tc.file)
			h, err := protocol.ParseHeader(raw)
			require.NoError(t, err)
			require.Equal(t, protocol.TypePush, h.Type)
			require.Equal(t, tc.ttl, h.TTL)
			require.Equal(t, tc.hops, h.Hops)
			require.Equal(t, int(h.Length), len(raw)-23)
			var p protocol.Push
			require.NoError(t, p.Decode(raw[23:]))
			require.Equal(t, tc.guid, p.ServentGUID)
			require.Equal(t, tc.index, p.Index)
			require.Equal(t, netip.MustParseAddrPort(tc.requester), netip.AddrPortFrom(p.IP, p.Port))
			_, hasTLS := p.GGEP.Get("TLS")
			require.Equal(t, tc.tls, hasTLS)
			if tc.exact {
				require.Equal(t, raw, protocol.AppendMessage(nil, h, &p))
			}
		})
	}
}

func mustGUID(t testing.TB, s string) protocol.GUID {
	g, err := protocol.ParseGUID(s)
	require.NoError(t, err)
	return g
}

// TestLabDownloadViaGIV: a source unreachable directly gets a Push; it
// answers with the captured bytes of the real peer (GIV, then the response
// to our GET with the body), and the download completes with the peer's
// file. gtk-gnutella sends "GIV 1:<guid>/file" and answers our ranged GET
// with 200; GnutellaBun puts the real name in the GIV and also answers 200.
func TestLabDownloadViaGIV(t *testing.T) {
	for _, tc := range []struct {
		name, urn string
	}{
		{"gtkg-serves-via-giv", "urn:sha1:HZUGTXRVQTGG62TJEK5MG7VMMGLF7VJC"},
		{"bun-serves-via-giv", "urn:sha1:YQ4GMSZCDSCACZ4RVQ3H57XGMQRXSMCN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rx := readInterop(t, labPush+tc.name+".rx.bin")
			tx := readInterop(t, labPush+tc.name+".tx.bin")
			br := bufio.NewReader(bytes.NewReader(rx))
			line, err := ReadGIVLine(br)
			require.NoError(t, err)
			index, guid, _, err := ParseGIV(line)
			require.NoError(t, err)
			resp, body := splitResponse(t, rx[len(rx)-br.Buffered():])
			require.Equal(t, 200, resp.code)
			sha, err := protocol.ParseSHA1URN(tc.urn)
			require.NoError(t, err)
			require.Equal(t, sha, protocol.SHA1(sha1.Sum(body)), "capture corrupt")

			ln, err := net.Listen("tcp", "127.0.0.52:0")
			require.NoError(t, err)
			dead := ln.Addr().String()
			ln.Close()

			d := newDirs(t)
			var wg sync.WaitGroup
			t.Cleanup(wg.Wait)
			var us *testServer
			pushes := make(chan Source, 4)
			requests := make(chan []byte, 4)
			m := openManager(t, d, func(c *ManagerConfig) {
				c.SendPush = func(src Source) error {
					pushes <- src
					wg.Add(1)
					go func() {
						defer wg.Done()
						c, err := net.Dial("tcp", us.addr.String())
						if err != nil {
							return
						}
						defer c.Close()
						_ = c.SetDeadline(time.Now().Add(10 * time.Second))
						if _, err := c.Write(rx); err != nil {
							return
						}
						req, _ := readHead(bufio.NewReader(c))
						requests <- req
						_, _ = io.Copy(io.Discard, c) // until the manager closes
					}()
					return nil
				}
			})
			us = startServer(t, "127.0.0.53", nil, m)
			src := Source{Addr: netipMust(dead), Index: index, ServentGUID: guid, Name: "x"}
			_, err = m.Start(sha, "x", int64(len(body)), []Source{src})
			require.NoError(t, err)
			requireOnlyFile(t, d, waitDone(t, m, sha), body)
			p := <-pushes
			require.Equal(t, guid, p.ServentGUID)
			require.Equal(t, index, p.Index)
			// Same request line, Range and urn as in the live run.
			got := <-requests
			// X-Queue (PARQ) and X-Features (the mesh) came after the capture.
			require.Equal(t, headLines(t, tx, "Host", "User-Agent", "X-Queue", "X-Features"), headLines(t, got, "Host", "User-Agent", "X-Queue", "X-Features"))
			require.NoError(t, m.Close())
		})
	}
}

// readHead reads an HTTP head up to the blank line.
func readHead(br *bufio.Reader) ([]byte, error) {
	var out []byte
	for {
		l, err := br.ReadBytes('\n')
		out = append(out, l...)
		if err != nil {
			return out, err
		}
		if len(bytes.TrimRight(l, "\r\n")) == 0 {
			return out, nil
		}
	}
}

// headLines returns the lines of an HTTP head without the named headers.
func headLines(t testing.TB, head []byte, skip ...string) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimRight(string(head), "\r\n"), "\r\n") {
		name, _, _ := strings.Cut(l, ":")
		drop := false
		for _, s := range skip {
			drop = drop || strings.EqualFold(name, s)
		}
		if !drop {
			out = append(out, l)
		}
	}
	return out
}

// TestLabServeGIV: as the firewalled server, ServeGIV connects to the
// requester, sends the GIV and serves the exact request the real peer sent
// after our GIV in the lab: gtk-gnutella's GET without Range but with
// "Upgrade: TLS/1.0" (never echoed), GnutellaBun's with "Range: bytes=0-".
func TestLabServeGIV(t *testing.T) {
	guid := mustGUID(t, "77559171718496acfffeac24ce6da900")
	for _, tc := range []struct {
		name, giv string
		code      int
	}{
		{"gtkg", "our-giv-to-gtkg.head.bin", 200},
		{"bun", "our-giv-to-bun.head.bin", 206},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := readInterop(t, labPush+tc.name+"-requests-after-our-giv.bin")
			ours := readInterop(t, labPush+tc.giv)
			givEnd := bytes.Index(ours, []byte("\n\n")) + 2
			require.Greater(t, givEnd, 2)
			liveResp, _ := splitResponse(t, ours[givEnd:])
			require.Equal(t, tc.code, liveResp.code)

			content := randomBytes(t, 5000)
			f := shareFile(t, t.TempDir(), 1, "omega pushtest.bin", content)
			up := NewUploader(UploaderConfig{Files: newMemFiles(f)})
			ln, err := net.Listen("tcp", "127.0.0.54:0")
			require.NoError(t, err)
			defer ln.Close()
			require.NoError(t, ln.(*net.TCPListener).SetDeadline(time.Now().Add(10*time.Second)))

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan error, 1)
			go func() {
				served <- ServeGIV(ctx, nil, ln.Addr().String(), 1, guid, f.Name, up)
			}()
			c, err := ln.Accept()
			require.NoError(t, err)
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second))
			br := bufio.NewReader(c)
			giv := make([]byte, givEnd)
			_, err = io.ReadFull(br, giv)
			require.NoError(t, err)
			require.Equal(t, ours[:givEnd], giv, "GIV bytes as sent in the lab")
			_, err = c.Write(req)
			require.NoError(t, err)
			resp, err := readResponse(br)
			require.NoError(t, err)
			require.Equal(t, tc.code, resp.code)
			require.Empty(t, resp.header.Get("Upgrade"))
			n, err := strconv.Atoi(resp.header.Get("Content-Length"))
			require.NoError(t, err)
			body := make([]byte, n)
			_, err = io.ReadFull(br, body)
			require.NoError(t, err)
			require.Equal(t, content, body)
			c.Close()
			select {
			case err := <-served:
				require.NoError(t, err)
			case <-time.After(10 * time.Second):
				t.Fatal("ServeGIV did not return after the requester closed")
			}
		})
	}
}
