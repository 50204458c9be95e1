package gnet

import (
	"encoding/binary"
	"testing"

	"github.com/servent/servent/protocol"
)

// BenchmarkForwardQuery32 is the core's hot path: a new query (TTL 3,
// hops 1) arrives from one ultrapeer and goes to 32 others, the Actions
// buffer reused. One iteration is one query in, 32 Sends out; the route
// table insert (routing.Table, as the node's) is included. Compare with
// servent's BenchmarkRouteQueries (sockets, 4 copies per query) and
// routing's BenchmarkTableAddNew from the same run.
func BenchmarkForwardQuery32(b *testing.B) { benchForward(b, 32, 0) }

// BenchmarkForwardQuery32Leaves adds 32 leaves with QRP tables, half of
// which match (the QRP check and the leaf copies).
func BenchmarkForwardQuery32Leaves(b *testing.B) { benchForward(b, 32, 32) }

func benchForward(b *testing.B, ups, leaves int) {
	r := newNet(b, true, ups+1, leaves, Config{NoFloodLimits: true})
	for i := range leaves {
		w := "other"
		if i%2 == 0 {
			w = "music"
		}
		r.SetQRT(LinkID(100+i), table(w))
	}
	payload := queryPayload("music")
	h := qh(protocol.GUID{}, 3, 1)
	acts := make(Actions, 0, ups+leaves+4)
	b.SetBytes(int64(protocol.HeaderLen + len(payload)))
	b.ReportAllocs()
	var i uint64
	for b.Loop() {
		i++
		binary.LittleEndian.PutUint64(h.GUID[:8], i)
		acts = r.Receive(acts[:0], 1, h, payload, t0)
		if len(acts) < ups {
			b.Fatalf("%d actions", len(acts))
		}
	}
	b.ReportMetric(float64(len(acts)), "sends/op")
}
