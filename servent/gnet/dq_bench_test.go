package gnet

import (
	"encoding/binary"
	"testing"

	"github.com/servent/servent/protocol"
)

// BenchmarkLeafQuery32 is a leaf's new query at an ultrapeer with 32
// ultrapeer links (last-hop tables that match) and 32 leaves, then the
// leaf's BEAR/12 0xFFFF: the dynamic query's start (the leaves, a probe of
// 3) and its end. Issue 12's core sent the same query at TTL 2 to all 32
// ultrapeers and ignored the BEAR/12 (run it on that commit for the
// same-run baseline).
func BenchmarkLeafQuery32(b *testing.B) {
	r := newNet(b, true, 32, 32, Config{NoFloodLimits: true})
	for i := range 32 {
		r.SetQRT(LinkID(1+i), table("music"))
		r.SetQRT(LinkID(100+i), table("music"))
	}
	payload := queryPayload("music")
	h := qh(protocol.GUID{}, 4, 0)
	stop := protocol.QueryStatusResponse{Hits: protocol.QueryStatusStop}.Vendor()
	stopPayload := stop.Append(nil)
	vh := protocol.Header{Type: protocol.TypeVendor, TTL: 1}
	acts := make(Actions, 0, 80)
	b.SetBytes(int64(protocol.HeaderLen + len(payload)))
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		binary.LittleEndian.PutUint64(h.GUID[:8], i)
		acts = r.Receive(acts[:0], 100, h, payload, t0)
		if len(acts) < 3 {
			b.Fatalf("%d actions", len(acts))
		}
		vh.GUID = h.GUID
		acts = r.Receive(acts, 100, vh, stopPayload, t0)
	}
}
