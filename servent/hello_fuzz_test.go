package servent

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// FuzzParseHello reads a handshake block as a peer sends it and interprets
// it as the node does (parseHello). What it learns must be within what the
// node accepts (a TTL the node would use, a dialable listen address, a GUID
// the header really spelled), and writing what it learnt back as headers
// must read back the same. Seeds: every handshake gtk-gnutella and
// GnutellaBun sent in testdata/interop.
func FuzzParseHello(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(interop, "*", "*.hs[123]-*.bin"))
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: TRUE\r\nX-Ultrapeer-Needed: false\r\nX-Max-TTL: 15\r\n" +
		"Listen-IP: 0.0.0.0:6346, 192.0.2.9:7000\r\nGUID:  B95E310229469F0CB2EE0B09D317FA1A \r\n\r\n"))
	f.Add([]byte("GNUTELLA/0.6 200 OK\r\nX-Max-TTL: 16\r\nX-Node: [fe80::1%eth0]:6346\r\nAccept-Encoding: gzip ,DEFLATE\r\n\r\n"))
	// gtk-gnutella on both families.
	f.Add([]byte("GNUTELLA CONNECT/0.6\r\nNode: 192.0.2.4:6346, [2001:db8::4]:6346\r\nX-Ultrapeer: True\r\n\r\n"))
	var n *Node // parseHello reads nothing of the node
	f.Fuzz(func(t *testing.T, in []byte) {
		hs, err := protocol.ReadHandshake(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			return
		}
		p := n.parseHello(hs.Headers)
		require.LessOrEqual(t, p.maxTTL, uint8(15))
		require.True(t, p.degree >= 0 && p.degree <= 1000, "degree %d", p.degree)
		require.False(t, p.upNotNeeded && !p.up, "X-Ultrapeer-Needed counts only from an ultrapeer")
		require.Equal(t, hs.Headers.Get("User-Agent"), p.agent)
		require.NotContains(t, p.agent, "\n", "a line break from the peer would break the peers table")
		if !p.guid.IsZero() {
			require.True(t, strings.EqualFold(strings.TrimSpace(hs.Headers.Get("GUID")), p.guid.String()))
		}
		require.LessOrEqual(t, len(p.listens), 2)
		for _, l := range p.listens {
			a := l.Addr()
			require.GreaterOrEqual(t, l.Port(), uint16(1024))
			require.False(t, a.IsUnspecified() || a.Is4In6() || a.Zone() != "", "listen %v", l)
		}
		if p.listen.IsValid() {
			require.Equal(t, p.listens[0], p.listen)
		}
		require.False(t, p.weLeaf, "our role is not the peer's to say")
		require.False(t, p.ipv6Only && !p.ipv6)

		// What was learnt, written back as a peer would send it, reads the same.
		again, err := protocol.ReadHandshake(bufio.NewReader(bytes.NewReader(helloBlock(p))))
		require.NoError(t, err)
		q := n.parseHello(again.Headers)
		if strings.ContainsAny(p.agent, "\r") || strings.TrimSpace(p.agent) != p.agent {
			q.agent = p.agent // a header line cannot carry these as they are
		}
		require.Equal(t, p, q)
	})
}

// helloBlock writes p as the header block of a 200 response.
func helloBlock(p peerHello) []byte {
	hs := protocol.Handshake{Code: 200, Reason: "OK"}
	h := &hs.Headers
	h.Add("X-Ultrapeer", boolHeader(p.up))
	if p.agent != "" {
		h.Add("User-Agent", p.agent)
	}
	if p.upNotNeeded {
		h.Add("X-Ultrapeer-Needed", "False")
	}
	if !p.guid.IsZero() {
		h.Add("GUID", p.guid.String())
	}
	if len(p.listens) > 0 {
		h.Add("Listen-IP", protocol.FormatTryHosts(p.listens))
	}
	if p.maxTTL > 0 {
		h.Add("X-Max-TTL", strconv.Itoa(int(p.maxTTL)))
	}
	if p.extProbes {
		h.Add("X-Ext-Probes", "0.1")
	}
	if p.degree > 0 {
		h.Add("X-Degree", strconv.Itoa(p.degree))
	}
	flags := []struct {
		on   bool
		name string
	}{{p.byeOK, "Bye-Packet"}, {p.vendorOK, "Vendor-Message"}, {p.upQRP, "X-Ultrapeer-Query-Routing"}, {p.guess, guessHeader}}
	for _, fl := range flags {
		if fl.on {
			h.Add(fl.name, "0.1")
		}
	}
	var features []string
	if p.tls {
		features = append(features, "tls/1.0")
	}
	if p.ipv6Only {
		features = append(features, "IP/6.4")
	} else if p.ipv6 {
		features = append(features, "IP/6.0")
	}
	if len(features) > 0 {
		h.Add("X-Features", strings.Join(features, ", "))
	}
	if p.deflateOut {
		h.Add("Accept-Encoding", "deflate")
	}
	if p.deflateIn {
		h.Add("Content-Encoding", "deflate")
	}
	return hs.Append(nil)
}

// FuzzParseBannedFor reads a refusal's status as the dialler does: only a
// 429 keeps us away, and never for nothing or past the longest backoff.
func FuzzParseBannedFor(f *testing.F) {
	f.Add(429, "Banned for 5m 0s") // gtk-gnutella, seen in the lab
	f.Add(429, "Too frequent connections")
	f.Add(429, "banned FOR\t1h\t2m 3s")
	f.Add(429, "Banned for 0s")
	f.Add(429, "Banned for 99999999999999999999h")
	f.Add(503, "Banned for 5m 0s")
	f.Fuzz(func(t *testing.T, code int, reason string) {
		d := parseBannedFor(&handshakeError{Code: code, Reason: reason})
		if code != 429 {
			require.Zero(t, d)
			return
		}
		require.True(t, d > 0 && d <= backoffMax, "%d %q: %v", code, reason, d)
	})
}
