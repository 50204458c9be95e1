package servent

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// BenchmarkOOBBytesPerQuery: bytes sent (TCP + UDP, all nodes) per search
// of an ultrapeer whose answer is 3 hops away (u0 - u1 - u2 - u3), with OOB
// hits and with TCP-routed hits, in the same run. Keep-alives of the
// maintenance loop are included in both. Run it with -benchtime 30x at
// most: u3's per-destination UDP output budget (servent/udp) stops the
// hits to u0 after a burst of about 31 datagrams in a tight loop.
func BenchmarkOOBBytesPerQuery(b *testing.B) {
	for _, mode := range []struct {
		name string
		opt  nodeOpt
	}{{"oob", withOOB}, {"tcp", func(*Config) {}}} {
		b.Run(mode.name, func(b *testing.B) {
			u3 := startNode(b, ModeUltrapeer, withFiles("rare bench file.txt"), mode.opt)
			u2 := startNode(b, ModeUltrapeer, withPeers(addrOf(u3)), mode.opt)
			waitPeers(b, u2, 1, 0)
			u1 := startNode(b, ModeUltrapeer, withPeers(addrOf(u2)), mode.opt)
			waitPeers(b, u1, 1, 0)
			leaf := startNode(b, ModeUltrapeer, withPeers(addrOf(u1)), mode.opt)
			waitPeers(b, leaf, 1, 0)
			waitPeers(b, u1, 2, 0)
			waitPeers(b, u2, 2, 0)
			nodes := []*Node{leaf, u1, u2, u3}
			sent := func() uint64 {
				var t uint64
				for _, n := range nodes {
					st := n.Status()
					t += st.BytesOut + n.udpStatus().BytesOut
				}
				return t
			}
			b.ReportAllocs()
			before := sent()
			for b.Loop() {
				s := leaf.Search("rare bench", nil)
				require.Eventually(b, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
				s.Stop()
			}
			b.ReportMetric(float64(sent()-before)/float64(b.N), "B/query")
		})
	}
}
