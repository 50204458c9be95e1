package servent

import (
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/transfer"
)

// TestPFSPNodes: A shares a file; B downloads it slowly from A and
// checks what it gets against A's Tiger tree; C, connected to B only,
// finds B by urn (a partial result), downloads from B the ranges B has
// and the rest from A, which B's X-Alt names. C's file is A's.
func TestPFSPNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("seconds of capped transfers")
	}
	content := make([]byte, 3<<20)
	_, err := rand.Read(content)
	require.NoError(t, err)
	a := startNode(t, ModeUltrapeer, func(c *Config) { c.Caps[bwlimit.Upload] = 512 << 10 })
	require.NoError(t, os.WriteFile(filepath.Join(a.cfg.ShareDir, "spread me.bin"), content, 0o644))
	require.NoError(t, a.lib.Rescan())
	require.NoError(t, a.lib.WaitHashed(t.Context()))
	f := a.lib.Files()[0]
	require.Eventually(t, func() bool { _, ok := a.lib.Tree(f.SHA1); return ok }, waitFor, tick, "A's tree")

	b := startNode(t, ModeUltrapeer, withPeers(addrOf(a)))
	c := startNode(t, ModeUltrapeer, withPeers(addrOf(b)))
	waitPeers(t, b, 2, 0)
	_, err = b.Downloads().Start(f.SHA1, f.Name, f.Size, []transfer.Source{{Addr: a.Addr(), Index: f.Index, Name: f.Name}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		p, ok := b.Downloads().Partial(f.SHA1)
		return ok && p.Ranges.Total() >= 1<<20
	}, waitFor, tick, "B checked a first MiB against A's tree")

	s := c.Search("", []protocol.SHA1{f.SHA1})
	require.Eventually(t, func() bool {
		rs := s.Results()
		return len(rs) == 1 && slices.ContainsFunc(rs[0].Sources, func(src transfer.Source) bool { return src.Addr == b.Addr() })
	}, waitFor, tick, "C finds B's partial by urn (and A's whole file, through B): %+v filtered %v", s.Results(), s.Filtered())
	r := s.Results()[0]
	require.Equal(t, f.SHA1, r.SHA1)
	require.Equal(t, uint64(f.Size), r.Size)

	_, err = c.Downloads().Start(r.SHA1, r.Name, int64(r.Size), r.Sources)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	in, err := c.Downloads().Wait(ctx, r.SHA1)
	require.NoError(t, err)
	got, err := os.ReadFile(in.Path)
	require.NoError(t, err)
	assert.Equal(t, content, got)
	assert.True(t, in.TreeChecked, "C checked its chunks too")
	assert.Positive(t, b.transfer.uploader.BytesSent(), "B served part of its partial")
}
