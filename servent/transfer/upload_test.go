package transfer

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
)

// Copies of the captures in shared/interop (gtk-gnutella and GnutellaBun labs).
const interopDir = "testdata/interop"

func readInterop(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(interopDir, name))
	if os.IsNotExist(err) {
		t.Skipf("interop capture %s not present", name)
	}
	require.NoError(t, err)
	return b
}

// splitResponse parses the head of a captured or received response and
// returns it with the bytes after the head.
func splitResponse(t testing.TB, b []byte) (*response, []byte) {
	t.Helper()
	br := bufio.NewReader(bytes.NewReader(b))
	resp, err := readResponse(br)
	require.NoError(t, err)
	rest, _ := io.ReadAll(br)
	return resp, rest
}

// exchange sends raw request bytes and reads until the server closes or
// stays quiet for a second (keep-alive).
func exchange(t testing.TB, local string, addr netip.AddrPort, req []byte) []byte {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
	c, err := d.Dial("tcp", addr.String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(req)
	require.NoError(t, err)
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		n, err := c.Read(buf)
		out = append(out, buf[:n]...)
		if err != nil {
			return out
		}
	}
}

// gtkgFiles rebuilds gtk-gnutella's lab share from the captured bodies:
// "alpha beta.txt" (41 bytes) at index 3; gamma delta.mp3 is known only by
// its first 100 bytes, so it is served under its recorded urn with those
// bytes followed by zeros (the uploader never rehashes).
func gtkgFiles(t testing.TB, dir string) *memFiles {
	_, body := splitResponse(t, readInterop(t, "gtk-gnutella/10-http-get-index.response.bin"))
	require.Len(t, body, 41)
	alpha := shareFile(t, dir, 3, "alpha beta.txt", body)
	_, head := splitResponse(t, readInterop(t, "gtk-gnutella/11-http-n2r-range.response.bin"))
	gamma := make([]byte, 3000)
	copy(gamma, head)
	g := shareFile(t, dir, 7, "gamma delta.mp3", gamma)
	var err error
	g.SHA1, err = protocol.ParseSHA1URN("urn:sha1:JOJXMF35EZPATXIBLSVJ7TIZDLVBDFJY")
	require.NoError(t, err)
	return newMemFiles(alpha, g)
}

// bunFiles rebuilds GnutellaBun's lab share (indices 1..3 by name).
func bunFiles(t testing.TB, dir string) *memFiles {
	_, alpha := splitResponse(t, readInterop(t, "gnutella-bun-client/10-http-get-index.response.bin"))
	_, gamma := splitResponse(t, readInterop(t, "gnutella-bun-client/51-bun-client-http-via-tap-conn1.response.bin"))
	_, eps := splitResponse(t, readInterop(t, "gnutella-bun-client/76-http10-get.response.bin"))
	fs := newMemFiles(
		shareFile(t, dir, 1, "alpha beta.txt", alpha),
		shareFile(t, dir, 2, "epsilon zeta.txt", eps),
		shareFile(t, dir, 3, "gamma delta.mp3", gamma),
	)
	for _, f := range fs.byIdx {
		require.Contains(t, []string{"CP3F6HSN2FRG2H27KAWWT2VOTFTYQ33N", "M7OBBZDQJH7ARSB45FYIWLT7IKXSAA4O", "UIIYHFNXCZWUUBQFG4K2L72TDP4EWPLQ"}, f.SHA1.Base32())
	}
	return fs
}

var compared = []string{"Content-Length", "Content-Range", "X-Gnutella-Content-URN"}

// sameHeader compares one header of a recorded and of our response. Two
// additions of ours are allowed: "Content-Length: 0" on bodiless errors
// (keeps a keep-alive connection in step) and the urn on 416 (GNUTELLA.md 8.2).
func sameHeader(t *testing.T, want, got *response, h string) {
	t.Helper()
	w, g := want.header.Get(h), got.header.Get(h)
	if !want.header.Has(h) && ((h == "Content-Length" && g == "0" && got.code >= 400) ||
		(h == "X-Gnutella-Content-URN" && got.code == 416)) {
		return
	}
	require.Equal(t, w, g, h)
}

// TestReplayGTKG replays the probe's requests to gtk-gnutella against our
// uploader serving the same files and compares status and key headers.
func TestReplayGTKG(t *testing.T) {
	up := NewUploader(UploaderConfig{Files: gtkgFiles(t, t.TempDir()), MaxUploadsPerIP: 8})
	srv := startServer(t, "127.0.0.1", up, nil)
	for _, name := range []string{"10-http-get-index", "11-http-n2r-range", "12-http-n2r-head",
		"13-http-get-wrong-name", "14-http-n2r-unknown", "15-http-browse-host"} {
		t.Run(name, func(t *testing.T) {
			want, wantBody := splitResponse(t, readInterop(t, "gtk-gnutella/"+name+".response.bin"))
			got, gotBody := splitResponse(t, exchange(t, "127.0.0.1", srv.addr, readInterop(t, "gtk-gnutella/"+name+".request.bin")))
			require.Equal(t, want.code, got.code)
			require.Equal(t, want.reason, got.reason)
			for _, h := range append(compared, "Content-Type", "Connection", "Last-Modified", "Content-Disposition") {
				sameHeader(t, want, got, h)
			}
			require.True(t, got.header.Has("Date"))
			require.True(t, got.header.Has("Server"))
			require.Equal(t, wantBody, gotBody)
		})
	}
}

// TestReplayBun replays the probe's requests to GnutellaBun. Where Bun and
// gtk-gnutella differ we follow gtk-gnutella; those cases are listed.
func TestReplayBun(t *testing.T) {
	up := NewUploader(UploaderConfig{Files: bunFiles(t, t.TempDir()), MaxUploadsPerIP: 8})
	srv := startServer(t, "127.0.0.1", up, nil)
	differ := map[string]int{
		"13-http-get-wrong-name":           404, // Bun serves the file anyway
		"15-http-browse-host-no-accept":    403, // Bun: 406; browse host is disabled here
		"16-http-browse-host":              403,
		"51-bun-client-http-via-tap-conn3": 403,
		"72-http-unknown-path":             404, // Bun: 400
		"51-bun-client-http-via-tap-conn1": 206, // Bun answers 200 to "bytes=0-"
		"51-bun-client-http-via-tap-conn2": 206,
	}
	for _, name := range []string{"10-http-get-index", "11-http-n2r-range", "12-http-n2r-head",
		"13-http-get-wrong-name", "14-http-n2r-unknown", "15-http-browse-host-no-accept", "16-http-browse-host",
		"17-http-range-unsatisfiable", "18-http-get-unknown-index", "19-http-open-range",
		"51-bun-client-http-via-tap-conn1", "51-bun-client-http-via-tap-conn2", "51-bun-client-http-via-tap-conn3",
		"72-http-unknown-path", "76-http10-get", "77-http-get-index-raw-space-name"} {
		t.Run(name, func(t *testing.T) {
			want, wantBody := splitResponse(t, readInterop(t, "gnutella-bun-client/"+name+".response.bin"))
			got, gotBody := splitResponse(t, exchange(t, "127.0.0.1", srv.addr, readInterop(t, "gnutella-bun-client/"+name+".request.bin")))
			if code, ok := differ[name]; ok {
				require.Equal(t, code, got.code)
				if code >= 400 {
					require.Empty(t, gotBody)
				} else {
					require.Equal(t, wantBody, gotBody)
				}
				return
			}
			require.Equal(t, want.code, got.code)
			for _, h := range compared {
				sameHeader(t, want, got, h)
			}
			if want.code < 300 {
				require.Equal(t, wantBody, gotBody)
			}
		})
	}
}

// TestKeepAliveTwoRequests replays Bun capture 20: two requests on one
// connection, both answered, the connection left open.
func TestKeepAliveTwoRequests(t *testing.T) {
	up := NewUploader(UploaderConfig{Files: bunFiles(t, t.TempDir())})
	srv := startServer(t, "127.0.0.1", up, nil)
	c, err := net.Dial("tcp", srv.addr.String())
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Write(readInterop(t, "gnutella-bun-client/20-http-keepalive-two-requests.request.bin"))
	require.NoError(t, err)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	r1, err := readResponse(br)
	require.NoError(t, err)
	require.Equal(t, 206, r1.code)
	require.Equal(t, "bytes 0-4/41", r1.header.Get("Content-Range"))
	require.Equal(t, "keep-alive", r1.header.Get("Connection"))
	body := make([]byte, 5)
	_, err = io.ReadFull(br, body)
	require.NoError(t, err)
	require.Equal(t, "alpha", string(body))
	r2, err := readResponse(br)
	require.NoError(t, err)
	require.Equal(t, 200, r2.code)
	require.Equal(t, "45", r2.header.Get("Content-Length"))
	body = make([]byte, 45)
	_, err = io.ReadFull(br, body)
	require.NoError(t, err)
	require.Equal(t, "epsilon zeta: third shared file for interop.\n", string(body))
	// Still open: a third request is answered.
	_, err = fmt.Fprintf(c, "HEAD /get/1/alpha%%20beta.txt HTTP/1.1\r\nConnection: close\r\n\r\n")
	require.NoError(t, err)
	r3, err := readResponse(br)
	require.NoError(t, err)
	require.Equal(t, 200, r3.code)
	require.Equal(t, "close", r3.header.Get("Connection"))
	_, err = br.ReadByte()
	require.ErrorIs(t, err, io.EOF)
}

func TestRanges(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte("0123456789"), 100) // 1000 bytes
	f := shareFile(t, dir, 5, "ten+ten & more.bin", content)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), MaxUploadsPerIP: 8})
	srv := startServer(t, "127.0.0.1", up, nil)
	target := "/get/5/ten+ten%20%26%20more.bin"
	cases := []struct {
		rng, cr string
		code    int
		body    []byte
	}{
		{"", "", 200, content},
		{"bytes=0-99", "bytes 0-99/1000", 206, content[:100]},
		{"bytes=990-", "bytes 990-999/1000", 206, content[990:]},
		{"bytes=-5", "bytes 995-999/1000", 206, content[995:]},
		{"bytes=-5000", "bytes 0-999/1000", 206, content},
		{"bytes=900-5000", "bytes 900-999/1000", 206, content[900:]},
		{"bytes=10-19, 30-39", "bytes 10-19/1000", 206, content[10:20]},
		{"bytes=1000-", "bytes */1000", 416, nil},
		{"bytes=5000-6000", "bytes */1000", 416, nil},
		{"bytes=-0", "bytes */1000", 416, nil},
		{"bytes=20-10", "", 400, nil},
		{"items=0-1", "", 400, nil},
	}
	for _, tc := range cases {
		t.Run(tc.rng, func(t *testing.T) {
			req := "GET " + target + " HTTP/1.1\r\nConnection: close\r\n"
			if tc.rng != "" {
				req += "Range: " + tc.rng + "\r\n"
			}
			resp, body := splitResponse(t, exchange(t, "127.0.0.1", srv.addr, []byte(req+"\r\n")))
			require.Equal(t, tc.code, resp.code)
			require.Equal(t, tc.cr, resp.header.Get("Content-Range"))
			require.Equal(t, strconv.Itoa(len(tc.body)), resp.header.Get("Content-Length"))
			require.Equal(t, string(tc.body), string(body))
			if tc.code != 400 {
				require.Equal(t, f.SHA1.URN(), resp.header.Get("X-Gnutella-Content-URN"))
			}
		})
	}
	t.Run("HEAD", func(t *testing.T) {
		resp, body := splitResponse(t, exchange(t, "127.0.0.1", srv.addr,
			[]byte("HEAD /uri-res/N2R?"+f.SHA1.URN()+" HTTP/1.1\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n")))
		require.Equal(t, 206, resp.code)
		require.Equal(t, "10", resp.header.Get("Content-Length"))
		require.Empty(t, body)
	})
}

// TestNoTraversal: nothing outside the indexed files is ever served,
// whatever the target says.
func TestNoTraversal(t *testing.T) {
	root := t.TempDir()
	shared := filepath.Join(root, "shared")
	require.NoError(t, os.Mkdir(shared, 0o755))
	secret := []byte("TOP SECRET outside the shared folder")
	require.NoError(t, os.WriteFile(filepath.Join(root, "passwd"), secret, 0o644))
	f := shareFile(t, shared, 1, "ok.txt", []byte("shared content"))
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), MaxUploadsPerIP: 64})
	srv := startServer(t, "127.0.0.1", up, nil)
	targets := []string{
		"/get/1/../../etc/passwd", "/get/1/..%2F..%2Fpasswd", "/get/1/%2e%2e%2f%2e%2e%2fpasswd",
		"/get/1/%2E%2E/%2E%2E/passwd", "/get/1/%252e%252e%252fpasswd", "/get/1/" + filepath.Join(root, "passwd"),
		"/get/1/%2F" + strings.TrimPrefix(filepath.Join(root, "passwd"), "/"), "/get/1/ok.txt/../../passwd",
		"/get/../../passwd", "/get/1/..\\..\\passwd", "/" + filepath.Join(root, "passwd"), "/../passwd",
		"/etc/passwd", "/uri-res/N2R?../../passwd", "/uri-res/N2R?urn:sha1:" + protocol.SHA1(sha1.Sum(secret)).Base32(),
		"/get/2/passwd", "/get/-1/ok.txt", "/get/4294967297/ok.txt", "/get/1/ok.txt%00", "//get/1/ok.txt",
		"http://127.0.0.1/" + filepath.Join(root, "passwd"), "/get/1/%", "/get/01/../passwd",
	}
	for _, target := range targets {
		t.Run(target, func(t *testing.T) {
			out := exchange(t, "127.0.0.1", srv.addr, []byte("GET "+target+" HTTP/1.1\r\nConnection: close\r\n\r\n"))
			require.NotContains(t, string(out), "SECRET")
			resp, body := splitResponse(t, out)
			require.Contains(t, []int{400, 403, 404}, resp.code)
			require.Empty(t, body)
		})
	}
	// The legitimate request still works.
	resp, body := splitResponse(t, exchange(t, "127.0.0.1", srv.addr, []byte("GET /get/1/ok.txt HTTP/1.1\r\nConnection: close\r\n\r\n")))
	require.Equal(t, 200, resp.code)
	require.Equal(t, "shared content", string(body))
}

func TestRequestLimits(t *testing.T) {
	f := shareFile(t, t.TempDir(), 1, "a.txt", []byte("a"))
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), MaxUploadsPerIP: 8})
	srv := startServer(t, "127.0.0.1", up, nil)
	long := "GET /get/1/" + strings.Repeat("a", 5000) + " HTTP/1.1\r\n\r\n"
	resp, _ := splitResponse(t, exchange(t, "127.0.0.1", srv.addr, []byte(long)))
	require.Equal(t, 413, resp.code)
	many := "GET /get/1/a.txt HTTP/1.1\r\n" + strings.Repeat("X-Junk: 1\r\n", 100) + "\r\n"
	resp, _ = splitResponse(t, exchange(t, "127.0.0.1", srv.addr, []byte(many)))
	require.Equal(t, 413, resp.code)
	resp, _ = splitResponse(t, exchange(t, "127.0.0.1", srv.addr, []byte("GET /get/1/a.txt SPDY/3\r\n\r\n")))
	require.Equal(t, 400, resp.code)
	resp, _ = splitResponse(t, exchange(t, "127.0.0.1", srv.addr, []byte("POST /get/1/a.txt HTTP/1.1\r\n\r\n")))
	require.Equal(t, 501, resp.code)
	resp, _ = splitResponse(t, exchange(t, "127.0.0.1", srv.addr, []byte("GET /get/1/a.txt HTTP/1.1\r\nContent-Length: 5\r\n\r\nGET /get/1/a.txt HTTP/1.1\r\n\r\n")))
	require.Equal(t, 400, resp.code)
	resp, _ = splitResponse(t, exchange(t, "127.0.0.1", srv.addr, []byte("GET /uri-res/N2R?urn:sha1:NOTBASE32 HTTP/1.1\r\n\r\n")))
	require.Equal(t, 400, resp.code)
	require.Equal(t, "Malformed URN in /uri-res/N2R request", resp.reason)
}

// TestSlotsFull: with every slot held, a new client gets 503 + Retry-After;
// once a slot frees, it is served.
func TestSlotsFull(t *testing.T) {
	dir := t.TempDir()
	f := shareFile(t, dir, 1, "a.txt", bytes.Repeat([]byte("a"), 10000))
	small := shareFile(t, dir, 3, "small.txt", []byte("hello"))
	// A slot is held while a body is going out: a big one the holders
	// do not read (an idle keep-alive holds none).
	big := sparseFile(t, dir, 2, "big.bin", 64<<20)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f, big, small), MaxUploads: 2, MaxUploadsPerIP: 1, RetryAfter: 42 * time.Second})
	srv := startServer(t, "127.0.0.1", up, nil)
	hold := func(local string) net.Conn {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		c, err := d.Dial("tcp", srv.addr.String())
		require.NoError(t, err)
		_, err = c.Write([]byte("GET /get/2/big.bin HTTP/1.1\r\n\r\n"))
		require.NoError(t, err)
		resp, err := readResponse(bufio.NewReader(c))
		require.NoError(t, err)
		require.Equal(t, 200, resp.code)
		return c
	}
	c1 := hold("127.0.0.2")
	defer c1.Close()
	// Same IP again: over the per-IP limit, so in line (PARQ).
	resp, _ := splitResponse(t, exchange(t, "127.0.0.2", srv.addr, []byte("GET /get/1/a.txt HTTP/1.1\r\nConnection: close\r\n\r\n")))
	require.Equal(t, 503, resp.code)
	require.Equal(t, "Queued (slot 1, ETA: 30s)", resp.reason)
	c2 := hold("127.0.0.3")
	defer c2.Close()
	resp, _ = splitResponse(t, exchange(t, "127.0.0.4", srv.addr, []byte("GET /get/1/a.txt HTTP/1.1\r\nConnection: close\r\n\r\n")))
	require.Equal(t, 503, resp.code)
	require.Equal(t, "45", resp.header.Get("Retry-After"), "second in line")
	require.Regexp(t, `^ID=[0-9a-f]{32}; position=2; lifetime=105; length=2; ETA=45$`, resp.header.Get("X-Queued"))
	require.Equal(t, f.SHA1.URN(), resp.header.Get("X-Gnutella-Content-URN"))
	// HEAD needs no slot; a small file is served at once (a quick upload).
	resp, _ = splitResponse(t, exchange(t, "127.0.0.4", srv.addr, []byte("HEAD /get/1/a.txt HTTP/1.1\r\nConnection: close\r\n\r\n")))
	require.Equal(t, 200, resp.code)
	resp, body := splitResponse(t, exchange(t, "127.0.0.5", srv.addr, []byte("GET /get/3/small.txt HTTP/1.1\r\nConnection: close\r\n\r\n")))
	require.Equal(t, 200, resp.code)
	require.Equal(t, "hello", string(body))
	require.Equal(t, 2, up.Queued())
}

func TestXAltAndFeatures(t *testing.T) {
	f := shareFile(t, t.TempDir(), 1, "a.txt", []byte("hello"))
	alts := []netip.AddrPort{netip.MustParseAddrPort("127.0.0.1:1"), netip.MustParseAddrPort("192.0.2.1:6346"), netip.MustParseAddrPort("192.0.2.2:6347")}
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), Features: "fwalt/0.1",
		AltLocs: func(s protocol.SHA1) []netip.AddrPort { return alts }})
	srv := startServer(t, "127.0.0.1", up, nil)
	out := exchange(t, "127.0.0.1", srv.addr, []byte("HEAD /get/1/a.txt HTTP/1.1\r\n\r\nHEAD /get/1/a.txt HTTP/1.1\r\nConnection: close\r\n\r\n"))
	br := bufio.NewReader(bytes.NewReader(out))
	r1, err := readResponse(br)
	require.NoError(t, err)
	require.Equal(t, "fwalt/0.1", r1.header.Get("X-Features"))
	require.Equal(t, "192.0.2.1, 192.0.2.2:6347", r1.header.Get("X-Alt")) // not the client itself; 6346 left out as gtk-gnutella writes it
	r2, err := readResponse(br)
	require.NoError(t, err)
	require.False(t, r2.header.Has("X-Features"))
	got, err := httphdr.ParseAlt(r2.header.Get("X-Alt"), 10)
	require.NoError(t, err)
	require.Equal(t, []httphdr.Alt{{Addr: alts[1]}, {Addr: alts[2]}}, got)
}
