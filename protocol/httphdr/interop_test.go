package httphdr

import (
	"bufio"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The files under testdata/interop are copies of shared/interop/gtk-gnutella
// 58, 60, 62 and 65 (see testdata/README.md): the exact bytes gtk-gnutella
// 1.2.3 sent and received.

func readRequest(t testing.TB, name string) *http.Request {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "interop", name))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	req, err := http.ReadRequest(bufio.NewReader(f))
	require.NoError(t, err, name)
	return req
}

func readResponse(t testing.TB, name string) *http.Response {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "interop", name))
	require.NoError(t, err)
	t.Cleanup(func() { f.Close() })
	resp, err := http.ReadResponse(bufio.NewReader(f), nil)
	require.NoError(t, err, name)
	return resp
}

func alts(addrs ...string) []Alt {
	var out []Alt
	for _, a := range addrs {
		tls := strings.HasPrefix(a, "tls:")
		out = append(out, Alt{Addr: netip.MustParseAddrPort(strings.TrimPrefix(a, "tls:")), TLS: tls})
	}
	return out
}

// TestInterop58 replays the mesh exchange of interop 58: what downloaders
// told gtk-gnutella (X-Alt, X-Falt, X-Nalt) parses, and every X-Alt
// gtk-gnutella answered with parses and is written back byte for byte.
func TestInterop58(t *testing.T) {
	const p = "58-download-mesh-x-alt-x-falt-x-nalt."

	a := readRequest(t, p+"A.request.bin")
	got, err := ParseAlt(a.Header.Get("X-Alt"), 0)
	require.NoError(t, err)
	require.Equal(t, alts("1.2.4.5:6346", "1.2.4.6:6348"), got)
	require.Equal(t, "1.2.4.5, 1.2.4.6:6348", FormatAlt(got), "6346 is left out, as gtk-gnutella does")

	// The probe's X-Falt (gtk-gnutella ignores X-Falt in requests): upper-case
	// GUID, no port:ip, two push proxies.
	require.Equal(t, "0123456789ABCDEF0123456789ABCDEF;1.2.4.7:6346;1.2.4.8:7000", a.Header.Get("X-Falt"))
	falts, err := ParseFalt(a.Header.Get("X-Falt"), 0)
	require.NoError(t, err)
	require.Equal(t, []Falt{{
		GUID:    [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef},
		Proxies: alts("1.2.4.7:6346", "1.2.4.8:7000"),
	}}, falts)
	require.Equal(t, "0123456789abcdef0123456789abcdef;1.2.4.7:6346;1.2.4.8:7000", FormatFalt(falts),
		"gtk-gnutella writes the GUID in lower-case hex and proxies with their port")

	d := readRequest(t, p+"D.request.bin")
	nalt, err := ParseAlt(d.Header.Get("X-Nalt"), 0)
	require.NoError(t, err)
	require.Equal(t, alts("1.2.4.6:6348"), nalt)
	require.Equal(t, d.Header.Get("X-Nalt"), FormatNalt(nalt))

	for _, tc := range []struct {
		step string
		want []Alt
	}{
		{"A", alts("1.2.4.6:6348", "1.2.4.5:6346", "1.2.3.5:6346")},
		{"B", alts("1.2.3.5:6346", "1.2.4.6:6348", "1.2.4.5:6346")},
		{"C", alts("1.2.4.6:6348", "1.2.4.5:6346", "1.2.3.5:6346")},
		{"D", alts("1.2.4.5:6346", "1.2.3.5:6346")}, // after D's X-Nalt
		{"E", alts("1.2.4.5:6346", "1.2.3.5:6346")},
	} {
		resp := readResponse(t, p+tc.step+".response.bin")
		raw := resp.Header.Values("X-Alt")
		require.Len(t, raw, 1, tc.step)
		got, err := ParseAlt(raw[0], 0)
		require.NoError(t, err)
		require.Equal(t, tc.want, got, tc.step)
		require.Equal(t, raw[0], FormatAlt(got), tc.step)
		require.Empty(t, resp.Header.Values("X-Falt"), tc.step)
		require.Empty(t, resp.Header.Values("X-Nalt"), tc.step)
	}
}

// TestInterop60 replays gtk-gnutella's own download requests: X-Node on
// each, and, once it held part of the file, "X-Alt: tls=8, <itself>".
func TestInterop60(t *testing.T) {
	const p = "60-gtkg-downloads-from-slow-source."
	for i := 1; i <= 5; i++ {
		req := readRequest(t, p+"gtkg-request-"+strconv.Itoa(i)+".bin")
		node, err := ParseNode(req.Header.Get("X-Node"))
		require.NoError(t, err)
		require.Equal(t, netip.MustParseAddrPort("127.0.0.1:6348"), node)
		require.Equal(t, req.Header.Get("X-Node"), string(AppendNode(nil, node)))

		raw := req.Header.Values("X-Alt")
		if i < 3 {
			require.Empty(t, raw, "no X-Alt before it holds data")
			continue
		}
		require.Equal(t, []string{"tls=8, 127.0.0.1:6348"}, raw)
		got, err := ParseAlt(raw[0], 0)
		require.NoError(t, err)
		require.Equal(t, alts("tls:127.0.0.1:6348"), got)
		require.Equal(t, raw[0], FormatAlt(got))
	}
	// The probe source's answer (not gtk-gnutella's bytes): port written out.
	resp := readResponse(t, p+"probe-response-1.bin")
	got, err := ParseAlt(resp.Header.Get("X-Alt"), 0)
	require.NoError(t, err)
	require.Equal(t, alts("1.2.3.5:6346"), got)
}

// TestInterop62and65 replays gtk-gnutella serving a partial file (PFSP):
// one X-Available-Ranges header, "bytes a-b", only when the connection
// stays open; a 206 serves bytes the ranges hold, a 416 asks for bytes they
// do not; a 503 carries X-Available instead.
func TestInterop62and65(t *testing.T) {
	const size = 1500000
	for _, tc := range []struct {
		file   string
		ranges string // "" when gtk-gnutella sent none
	}{
		{"62-pfsp-partial-served.1", "bytes 0-1048575"},
		{"62-pfsp-partial-served.2", "bytes 0-1048575"},
		{"62-pfsp-partial-served.3", ""},
		{"62-pfsp-partial-served.4", "bytes 0-1048575"},
		{"65-pfsp-partial-connection-close.close-206", ""},
		{"65-pfsp-partial-connection-close.close-416", ""},
		{"65-pfsp-partial-connection-close.keep-alive-206", "bytes 0-1056767"},
		{"65-pfsp-partial-connection-close.keep-alive-416", "bytes 0-1056767"},
	} {
		req := readRequest(t, tc.file+".request.bin")
		resp := readResponse(t, tc.file+".response.bin")
		raw := resp.Header.Values("X-Available-Ranges")
		if tc.ranges == "" {
			require.Empty(t, raw, tc.file)
			require.True(t, resp.Close || resp.StatusCode == http.StatusServiceUnavailable, tc.file)
			continue
		}
		require.Equal(t, []string{tc.ranges}, raw, tc.file)
		rs, err := ParseAvailableRanges(raw[0], size)
		require.NoError(t, err)
		require.Len(t, rs, 1)
		require.Equal(t, tc.ranges, FormatAvailableRanges(rs), tc.file)

		first, last := requestRange(t, req, size)
		switch resp.StatusCode {
		case http.StatusPartialContent:
			var cf, cl, total int64
			err := parseContentRange(resp.Header.Get("Content-Range"), &cf, &cl, &total)
			require.NoError(t, err, tc.file)
			require.EqualValues(t, size, total)
			require.True(t, rs.Contains(cf, cl), tc.file)
			require.True(t, cf == first && cl <= last, "a prefix of what was asked: %s", tc.file)
		case http.StatusRequestedRangeNotSatisfiable:
			require.False(t, rs.Contains(first, last), tc.file)
			next, ok := rs.Next(first)
			require.False(t, ok, "nothing held from %d on: %v", first, next)
			largest, ok := rs.Largest(0)
			require.True(t, ok)
			require.Equal(t, rs[0], largest)
		default:
			t.Fatalf("%s: status %d", tc.file, resp.StatusCode)
		}
	}

	resp := readResponse(t, "62-pfsp-partial-served.3.response.bin")
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	n, err := ParseAvailable(resp.Header.Get("X-Available"))
	require.NoError(t, err)
	require.EqualValues(t, 1048576, n)
	require.Equal(t, resp.Header.Get("X-Available"), string(AppendAvailable(nil, n)))
}

// requestRange reads "Range: bytes=a-b" (the whole file without one).
func requestRange(t *testing.T, req *http.Request, size int64) (int64, int64) {
	t.Helper()
	v := req.Header.Get("Range")
	if v == "" {
		return 0, size - 1
	}
	rs, err := ParseAvailableRanges(v, size) // "bytes=" reads the same
	require.NoError(t, err)
	require.Len(t, rs, 1)
	return rs[0].First, rs[0].Last
}

// parseContentRange reads "bytes a-b/total".
func parseContentRange(v string, first, last, total *int64) error {
	rest, ok := strings.CutPrefix(v, "bytes ")
	r, tot, ok2 := strings.Cut(rest, "/")
	a, b, ok3 := strings.Cut(r, "-")
	if !ok || !ok2 || !ok3 {
		return ErrMalformed
	}
	var err error
	if *first, err = strconv.ParseInt(a, 10, 64); err != nil {
		return err
	}
	if *last, err = strconv.ParseInt(b, 10, 64); err != nil {
		return err
	}
	*total, err = strconv.ParseInt(tot, 10, 64)
	return err
}
