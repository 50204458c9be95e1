package servent

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// FuzzHandle feeds a descriptor stream from a peer to the node's message
// handling (as ultrapeer, the peer an ultrapeer): whatever arrives, no
// panic, and the send queue stays within its budget. Seeds: every
// descriptor stream recorded from gtk-gnutella and GnutellaBun.
func FuzzHandle(f *testing.F) {
	for _, pat := range []string{"gtk-gnutella/*.rx-msgs.bin", "gnutella-bun-client/*.rx-msgs.bin"} {
		files, _ := filepath.Glob(filepath.Join(interop, pat))
		for _, name := range files {
			if b, err := os.ReadFile(name); err == nil {
				f.Add(b)
			}
		}
	}
	q := protocol.Query{Flags: protocol.FlagMark | protocol.FlagGGEPH, Criteria: "alpha"}
	f.Add(protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeQuery, TTL: 3}, &q))

	share := f.TempDir()
	require.NoError(f, os.WriteFile(filepath.Join(share, "alpha beta.txt"), []byte("x"), 0o644))
	cfg := DefaultConfig()
	cfg.Mode = ModeUltrapeer
	cfg.ShareDir = share
	cfg.Listener = nopListener{}
	cfg.PushHandler = func(uint32, netip.AddrPort) {}
	n, err := New(cfg)
	require.NoError(f, err)
	f.Cleanup(func() { _ = n.Close() })

	f.Fuzz(func(t *testing.T, stream []byte) {
		a, b := net.Pipe()
		defer a.Close()
		defer b.Close()
		h := peerHello{up: true, byeOK: true, vendorOK: true}
		c := n.newConn(a, newBR(a), netip.MustParseAddrPort("192.0.2.1:6346"), false, h, nil)
		defer c.close(nil)
		dec := protocol.NewDecoder(bytes.NewReader(stream))
		now := time.Unix(1e9, 0)
		for {
			hdr, payload, err := dec.Next()
			if err != nil {
				break
			}
			if n.handle(c, hdr, payload, now) != nil {
				break
			}
			bytes, _ := c.q.stats()
			require.LessOrEqual(t, bytes, n.cfg.QueueBytes)
		}
	})
}

// nopListener stands in for a listener in tests that never Start.
type nopListener struct{}

func (nopListener) Accept() (net.Conn, error) { return nil, net.ErrClosed }
func (nopListener) Close() error              { return nil }
func (nopListener) Addr() net.Addr            { return &net.TCPAddr{IP: net.IPv4(192, 0, 2, 9), Port: 6346} }
