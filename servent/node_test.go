package servent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// TestTwoTierSearch: leaf - b - a. A query from ultrapeer a reaches the
// leaf's file through b's QRP table, and the leaf's own query reaches a
// through b; each hit comes back along the query's path.
func TestTwoTierSearch(t *testing.T) {
	a := startNode(t, ModeUltrapeer, withFiles("gamma ray burst.ogg"))
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

	// The leaf searches too: a's file comes back through b; the leaf's own
	// gamma.mp3 is not a result of its own search.
	routed := b.stats.core.HitsRouted.Load()
	s2 := leaf.Search("gamma", nil)
	require.Eventually(t, func() bool { return len(s2.Results()) == 1 }, waitFor, tick)
	r = s2.Results()[0]
	require.Equal(t, "gamma ray burst.ogg", r.Name)
	require.Len(t, r.Sources, 1)
	require.Equal(t, a.Addr(), r.Sources[0].Addr)
	require.Equal(t, a.GUID(), r.Sources[0].ServentGUID)
	require.Greater(t, b.stats.core.HitsRouted.Load(), routed, "the hit went through b")
	require.Equal(t, []string{"gamma ray burst.ogg"}, resultNames(s2))
}

func TestAddDropPeer(t *testing.T) {
	a := startNode(t, ModeUltrapeer)
	b := startNode(t, ModeUltrapeer)
	cfg := testConfig(t, ModeLeaf)
	cfg.MaxPeers = 1
	l := startConfig(t, cfg)
	require.NoError(t, l.AddPeer(addrOf(a)))
	require.NoError(t, l.AddPeer(addrOf(b))) // past MaxPeers: the user asked
	waitPeers(t, l, 2, 0)
	require.Error(t, l.AddPeer("no port"))
	require.NoError(t, l.DropPeer(addrOf(a)))
	waitPeers(t, l, 1, 0)
	waitPeers(t, a, 0, 0)
	require.Equal(t, b.Addr(), l.Peers()[0].Addr)
	require.Error(t, l.DropPeer(addrOf(a)))
	st := l.Status()
	require.Equal(t, "leaf", st.Mode)
	require.Equal(t, addrOf(l), st.Listen)
	require.Eventually(t, func() bool { return l.Status().BytesIn > 0 }, waitFor, tick, "%+v %+v", l.Status(), l.Peers())
}

// TestCloseSaysBye: Close sends Bye 200 to every peer that understands it,
// saves the host cache and returns with no goroutine left (goleak checks
// the last part for the whole package).
func TestCloseSaysBye(t *testing.T) {
	cfg := testConfig(t, ModeUltrapeer)
	n := startConfig(t, cfg)
	p := connectRaw(t, n, true, "")
	p2 := connectRaw(t, n, false, "")
	waitPeers(t, n, 1, 1)
	require.NoError(t, n.Close())
	require.EqualValues(t, 200, p.expectByeThenEOF())
	require.EqualValues(t, 200, p2.expectByeThenEOF())
	_, err := os.Stat(filepath.Join(cfg.DataDir, hostFile))
	require.NoError(t, err)
	require.NoError(t, n.Close(), "Close twice is fine")
}

// TestURNSearch: a search by urn:sha1 alone finds the file whatever its
// name.
func TestURNSearch(t *testing.T) {
	a := startNode(t, ModeUltrapeer, withFiles("some name.bin"))
	b := startNode(t, ModeUltrapeer, withPeers(addrOf(a)))
	waitPeers(t, b, 1, 0)
	files := a.Library().Files()
	require.Len(t, files, 1)
	s := b.Search("", []protocol.SHA1{files[0].SHA1})
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
	require.Equal(t, files[0].SHA1, s.Results()[0].SHA1)
	require.Equal(t, "some name.bin", s.Results()[0].Name)
	got, ok := b.SearchByID(s.ID)
	require.True(t, ok)
	require.Same(t, s, got)
	require.Len(t, b.Searches(), 1)
	s.Stop()
	require.True(t, s.Stopped())
}
