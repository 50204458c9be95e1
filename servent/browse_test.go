package servent

import (
	"context"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBrowseFirewalled: a firewalled leaf's files are listed by a push
// (index 0) and "GET /" on the GIV connection, as gtk-gnutella browses a
// firewalled host; its results can be fetched like any search's.
func TestBrowseFirewalled(t *testing.T) {
	searcher := startNode(t, ModeUltrapeer)
	up := startNode(t, ModeUltrapeer, withPeers(addrOf(searcher)))
	lcfg := testConfig(t, ModeLeaf, withPeers(addrOf(up)), withFiles("hidden treasure.txt", "second file.txt"))
	lcfg.Firewalled = true
	leaf := startConfig(t, lcfg)
	waitPeers(t, up, 1, 1)
	require.Eventually(t, func() bool {
		for _, c := range up.snap.Load().leaves {
			return c.qrt.Load() != nil
		}
		return false
	}, waitFor, tick)
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, leaf.Library().WaitHashed(ctx))
	s := searcher.Search("treasure", nil)
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
	src := s.Results()[0].Sources[0]
	require.True(t, src.Push, "the leaf is firewalled")

	b := searcher.BrowseHost(src)
	require.Eventually(t, b.Stopped, waitFor, tick)
	require.NoError(t, b.Err())
	var names []string
	for _, r := range b.Results() {
		names = append(names, r.Name)
		require.False(t, r.SHA1.IsZero())
		require.True(t, r.Sources[0].Push, "its results are push sources too")
	}
	slices.Sort(names)
	require.Equal(t, []string{"hidden treasure.txt", "second file.txt"}, names)
	require.Contains(t, b.Criteria, "by push")

	// A host that cannot be reached and has no servent GUID: a clear error.
	gone := src
	gone.ServentGUID = [16]byte{}
	e := searcher.BrowseHost(gone)
	require.Eventually(t, e.Stopped, waitFor, tick)
	require.ErrorContains(t, e.Err(), "push")
}
