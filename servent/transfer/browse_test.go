package transfer

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http/httputil"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func browseResults(n int) []protocol.Result {
	rs := make([]protocol.Result, n)
	for i := range rs {
		rs[i] = protocol.Result{Index: uint32(i + 1), Size: uint64(1000 + i), Name: fmt.Sprintf("shared file number %d.ogg", i), SHA1: protocol.SHA1{byte(i), 1}}
	}
	return rs
}

func browseServer(t *testing.T, rs []protocol.Result, enabled bool) *testServer {
	t.Helper()
	tmpl := protocol.QueryHit{Port: 6346, IP: netip.MustParseAddr("127.0.0.1"), Speed: 1, Vendor: protocol.VendorSRVT, ServentGUID: protocol.GUID{7}}
	cfg := UploaderConfig{Files: newMemFiles(), Features: "browse/1.0"}
	if enabled {
		cfg.Browse = &BrowseConfig{Hits: func() []protocol.QueryHit { return BrowseHits(tmpl, rs) }}
	}
	return startServer(t, "127.0.0.1", NewUploader(cfg), nil)
}

// dialFromIP dials from a given loopback address (the throttle is per IP).
func dialFromIP(ip string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.DialContext
}

// TestBrowseDeflated: our client against our uploader, the whole list in
// hits of at most BrowseHitBytes of results, deflated.
func TestBrowseDeflated(t *testing.T) {
	rs := browseResults(300)
	s := browseServer(t, rs, true)
	var got []protocol.Result
	hits := 0
	err := Browse(context.Background(), dialFromIP("127.0.0.61"), s.addr.String(), "test", func(h *protocol.QueryHit) error {
		hits++
		assert.Equal(t, protocol.GUID{7}, h.ServentGUID)
		got = append(got, h.Results...)
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, rs, got)
	assert.Greater(t, hits, 1, "in several hits")
}

// TestBrowsePlainAndPages: without Accept-Encoding the stream is plain
// (chunked for HTTP/1.1, close-delimited for 1.0); a browser gets a page;
// other types 406; a second browse from one address within the minute 429;
// disabled 403.
func TestBrowsePlainAndPages(t *testing.T) {
	rs := browseResults(5)
	s := browseServer(t, rs, true)
	get := func(ip, proto, accept string) (string, []byte) {
		c, err := dialFromIP(ip)(context.Background(), "tcp", s.addr.String())
		require.NoError(t, err)
		defer c.Close()
		req := "GET / " + proto + "\r\nHost: x\r\n"
		if accept != "" {
			req += "Accept: " + accept + "\r\n"
		}
		_, err = io.WriteString(c, req+"Connection: close\r\n\r\n")
		require.NoError(t, err)
		br := bufio.NewReader(c)
		head := ""
		for {
			line, err := br.ReadString('\n')
			require.NoError(t, err)
			head += line
			if line == "\r\n" {
				break
			}
		}
		var body io.Reader = br
		if strings.Contains(head, "Transfer-Encoding: chunked") {
			body = httputil.NewChunkedReader(br)
		}
		b, err := io.ReadAll(body)
		require.NoError(t, err)
		return head, b
	}
	head, body := get("127.0.0.62", "HTTP/1.1", "application/x-gnutella-packets")
	assert.Contains(t, head, "HTTP/1.1 200 OK\r\n")
	assert.Contains(t, head, "Content-Type: application/x-gnutella-packets\r\n")
	assert.NotContains(t, head, "Content-Encoding")
	assert.Contains(t, head, "X-Features: browse/1.0\r\n")
	var h protocol.Header
	require.NoError(t, h.Decode(body))
	assert.Equal(t, protocol.Header{Type: protocol.TypeQueryHit, TTL: 1, Length: h.Length}, h, "MUID zero, TTL 1, hops 0")
	var hit protocol.QueryHit
	require.NoError(t, hit.Decode(body[protocol.HeaderLen:]))
	assert.Equal(t, rs, hit.Results)

	head, body = get("127.0.0.63", "HTTP/1.0", "application/x-gnutella-packets")
	assert.NotContains(t, head, "chunked", "an HTTP/1.0 client reads to the close")
	require.NoError(t, hit.Decode(body[protocol.HeaderLen:]))

	head, body = get("127.0.0.64", "HTTP/1.1", "text/html")
	assert.Contains(t, head, "Content-Type: text/html")
	assert.Contains(t, string(body), `<a href="/get/1/shared%20file%20number%200.ogg">shared file number 0.ogg</a>`)

	head, _ = get("127.0.0.65", "HTTP/1.1", "image/png")
	assert.Contains(t, head, "406 Not Acceptable")
	head, _ = get("127.0.0.62", "HTTP/1.1", "application/x-gnutella-packets")
	assert.Contains(t, head, "429 Cannot Browse Too Often")

	off := browseServer(t, rs, false)
	err := Browse(context.Background(), dialFromIP("127.0.0.66"), off.addr.String(), "test", func(*protocol.QueryHit) error { return nil })
	require.ErrorContains(t, err, "403 Browse Host Disabled")
}

// hostileBrowse serves body (already encoded) as a browse answer.
func hostileBrowse(t *testing.T, enc string, write func(w io.Writer) error) *testServer {
	t.Helper()
	return startConnServer(t, "127.0.0.1", func(ctx context.Context, c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil || line == "\r\n" {
				break
			}
		}
		hdr := "HTTP/1.1 200 OK\r\nContent-Type: application/x-gnutella-packets\r\nConnection: close\r\n"
		if enc != "" {
			hdr += "Content-Encoding: " + enc + "\r\n"
		}
		if _, err := io.WriteString(c, hdr+"\r\n"); err != nil {
			return
		}
		_ = write(c)
	})
}

// TestBrowseHostileAnswers: garbage, a decompression bomb and endless
// hits are cut off with an error, the memory held bounded.
func TestBrowseHostileAnswers(t *testing.T) {
	ok := func(*protocol.QueryHit) error { return nil }
	garbage := hostileBrowse(t, "", func(w io.Writer) error {
		_, err := w.Write(bytes.Repeat([]byte{0xFF}, 4096))
		return err
	})
	err := Browse(context.Background(), nil, garbage.addr.String(), "test", ok)
	require.Error(t, err)

	bomb := hostileBrowse(t, "deflate", func(w io.Writer) error {
		zw, _ := zlib.NewWriterLevel(w, zlib.BestCompression)
		zeros := make([]byte, 1<<20)
		for range 2 * MaxBrowseBytes >> 20 { // 64 MiB of zeros, about 64 KiB on the wire
			if _, err := zw.Write(zeros); err != nil {
				return err
			}
		}
		return zw.Close()
	})
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	err = Browse(context.Background(), nil, bomb.addr.String(), "test", ok)
	runtime.ReadMemStats(&after)
	require.Error(t, err)
	assert.Less(t, after.HeapAlloc, before.HeapAlloc+8<<20, "the bomb was not inflated into memory")

	endless := hostileBrowse(t, "", func(w io.Writer) error {
		bw := bufio.NewWriter(w)
		hit := protocol.QueryHit{Port: 1, IP: netip.MustParseAddr("198.51.100.1"), Vendor: protocol.VendorSRVT, Results: browseResults(10)}
		msg := protocol.AppendMessage(nil, protocol.Header{Type: protocol.TypeQueryHit, TTL: 1}, &hit)
		for {
			if _, err := bw.Write(msg); err != nil {
				return err
			}
		}
	})
	err = Browse(context.Background(), nil, endless.addr.String(), "test", ok)
	require.True(t, errors.Is(err, ErrBrowseLimit), "%v", err)
}

// TestBrowseGTKG replays gtk-gnutella 1.2.3's browse answers from the lab
// (interop 55 deflated, 56 plain, both chunked) to our client.
func TestBrowseGTKG(t *testing.T) {
	for _, name := range []string{"55-browse-host-qhits-deflate.response.bin", "56-browse-host-qhits-plain.response.bin"} {
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "interop", name))
			require.NoError(t, err)
			s := startConnServer(t, "127.0.0.1", func(ctx context.Context, c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadString('\n')
					if err != nil || line == "\r\n" {
						break
					}
				}
				_, _ = c.Write(raw)
			})
			var names []string
			err = Browse(context.Background(), nil, s.addr.String(), "test", func(h *protocol.QueryHit) error {
				assert.Equal(t, [4]byte{'G', 'T', 'K', 'G'}, h.Vendor)
				for _, r := range h.Results {
					names = append(names, r.Name)
					assert.False(t, r.SHA1.IsZero())
				}
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, []string{"alpha beta.txt", "lab random 3mb.bin", "thex pattern 5000.bin", "thex pattern 600000.bin"}, names)
		})
	}
}
