package servent

import (
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/transfer"
)

// measure samples what class c of n moved over 10 s once it started
// moving, and checks it is within 5% of capB.
func measure(t *testing.T, n *Node, c bwlimit.Class, capB int64) {
	t.Helper()
	l := n.Limits().Get(c)
	require.Eventually(t, func() bool { return l.Total() > 0 }, waitFor, tick, "%s never moved", c)
	time.Sleep(time.Second) // past the bucket's first burst
	from, start := l.Total(), time.Now()
	time.Sleep(10 * time.Second)
	rate := float64(l.Total()-from) / time.Since(start).Seconds()
	assert.InEpsilon(t, float64(capB), rate, 0.05, "%s: %.0f B/s, cap %d", c, rate, capB)
}

// TestCapsPerClass: each class held within 5% of its cap over 10 s on
// loopback between real servents (and raw peers for Gnutella traffic).
func TestCapsPerClass(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of real time per class, in parallel")
	}
	const capB = 128 << 10
	big := make([]byte, 8<<20)
	_, err := rand.Read(big)
	require.NoError(t, err)

	transferPair := func(t *testing.T, upCaps, leafCaps [bwlimit.NumClasses]int64) (*Node, *Node) {
		up := startNode(t, ModeUltrapeer, func(c *Config) { c.Caps = upCaps })
		require.NoError(t, os.WriteFile(filepath.Join(up.cfg.ShareDir, "big capped.bin"), big, 0o644))
		require.NoError(t, up.lib.Rescan())
		require.NoError(t, up.lib.WaitHashed(t.Context()))
		leaf := startNode(t, ModeLeaf, func(c *Config) { c.Caps = leafCaps })
		f := up.lib.Files()[0]
		_, err := leaf.Downloads().Start(f.SHA1, f.Name, f.Size, []transfer.Source{{Addr: up.Addr(), Index: f.Index, Name: f.Name}})
		require.NoError(t, err)
		return up, leaf
	}
	t.Run("upload", func(t *testing.T) {
		t.Parallel()
		up, _ := transferPair(t, [bwlimit.NumClasses]int64{bwlimit.Upload: capB}, [bwlimit.NumClasses]int64{})
		measure(t, up, bwlimit.Upload, capB)
	})
	t.Run("download", func(t *testing.T) {
		t.Parallel()
		_, leaf := transferPair(t, [bwlimit.NumClasses]int64{}, [bwlimit.NumClasses]int64{bwlimit.Download: capB})
		measure(t, leaf, bwlimit.Download, capB)
	})
	gnet := func(t *testing.T, class bwlimit.Class, gcap int64) {
		n := startNode(t, ModeUltrapeer, func(c *Config) {
			c.Caps[class] = gcap
			c.noFloodLimits = true
		})
		from := connectRaw(t, n, true, "")
		to := connectRaw(t, n, true, "")
		go func() { // the receiving peer reads everything
			for {
				if _, _, err := to.dec.Next(); err != nil {
					return
				}
			}
		}()
		go func() { // queries to relay, as fast as the node takes them
			q := make([]byte, 0, 64<<10)
			for {
				q = q[:0]
				for range 200 {
					q = append(q, query("capped traffic of relayed queries", 3, 0)...)
				}
				if _, err := from.conn.Write(q); err != nil {
					return
				}
			}
		}()
		measure(t, n, class, gcap)
	}
	t.Run("gnet-in", func(t *testing.T) {
		t.Parallel()
		gnet(t, bwlimit.GnetIn, 64<<10)
	})
	t.Run("gnet-out", func(t *testing.T) {
		t.Parallel()
		gnet(t, bwlimit.GnetOut, 64<<10)
	})
}
