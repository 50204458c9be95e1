package servent

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/transfer"
)

// TestQueueCallbackNodes: the QUEUE callback between two servents. One
// upload slot, held by B; C is queued with gtk-gnutella's Retry-After of
// 30 s and its X-Node. When B's upload ends the uploader calls C back on
// its listening port and C is served on that connection, well before it
// would have come back by itself.
func TestQueueCallbackNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("a few seconds of real transfers")
	}
	big := make([]byte, 3<<20)
	_, err := rand.Read(big)
	require.NoError(t, err)
	a := startNode(t, ModeUltrapeer, func(c *Config) {
		c.UploadSlots = 1
		c.Caps[bwlimit.Upload] = 2 << 20 // B takes about a second and a half
	})
	require.NoError(t, os.WriteFile(filepath.Join(a.cfg.ShareDir, "queued.bin"), big, 0o644))
	require.NoError(t, a.lib.Rescan())
	require.NoError(t, a.lib.WaitHashed(t.Context()))
	f := a.lib.Files()[0]
	src := []transfer.Source{{Addr: a.Addr(), Index: f.Index, Name: f.Name}}
	b, c := startNode(t, ModeLeaf), startNode(t, ModeLeaf)
	_, err = b.Downloads().Start(f.SHA1, f.Name, f.Size, src)
	require.NoError(t, err)
	require.Eventually(t, func() bool { return a.transfer.uploader.Active() == 1 }, waitFor, tick)
	_, err = c.Downloads().Start(f.SHA1, f.Name, f.Size, src)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		in, _ := c.Downloads().Get(f.SHA1)
		return in.QueuePosition == 1
	}, waitFor, tick, "C is first in line")
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second) // C's Retry-After is 30 s
	defer cancel()
	in, err := c.Downloads().Wait(ctx, f.SHA1)
	require.NoError(t, err, "C was called back and served")
	got, err := os.ReadFile(in.Path)
	require.NoError(t, err)
	require.Equal(t, big, got)
	sent, answered := a.transfer.uploader.Callbacks()
	require.GreaterOrEqual(t, sent, uint64(1))
	require.GreaterOrEqual(t, answered, uint64(1))
}
