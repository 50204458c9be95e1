package transfer

import (
	"bufio"
	"fmt"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// TestDownloadAbsurdSize: a QueryHit can claim any 64-bit size (GGEP LF).
// Starting such a download is refused; it neither panics nor wedges the
// Manager.
func TestDownloadAbsurdSize(t *testing.T) {
	m := openManager(t, newDirs(t), nil)
	sha := protocol.SHA1{1, 2, 3}
	src := []Source{{Addr: netip.MustParseAddrPort("127.0.0.91:1")}}
	_, err := m.Start(sha, "huge.bin", 1<<62, src)
	require.Error(t, err)
	require.Empty(t, m.List())
	_, err = m.Start(sha, "fine.bin", 10, src) // the Manager still works
	require.NoError(t, err)
}

// TestDownloadAbsurdHEADSize: a urn-only download asks the size with HEAD;
// a source answering an absurd Content-Length is dropped, the size stays
// unknown (no chunk table allocated from it).
func TestDownloadAbsurdHEADSize(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.92:0")
	require.NoError(t, err)
	sha := protocol.SHA1{4, 5, 6}
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := readRequest(bufio.NewReader(c)); err == nil {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Gnutella-Content-URN: %s\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", sha.URN(), int64(1)<<42)
		}
	}()
	defer ln.Close()
	m := openManager(t, newDirs(t), nil)
	_, err = m.Start(sha, "huge.bin", -1, []Source{{Addr: netip.MustParseAddrPort(ln.Addr().String())}})
	require.NoError(t, err)
	<-answered
	require.Eventually(t, func() bool {
		in, _ := m.Get(sha)
		return in.Sources == 0
	}, 10*time.Second, 5*time.Millisecond)
	in, _ := m.Get(sha)
	require.Equal(t, int64(-1), in.Size)
}
