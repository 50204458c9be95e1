package oob

import (
	"net/netip"
	"testing"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

var (
	t0     = time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)
	server = netip.MustParseAddrPort("10.0.0.2:6346")
	other  = netip.MustParseAddrPort("10.0.0.3:6346")
	tok    = []byte("tok12345")
)

func fixedToken() []byte { return append([]byte(nil), tok...) }

func guid(b byte) protocol.GUID {
	var g protocol.GUID
	for i := range g {
		g[i] = b
	}
	return g
}

func TestSearcherClaimsOnlyWhatItWants(t *testing.T) {
	s := NewSearcher(fixedToken)
	g := guid(1)
	require.True(t, s.Add(g, 5, t0))

	ack, ok := s.Reply(server, g, protocol.OOBReplyNumber{Version: 3, Hits: 3}, t0)
	require.True(t, ok)
	require.Equal(t, protocol.OOBReplyAck{Version: 3, Wanted: 3, Token: tok}, ack)

	// A second server offering 10: only the 2 still wanted are claimed, v2: no token.
	ack, ok = s.Reply(other, g, protocol.OOBReplyNumber{Version: 2, Hits: 10}, t0)
	require.True(t, ok)
	require.Equal(t, uint8(2), ack.Wanted)
	require.Nil(t, ack.Token)

	// Nothing more wanted: no ACK.
	_, ok = s.Reply(netip.MustParseAddrPort("10.0.0.4:1"), g, protocol.OOBReplyNumber{Version: 2, Hits: 1}, t0)
	require.False(t, ok)

	// Not our query.
	_, ok = s.Reply(server, guid(9), protocol.OOBReplyNumber{Version: 2, Hits: 1}, t0)
	require.False(t, ok)
	require.Equal(t, uint64(1), s.Stats.UnknownReply)
}

func TestSearcherAcceptsOnlyClaimedHits(t *testing.T) {
	s := NewSearcher(fixedToken)
	g := guid(1)
	s.Add(g, 10, t0)
	_, ok := s.Reply(server, g, protocol.OOBReplyNumber{Version: 3, Hits: 3}, t0)
	require.True(t, ok)

	require.False(t, s.Accept(other, g, 1, tok, t0), "no claim from that host")
	require.False(t, s.Accept(server, guid(2), 1, tok, t0), "no claim for that query")
	require.False(t, s.Accept(server, g, 1, []byte("wrong"), t0), "bad token")
	require.False(t, s.Accept(server, g, 1, nil, t0), "missing token")
	require.True(t, s.Accept(server, g, 2, tok, t0))
	require.False(t, s.Accept(server, g, 2, tok, t0), "beyond the claim of 3")
	require.True(t, s.Accept(server, g, 1, tok, t0))
	require.False(t, s.Accept(server, g, 1, tok, t0), "claim used up")

	require.Equal(t, SearcherStats{Claimed: 1, Accepted: 2, Unsolicited: 2, BadToken: 2, OverClaim: 2}, s.Stats)
}

func TestSearcherExpires(t *testing.T) {
	s := NewSearcher(fixedToken)
	g := guid(1)
	s.Add(g, 10, t0)
	_, ok := s.Reply(server, g, protocol.OOBReplyNumber{Version: 2, Hits: 3}, t0)
	require.True(t, ok)
	late := t0.Add(SearchLife)
	require.False(t, s.Accept(server, g, 1, nil, late))
	_, ok = s.Reply(other, g, protocol.OOBReplyNumber{Version: 2, Hits: 3}, late)
	require.False(t, ok)
	s.Expire(late)
	q, c := s.Len()
	require.Zero(t, q)
	require.Zero(t, c)
}

func TestSearcherBounded(t *testing.T) {
	s := NewSearcher(fixedToken)
	for i := range maxSearches {
		var g protocol.GUID
		g[0], g[1] = byte(i), byte(i>>8)
		require.True(t, s.Add(g, 1, t0))
	}
	require.False(t, s.Add(guid(0xEE), 1, t0))
	require.True(t, s.Add(guid(0xEE), 1, t0.Add(SearchLife)), "room after expiry")
}

func hits(results ...int) []protocol.QueryHit {
	var hs []protocol.QueryHit
	for i, n := range results {
		h := protocol.QueryHit{Port: 6346, IP: netip.MustParseAddr("10.0.0.9")}
		for j := range n {
			h.Results = append(h.Results, protocol.Result{Index: uint32(i*100 + j), Name: "f"})
		}
		hs = append(hs, h)
	}
	return hs
}

func noJitter(time.Duration) time.Duration { return 0 }

func TestResponderAckedHitsPaced(t *testing.T) {
	r := NewResponder(noJitter)
	g := guid(1)
	n, ok := r.Hold(server, g, hits(2, 2, 1), true, t0)
	require.True(t, ok)
	require.Equal(t, protocol.OOBReplyNumber{Version: 3, Hits: 5}, n)
	require.Empty(t, r.Due(t0), "nothing before the ACK")

	// An ACK from another address does not claim them.
	_, ok = r.Ack(other, g, protocol.OOBReplyAck{Version: 3, Wanted: 255, Token: tok}, t0)
	require.False(t, ok)
	// A v3 query needs the token.
	_, ok = r.Ack(server, g, protocol.OOBReplyAck{Version: 2, Wanted: 255}, t0)
	require.False(t, ok)

	d, ok := r.Ack(server, g, protocol.OOBReplyAck{Version: 3, Wanted: 3, Token: tok}, t0)
	require.True(t, ok, "first hit at once")
	require.Equal(t, server, d.To)
	require.Len(t, d.Hit.Results, 2)
	so, ok := d.Hit.GGEP.Get("SO")
	require.True(t, ok)
	require.Equal(t, tok, so)

	require.Empty(t, r.Due(t0.Add(DeliverBase-time.Millisecond)), "paced")
	ds := r.Due(t0.Add(DeliverBase))
	require.Len(t, ds, 1)
	require.Len(t, ds[0].Hit.Results, 1, "trimmed to the 3 wanted")
	require.Empty(t, r.Due(t0.Add(time.Hour)), "the third hit was not wanted")
	require.Zero(t, r.Len())
	require.Equal(t, uint64(2), r.Stats.Sent)
}

func TestResponderNoAckNoHits(t *testing.T) {
	r := NewResponder(noJitter)
	g := guid(1)
	_, ok := r.Hold(server, g, hits(1), false, t0)
	require.True(t, ok)
	require.Empty(t, r.Due(t0.Add(AckTimeout)))
	require.Zero(t, r.Len())
	require.Equal(t, uint64(1), r.Stats.Expired)
	_, ok = r.Ack(server, g, protocol.OOBReplyAck{Version: 2, Wanted: 255}, t0.Add(AckTimeout))
	require.False(t, ok, "too late")
	require.Zero(t, r.Stats.Sent)
}

func TestResponderBounded(t *testing.T) {
	r := NewResponder(noJitter)
	for i := range maxPending {
		var g protocol.GUID
		g[0], g[1] = byte(i), byte(i>>8)
		_, ok := r.Hold(server, g, hits(1), false, t0)
		require.True(t, ok)
	}
	_, ok := r.Hold(server, guid(0xEE), hits(1), false, t0)
	require.False(t, ok)
	_, ok = r.Hold(server, guid(0xEE), hits(1), false, t0.Add(AckTimeout))
	require.True(t, ok, "room after expiry")
}

func TestProxyRewrites(t *testing.T) {
	p := NewProxy()
	orig := guid(7)
	ours := netip.MustParseAddrPort("192.0.2.1:6346")
	g, ok := p.Rewrite(orig, 42, ours, t0)
	require.True(t, ok)
	require.Equal(t, ours, protocol.OOBAddr(g))
	o, leaf, ok := p.Lookup(g, t0)
	require.True(t, ok)
	require.Equal(t, orig, o)
	require.Equal(t, uint64(42), leaf)
	_, _, ok = p.Lookup(g, t0.Add(ProxyLife))
	require.False(t, ok)
	_, ok = p.Rewrite(orig, 42, netip.MustParseAddrPort("[::1]:1"), t0)
	require.False(t, ok, "IPv4 only")
	p.Expire(t0.Add(ProxyLife))
	require.Zero(t, p.Len())
}

// FuzzStates drives a Searcher and a Responder with arbitrary datagrams
// as the node would: never a panic, tables stay bounded.
func FuzzStates(f *testing.F) {
	ack := protocol.AppendDatagram(nil, protocol.Header{GUID: guid(1), Type: protocol.TypeVendor, TTL: 1},
		&protocol.Vendor{Vendor: protocol.VendorLIME, Selector: protocol.SelOOBReplyAck, Version: 3,
			Data: protocol.GGEP{{ID: "SO", Data: tok}}.Append([]byte{3})}, false)
	num := protocol.AppendDatagram(nil, protocol.Header{GUID: guid(1), Type: protocol.TypeVendor, TTL: 1},
		&protocol.Vendor{Vendor: protocol.VendorLIME, Selector: protocol.SelOOBReplyNumber, Version: 3, Data: []byte{4, 1}}, false)
	f.Add(ack)
	f.Add(num)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := NewSearcher(fixedToken)
		r := NewResponder(noJitter)
		s.Add(guid(1), 4, t0)
		r.Hold(server, guid(1), hits(2, 2), true, t0)
		d, err := protocol.DecodeDatagram(b, false)
		if err != nil {
			return
		}
		switch d.Header.Type {
		case protocol.TypeVendor, protocol.TypeStdVendor:
			var v protocol.Vendor
			if v.Decode(d.Payload) != nil || v.Vendor != protocol.VendorLIME {
				return
			}
			switch v.Selector {
			case protocol.SelOOBReplyNumber:
				if n, err := protocol.DecodeOOBReplyNumber(v.Version, v.Data); err == nil {
					s.Reply(server, d.Header.GUID, n, t0)
				}
			case protocol.SelOOBReplyAck:
				if a, err := protocol.DecodeOOBReplyAck(v.Version, v.Data); err == nil {
					r.Ack(server, d.Header.GUID, a, t0)
					r.Due(t0.Add(time.Hour))
				}
			}
		case protocol.TypeQueryHit:
			var h protocol.QueryHit
			if h.Decode(d.Payload) == nil {
				so, _ := h.GGEP.Get("SO")
				s.Accept(server, d.Header.GUID, len(h.Results), so, t0)
			}
		}
		q, c := s.Len()
		if q > maxSearches || c > maxClaims || r.Len() > maxPending {
			t.Fatal("unbounded")
		}
	})
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
