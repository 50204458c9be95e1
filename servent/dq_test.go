package servent

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// TestLeafGuidedPastSpam: a spamming ultrapeer answers our leaf's query at
// once with more results than a leaf's query wants, all named after the
// query. The leaf filters them out and tells its ultrapeer it kept none
// (BEAR/12), so the ultrapeer queries on, and the real file two hops away
// is found. No spam reaches the results; the filter counts it by reason.
// Without the leaf's count, 60 results would end a leaf's query (50).
func TestLeafGuidedPastSpam(t *testing.T) {
	c := startNode(t, ModeUltrapeer, withFiles("rare good tune.mp3"))
	bcfg := testConfig(t, ModeUltrapeer)
	bcfg.Peers = []string{addrOf(c)}
	b := startConfig(t, bcfg)
	acfg := testConfig(t, ModeUltrapeer)
	acfg.dqTimeScale = 0.02
	acfg.Peers = []string{addrOf(b)}
	a := startConfig(t, acfg)
	waitPeers(t, b, 2, 0)
	spammer := connectRaw(t, a, true, "")
	waitPeers(t, a, 2, 0)
	lcfg := testConfig(t, ModeLeaf)
	lcfg.Peers = []string{addrOf(a)}
	leaf := startConfig(t, lcfg)
	waitPeers(t, a, 2, 1)
	// B's last-hop table (empty: it shares nothing) is in, so the probe
	// goes to the spammer alone.
	require.Eventually(t, func() bool {
		for _, p := range a.snap.Load().ups {
			if p.addr.String() == addrOf(b) && p.qrt.Load() != nil {
				return true
			}
		}
		return false
	}, waitFor, tick)

	s := leaf.Search("rare good", nil)
	qh := spammer.awaitQuery("rare good")
	hit := protocol.QueryHit{Port: 6346, IP: netip.MustParseAddr("198.51.100.7"), Speed: 1, Vendor: protocol.VendorSRVT, ServentGUID: protocol.GUID{0x5A}}
	for i := range 60 {
		hit.Results = append(hit.Results, protocol.Result{Index: uint32(i), Size: uint64(1000 + i), Name: "Rare Good.exe"})
	}
	spammer.write(protocol.AppendMessage(nil, protocol.Header{GUID: qh.GUID, Type: protocol.TypeQueryHit, TTL: 3}, &hit))

	require.Eventually(t, func() bool { return len(s.Results()) > 0 }, waitFor, tick)
	assert.Equal(t, []string{"rare good tune.mp3"}, resultNames(s))
	assert.Equal(t, map[string]int{"echoes-query": 60}, s.Filtered())
	st := &a.stats.core
	assert.EqualValues(t, 1, st.DQStarted.Load())
	// The leaf reported 0 kept after the spam hit (unsolicited, as
	// gtk-gnutella's GUI does; gnet's tests cover the asking).
	assert.GreaterOrEqual(t, st.DQGuidance.Load(), uint64(1))
	assert.GreaterOrEqual(t, st.DQSteps.Load(), uint64(1), "queried on past the probe")

	s.Stop() // BEAR/12 0xFFFF, unless every ultrapeer was queried already
	require.Eventually(t, func() bool { return a.core.r.DQRunning() == 0 }, waitFor, tick)
}
