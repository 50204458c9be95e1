package gnet

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// probeWait is how long the probe of n ultrapeers waits.
func probeWait(n int) time.Duration {
	return time.Duration(n) * (DQProbeTimeout + DQQueryTimeout)
}

func leafQuery(g protocol.GUID, words string, flags protocol.QueryFlags) (protocol.Header, []byte) {
	q := protocol.Query{Flags: protocol.FlagMark | protocol.FlagGGEPH | flags, Criteria: words}
	return qh(g, 4, 0), q.Append(nil)
}

// hitsFor sends n results for g from ultrapeer 1, in hits of 10.
func hitsFor(r *Router, g protocol.GUID, n int, at time.Time) {
	hit := protocol.Header{GUID: g, Type: protocol.TypeQueryHit, TTL: 5, Hops: 1}
	for i := 0; i < n; i += 10 {
		r.Receive(nil, 1, hit, hitPayload(protocol.GUID{0xBB, byte(i)}, min(10, n-i)), at)
	}
}

func vendorPayload(v protocol.Vendor) []byte { return v.Append(nil) }

// statusOf reads the BEAR/11 or BEAR/12 sends in acts: link -> hits (-1 for a request).
func statusOf(t *testing.T, acts Actions, g protocol.GUID) map[LinkID]int {
	t.Helper()
	out := map[LinkID]int{}
	for _, a := range acts {
		if a.Kind != Send || protocol.PayloadType(a.Msg[16]) != protocol.TypeVendor {
			continue
		}
		require.Equal(t, g, protocol.GUID(a.Msg[:16]), "the MUID the searcher knows")
		var v protocol.Vendor
		require.NoError(t, v.Decode(a.Msg[protocol.HeaderLen:]))
		switch {
		case v.Is(protocol.VendorBEAR, protocol.SelQueryStatusReq):
			out[a.Link] = -1
		case v.Is(protocol.VendorBEAR, protocol.SelQueryStatusResp):
			qs, err := protocol.DecodeQueryStatusResponse(v.Data)
			require.NoError(t, err)
			out[a.Link] = int(qs.Hits)
		}
	}
	return out
}

func queries(acts Actions) []sent {
	var out []sent
	for _, s := range sends(acts) {
		if s.typ == protocol.TypeQuery {
			out = append(out, s)
		}
	}
	return out
}

func TestDQPopularStopsAfterProbe(t *testing.T) {
	r := newNet(t, true, 8, 1, Config{})
	g := protocol.GUID{0xD1}
	h, p := leafQuery(g, "popular", 0)
	acts := r.Receive(nil, 100, h, p, t0)
	assert.Equal(t, []sent{{1, 3, 1, protocol.TypeQuery}, {2, 3, 1, protocol.TypeQuery}, {3, 3, 1, protocol.TypeQuery}}, queries(acts),
		"the probe: 3 ultrapeers at MaxTTL-1")
	at, ok := r.NextWake()
	require.True(t, ok)
	assert.Equal(t, t0.Add(probeWait(3)), at)
	hitsFor(r, g, DQLeafResults+10, t0.Add(time.Second))
	assert.Empty(t, queries(r.Tick(nil, at)))
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQEnough].Load())
	assert.Zero(t, r.DQRunning())
	_, ok = r.NextWake()
	assert.False(t, ok)
}

func TestDQProbeLowersTTLWhenManyMatch(t *testing.T) {
	for _, tt := range []struct {
		ups int
		ttl uint8
	}{{9, 3}, {10, 2}, {19, 1}} {
		r := newNet(t, true, tt.ups, 1, Config{})
		h, p := leafQuery(protocol.GUID{0xD2}, "common", 0)
		qs := queries(r.Receive(nil, 100, h, p, t0))
		require.Len(t, qs, DQProbeUPs)
		assert.Equal(t, tt.ttl, qs[0].ttl, "%d ultrapeers match", tt.ups)
	}
}

func TestDQRareWidensOneByOne(t *testing.T) {
	r := newNet(t, true, 8, 1, Config{})
	g := protocol.GUID{0xD3}
	h, p := leafQuery(g, "rare", 0)
	require.Len(t, queries(r.Receive(nil, 100, h, p, t0)), 3)
	now := t0
	var order []LinkID
	for range 5 {
		at, ok := r.NextWake()
		require.True(t, ok)
		require.True(t, at.After(now))
		now = at
		qs := queries(r.Tick(nil, now))
		require.Len(t, qs, 1, "one ultrapeer at a time")
		assert.EqualValues(t, 3, qs[0].ttl, "no results: the widest TTL")
		order = append(order, qs[0].link)
	}
	assert.Equal(t, []LinkID{4, 5, 6, 7, 8}, order)
	at, _ := r.NextWake()
	assert.Empty(t, queries(r.Tick(nil, at)))
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQAllQueried].Load())
	assert.EqualValues(t, 5, r.Stats().DQSteps.Load())
}

func TestDQSelectsTTLFromResultRate(t *testing.T) {
	r := newNet(t, true, 20, 1, Config{MaxTTL: 5})
	g := protocol.GUID{0xD4}
	h, p := leafQuery(g, "some", 0)
	require.Len(t, queries(r.Receive(nil, 100, h, p, t0)), 3)
	// 30 of 50 from the probe's horizon: the rest needs far fewer hosts
	// than a TTL-4 query reaches.
	hitsFor(r, g, 30, t0.Add(time.Second))
	at, _ := r.NextWake()
	qs := queries(r.Tick(nil, at))
	require.Len(t, qs, 1)
	assert.Less(t, qs[0].ttl, uint8(3))
}

func TestDQHorizonCap(t *testing.T) {
	r := New(Config{GUID: ourID, Addr: ourAdr, Ultrapeer: true, MaxTTL: 5})
	for i := range 8 {
		r.LinkOpened(LinkID(1+i), LinkInfo{Ultrapeer: true, Degree: 50, Addr: peerAddr(1 + i)}, t0)
	}
	r.LinkOpened(100, LinkInfo{Addr: peerAddr(100)}, t0)
	h, p := leafQuery(protocol.GUID{0xD5}, "nowhere", 0)
	require.Len(t, queries(r.Receive(nil, 100, h, p, t0)), 3) // 3 x 61,491 in theory
	at, _ := r.NextWake()
	require.Len(t, queries(r.Tick(nil, at)), 1) // 246k: past the cap
	at, _ = r.NextWake()
	assert.Empty(t, queries(r.Tick(nil, at)))
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQHorizon].Load(), "4 of 8 ultrapeers queried")
}

func TestDQURNQueryWantsFewSources(t *testing.T) {
	r := newNet(t, true, 8, 1, Config{})
	g := protocol.GUID{0xD6}
	q := protocol.Query{Flags: protocol.FlagMark | protocol.FlagGGEPH, SHA1s: []protocol.SHA1{{1}}}
	r.Receive(nil, 100, qh(g, 4, 0), q.Append(nil), t0)
	hitsFor(r, g, 2, t0.Add(time.Second))
	at, _ := r.NextWake()
	assert.Empty(t, queries(r.Tick(nil, at)))
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQEnough].Load())
}

// TestDQLeafGuided: spam floods the raw count, but the leaf keeps nothing
// of it, so the query goes on; the leaf's stop ends it.
func TestDQLeafGuided(t *testing.T) {
	r := newNet(t, true, 8, 1, Config{})
	g := protocol.GUID{0xD7}
	h, p := leafQuery(g, "rare", protocol.FlagLeafGuided)
	require.Len(t, queries(r.Receive(nil, 100, h, p, t0)), 3)
	hitsFor(r, g, 3*DQLeafResults, t0.Add(time.Second)) // all spam
	at, _ := r.NextWake()
	acts := r.Tick(nil, at)
	assert.Empty(t, queries(acts))
	assert.Equal(t, map[LinkID]int{100: -1}, statusOf(t, acts, g), "3 ultrapeers and 20+ new results: ask the leaf")

	kept := protocol.QueryStatusResponse{Hits: 0}.Vendor()
	vh := protocol.Header{GUID: g, Type: protocol.TypeVendor, TTL: 1}
	acts = r.Receive(nil, 2, vh, vendorPayload(kept), at) // not its query
	assert.Empty(t, queries(acts))
	acts = r.Receive(nil, 100, vh, vendorPayload(kept), at.Add(time.Second))
	qs := queries(acts)
	require.Len(t, qs, 1, "kept nothing: on to the next ultrapeer at once")
	assert.EqualValues(t, 4, qs[0].link)
	assert.EqualValues(t, 1, r.Stats().DQGuidance.Load())

	stop := protocol.QueryStatusResponse{Hits: protocol.QueryStatusStop}.Vendor()
	r.Receive(nil, 100, vh, vendorPayload(stop), at.Add(2*time.Second))
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQCancelled].Load())
	assert.Zero(t, r.DQRunning())
}

// TestDQGuidanceFromMessagesSupported: a leaf that announces BEAR/11 is
// asked even when its query is not flagged (LimeWire), and one that never
// answers is no longer taken as guiding after two timeouts: its OOB query,
// whose hits we do not see, then ends.
func TestDQGuidanceFromMessagesSupported(t *testing.T) {
	r := newNet(t, true, 8, 1, Config{})
	ms := protocol.MessagesSupported{Entries: []protocol.VendorEntry{{Vendor: protocol.VendorBEAR, Selector: protocol.SelQueryStatusReq, Version: 1}}}.Vendor()
	acts := r.Receive(nil, 100, protocol.Header{Type: protocol.TypeVendor, TTL: 1}, vendorPayload(ms), t0)
	require.Len(t, acts, 1)
	assert.Equal(t, Vendor, acts[0].Kind, "the shell still reads it")
	g := protocol.GUID{0xD8}
	h, p := leafQuery(g, "x", protocol.FlagOOB)
	r.Receive(nil, 100, h, p, t0)
	asked, steps := 0, 0
	for range 8 {
		at, ok := r.NextWake()
		if !ok {
			break
		}
		acts := r.Tick(nil, at)
		if len(statusOf(t, acts, g)) > 0 {
			asked++
		}
		steps += len(queries(acts))
	}
	assert.Equal(t, DQMaxStatTimeouts, asked, "asked until it counts as not guiding")
	assert.Equal(t, 1, steps, "one ultrapeer between the requests")
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQUnguided].Load())
}

func TestDQOOBLeafQueryUnguided(t *testing.T) {
	r := newNet(t, true, 8, 1, Config{})
	h, p := leafQuery(protocol.GUID{0xD9}, "x", protocol.FlagOOB)
	require.Len(t, queries(r.Receive(nil, 100, h, p, t0)), 3)
	at, _ := r.NextWake()
	assert.Empty(t, queries(r.Tick(nil, at)))
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQUnguided].Load(), "its hits bypass us and it tells us nothing")
}

func TestDQLeafClosed(t *testing.T) {
	r := newNet(t, true, 8, 1, Config{})
	h, p := leafQuery(protocol.GUID{0xDA}, "x", 0)
	r.Receive(nil, 100, h, p, t0)
	r.LinkClosed(100, t0)
	assert.Zero(t, r.DQRunning())
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQLeafGone].Load())
}

// TestOwnSearchCountsKept: our own dynamic query counts what the searcher
// kept (Kept), not the raw hits.
func TestOwnSearchCountsKept(t *testing.T) {
	r := newNet(t, true, 8, 0, Config{})
	g := protocol.GUID{0xDB}
	q := protocol.Query{Flags: protocol.FlagMark, Criteria: "own"}
	assert.Len(t, queries(r.Search(nil, g, &q, t0)), 3)
	hitsFor(r, g, 2*DQOwnResults, t0.Add(time.Second))
	r.Kept(nil, g, 4, t0.Add(time.Second))
	at, _ := r.NextWake()
	require.Len(t, queries(r.Tick(nil, at)), 1, "4 kept of 150 wanted")
	r.Kept(nil, g, DQOwnResults, at)
	at, _ = r.NextWake()
	assert.Empty(t, queries(r.Tick(nil, at)))
	assert.EqualValues(t, 1, r.Stats().DQEnded[DQEnough].Load())
}

// TestLeafAnswersStatus: as a leaf we answer BEAR/11 with what we kept,
// tell our ultrapeers as it grows (spaced), and 0xFFFF on stop or for a
// search we do not run.
func TestLeafAnswersStatus(t *testing.T) {
	r := newNet(t, false, 2, 0, Config{})
	g := protocol.GUID{0xDC}
	q := protocol.Query{Flags: protocol.FlagMark | protocol.FlagLeafGuided, Criteria: "mine"}
	r.Search(nil, g, &q, t0)
	req := vendorPayload(protocol.QueryStatusRequest{}.Vendor())
	vh := func(g protocol.GUID) protocol.Header {
		return protocol.Header{GUID: g, Type: protocol.TypeVendor, TTL: 1}
	}
	assert.Equal(t, map[LinkID]int{1: 0}, statusOf(t, r.Receive(nil, 1, vh(g), req, t0), g))
	assert.Equal(t, map[LinkID]int{1: 2, 2: 2}, statusOf(t, r.Kept(nil, g, 2, t0), g))
	assert.Empty(t, r.Kept(nil, g, 5, t0.Add(StatusEvery/2)), "spaced")
	assert.Equal(t, map[LinkID]int{2: 5}, statusOf(t, r.Receive(nil, 2, vh(g), req, t0.Add(StatusEvery/2)), g))
	assert.Equal(t, map[LinkID]int{1: 6, 2: 6}, statusOf(t, r.Kept(nil, g, 6, t0.Add(StatusEvery)), g))
	assert.Equal(t, map[LinkID]int{1: 0xFFFE, 2: 0xFFFE}, statusOf(t, r.Kept(nil, g, 1<<20, t0.Add(2*StatusEvery)), g), "0xFFFF means stop")
	g2 := protocol.GUID{0xDE}
	r.Search(nil, g2, &q, t0)
	assert.Equal(t, map[LinkID]int{1: 0, 2: 0}, statusOf(t, r.Kept(nil, g2, 0, t0), g2), "the first report, even of nothing kept")
	assert.Empty(t, r.Kept(nil, g2, 0, t0.Add(2*StatusEvery)), "nothing new")
	other := protocol.GUID{0xDD}
	assert.Equal(t, map[LinkID]int{1: 0xFFFF}, statusOf(t, r.Receive(nil, 1, vh(other), req, t0), other), "not ours: stop")
	assert.Equal(t, map[LinkID]int{1: 0xFFFF, 2: 0xFFFF}, statusOf(t, r.StopSearch(nil, g, t0.Add(3*StatusEvery)), g))
	assert.Equal(t, map[LinkID]int{1: 0xFFFF}, statusOf(t, r.Receive(nil, 1, vh(g), req, t0), g), "stopped")
}
