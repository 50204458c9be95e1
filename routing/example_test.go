package routing_test

import (
	"fmt"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
)

// The node's path for a Query arriving on connection 7, then for a
// QueryHit coming back for it.
func Example() {
	stats := new(routing.Stats)
	routes := routing.NewTable(0, 0, nil, routing.WithStats(stats))
	const from routing.ConnID = 7

	h := protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeQuery, TTL: 5, Hops: 1}
	if err := routing.Check(h); err != nil {
		stats.CountCheck(err)
		return
	}
	ttl, hops, forward := routing.ForwardTTL(h, routing.DefaultMaxTTL)
	if !forward {
		ttl = 0
	}
	switch routes.AddTTL(h.GUID, h.Type, from, ttl) {
	case routing.New:
		fmt.Println("answer, forward with ttl", ttl, "hops", hops)
	case routing.HigherTTL:
		fmt.Println("forward again, do not answer")
	case routing.Duplicate:
		fmt.Println("drop")
	}
	// The same query again, from another peer: a duplicate.
	fmt.Println(routes.AddTTL(h.GUID, h.Type, 8, ttl))

	// A hit for it: TTL min(hops+6, 15) at its origin, routed back by MUID.
	conn, ok := routes.Lookup(h.GUID, protocol.TypeQuery)
	fmt.Println("hit goes to", conn, ok, "hit ttl", routing.HitTTL(h.Hops))
	fmt.Println("duplicates", stats.Duplicates.Load())
	// Output:
	// answer, forward with ttl 2 hops 2
	// duplicate
	// hit goes to 7 true hit ttl 7
	// duplicates 1
}
