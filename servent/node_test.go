package servent

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTwoTierSearch(t *testing.T) {
	a := startNode(t, ModeUltrapeer)
	b := startNode(t, ModeUltrapeer, withPeers(addrOf(a)))
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(b)), withFiles("alpha beta.txt", "gamma.mp3"))
	waitPeers(t, a, 1, 0)
	waitPeers(t, b, 1, 1)
	waitPeers(t, leaf, 1, 0)
	// The leaf's QRP table must have reached b.
	require.Eventually(t, func() bool {
		for _, c := range b.snap.Load().leaves {
			if c.qrt.Load() != nil {
				return true
			}
		}
		return false
	}, waitFor, tick)
	s := a.Search("alpha", nil)
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
	r := s.Results()[0]
	require.Equal(t, "alpha beta.txt", r.Name)
	require.False(t, r.SHA1.IsZero())
	require.Len(t, r.Sources, 1)
	require.Equal(t, leaf.Addr(), r.Sources[0].Addr)
	require.Equal(t, leaf.GUID(), r.Sources[0].ServentGUID)

	// The leaf searches too: b's other neighbour a has nothing, so nothing.
	s2 := leaf.Search("gamma", nil)
	_ = s2
}
