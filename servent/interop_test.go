package servent

import (
	"net"
	"net/netip"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestInteropLive runs against real peers when the lab gives their
// addresses (see /work/lab/HOWTO.md; run inside its network namespace):
// GTKG_ADDR (gtk-gnutella ultrapeer) and/or BUN_ADDR (GnutellaBun
// ultrapeer), each sharing "alpha beta.txt". For each, a leaf and an
// ultrapeer of ours connect, stay connected, exchange ping/pong and find
// "alpha". Skipped when unset or unreachable, so CI stays green.
func TestInteropLive(t *testing.T) {
	for _, env := range []string{"GTKG_ADDR", "BUN_ADDR"} {
		addr := os.Getenv(env)
		if addr == "" {
			continue
		}
		if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
			t.Logf("%s=%s unreachable: %v", env, addr, err)
			continue
		} else {
			_ = c.Close()
		}
		for _, mode := range []Mode{ModeLeaf, ModeUltrapeer} {
			t.Run(env+"/"+string(mode), func(t *testing.T) {
				n := startNode(t, mode, withPeers(addr), withFiles("servent interop.txt"))
				waitPeers(t, n, 1, 0)
				peer := netip.MustParseAddrPort(addr)
				require.Eventually(t, func() bool {
					return n.pongCached(peer) // it answered our ping
				}, 20*time.Second, 50*time.Millisecond)
				if mode == ModeUltrapeer { // neither pings its leaves
					require.Eventually(t, func() bool { return n.stats.core.PingsAnswered.Load() > 0 }, 20*time.Second, 50*time.Millisecond, "we answered its ping")
				}
				s := n.Search("alpha", nil)
				require.Eventually(t, func() bool { return len(s.Results()) > 0 }, 30*time.Second, 50*time.Millisecond)
				t.Logf("%s as %s: %+v via %s", env, mode, s.Results()[0], n.Peers()[0].UserAgent)
				require.Len(t, n.Peers(), 1, "still connected")
			})
		}
	}
}
