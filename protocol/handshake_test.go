package protocol

import (
	"bufio"
	"bytes"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const interopDir = "../testdata/interop"

func readHS(t testing.TB, s string) (*Handshake, error) {
	t.Helper()
	return ReadHandshake(bufio.NewReader(strings.NewReader(s)))
}

// GNUTELLA.md 10.8, H1..H14.
func TestHandshakeVectors(t *testing.T) {
	const st = "GNUTELLA/0.6 200 OK\r\n"
	tests := []struct {
		id    string
		lines string
		check func(t *testing.T, h Headers)
	}{
		{"H1", "user-agent: servent/0.1\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, "servent/0.1", h.Get("User-Agent"))
		}},
		{"H2", "X-Try-Ultrapeers: 1.2.3.4:6346\r\nX-Try-Ultrapeers: 5.6.7.8:6347\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, "1.2.3.4:6346, 5.6.7.8:6347", h.Get("X-Try-Ultrapeers"))
		}},
		{"H3", "X-Try: 1.2.3.4:6346,\r\n\t  5.6.7.8:6346\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, "1.2.3.4:6346, 5.6.7.8:6346", h.Get("X-Try"))
		}},
		{"H4", "X-Degree:    32\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, "32", h.Get("X-Degree"))
		}},
		{"H5", "X-Ultrapeer : True\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, "True", h.Get("X-Ultrapeer"))
			require.True(t, h.Bool("x-ultrapeer"))
		}},
		{"H6", "Bad Header: x\r\nGood: y\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, Headers{{"Good", "y"}}, h)
		}},
		{"H7", "NoColonHere\r\nGood: y\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, Headers{{"Good", "y"}}, h)
		}},
		{"H8", "  leading continuation\r\nGood: y\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, Headers{{"Good", "y"}}, h)
		}},
		{"H9", "Remote-IP: 1.2.3.4\r\nX-Bad\x01: y\r\n cont\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, Headers{{"Remote-IP", "1.2.3.4"}}, h)
			require.Equal(t, "1.2.3.4", h.Get("Remote-IP"))
		}},
		{"H11", "X-Ultrapeer: TRUE\r\n", func(t *testing.T, h Headers) {
			require.True(t, h.Bool("X-Ultrapeer"))
		}},
		{"H12", "Listen-IP: 203.0.113.5:6346\r\n", func(t *testing.T, h Headers) {
			ap, ok := ListenAddr(h)
			require.True(t, ok)
			require.Equal(t, netip.MustParseAddrPort("203.0.113.5:6346"), ap)
		}},
		{"H12-node", "Listen-IP: 203.0.113.5:6346\r\nNode: 198.51.100.1:7000\r\n", func(t *testing.T, h Headers) {
			ap, ok := ListenAddr(h)
			require.True(t, ok)
			require.Equal(t, netip.MustParseAddrPort("198.51.100.1:7000"), ap)
		}},
		{"H14", "X-Try-Ultrapeers: 1.2.3.4:6346, bogus, 5.6.7.8, 9.9.9.9:80\r\n", func(t *testing.T, h Headers) {
			require.Equal(t, []netip.AddrPort{
				netip.MustParseAddrPort("1.2.3.4:6346"),
				netip.MustParseAddrPort("5.6.7.8:6346"),
			}, ParseTryHosts(h.Get("X-Try-Ultrapeers")))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			hs, err := readHS(t, st+tc.lines+"\r\n")
			require.NoError(t, err)
			tc.check(t, hs.Headers)
			// H13: the same with bare LF endings.
			lf := strings.ReplaceAll(st+tc.lines+"\r\n", "\r\n", "\n")
			hs2, err := readHS(t, lf)
			require.NoError(t, err)
			require.Equal(t, hs.Headers, hs2.Headers)
		})
	}
}

func TestHandshakeStatusLines(t *testing.T) {
	tests := []struct {
		line    string
		connect bool
		code    int
		reason  string
		err     error
	}{
		{"GNUTELLA/0.6 200 OK", false, 200, "OK", nil},
		{"GNUTELLA/0.6 503 Too many leaf connections (300 max)", false, 503, "Too many leaf connections (300 max)", nil},
		{"GNUTELLA/0.6 200", false, 200, "", nil},
		{"GNUTELLA CONNECT/0.6", true, 0, "", nil},
		{"GNUTELLA CONNECT/0.6 ", true, 0, "", nil},
		{"HTTP/1.1 200 OK", false, 0, "", ErrNotGnutella},
		{"GNUTELLA OK", false, 0, "", ErrNotGnutella},
		{"GNUTELLA CONNECT/0.4", false, 0, "", ErrOldProtocol},
		{"GNUTELLA/0.4 200 OK", false, 0, "", ErrOldProtocol},
		{"GNUTELLA/0.6 2000 OK", false, 0, "", ErrNotGnutella},
		{"GNUTELLA/0.6 OK", false, 0, "", ErrNotGnutella},
		{"GNUTELLA CONNECT/", false, 0, "", ErrNotGnutella},
		{"", false, 0, "", ErrNotGnutella},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			hs, err := readHS(t, tc.line+"\r\nUser-Agent: x\r\n\r\n")
			if tc.err != nil {
				require.ErrorIs(t, err, tc.err)
				require.ErrorIs(t, err, ErrMalformed)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.connect, hs.Connect)
			require.Equal(t, "0.6", hs.Version)
			require.Equal(t, tc.code, hs.Code)
			require.Equal(t, tc.reason, hs.Reason)
			require.Equal(t, "x", hs.Headers.Get("user-agent"))
		})
	}
}

// H10: limits answer 413.
func TestHandshakeLimits(t *testing.T) {
	st := "GNUTELLA CONNECT/0.6\r\n"
	long := "X-Long: " + strings.Repeat("a", MaxHandshakeLine-len("X-Long: "))
	_, err := readHS(t, st+long+"\r\n\r\n") // exactly 1024 bytes: fine
	require.NoError(t, err)
	_, err = readHS(t, st+long+"a\r\n\r\n") // 1025
	require.ErrorIs(t, err, ErrTooLarge)

	lines := strings.Repeat("A: b\r\n", MaxHandshakeLines)
	hs, err := readHS(t, st+lines+"\r\n")
	require.NoError(t, err)
	require.Len(t, hs.Headers, MaxHandshakeLines)
	_, err = readHS(t, st+lines+"A: b\r\n\r\n")
	require.ErrorIs(t, err, ErrTooLarge)

	// 20 lines of 1000 bytes: under the line limits, over 16384 bytes.
	big := strings.Repeat("B: "+strings.Repeat("x", 995)+"\r\n", 20)
	_, err = readHS(t, st+big+"\r\n")
	require.ErrorIs(t, err, ErrTooLarge)

	// A small bufio buffer must not shorten the line limit.
	br := bufio.NewReaderSize(strings.NewReader(st+long+"\r\n\r\n"), 16)
	hs, err = ReadHandshake(br)
	require.NoError(t, err)
	require.Len(t, hs.Headers.Get("X-Long"), MaxHandshakeLine-len("X-Long: "))

	_, err = readHS(t, st+"A: b\r\n")
	require.ErrorIs(t, err, ErrTruncated)
	_, err = readHS(t, "")
	require.ErrorIs(t, err, ErrTruncated)
}

func TestHandshakeHeaderRules(t *testing.T) {
	hs, err := readHS(t, "GNUTELLA CONNECT/0.6\r\n"+
		"A: 1\r\n"+
		"B: x  \r\n"+ // trailing blanks trimmed
		"a: 2\r\n"+
		" more\r\n"+ // continues the last line (a: 2)
		" \t \r\n"+ // whitespace-only continuation ignored
		"Dotted.Name: no\r\n"+ // '.' is punctuation for GTKG: skipped
		" skipped\r\n"+
		": empty name\r\n"+
		"Under_score: no\r\n"+
		"Empty:\r\n"+
		"\r\n")
	require.NoError(t, err)
	require.Equal(t, Headers{{"A", "1"}, {"B", "x"}, {"a", "2 more"}, {"Empty", ""}}, hs.Headers)
	require.Equal(t, "1, 2 more", hs.Headers.Get("A"))
	require.True(t, hs.Headers.Has("empty"))
	require.False(t, hs.Headers.Has("Dotted.Name"))
	require.Equal(t, []string{"A", "B", "Empty"}, hs.Headers.Names())
}

func TestHandshakeDoesNotReadPastBlankLine(t *testing.T) {
	tail := []byte{0x78, 0x9c, 0x00, 0xff, '\n', 'G'}
	in := append([]byte("GNUTELLA/0.6 200 OK\nContent-Encoding: deflate\n\n"), tail...)
	br := bufio.NewReader(bytes.NewReader(in))
	hs, err := ReadHandshake(br)
	require.NoError(t, err)
	require.Equal(t, "deflate", hs.Headers.Get("Content-Encoding"))
	rest, err := io.ReadAll(br)
	require.NoError(t, err)
	require.Equal(t, tail, rest)
}

func TestHeadersEdit(t *testing.T) {
	var h Headers
	h.Add("X-Try", "a")
	h.Add("User-Agent", "u")
	h.Add("x-try", "b")
	require.Equal(t, "a, b", h.Get("X-TRY"))
	h.Set("X-Try", "c")
	require.Equal(t, Headers{{"X-Try", "c"}, {"User-Agent", "u"}}, h)
	h.Set("New", "n")
	require.Equal(t, "n", h.Get("new"))
	h.Del("user-agent")
	require.Equal(t, Headers{{"X-Try", "c"}, {"New", "n"}}, h)
	require.False(t, h.Bool("New"))
	require.Equal(t, "X-Try: c\r\nNew: n\r\n", string(h.Append(nil)))
	// A value cannot inject a header line.
	require.Equal(t, "A: x  B: y\r\n", string(Headers{{"A", "x\r\nB: y"}}.Append(nil)))
}

func TestHandshakeRoundTrip(t *testing.T) {
	for _, hs := range []*Handshake{
		{Connect: true, Version: "0.6", Headers: Headers{
			{"User-Agent", "servent/0.1.0"}, {"X-Ultrapeer", "False"}, {"X-Query-Routing", "0.1"},
			{"Accept-Encoding", "deflate"}, {"Listen-IP", "203.0.113.5:6346"},
		}},
		{Version: "0.6", Code: 200, Reason: "OK", Headers: Headers{{"Content-Encoding", "deflate"}}},
		{Version: "0.6", Code: 503, Reason: "Too many leaf connections (300 max)", Headers: Headers{
			{"X-Try-Ultrapeers", "192.0.2.44:6346, 198.51.100.20:16346"},
		}},
		{Version: "0.6", Code: 200},
	} {
		wire := hs.Append(nil)
		require.True(t, bytes.HasSuffix(wire, []byte("\r\n\r\n")) || hs.Headers == nil)
		got, err := ReadHandshake(bufio.NewReader(bytes.NewReader(wire)))
		require.NoError(t, err)
		require.Equal(t, hs, got)
		require.Equal(t, wire, got.Append(nil))
	}
	// Version "" is written as 0.6.
	require.Equal(t, "GNUTELLA CONNECT/0.6\r\n\r\n", string((&Handshake{Connect: true}).Append(nil)))
}

func TestTryHosts(t *testing.T) {
	hosts := ParseTryHosts(" 1.2.3.4:6346,5.6.7.8:16346 , [2001:db8::1]:6348, ::ffff:9.8.7.6, 0.0.0.0:6346, 1.2.3.4:0, 1.2.3.4:99999, x:1,,")
	require.Equal(t, []netip.AddrPort{
		netip.MustParseAddrPort("1.2.3.4:6346"),
		netip.MustParseAddrPort("5.6.7.8:16346"),
		netip.MustParseAddrPort("[2001:db8::1]:6348"),
		netip.MustParseAddrPort("9.8.7.6:6346"),
	}, hosts)
	s := FormatTryHosts(hosts)
	require.Equal(t, "1.2.3.4:6346, 5.6.7.8:16346, [2001:db8::1]:6348, 9.8.7.6:6346", s)
	require.Equal(t, hosts, ParseTryHosts(s))
	require.Empty(t, ParseTryHosts(""))
	require.Equal(t, "", FormatTryHosts(nil))
}

func TestListenAddrOrder(t *testing.T) {
	h := Headers{{"X-My-Address", "10.0.0.1:7001"}, {"X-Listen-IP", "10.0.0.2:7002"}, {"Listen-IP", "bogus"}}
	ap, ok := ListenAddr(h)
	require.True(t, ok)
	require.Equal(t, netip.MustParseAddrPort("10.0.0.2:7002"), ap) // bad Listen-IP skipped
	_, ok = ListenAddr(Headers{{"User-Agent", "x"}})
	require.False(t, ok)
}

// Every recorded handshake block of both interop folders, field by field.
func TestHandshakeInteropReplay(t *testing.T) {
	type want struct {
		file, status             string
		n                        int
		ua, up, ce, ae, try, rip string
	}
	const gtkgUA = "gtk-gnutella/1.2.3 (2024-03-03; Topless; Linux x86_64)"
	const bun = "GnutellaBun/1.0.0"
	tests := []want{
		{"gnutella-bun-client/01-leaf-no-deflate.hs2-response.bin", "GNUTELLA/0.6 200 OK", 15, bun, "True", "", "deflate", "", "127.0.0.3"},
		{"gnutella-bun-client/02-leaf-deflate-ping-query.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.2"},
		{"gnutella-bun-client/03-ultra-deflate.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.4"},
		{"gnutella-bun-client/04-ultra-no-deflate.hs2-response.bin", "GNUTELLA/0.6 200 OK", 15, bun, "True", "", "deflate", "", "127.0.0.5"},
		{"gnutella-bun-client/05-leaf-query-without-0x8000.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.6"},
		{"gnutella-bun-client/06-leaf-query-variants.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.7"},
		{"gnutella-bun-client/07-leaf-query-flags-wire-8800-ggep-h.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.8"},
		{"gnutella-bun-client/08-leaf-urn-query-variants.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.9"},
		{"gnutella-bun-client/30-bun-ultra-connects-to-us.hs1-request.bin", "GNUTELLA CONNECT/0.6", 16, bun, "True", "", "deflate", "", "127.0.0.20"},
		{"gnutella-bun-client/30-bun-ultra-connects-to-us.hs3-ack.bin", "GNUTELLA/0.6 200 OK", 2, "", "", "deflate", "", "", "127.0.0.20"},
		{"gnutella-bun-client/31-bun-leaf-connects-to-us.hs1-request.bin", "GNUTELLA CONNECT/0.6", 11, bun, "False", "", "deflate", "", "127.0.0.21"},
		{"gnutella-bun-client/31-bun-leaf-connects-to-us.hs3-ack.bin", "GNUTELLA/0.6 200 OK", 2, "", "", "deflate", "", "", "127.0.0.21"},
		{"gnutella-bun-client/40-bun-leaf-rejects-leaf.hs2-response.bin", "GNUTELLA/0.6 503 Shielded leaf node (8 ultrapeers max)", 3, "", "", "", "", "127.0.0.21:6350", "127.0.0.22"},
		{"gnutella-bun-client/41-bun-leaf-accepts-legacy-ultra.hs2-response.bin", "GNUTELLA/0.6 200 OK", 11, bun, "False", "deflate", "deflate", "", "127.0.0.23"},
		{"gnutella-bun-client/42-bun-leaf-accepts-ultra.hs2-response.bin", "GNUTELLA/0.6 200 OK", 11, bun, "False", "deflate", "deflate", "", "127.0.0.24"},
		{"gnutella-bun-client/60-ultra-push-giv.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.31"},
		{"gnutella-bun-client/61-leaf-vendor-msg-unsolicited-pong-bad-qrp.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.32"},
		{"gnutella-bun-client/62-leaf-relays-query-hops1.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.33"},
		{"gnutella-bun-client/70-ultra-idle-130s.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.40"},
		{"gnutella-bun-client/71-second-connection-same-ip.hs2-response.bin", "GNUTELLA/0.6 200 OK", 16, bun, "True", "deflate", "deflate", "", "127.0.0.40"},
		{"gnutella-bun-client/80-bun-leaf-parses-gtkg-messages.hs1-request.bin", "GNUTELLA CONNECT/0.6", 11, bun, "False", "", "deflate", "", "127.0.0.50"},
		{"gnutella-bun-client/80-bun-leaf-parses-gtkg-messages.hs3-ack.bin", "GNUTELLA/0.6 200 OK", 2, "", "", "deflate", "", "", "127.0.0.50"},
		{"gtk-gnutella/01-leaf-no-deflate-refused.hs2-response.bin", "GNUTELLA/0.6 403 Gnet connection not compressed", 2, gtkgUA, "", "", "", "", "127.0.0.11"},
		{"gtk-gnutella/02-leaf-deflate-ping-query.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.17"},
		{"gtk-gnutella/03-ultra-deflate.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.13"},
		{"gtk-gnutella/04-ultra-no-deflate.hs2-response.bin", "GNUTELLA/0.6 200 OK", 20, gtkgUA, "True", "", "deflate", "", "127.0.0.14"},
		{"gtk-gnutella/05-ultra-no-deflate-when-idle.hs2-response.bin", "GNUTELLA/0.6 200 OK", 20, gtkgUA, "True", "", "deflate", "", "127.0.0.41"},
		{"gtk-gnutella/06-gtkg-as-leaf-rejects-leaf.hs2-response.bin", "GNUTELLA/0.6 204 Shielded leaf node (4 peers max)", 3, gtkgUA, "False", "", "", "", "127.0.0.51"},
		{"gtk-gnutella/07-gtkg-as-leaf-rejects-legacy-ultra.hs2-response.bin", "GNUTELLA/0.6 403 High Outdegree and Dynamic Querying Required", 2, gtkgUA, "", "", "", "", "127.0.0.52"},
		{"gtk-gnutella/08-gtkg-as-leaf-accepts-ultra.hs2-response.bin", "GNUTELLA/0.6 200 OK", 19, gtkgUA, "False", "deflate", "deflate", "", "127.0.0.53"},
		{"gtk-gnutella/20-gtkg-ultra-connects-to-us.hs1-request.bin", "GNUTELLA CONNECT/0.6", 22, gtkgUA, "True", "", "deflate", "", "127.0.0.36"},
		{"gtk-gnutella/20-gtkg-ultra-connects-to-us.hs3-ack.bin", "GNUTELLA/0.6 200 OK", 1, "", "", "deflate", "", "", ""},
		{"gtk-gnutella/21-gtkg-leaf-connects-to-us.hs1-request.bin", "GNUTELLA CONNECT/0.6", 21, gtkgUA, "False", "", "deflate", "", "127.0.0.33"},
		{"gtk-gnutella/21-gtkg-leaf-connects-to-us.hs3-ack.bin", "GNUTELLA/0.6 200 OK", 1, "", "", "deflate", "", "", ""},
		{"gtk-gnutella/22-gtkg-leaf-after-rescan.hs1-request.bin", "GNUTELLA CONNECT/0.6", 21, gtkgUA, "False", "", "deflate", "", "127.0.0.34"},
		{"gtk-gnutella/22-gtkg-leaf-after-rescan.hs3-ack.bin", "GNUTELLA/0.6 200 OK", 1, "", "", "deflate", "", "", ""},
		// The UDP lab (30-42): the TCP links of its exchanges.
		{"gtk-gnutella/31-uhc-scp-ipp.up.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.31"},
		{"gtk-gnutella/35-oob-v3-server.up.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.39"},
		{"gtk-gnutella/36-oob-v2-server.up.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.40"},
		{"gtk-gnutella/37-oob-no-ack.up.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.44"},
		{"gtk-gnutella/38-oob-leaf-query.leaf.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.45"},
		{"gtk-gnutella/39-oob-proxy.leaf.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.47"},
		{"gtk-gnutella/39-oob-proxy.up.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.46"},
		{"gtk-gnutella/40-gtkg-oob-querier.up.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.48"},
		{"gtk-gnutella/41-connect-back-tcp.leaf.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.49"},
		{"gtk-gnutella/42-connect-back-udp.leaf.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.50"},
		{"gtk-gnutella/42-connect-back-udp.leaf2.hs2-response.bin", "GNUTELLA/0.6 200 OK", 21, gtkgUA, "True", "deflate", "deflate", "", "127.0.0.56"},
	}
	var files []string
	for _, d := range []string{"gtk-gnutella", "gnutella-bun-client"} {
		for _, pat := range []string{"*.hs1-request.bin", "*.hs2-response.bin", "*.hs3-ack.bin"} {
			m, err := filepath.Glob(filepath.Join(interopDir, d, pat))
			require.NoError(t, err)
			files = append(files, m...)
		}
	}
	require.Len(t, files, len(tests), "a recorded block without an expectation")
	for _, w := range tests {
		t.Run(w.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(interopDir, w.file))
			require.NoError(t, err)
			br := bufio.NewReader(bytes.NewReader(raw))
			hs, err := ReadHandshake(br)
			require.NoError(t, err)
			require.Zero(t, br.Buffered(), "the block is the whole file")
			status := string(hs.Append(nil))
			status = status[:strings.Index(status, "\r\n")]
			require.Equal(t, w.status, status)
			require.Len(t, hs.Headers, w.n)
			require.Equal(t, w.ua, hs.Headers.Get("User-Agent"))
			require.Equal(t, w.up, hs.Headers.Get("X-Ultrapeer"))
			require.Equal(t, w.ce, hs.Headers.Get("Content-Encoding"))
			require.Equal(t, w.ae, hs.Headers.Get("Accept-Encoding"))
			require.Equal(t, w.try, hs.Headers.Get("X-Try-Ultrapeers"))
			require.Equal(t, w.rip, hs.Headers.Get("Remote-IP"))
			// CRLF files re-encode byte for byte.
			if !bytes.Contains(raw, []byte("\n\n")) {
				require.Equal(t, raw, hs.Append(nil))
			}
		})
	}
}

func TestHandshakeInteropDetails(t *testing.T) {
	read := func(name string) *Handshake {
		raw, err := os.ReadFile(filepath.Join(interopDir, name))
		require.NoError(t, err)
		hs, err := ReadHandshake(bufio.NewReader(bytes.NewReader(raw)))
		require.NoError(t, err)
		return hs
	}
	g := read("gtk-gnutella/20-gtkg-ultra-connects-to-us.hs1-request.bin")
	require.True(t, g.Connect)
	h := g.Headers
	ap, ok := ListenAddr(h)
	require.True(t, ok)
	require.Equal(t, netip.MustParseAddrPort("127.0.0.1:6346"), ap) // Node:
	require.Equal(t, "b95e310229469f0cb2ee0b09d317fa1a", h.Get("GUID"))
	require.Equal(t, "0.1", h.Get("X-Ultrapeer-Query-Routing"))
	require.Equal(t, "25", h.Get("X-Degree"))
	require.Equal(t, "4", h.Get("X-Max-TTL"))
	require.Equal(t, "0.2", h.Get("Vendor-Message"))
	require.Equal(t, "TLS/1.0", h.Get("Upgrade"))
	require.Equal(t, "tls/1.0, sflag/0.1, HSEP/0.2", h.Get("X-Features"))
	require.Equal(t, "ZxzU7hDtaPrCCtV9k1Oef2VhyrNNZu04zECk; QK4=", h.Get("X-Token"))
	require.True(t, h.Bool("X-Ultrapeer"))
	require.False(t, h.Bool("X-Requeries"))

	r := read("gtk-gnutella/03-ultra-deflate.hs2-response.bin").Headers
	require.Equal(t, "True", r.Get("X-Ultrapeer-Needed"))
	require.Equal(t, "0.2", r.Get("X-Query-Routing"))
	require.Equal(t, "Sat, 26 Oct 2024 11:25:08 +0000", r.Get("X-Live-Since"))

	b := read("gnutella-bun-client/40-bun-leaf-rejects-leaf.hs2-response.bin")
	require.Equal(t, 503, b.Code)
	require.Equal(t, []netip.AddrPort{netip.MustParseAddrPort("127.0.0.21:6350")}, ParseTryHosts(b.Headers.Get("X-Try")))
	ap, ok = ListenAddr(read("gnutella-bun-client/03-ultra-deflate.hs2-response.bin").Headers)
	require.True(t, ok)
	require.Equal(t, netip.MustParseAddrPort("127.0.0.1:6346"), ap)

	// Raw requests GnutellaBun got (74, 75, 78).
	raw := func(name string) (*Handshake, error) {
		b, err := os.ReadFile(filepath.Join(interopDir, "gnutella-bun-client", name))
		require.NoError(t, err)
		return ReadHandshake(bufio.NewReader(bytes.NewReader(b)))
	}
	_, err := raw("74-connect-0.4.request.bin")
	require.ErrorIs(t, err, ErrOldProtocol)
	lf, err := raw("75-connect-0.6-lf-only-no-x-ultrapeer.request.bin")
	require.NoError(t, err)
	require.True(t, lf.Connect)
	require.Equal(t, Headers{{"User-Agent", "raw-test/0.1"}}, lf.Headers)
	require.False(t, lf.Headers.Has("X-Ultrapeer"))
	_, err = raw("78-garbage-probe.request.bin")
	require.ErrorIs(t, err, ErrNotGnutella)
}

// TestRefusedAsLeaf: the leaf refusals GTKG and GnutellaBun send (bytes of
// shared/interop 06-gtkg-as-leaf-rejects-leaf and 40-bun-leaf-rejects-leaf)
// say "leaf"; a busy ultrapeer's 503 and an acceptance do not.
func TestRefusedAsLeaf(t *testing.T) {
	cases := []struct {
		name, block string
		want        bool
	}{
		{"gtkg 204", "GNUTELLA/0.6 204 Shielded leaf node (4 peers max)\r\nUser-Agent: gtk-gnutella/1.2.3\r\n" +
			"Remote-IP: 127.0.0.51\r\nX-Ultrapeer: False\r\n\r\n", true},
		{"bun 503", "GNUTELLA/0.6 503 Shielded leaf node (8 ultrapeers max)\r\nRemote-IP: 127.0.0.22\r\n" +
			"X-Try: 127.0.0.21:6350\r\nX-Try-Ultrapeers: 127.0.0.21:6350\r\n\r\n", true},
		{"leaf says busy", "GNUTELLA/0.6 409 Already connected\r\nX-Ultrapeer: false\r\n\r\n", true},
		{"busy ultrapeer", "GNUTELLA/0.6 503 Too many ultra connections (32 max)\r\nX-Ultrapeer: True\r\n\r\n", false},
		{"no header, other reason", "GNUTELLA/0.6 503 Busy\r\n\r\n", false},
		{"accepted leaf", "GNUTELLA/0.6 200 OK\r\nX-Ultrapeer: False\r\n\r\n", false},
		{"request", "GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: False\r\n\r\n", false},
	}
	for _, c := range cases {
		hs, err := readHS(t, c.block)
		require.NoError(t, err, c.name)
		require.Equal(t, c.want, hs.RefusedAsLeaf(), c.name)
	}
}

func FuzzHandshake(f *testing.F) {
	f.Add([]byte("GNUTELLA CONNECT/0.6\r\nUser-Agent: x\r\n X\r\nBad Name: y\r\n\r\n"))
	f.Add([]byte("GNUTELLA/0.6 503 Full\nX-Try: 1.2.3.4:6346, [::1]:6347\n\n"))
	f.Add([]byte("GNUTELLA/0.6 200\r\n\r\nrest"))
	f.Add([]byte("GNUTELLA CONNECT/0.4\n\n"))
	for _, name := range []string{
		"gtk-gnutella/20-gtkg-ultra-connects-to-us.hs1-request.bin",
		"gnutella-bun-client/40-bun-leaf-rejects-leaf.hs2-response.bin",
	} {
		if b, err := os.ReadFile(filepath.Join(interopDir, name)); err == nil {
			f.Add(b)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		src := bytes.NewReader(in)
		br := bufio.NewReaderSize(src, 64)
		hs, err := ReadHandshake(br)
		if err != nil {
			return
		}
		// The block ends at its blank line, and nothing after it was eaten.
		consumed := len(in) - src.Len() - br.Buffered()
		block := in[:consumed]
		require.True(t, bytes.HasSuffix(block, []byte("\n\n")) || bytes.HasSuffix(block, []byte("\n\r\n")))
		require.LessOrEqual(t, consumed, MaxHandshakeBytes)
		require.LessOrEqual(t, len(hs.Headers), MaxHandshakeLines)
		// Re-encoding gives a block that parses to the same thing.
		again, err := ReadHandshake(bufio.NewReader(bytes.NewReader(hs.Append(nil))))
		clean := !strings.ContainsRune(hs.Reason, '\r')
		for _, f := range hs.Headers {
			clean = clean && !strings.ContainsRune(f.Value, '\r')
		}
		if err == nil && clean {
			require.Equal(t, hs.Connect, again.Connect)
			require.Equal(t, hs.Code, again.Code)
			for _, n := range hs.Headers.Names() {
				require.Equal(t, hs.Headers.Get(n), again.Headers.Get(n), n)
			}
		}
		_ = ParseTryHosts(hs.Headers.Get("X-Try-Ultrapeers"))
		_ = hs.RefusedAsLeaf()
		_, _ = ListenAddr(hs.Headers)
	})
}

func BenchmarkReadHandshake(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(interopDir, "gtk-gnutella/03-ultra-deflate.hs2-response.bin"))
	require.NoError(b, err)
	src := bytes.NewReader(raw)
	br := bufio.NewReader(src)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		src.Reset(raw)
		br.Reset(src)
		hs, err := ReadHandshake(br)
		if err != nil || len(hs.Headers) != 21 {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandshakeAppend(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join(interopDir, "gtk-gnutella/03-ultra-deflate.hs2-response.bin"))
	require.NoError(b, err)
	hs, err := ReadHandshake(bufio.NewReader(bytes.NewReader(raw)))
	require.NoError(b, err)
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		buf = hs.Append(buf[:0])
	}
}
