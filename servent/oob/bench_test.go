package oob

import (
	"testing"
	"time"

	"github.com/servent/servent/protocol"
)

// BenchmarkUDPHitsReceived: one claimed UDP hit decoded and accepted (the
// searcher's part of udpHit); reports hits/s.
func BenchmarkUDPHitsReceived(b *testing.B) {
	s := NewSearcher(fixedToken)
	hit := hits(1)[0]
	hit.Vendor = protocol.VendorSRVT
	hit.GGEP = protocol.GGEP{{ID: "SO", Data: tok}}
	dg := protocol.AppendDatagram(nil, protocol.Header{GUID: guid(1), Type: protocol.TypeQueryHit, TTL: 1}, &hit, false)
	b.SetBytes(int64(len(dg)))
	b.ReportAllocs()
	var g protocol.GUID
	var h protocol.QueryHit
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if i%250 == 0 { // a fresh claim every 250 hits (a claim is 254 at most)
			s.Remove(g)
			g[0], g[1] = byte(i/250), byte(i/250>>8)
			s.Add(g, 250, t0)
			s.Reply(server, g, protocol.OOBReplyNumber{Version: 3, Hits: 250}, t0)
		}
		d, err := protocol.DecodeDatagram(dg, false)
		if err != nil {
			b.Fatal(err)
		}
		if err := h.Decode(d.Payload); err != nil {
			b.Fatal(err)
		}
		so, _ := h.GGEP.Get("SO")
		if !s.Accept(server, g, len(h.Results), so, t0) {
			b.Fatalf("not accepted %d %+v %q", i, s.Stats, so)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "hits/s")
}
