package gnet

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var (
	t0     = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ourAdr = netip.MustParseAddrPort("198.51.100.1:6346")
	ourID  = protocol.GUID{0xAA, 1}
)

// net is a router with ultrapeer links 1..ups and leaf links 100..100+leaves-1.
func newNet(t testing.TB, up bool, ups, leaves int, cfg Config) *Router {
	t.Helper()
	cfg.GUID, cfg.Addr, cfg.Ultrapeer = ourID, ourAdr, up
	r := New(cfg)
	for i := range ups {
		r.LinkOpened(LinkID(1+i), LinkInfo{Ultrapeer: true, ExtProbes: true, Addr: peerAddr(1 + i)}, t0)
	}
	for i := range leaves {
		r.LinkOpened(LinkID(100+i), LinkInfo{Addr: peerAddr(100 + i)}, t0)
	}
	return r
}

func peerAddr(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), 6346)
}

func queryPayload(words string) []byte {
	q := protocol.Query{Flags: protocol.FlagMark | protocol.FlagGGEPH, Criteria: words}
	return q.Append(nil)
}

func table(words ...string) *protocol.QRPTable {
	t := protocol.NewQRPTable(16)
	for _, w := range words {
		t.AddWord(w)
	}
	return t
}

type sent struct {
	link      LinkID
	ttl, hops uint8
	typ       protocol.PayloadType
}

func sends(acts Actions) []sent {
	var out []sent
	for _, a := range acts {
		if a.Kind == Send {
			out = append(out, sent{a.Link, a.Msg[17], a.Msg[18], protocol.PayloadType(a.Msg[16])})
		}
	}
	return out
}

func drops(acts Actions) []Reason {
	var out []Reason
	for _, a := range acts {
		if a.Kind == Drop || a.Kind == Close {
			out = append(out, a.Reason)
		}
	}
	return out
}

func qh(g protocol.GUID, ttl, hops uint8) protocol.Header {
	return protocol.Header{GUID: g, Type: protocol.TypeQuery, TTL: ttl, Hops: hops}
}

func TestQueryFlooding(t *testing.T) {
	g := protocol.GUID{1}
	tests := []struct {
		name      string
		from      LinkID
		ttl, hops uint8
		want      []sent
		drop      []Reason
	}{
		{"from an ultrapeer: trimmed to max TTL 4, to the other ups and the matching leaf", 1, 5, 1,
			[]sent{{2, 2, 2, protocol.TypeQuery}, {3, 2, 2, protocol.TypeQuery}, {100, 2, 2, protocol.TypeQuery}}, nil},
		{"last hop: TTL 1 to ups only where QRP matches (3 has no table: sent)", 1, 2, 1,
			[]sent{{3, 1, 2, protocol.TypeQuery}, {100, 1, 2, protocol.TypeQuery}}, nil},
		{"TTL 1 arriving: leaves only", 1, 1, 1, []sent{{100, 1, 2, protocol.TypeQuery}}, nil},
		{"TTL 0", 1, 0, 1, nil, []Reason{ReasonTTLZero}},
		{"hops 255", 1, 3, 255, nil, []Reason{ReasonHops255}},
		{"over the hard limit", 1, 10, 6, nil, []Reason{ReasonHardTTL}},
		{"from a leaf: a dynamic query's probe, TTL 3 hops 1 to the ups whose table matches (not 2), never back to the leaf", 100, 7, 0,
			[]sent{{1, 3, 1, protocol.TypeQuery}, {3, 3, 1, protocol.TypeQuery}}, nil},
		{"a leaf relaying", 100, 3, 1, nil, []Reason{ReasonLeafRelayed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newNet(t, true, 3, 2, Config{})
			r.SetQRT(2, table("other"))   // last-hop QRP: up 2 has no "music"
			r.SetQRT(100, table("music")) // leaf 100 matches, leaf 101 has no table
			acts := r.Receive(nil, tt.from, qh(g, tt.ttl, tt.hops), queryPayload("music"), t0)
			assert.ElementsMatch(t, tt.want, sends(acts))
			assert.Equal(t, tt.drop, drops(acts))
			for _, d := range tt.drop {
				assert.EqualValues(t, 1, r.Stats().Dropped[d].Load())
			}
		})
	}
}

func TestQueryDedupAndHigherTTL(t *testing.T) {
	r := newNet(t, true, 3, 0, Config{})
	g := protocol.GUID{2}
	first := r.Receive(nil, 1, qh(g, 2, 1), queryPayload("x"), t0)
	require.Len(t, sends(first), 2)
	dup := r.Receive(nil, 2, qh(g, 2, 1), queryPayload("x"), t0)
	assert.Empty(t, sends(dup))
	assert.Equal(t, []Reason{ReasonDuplicate}, drops(dup))
	// The same query with more TTL goes on again to the ups (routing.HigherTTL).
	higher := r.Receive(nil, 2, qh(g, 3, 1), queryPayload("x"), t0)
	assert.ElementsMatch(t, []sent{{1, 2, 2, protocol.TypeQuery}, {3, 2, 2, protocol.TypeQuery}}, sends(higher))
}

func TestLeafDoesNotForward(t *testing.T) {
	r := newNet(t, false, 2, 0, Config{})
	acts := r.Receive(nil, 1, qh(protocol.GUID{3}, 3, 1), queryPayload("x"), t0)
	assert.Empty(t, sends(acts))
}

func TestAncientQueryDropped(t *testing.T) {
	r := newNet(t, true, 2, 0, Config{})
	q := protocol.Query{Criteria: "x"}
	acts := r.Receive(nil, 1, qh(protocol.GUID{4}, 3, 1), q.Append(nil), t0)
	assert.Empty(t, sends(acts))
	assert.Equal(t, []Reason{ReasonAncient}, drops(acts))
}

func TestAnswerFromLibrary(t *testing.T) {
	lookup := func(q *protocol.Query) []protocol.Result {
		if q.Criteria != "song" {
			return nil
		}
		res := make([]protocol.Result, 12)
		for i := range res {
			res[i] = protocol.Result{Index: uint32(i), Size: 10, Name: "song.mp3"}
		}
		return res
	}
	r := newNet(t, true, 2, 0, Config{Lookup: lookup})
	acts := r.Receive(nil, 1, qh(protocol.GUID{5}, 3, 2), queryPayload("song"), t0)
	var hits []sent
	var results int
	for _, s := range sends(acts) {
		if s.typ == protocol.TypeQueryHit {
			hits = append(hits, s)
		}
	}
	for _, a := range acts {
		if a.Kind == Send && protocol.PayloadType(a.Msg[16]) == protocol.TypeQueryHit {
			var h protocol.QueryHit
			require.NoError(t, h.Decode(a.Msg[protocol.HeaderLen:]))
			results += len(h.Results)
			assert.Equal(t, ourID, h.ServentGUID)
			assert.Equal(t, Own, a.Priority)
		}
	}
	// 12 results in batches of 10, back on link 1 with HitTTL(2) = 8.
	assert.Equal(t, []sent{{1, 8, 0, protocol.TypeQueryHit}, {1, 8, 0, protocol.TypeQueryHit}}, hits)
	assert.Equal(t, 12, results)
}

func hitPayload(servent protocol.GUID, n int) []byte {
	h := protocol.QueryHit{Port: 6346, IP: netip.MustParseAddr("203.0.113.9"), Speed: 1, Vendor: protocol.VendorSRVT, ServentGUID: servent}
	for i := range n {
		h.Results = append(h.Results, protocol.Result{Index: uint32(i), Size: 1, Name: "f"})
	}
	return h.Append(nil)
}

func TestHitRouting(t *testing.T) {
	r := newNet(t, true, 3, 0, Config{})
	g := protocol.GUID{6}
	r.Receive(nil, 1, qh(g, 3, 1), queryPayload("x"), t0)
	hit := protocol.Header{GUID: g, Type: protocol.TypeQueryHit, TTL: 5, Hops: 1}
	acts := r.Receive(nil, 2, hit, hitPayload(protocol.GUID{0xBB}, 1), t0)
	assert.Equal(t, []sent{{1, 4, 2, protocol.TypeQueryHit}}, sends(acts))
	assert.EqualValues(t, 1, r.Stats().HitsRouted.Load())

	unknown := protocol.Header{GUID: protocol.GUID{0x66}, Type: protocol.TypeQueryHit, TTL: 5, Hops: 1}
	acts = r.Receive(nil, 2, unknown, hitPayload(protocol.GUID{0xBB}, 1), t0)
	assert.Empty(t, sends(acts))
	assert.Equal(t, []Reason{ReasonUnroutable}, drops(acts))
	assert.EqualValues(t, 1, r.Stats().HitsUnroutable.Load())

	// The querier's link closed: its routes die with it.
	r.LinkClosed(1, t0)
	acts = r.Receive(nil, 2, hit, hitPayload(protocol.GUID{0xBB}, 1), t0)
	assert.Equal(t, []Reason{ReasonUnroutable}, drops(acts))
	assert.EqualValues(t, 2, r.Stats().HitsUnroutable.Load())
}

func TestSearchAndDeliver(t *testing.T) {
	r := newNet(t, true, 2, 1, Config{})
	r.SetQRT(100, table("tune"))
	g := protocol.GUID{7}
	q := protocol.Query{Flags: protocol.FlagMark, Criteria: "tune"}
	acts := r.Search(nil, g, &q, t0)
	// A dynamic query: the probe at our max TTL, the matching leaf at TTL 1.
	assert.ElementsMatch(t, []sent{{1, 4, 0, protocol.TypeQuery}, {2, 4, 0, protocol.TypeQuery}, {100, 1, 0, protocol.TypeQuery}}, sends(acts))
	acts = r.Receive(nil, 2, protocol.Header{GUID: g, Type: protocol.TypeQueryHit, TTL: 5, Hops: 2}, hitPayload(protocol.GUID{0xBB}, 3), t0)
	require.Len(t, acts, 1)
	assert.Equal(t, Deliver, acts[0].Kind)
	assert.EqualValues(t, 2, acts[0].Link)

	leaf := newNet(t, false, 2, 0, Config{})
	acts = leaf.Search(nil, g, &q, t0)
	assert.ElementsMatch(t, []sent{{1, 4, 0, protocol.TypeQuery}, {2, 4, 0, protocol.TypeQuery}}, sends(acts))
}

func pushPayload(servent protocol.GUID) []byte {
	p := protocol.Push{ServentGUID: servent, Index: 4, IP: netip.MustParseAddr("203.0.113.7"), Port: 6346}
	return p.Append(nil)
}

func TestPushRouting(t *testing.T) {
	r := newNet(t, true, 3, 0, Config{})
	g := protocol.GUID{9}
	servent := protocol.GUID{0xCC}
	r.Receive(nil, 1, qh(g, 3, 1), queryPayload("x"), t0)
	r.Receive(nil, 2, protocol.Header{GUID: g, Type: protocol.TypeQueryHit, TTL: 5, Hops: 1}, hitPayload(servent, 1), t0)

	push := protocol.Header{GUID: protocol.GUID{0x10}, Type: protocol.TypePush, TTL: 4, Hops: 0}
	acts := r.Receive(nil, 1, push, pushPayload(servent), t0)
	assert.Equal(t, []sent{{2, 3, 1, protocol.TypePush}}, sends(acts))
	acts = r.Receive(nil, 3, push, pushPayload(servent), t0)
	assert.Equal(t, []Reason{ReasonDuplicate}, drops(acts))

	push.GUID = protocol.GUID{0x11}
	acts = r.Receive(nil, 1, push, pushPayload(protocol.GUID{0xDD}), t0)
	assert.Equal(t, []Reason{ReasonPushNoRoute}, drops(acts))

	push.GUID = protocol.GUID{0x12}
	acts = r.Receive(nil, 1, push, pushPayload(ourID), t0)
	require.Len(t, acts, 1)
	assert.Equal(t, Pushed, acts[0].Kind)
	assert.Equal(t, netip.MustParseAddrPort("203.0.113.7:6346"), acts[0].Addr)
	assert.EqualValues(t, 4, acts[0].Index)
}

func pongPayload(a netip.AddrPort) []byte {
	p := protocol.Pong{IP: a.Addr(), Port: a.Port(), Files: 1}
	return p.Append(nil)
}

func TestPingPong(t *testing.T) {
	r := newNet(t, true, 3, 0, Config{})
	// Pongs from up 2 fill the cache.
	for i := range 3 {
		h := protocol.Header{GUID: protocol.GUID{0x20, byte(i)}, Type: protocol.TypePong, TTL: 1, Hops: 0}
		r.Receive(nil, 2, h, pongPayload(peerAddr(200+i)), t0)
	}
	require.Equal(t, 3, r.PongCacheLen())

	keepAlive := protocol.Header{GUID: protocol.GUID{0x30}, Type: protocol.TypePing, TTL: 1}
	acts := r.Receive(nil, 1, keepAlive, nil, t0)
	assert.Equal(t, []sent{{1, 1, 0, protocol.TypePong}}, sends(acts), "keep-alive: our pong only")

	ping := protocol.Header{GUID: protocol.GUID{0x31}, Type: protocol.TypePing, TTL: 3, Hops: 1}
	acts = r.Receive(nil, 1, ping, nil, t0.Add(500*time.Millisecond))
	assert.Equal(t, []Reason{ReasonPingThrottled}, drops(acts))

	acts = r.Receive(nil, 1, ping, nil, t0.Add(3*time.Second))
	assert.Len(t, sends(acts), 4, "our pong and the 3 cached, never a flood")
	for _, s := range sends(acts) {
		assert.Equal(t, protocol.TypePong, s.typ)
		assert.EqualValues(t, 1, s.link)
	}
	// Up 2 does not get its own pongs back.
	ping.GUID = protocol.GUID{0x32}
	acts = r.Receive(nil, 2, ping, nil, t0.Add(3*time.Second))
	assert.Len(t, sends(acts), 1)
	// The cache expires (20 s as an ultrapeer).
	ping.GUID = protocol.GUID{0x33}
	acts = r.Receive(nil, 3, ping, nil, t0.Add(30*time.Second))
	assert.Len(t, sends(acts), 1)
	assert.Equal(t, 0, r.PongCacheLen())
}

func TestBye(t *testing.T) {
	r := newNet(t, true, 2, 0, Config{})
	b := protocol.Bye{Code: 200, Reason: "bye"}
	acts := r.Receive(nil, 1, protocol.Header{GUID: protocol.GUID{0x40}, Type: protocol.TypeBye, TTL: 1}, b.Append(nil), t0)
	require.Len(t, acts, 1)
	assert.Equal(t, Close, acts[0].Kind)
	assert.Equal(t, ReasonPeerBye, acts[0].Reason)
	assert.Equal(t, 1, r.Links())
	assert.Empty(t, r.Receive(nil, 1, qh(protocol.GUID{0x41}, 3, 1), queryPayload("x"), t0), "closed link: ignored")
}

func TestAbuseThresholds(t *testing.T) {
	t.Run("bad messages -> 400", func(t *testing.T) {
		r := newNet(t, true, 2, 0, Config{NoFloodLimits: true})
		var acts Actions
		for i := range MaxBadMsgs + 1 {
			acts = r.Receive(acts[:0], 1, qh(protocol.GUID{0x50, byte(i)}, 0, 1), queryPayload("x"), t0)
			if i < MaxBadMsgs {
				require.NotContains(t, drops(acts), ReasonTooManyBad)
			}
		}
		last := acts[len(acts)-1]
		assert.Equal(t, Close, last.Kind)
		assert.EqualValues(t, 400, last.ByeCode)
		assert.Equal(t, ReasonTooManyBad, last.Reason)
	})
	t.Run("bad messages spread over windows: kept", func(t *testing.T) {
		r := newNet(t, true, 2, 0, Config{NoFloodLimits: true})
		for i := range 2 * MaxBadMsgs {
			at := t0.Add(time.Duration(i/MaxBadMsgs) * (AbuseWindow + time.Second))
			acts := r.Receive(nil, 1, qh(protocol.GUID{0x51, byte(i)}, 0, 1), queryPayload("x"), at)
			require.NotContains(t, drops(acts), ReasonTooManyBad)
		}
		assert.Equal(t, 2, r.Links())
	})
	t.Run("duplicates -> 401", func(t *testing.T) {
		r := newNet(t, true, 2, 0, Config{NoFloodLimits: true})
		g := protocol.GUID{0x52}
		var acts Actions
		for range MaxDupMsgs + 2 {
			acts = r.Receive(acts[:0], 1, qh(g, 2, 1), queryPayload("x"), t0)
		}
		last := acts[len(acts)-1]
		assert.EqualValues(t, 401, last.ByeCode)
		assert.Equal(t, 1, r.Links())
	})
	t.Run("flood -> 412", func(t *testing.T) {
		r := newNet(t, true, 0, 1, Config{})
		closed := false
		for i := range 10000 {
			acts := r.Receive(nil, 100, protocol.Header{GUID: protocol.GUID{0x53, byte(i), byte(i >> 8)}, Type: protocol.TypePing, TTL: 1}, nil, t0)
			if len(acts) > 0 && acts[len(acts)-1].Kind == Close {
				assert.EqualValues(t, 412, acts[len(acts)-1].ByeCode)
				closed = true
				break
			}
		}
		assert.True(t, closed)
	})
}

func TestVendorHopsFlowAndPushProxy(t *testing.T) {
	r := newNet(t, true, 2, 1, Config{})
	r.SetQRT(100, table("xylophone"))
	hf := protocol.HopsFlow{MaxHops: 0}.Vendor()
	r.Receive(nil, 2, protocol.Header{Type: protocol.TypeVendor, TTL: 1}, hf.Append(nil), t0)
	acts := r.Receive(nil, 1, qh(protocol.GUID{0x60}, 3, 1), queryPayload("xylophone"), t0)
	assert.ElementsMatch(t, []sent{{100, 2, 2, protocol.TypeQuery}}, sends(acts), "up 2 asked for no queries: %+v", acts)

	req := protocol.Vendor{Vendor: protocol.VendorLIME, Selector: protocol.SelPushProxyReq, Version: 2}
	leafGUID := protocol.GUID{0x61}
	acts = r.Receive(nil, 100, protocol.Header{GUID: leafGUID, Type: protocol.TypeVendor, TTL: 1}, req.Append(nil), t0)
	assert.Equal(t, []sent{{100, 1, 0, protocol.TypeVendor}}, sends(acts))
	push := protocol.Header{GUID: protocol.GUID{0x62}, Type: protocol.TypePush, TTL: 3}
	acts = r.Receive(nil, 1, push, pushPayload(leafGUID), t0)
	assert.Equal(t, []sent{{100, 2, 1, protocol.TypePush}}, sends(acts))
}

var _ = routing.Local

func TestFirewalledAnswersAndOwnPong(t *testing.T) {
	proxy := netip.MustParseAddrPort("192.0.2.5:6346")
	lookup := func(q *protocol.Query) []protocol.Result { return []protocol.Result{{Index: 1, Size: 1, Name: "song"}} }
	r := newNet(t, true, 2, 0, Config{Lookup: lookup, PushProxies: func() []netip.AddrPort { return []netip.AddrPort{proxy} }})
	r.SetFirewalled(true)

	fwQuery := protocol.Query{Flags: protocol.FlagMark | protocol.FlagFirewalled, Criteria: "song"}
	acts := r.Receive(nil, 1, qh(protocol.GUID{0x70}, 3, 1), fwQuery.Append(nil), t0)
	for _, s := range sends(acts) {
		assert.NotEqual(t, protocol.TypeQueryHit, s.typ, "firewalled to firewalled: no answer (Node.handleQuery)")
	}

	acts = r.Receive(nil, 1, qh(protocol.GUID{0x71}, 3, 1), queryPayload("song"), t0)
	var hit protocol.QueryHit
	for _, a := range acts {
		if a.Kind == Send && protocol.PayloadType(a.Msg[16]) == protocol.TypeQueryHit {
			require.NoError(t, hit.Decode(a.Msg[protocol.HeaderLen:]))
		}
	}
	assert.True(t, hit.Push)
	assert.Equal(t, []netip.AddrPort{proxy}, hit.PushProxies())
	assert.Equal(t, ourAdr.Addr(), hit.IP)

	acts = r.Receive(nil, 1, protocol.Header{GUID: protocol.GUID{0x72}, Type: protocol.TypePing, TTL: 1}, nil, t0)
	require.Len(t, acts, 1)
	var pong protocol.Pong
	require.NoError(t, pong.Decode(acts[0].Msg[protocol.HeaderLen:]))
	assert.Equal(t, ourAdr, netip.AddrPortFrom(pong.IP, pong.Port))
	assert.True(t, pong.GGEP.Has("VC"))
}

func TestLeafIgnoresQRP(t *testing.T) {
	r := newNet(t, false, 1, 0, Config{})
	reset := protocol.QRPReset{TableLen: 1 << 16, Infinity: 7}
	acts := r.Receive(nil, 1, protocol.Header{Type: protocol.TypeQRP, TTL: 1}, reset.Append(nil), t0)
	assert.Equal(t, []Reason{ReasonNotForUs}, drops(acts))
	assert.Nil(t, r.QRT(1))
}

func TestQRPOverTheWireThenLastHop(t *testing.T) {
	r := newNet(t, true, 3, 0, Config{})
	reset, patches := table("jazz").Messages(0, true)
	acts := r.Receive(nil, 2, protocol.Header{Type: protocol.TypeQRP, TTL: 1}, reset.Append(nil), t0)
	for i := range patches {
		acts = r.Receive(acts, 2, protocol.Header{Type: protocol.TypeQRP, TTL: 1}, patches[i].Append(nil), t0)
	}
	require.NotEmpty(t, acts)
	assert.Equal(t, QRPComplete, acts[len(acts)-1].Kind)
	assert.Equal(t, LinkID(2), acts[len(acts)-1].Link)
	assert.Same(t, r.QRT(2), acts[len(acts)-1].QRT)
	require.NotNil(t, r.QRT(2))

	acts = r.Receive(nil, 1, qh(protocol.GUID{0x80}, 2, 1), queryPayload("rock"), t0)
	assert.Equal(t, []sent{{3, 1, 2, protocol.TypeQuery}}, sends(acts), "last hop: up 2's table has no rock")
	acts = r.Receive(nil, 1, qh(protocol.GUID{0x81}, 2, 1), queryPayload("jazz"), t0)
	assert.ElementsMatch(t, []sent{{2, 1, 2, protocol.TypeQuery}, {3, 1, 2, protocol.TypeQuery}}, sends(acts))

	bad := r.Receive(nil, 3, protocol.Header{Type: protocol.TypeQRP, TTL: 1}, []byte{9, 9}, t0)
	require.Len(t, bad, 1)
	assert.EqualValues(t, 413, bad[0].ByeCode)
}
