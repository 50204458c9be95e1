package pushproxy

import (
	"bufio"
	"bytes"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readCapture(t testing.TB, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "interop", file))
	require.NoError(t, err)
	return b
}

// parseCaptured runs Parse on a captured request as our node would.
func parseCaptured(t testing.TB, file string, from netip.Addr) (Request, *Answer) {
	t.Helper()
	req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(readCapture(t, file))))
	require.NoError(t, err)
	return Parse(req.Method, req.RequestURI, req.Header.Get("X-Node"), from)
}

// statusOf is the status line of a captured gtk-gnutella answer.
func statusOf(t testing.TB, file string) string {
	line, _, _ := strings.Cut(string(readCapture(t, file)), "\r\n")
	return line
}

// TestParseAsGTKG replays the requests of captures 57 and 59: where
// gtk-gnutella refused, we refuse with its very status line; where it
// accepted, we decode the same GUID, index, address and TLS flag. Two
// differences are deliberate: "ServerID" is accepted (the issue asks for
// both spellings), and a loopback X-Node is accepted from a loopback
// requester (netscope.Listable: the same kind of network).
func TestParseAsGTKG(t *testing.T) {
	from := netip.MustParseAddr("127.0.8.11")
	xnode := netip.MustParseAddrPort("1.2.3.4:6347")

	r, a := parseCaptured(t, "57-push-proxy-http.11.request.bin", from)
	require.Nil(t, a)
	assert.Equal(t, Request{GUID: leafGUID, Node: xnode}, r)

	r, a = parseCaptured(t, "57-push-proxy-http.12.request.bin", from)
	require.Nil(t, a)
	assert.Equal(t, Request{GUID: leafGUID, Index: 3, Node: xnode, TLS: true}, r)

	r, a = parseCaptured(t, "57-push-proxy-http.13.request.bin", from)
	require.Nil(t, a, "loopback X-Node from a loopback requester (gtk-gnutella: 400)")
	assert.Equal(t, netip.MustParseAddrPort("127.0.8.13:6347"), r.Node)
	_, a = parseCaptured(t, "57-push-proxy-http.13.request.bin", netip.MustParseAddr("8.8.8.8"))
	require.NotNil(t, a)
	assert.Equal(t, statusOf(t, "57-push-proxy-http.13.response.bin"), "HTTP/1.1 400 "+a.Reason)

	for _, n := range []string{"14", "16", "17"} {
		_, a = parseCaptured(t, "57-push-proxy-http."+n+".request.bin", from)
		require.NotNil(t, a, n)
		assert.Equal(t, statusOf(t, "57-push-proxy-http."+n+".response.bin"), "HTTP/1.1 400 "+a.Reason, n)
	}

	// 15 is well formed: its 410 is the node's to give (no route).
	r, a = parseCaptured(t, "57-push-proxy-http.15.request.bin", from)
	require.Nil(t, a)
	assert.Equal(t, statusOf(t, "57-push-proxy-http.15.response.bin"), "HTTP/1.1 410 "+NoRoute(r.GUID).Reason)

	for _, spelling := range []string{"ServerId", "ServerID"} {
		r, a = parseCaptured(t, "59-push-proxy-serverid-case."+spelling+".request.bin", from)
		require.Nil(t, a, spelling)
		assert.Equal(t, leafGUID, r.GUID)
	}
	_, a = Parse("POST", "/gnutella/push-proxy?ServerId=KNJFMVGA77XBD7ZCGNCFKZVKAA", "1.2.3.4:6347", from)
	assert.Equal(t, &NotAllowed, a)
	r, a = Parse("GET", "/gnutella/pushproxy?ServerId=KNJFMVGA77XBD7ZCGNCFKZVKAA======", "1.2.3.4:6347", from)
	require.Nil(t, a, "padded base32, short path")
	assert.Equal(t, leafGUID, r.GUID)
}

func TestValidNode(t *testing.T) {
	loop, lan, wan := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.168.1.5"), netip.MustParseAddr("8.8.8.8")
	for _, c := range []struct {
		node      string
		requester netip.Addr
		ok        bool
	}{
		{"1.2.3.4:6346", wan, true},
		{"1.2.3.4:0", wan, false},
		{"127.0.0.1:6346", wan, false},
		{"127.0.0.1:6346", lan, false},
		{"127.0.0.1:6346", loop, true},
		{"10.0.0.1:6346", wan, false},
		{"10.0.0.1:6346", lan, true},
		{"192.0.2.1:6346", wan, false},
		{"0.0.0.0:6346", loop, false},
		{"224.0.0.1:6346", loop, false},
		{"255.255.255.255:6346", loop, false},
	} {
		_, refused := Parse("GET", "/gnet/push-proxy?guid=53525654c0ffee11ff2233445566aa00", c.node, c.requester)
		assert.Equal(t, c.ok, refused == nil, "%s from %s", c.node, c.requester)
	}
}

func TestWriteAnswer(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, WriteAnswer(&b, NoRoute(leafGUID), "servent/test"))
	resp, err := http.ReadResponse(bufio.NewReader(&b), nil)
	require.NoError(t, err)
	assert.Equal(t, 410, resp.StatusCode)
	assert.Equal(t, statusOf(t, "59-push-proxy-serverid-case.ServerId.response.bin"), resp.Proto+" "+resp.Status)
	assert.True(t, resp.Close)
	assert.Zero(t, resp.ContentLength)
}

func FuzzParse(f *testing.F) {
	for _, n := range []string{"11", "12", "13", "14", "15", "16", "17"} {
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(readCapture(f, "57-push-proxy-http."+n+".request.bin"))))
		require.NoError(f, err)
		f.Add(req.Method, req.RequestURI, req.Header.Get("X-Node"))
	}
	f.Add("GET", "/gnet/push-proxy?guid=53525654c0ffee11ff2233445566aa00&file=4294967296", "1.2.3.4:1")
	f.Add("GET", "/gnutella/push-proxy?ServerId=%zz", "[::1]:1")
	f.Fuzz(func(t *testing.T, method, target, xnode string) {
		r, a := Parse(method, target, xnode, netip.MustParseAddr("127.0.0.1"))
		if a != nil {
			require.Contains(t, []int{400, 501}, a.Code)
			require.False(t, strings.ContainsAny(a.Reason, "\r\n"), "a reason is one line: %q", a.Reason)
			return
		}
		require.True(t, IsPath(target))
		require.True(t, r.Node.IsValid() && r.Node.Port() != 0 && r.Node.Addr().Is4())
	})
}

// BenchmarkParse is the proxy's cost per request before the Push is sent.
func BenchmarkParse(b *testing.B) {
	from := netip.MustParseAddr("127.0.8.11")
	target := "/gnutella/push-proxy?ServerId=KNJFMVGA77XBD7ZCGNCFKZVKAA&file=3"
	b.ReportAllocs()
	for b.Loop() {
		if _, a := Parse("GET", target, "1.2.3.4:6347", from); a != nil {
			b.Fatal(a.Reason)
		}
	}
}
