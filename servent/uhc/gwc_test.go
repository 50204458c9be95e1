package uhc

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseGWC(t *testing.T) {
	body := "I|pong|SomeCache 1.0|gnutella\r\n" +
		"H|198.51.100.7:6346|120\r\n" +
		"H|203.0.113.9:7000|5|extra|fields\n" +
		"h|203.0.113.9:7000|7\n" + // twice
		"H|[2001:db8::1]:6346|1\n" + // IPv6: not for IPP-style caches
		"H|0.0.0.0:6346|1\n" +
		"H|203.0.113.10:0|1\n" +
		"H|not-an-address|1\n" +
		"U|http://other.example/gwc.php|300\n" +
		"U|http://third.example/|30\n" +
		"H|" + strings.Repeat("9", 300) + "\n" + // too long: skipped
		"\n" +
		"H|192.0.2.44:6348|1" // no final newline
	a, err := ParseGWC(strings.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, []netip.AddrPort{ap("198.51.100.7:6346"), ap("203.0.113.9:7000"), ap("192.0.2.44:6348")}, a.Hosts)
	require.Equal(t, 2, a.Caches)
	require.False(t, a.Updated)
	require.Empty(t, a.Refused)
}

func TestParseGWCHostfile(t *testing.T) {
	a, err := ParseGWC(strings.NewReader("198.51.100.7:6346\n203.0.113.9:7000\nhttp://x.example/\n"))
	require.NoError(t, err)
	require.Equal(t, []netip.AddrPort{ap("198.51.100.7:6346"), ap("203.0.113.9:7000")}, a.Hosts)
}

func TestParseGWCUpdateAndErrors(t *testing.T) {
	a, _ := ParseGWC(strings.NewReader("I|update|OK\n"))
	require.True(t, a.Updated)
	a, _ = ParseGWC(strings.NewReader("OK\n"))
	require.True(t, a.Updated)
	a, _ = ParseGWC(strings.NewReader("I|update|WARNING|Rejected IP\n"))
	require.False(t, a.Updated)
	require.Equal(t, "I|update|WARNING|Rejected IP", a.Refused)
	a, _ = ParseGWC(strings.NewReader("ERROR: Client unknown\n"))
	require.Equal(t, "ERROR: Client unknown", a.Refused)
}

func TestParseGWCBounded(t *testing.T) {
	var b strings.Builder
	for i := range 2 * MaxGWCHosts {
		fmt.Fprintf(&b, "H|8.%d.%d.1:6346|1\n", i/250, i%250)
	}
	a, err := ParseGWC(strings.NewReader(b.String()))
	require.NoError(t, err)
	require.Len(t, a.Hosts, MaxGWCHosts)

	// An endless body is read only up to MaxGWCBody.
	r := &countingReader{}
	_, err = ParseGWC(r)
	require.NoError(t, err)
	require.LessOrEqual(t, r.n, MaxGWCBody+MaxGWCLine)
}

// countingReader is an endless stream of one long junk line.
type countingReader struct{ n int }

func (r *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	r.n += len(p)
	return len(p), nil
}

func TestGWCURLs(t *testing.T) {
	u, err := GWCGetURL("http://gwc.example/cache.php?x=1", "0.1.0")
	require.NoError(t, err)
	require.Equal(t, "http://gwc.example/cache.php?client=SRVT&get=1&net=gnutella&version=0.1.0&x=1", u)
	u, err = GWCUpdateURL("https://gwc.example/", ap("203.0.113.5:6346"), "0.1.0")
	require.NoError(t, err)
	require.Equal(t, "https://gwc.example/?client=SRVT&ip=203.0.113.5%3A6346&net=gnutella&update=1&version=0.1.0", u)
	_, err = GWCGetURL("ftp://gwc.example/", "0.1.0")
	require.Error(t, err)
	_, err = GWCGetURL("gwc.example:80", "0.1.0")
	require.Error(t, err)
	_, err = GWCUpdateURL("http://gwc.example/", ap("[2001:db8::1]:6346"), "0.1.0")
	require.Error(t, err)
}

func TestFetchGWC(t *testing.T) {
	var got []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.URL.RawQuery+" "+r.UserAgent())
		switch {
		case r.URL.Query().Get("get") == "1":
			fmt.Fprint(w, "H|198.51.100.7:6346|1\nU|http://elsewhere.example/|1\n")
		case r.URL.Query().Get("update") == "1" && r.URL.Query().Get("ip") == "203.0.113.5:6346":
			fmt.Fprint(w, "I|update|OK\n")
		case r.URL.Query().Get("update") == "1":
			fmt.Fprint(w, "I|update|WARNING|Bad IP\n")
		default:
			http.Error(w, "nope", http.StatusNotFound)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	u, _ := GWCGetURL(srv.URL, "0.1.0")
	a, err := FetchGWC(ctx, srv.Client(), u, "servent/0.1.0")
	require.NoError(t, err)
	require.Equal(t, []netip.AddrPort{ap("198.51.100.7:6346")}, a.Hosts)

	u, _ = GWCUpdateURL(srv.URL, ap("203.0.113.5:6346"), "0.1.0")
	a, err = FetchGWC(ctx, srv.Client(), u, "servent/0.1.0")
	require.NoError(t, err)
	require.True(t, a.Updated)

	u, _ = GWCUpdateURL(srv.URL, ap("203.0.113.6:6346"), "0.1.0")
	_, err = FetchGWC(ctx, srv.Client(), u, "servent/0.1.0")
	require.ErrorIs(t, err, ErrGWC)

	_, err = FetchGWC(ctx, srv.Client(), srv.URL+"/other", "servent/0.1.0")
	require.ErrorContains(t, err, "404")
	require.Contains(t, got[0], "servent/0.1.0")
}

func FuzzParseGWC(f *testing.F) {
	f.Add([]byte("H|198.51.100.7:6346|120\nU|http://x/|1\nI|pong|x\n"))
	f.Add([]byte("198.51.100.7:6346\r\n203.0.113.9:7000\r\n"))
	f.Add([]byte("I|update|OK\n"))
	f.Add([]byte("ERROR\n"))
	f.Add([]byte("H|[::1]:1|1\nH||\n|||\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := ParseGWC(strings.NewReader(string(b)))
		require.NoError(t, err, "a bytes.Reader never fails")
		require.LessOrEqual(t, len(a.Hosts), MaxGWCHosts)
		seen := map[netip.AddrPort]bool{}
		for _, h := range a.Hosts {
			require.True(t, h.Addr().Is4() && h.Port() != 0, "%v", h)
			require.False(t, seen[h], "duplicate %v", h)
			seen[h] = true
		}
		require.LessOrEqual(t, len(a.Refused), MaxGWCLine)
	})
}

// The client follows a redirect on the cache's own host, not to another.
func TestGWCHTTPClientRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "H|198.51.100.99:6346|1\n")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/gwc?"+r.URL.RawQuery, http.StatusFound)
		case "/away":
			http.Redirect(w, r, other.URL+"/?"+r.URL.RawQuery, http.StatusFound)
		default:
			fmt.Fprint(w, "H|198.51.100.7:6346|1\n")
		}
	}))
	defer srv.Close()
	hc := GWCHTTPClient(5 * time.Second)
	u, _ := GWCGetURL(srv.URL+"/moved", "0.1.0")
	a, err := FetchGWC(context.Background(), hc, u, "servent/0.1.0")
	require.NoError(t, err)
	require.Equal(t, []netip.AddrPort{ap("198.51.100.7:6346")}, a.Hosts)

	u, _ = GWCGetURL(srv.URL+"/away", "0.1.0")
	_, err = FetchGWC(context.Background(), hc, u, "servent/0.1.0")
	require.ErrorContains(t, err, "302", "another host is not asked")
}
