package transfer

import (
	"bufio"
	"crypto/sha1"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
)

// TestDownloadXAltFlood: a source that answers every request with 503,
// Retry-After: 0 and ten new X-Alt addresses must not grow the download's
// source list (kept in memory and in the state file) without bound.
func TestDownloadXAltFlood(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.90:0")
	require.NoError(t, err)
	const responses = 3 * maxSourcesPerFile / 10
	served := make(chan struct{})
	go func() {
		defer close(served)
		next := 0
		for i := 0; i < responses; {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			br := bufio.NewReader(c)
			if _, err := readRequest(br); err == nil {
				var alts []httphdr.Alt
				for range maxAltLocs {
					next++
					alts = append(alts, httphdr.Alt{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 1, byte(next >> 8), byte(next)}), 1)})
				}
				fmt.Fprintf(c, "HTTP/1.1 503 Busy\r\nRetry-After: 0\r\nX-Alt: %s\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
					httphdr.AppendAlt(nil, alts))
				i++
			}
			c.Close()
		}
	}()
	d := newDirs(t)
	m := openManager(t, d, nil)
	content := []byte("never served")
	sha := protocol.SHA1(sha1.Sum(content))
	_, err = m.Start(sha, "x.bin", int64(len(content)), []Source{{Addr: netip.MustParseAddrPort(ln.Addr().String())}})
	require.NoError(t, err)
	<-served
	ln.Close()
	m.mu.Lock()
	dl := m.downloads[sha]
	m.mu.Unlock()
	dl.mu.Lock()
	n, order := len(dl.sources), len(dl.srcOrder)
	dl.mu.Unlock()
	require.LessOrEqual(t, n, maxSourcesPerFile)
	require.Equal(t, n, order)
}
