package servent

import (
	"context"
	"crypto/sha1"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/transfer"
)

// TestStalledDownloadResumesOnSearch (issue 9 item 3): a download whose
// only source lacks the file is stalled; a search that finds the file on
// another servent resumes it with no user action. Before: the hit went to
// the search only and the download stayed stalled.
func TestStalledDownloadResumesOnSearch(t *testing.T) {
	holder := startNode(t, ModeUltrapeer, withFiles("resume me.bin"))
	empty := startNode(t, ModeUltrapeer) // answers 404
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(holder)))
	waitPeers(t, holder, 0, 1)
	require.Eventually(t, func() bool {
		for _, c := range holder.snap.Load().leaves {
			return c.qrt.Load() != nil
		}
		return false
	}, waitFor, tick)

	content := []byte("content of resume me.bin")
	sha := protocol.SHA1(sha1.Sum(content))
	m := leaf.Downloads()
	_, err := m.Start(sha, "resume me.bin", int64(len(content)), []transfer.Source{{Addr: netip.MustParseAddrPort(addrOf(empty))}})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		in, _ := m.Get(sha)
		return in.State == transfer.StateStalled
	}, waitFor, tick)

	s := leaf.Search("resume", nil)
	defer s.Stop()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	in, err := m.Wait(ctx, sha)
	require.NoError(t, err, "state %+v", in)
	require.Equal(t, transfer.StateComplete, in.State, in.Err)
}
