package pushproxy

import (
	"bufio"
	"bytes"
	"context"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/servent/servent/protocol"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// leafGUID is the servent GUID of capture 57's leaf (ServerId
// KNJFMVGA77XBD7ZCGNCFKZVKAA).
var leafGUID = protocol.GUID{0x53, 0x52, 0x56, 0x54, 0xc0, 0xff, 0xee, 0x11, 0xff, 0x22, 0x33, 0x44, 0x55, 0x66, 0xaa, 0x00}

func capture(t testing.TB, name string) []byte {
	return readCapture(t, "57-push-proxy-http."+name+".bin")
}

// fakeProxy answers one request with answer and hands back the request.
func fakeProxy(t *testing.T, answer []byte) (netip.AddrPort, <-chan *http.Request) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	got := make(chan *http.Request, 1)
	go func() {
		nc, err := ln.Accept()
		if err != nil {
			close(got)
			return
		}
		defer nc.Close()
		req, err := http.ReadRequest(bufio.NewReader(nc))
		if err == nil {
			_, _ = nc.Write(answer)
		}
		got <- req
	}()
	return netip.MustParseAddrPort(ln.Addr().String()), got
}

var dialer = (&net.Dialer{}).DialContext

// TestPushRequestAsCaptured: our request has the form gtk-gnutella took in
// capture 57 (ServerId, X-Node) and its 202 answer is a success.
func TestPushRequestAsCaptured(t *testing.T) {
	proxy, got := fakeProxy(t, capture(t, "11.response"))
	self := netip.MustParseAddrPort("1.2.3.4:6347")
	require.NoError(t, Push(context.Background(), dialer, proxy, leafGUID, 0, self, "servent-probe/0.1"))
	req := <-got
	require.NotNil(t, req)
	want, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(capture(t, "11.request"))))
	require.NoError(t, err)
	assert.Equal(t, want.Method, req.Method)
	assert.Equal(t, want.URL.Path, req.URL.Path)
	assert.Equal(t, want.URL.Query().Get("ServerId"), req.URL.Query().Get("ServerId"))
	assert.Equal(t, "0", req.URL.Query().Get("file"))
	assert.Equal(t, want.Header.Get("X-Node"), req.Header.Get("X-Node"))
	assert.True(t, req.Close, "Connection: close")
	assert.Equal(t, proxy.String(), req.Host)
}

// TestPushRefusalsInWords: every non-2xx answer gtk-gnutella gave in
// capture 57 is an error naming its status and reason.
func TestPushRefusalsInWords(t *testing.T) {
	for name, want := range map[string]string{
		"13.response": "400 Malformed push-proxy request: supplied no valid address",
		"15.response": "410 Push proxy: no route to servent GUID b67968302485b2cc275c56a0e0ad033a",
		"17.response": "400 Request not understood",
	} {
		t.Run(name, func(t *testing.T) {
			proxy, got := fakeProxy(t, capture(t, name))
			err := Push(context.Background(), dialer, proxy, leafGUID, 3, netip.MustParseAddrPort("1.2.3.4:6347"), "servent/test")
			require.ErrorIs(t, err, ErrRefused)
			assert.Contains(t, err.Error(), want)
			assert.Equal(t, "3", (<-got).URL.Query().Get("file"))
		})
	}
}

func TestPushDeadProxy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := netip.MustParseAddrPort(ln.Addr().String())
	require.NoError(t, ln.Close())
	err = Push(context.Background(), dialer, dead, leafGUID, 0, netip.MustParseAddrPort("1.2.3.4:6347"), "servent/test")
	require.Error(t, err)
	assert.Contains(t, err.Error(), dead.String())
}

// TestPushSilentProxyBounded: a proxy that accepts and never answers ends
// with the context, not a stuck goroutine.
func TestPushSilentProxyBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, err := ln.Accept()
		if err == nil {
			accepted <- nc
		}
	}()
	done := make(chan error, 1)
	go func() {
		done <- Push(ctx, dialer, netip.MustParseAddrPort(ln.Addr().String()), leafGUID, 0, netip.MustParseAddrPort("1.2.3.4:6347"), "servent/test")
	}()
	nc := <-accepted
	defer nc.Close()
	cancel()
	require.Error(t, <-done)
}

func FuzzReadAnswer(f *testing.F) {
	for _, n := range []string{"11", "13", "15", "16", "17"} {
		f.Add(capture(f, n+".response"))
	}
	f.Add([]byte("HTTP/1.1 2022 x\r\n"))
	f.Add([]byte("HTTP/1.0 203\n"))
	f.Add([]byte("ICY 200 OK\r\n"))
	f.Add([]byte("HTTP/1.1 202 \x1b[2Jgotcha\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		code, reason, err := ReadAnswer(bufio.NewReaderSize(bytes.NewReader(b), maxAnswerLine))
		if err != nil {
			return
		}
		require.True(t, code >= 100 && code <= 999)
		require.NotContains(t, reason, "\x1b")
		require.False(t, strings.ContainsAny(reason, "\r\n"))
	})
}
