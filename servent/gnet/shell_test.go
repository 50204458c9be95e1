package gnet

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func kinds(acts Actions) []Kind {
	var out []Kind
	for _, a := range acts {
		out = append(out, a.Kind)
	}
	return out
}

// The seams the node's shell uses: answers, vendor messages and hosts go
// to the shell; a leaf's query may be rewritten before it is forwarded;
// firewalled and self are asked, not remembered.
func TestShellSeams(t *testing.T) {
	var proxied []LinkID
	fw := false
	cfg := Config{
		ShellAnswers: true,
		Lookup:       func(*protocol.Query) []protocol.Result { t.Fatal("Lookup with ShellAnswers"); return nil },
		ProxyQuery: func(from LinkID, h protocol.Header, payload []byte, q *protocol.Query) (protocol.Header, []byte) {
			proxied = append(proxied, from)
			h.GUID[0] ^= 0xFF
			return h, payload
		},
		FirewalledNow: func() bool { return fw },
		IsSelf:        func(a netip.AddrPort) bool { return a == netip.MustParseAddrPort("203.0.113.9:6346") },
	}
	r := newNet(t, true, 2, 1, cfg)
	r.SetQRT(100, table("jazz"))

	// An ultrapeer's query: answered by the shell, forwarded as it came.
	acts := r.Receive(nil, 1, qh(protocol.GUID{1}, 3, 1), queryPayload("jazz"), t0)
	assert.Equal(t, []Kind{Answer, Send, Send}, kinds(acts))
	assert.Equal(t, LinkID(1), acts[0].Link)
	assert.Empty(t, proxied)
	assert.Equal(t, byte(1), acts[1].Msg[0], "not rewritten")

	// A leaf's query: rewritten once (OOB proxy), then forwarded.
	acts = r.Receive(nil, 100, qh(protocol.GUID{2}, 4, 0), queryPayload("rock"), t0)
	assert.Equal(t, []LinkID{100}, proxied)
	require.Equal(t, []Kind{Answer, Send, Send}, kinds(acts))
	assert.Equal(t, byte(2^0xFF), acts[1].Msg[0])

	// A duplicate is neither answered nor rewritten.
	acts = r.Receive(nil, 100, qh(protocol.GUID{2}, 4, 0), queryPayload("rock"), t0)
	assert.Equal(t, []Reason{ReasonDuplicate}, drops(acts))
	assert.Len(t, proxied, 1)

	// Vendor messages the router does not know go to the shell.
	cb := protocol.Vendor{Vendor: protocol.VendorBEAR, Selector: protocol.SelTCPConnectBack, Version: 1, Data: []byte{0xBA, 0x18}}
	acts = r.Receive(nil, 1, protocol.Header{GUID: protocol.GUID{3}, Type: protocol.TypeVendor, TTL: 1}, cb.Append(nil), t0)
	assert.Equal(t, []Kind{Vendor}, kinds(acts))

	// A push-proxy request is the router's, unless we are firewalled.
	req := protocol.Vendor{Vendor: protocol.VendorLIME, Selector: protocol.SelPushProxyReq, Version: 2}
	acts = r.Receive(nil, 100, protocol.Header{GUID: protocol.GUID{4}, Type: protocol.TypeVendor, TTL: 1}, req.Append(nil), t0)
	assert.Equal(t, []sent{{100, 1, 0, protocol.TypeVendor}}, sends(acts))
	fw = true
	acts = r.Receive(nil, 100, protocol.Header{GUID: protocol.GUID{5}, Type: protocol.TypeVendor, TTL: 1}, req.Append(nil), t0)
	assert.Equal(t, []Kind{Vendor}, kinds(acts))

	// Pongs name hosts for the shell's cache, never ourselves.
	pong := func(ip string) []byte {
		p := protocol.Pong{IP: netip.MustParseAddr(ip), Port: 6346}
		return p.Append(nil)
	}
	acts = r.Receive(nil, 2, protocol.Header{GUID: protocol.GUID{6}, Type: protocol.TypePong, TTL: 1}, pong("198.51.100.77"), t0)
	require.Equal(t, []Kind{Host}, kinds(acts))
	assert.Equal(t, netip.MustParseAddrPort("198.51.100.77:6346"), acts[0].Addr)
	assert.True(t, acts[0].Up, "a neighbour ultrapeer's own pong")
	acts = r.Receive(nil, 2, protocol.Header{GUID: protocol.GUID{7}, Type: protocol.TypePong, TTL: 1}, pong("203.0.113.9"), t0)
	assert.Empty(t, acts)
	assert.False(t, r.PongCached(netip.MustParseAddrPort("203.0.113.9:6346")))
	assert.True(t, r.PongCached(netip.MustParseAddrPort("198.51.100.77:6346")))
}

// Bad counts what the shell found malformed and closes past the limit.
func TestBadFromShell(t *testing.T) {
	r := newNet(t, true, 1, 0, Config{})
	var acts Actions
	for range MaxBadMsgs {
		acts = r.Bad(acts[:0], 1, t0)
		require.Equal(t, []Reason{ReasonMalformed}, drops(acts))
	}
	acts = r.Bad(acts[:0], 1, t0)
	assert.Equal(t, []Reason{ReasonMalformed, ReasonTooManyBad}, drops(acts))
	assert.Equal(t, uint16(400), acts[1].ByeCode)
	assert.Equal(t, 0, r.Links())
	assert.Empty(t, r.Bad(nil, 1, t0), "a closed link")
}

// QueryLeaves sends a GUESS query to matching leaves only, at TTL 1.
func TestQueryLeaves(t *testing.T) {
	r := newNet(t, true, 2, 2, Config{})
	r.SetQRT(100, table("jazz"))
	r.SetQRT(101, table("rock"))
	q := protocol.Query{Flags: protocol.FlagMark, Criteria: "jazz"}
	acts := r.QueryLeaves(nil, protocol.GUID{9}, &q, t0)
	assert.Equal(t, []sent{{100, 1, 1, protocol.TypeQuery}}, sends(acts))
	assert.Equal(t, Own, acts[0].Priority)
}

// Link IDs past the dense table work as below it (the node's IDs grow).
func TestLargeLinkIDs(t *testing.T) {
	r := New(Config{GUID: ourID, Addr: ourAdr, Ultrapeer: true})
	big := LinkID(maxDense + 10)
	r.LinkOpened(3, LinkInfo{Ultrapeer: true}, t0)
	r.LinkOpened(big, LinkInfo{Ultrapeer: true}, t0)
	acts := r.Receive(nil, big, qh(protocol.GUID{1}, 3, 1), queryPayload("x y"), t0)
	assert.Equal(t, []sent{{3, 2, 2, protocol.TypeQuery}}, sends(acts))
	r.LinkClosed(big, t0)
	r.LinkClosed(3, t0)
	assert.Equal(t, 0, r.Links())
	assert.Empty(t, r.Receive(nil, 3, qh(protocol.GUID{2}, 3, 1), queryPayload("x y"), t0))
}

// Receive runs on several links at once (a node's readers), beside link
// changes, searches and ticks: the race detector checks the sharing.
func TestConcurrentLinks(t *testing.T) {
	r := newNet(t, true, 4, 4, Config{NoFloodLimits: true})
	for i := range 4 {
		r.SetQRT(LinkID(100+i), table("jazz"))
	}
	done := make(chan struct{})
	for link := range 8 {
		id := LinkID(1 + link)
		if link >= 4 {
			id = LinkID(100 + link - 4)
		}
		go func() {
			defer func() { done <- struct{}{} }()
			var acts Actions
			for i := range 300 {
				g := protocol.GUID{byte(link), byte(i), byte(i >> 8), 0xEE}
				hops := uint8(1)
				if id >= 100 {
					hops = 0
				}
				acts = r.Receive(acts[:0], id, qh(g, 3, hops), queryPayload("jazz"), t0.Add(time.Duration(i)*time.Millisecond))
				p := protocol.Pong{IP: netip.AddrFrom4([4]byte{198, 51, 100, byte(i)}), Port: 6346}
				acts = r.Receive(acts[:0], id, protocol.Header{GUID: g, Type: protocol.TypePong, TTL: 1}, p.Append(nil), t0)
			}
		}()
	}
	go func() {
		defer func() { done <- struct{}{} }()
		for i := range 100 {
			r.LinkOpened(LinkID(500+i), LinkInfo{Ultrapeer: i%2 == 0}, t0)
			r.Search(nil, protocol.GUID{0xCC, byte(i)}, &protocol.Query{Flags: protocol.FlagMark, Criteria: "jazz"}, t0)
			r.Tick(nil, t0.Add(time.Hour))
			r.NextWake()
			r.LinkClosed(LinkID(500+i), t0)
		}
	}()
	for range 9 {
		<-done
	}
	assert.Equal(t, 8, r.Links())
	assert.Positive(t, r.PongCacheLen())
}
