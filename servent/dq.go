package servent

import (
	"sync"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
)

// Simple dynamic querying for our leaves' queries (GNUTELLA.md 7.6: "probe
// with TTL 2 to all UPs, then TTL 3 if < 50 hits after 4 s"). The second
// step reaches the peers that already saw the probe with a higher TTL, so
// they forward it again without answering it twice (routing.HigherTTL).
const (
	dqWaitDefault = 4 * time.Second
	dqEnoughHits  = 50 // results; GTKG stops at SEARCH_MAX_RESULTS/3 per leaf
	dqMax         = 1024
	dqForget      = 10 * time.Minute
)

type dqQuery struct {
	leaf    routing.ConnID
	payload []byte
	started time.Time
	results int
	done    bool // second step sent or not needed
}

type dynQuery struct {
	mu      sync.Mutex
	queries map[protocol.GUID]*dqQuery // guarded by mu
}

func (d *dynQuery) start(g protocol.GUID, leaf *conn, payload []byte, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.queries == nil {
		d.queries = map[protocol.GUID]*dqQuery{}
	}
	if len(d.queries) >= dqMax {
		return // no second step for this one
	}
	d.queries[g] = &dqQuery{leaf: leaf.id, payload: append([]byte(nil), payload...), started: now}
}

// hits counts results routed back to the leaf of query g.
func (d *dynQuery) hits(g protocol.GUID, results int) {
	d.mu.Lock()
	if q := d.queries[g]; q != nil {
		q.results += results
	}
	d.mu.Unlock()
}

// due returns the queries whose second step is due now and forgets old ones.
func (d *dynQuery) due(now time.Time, wait time.Duration) (out []struct {
	g protocol.GUID
	q dqQuery
}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for g, q := range d.queries {
		if now.Sub(q.started) > dqForget {
			delete(d.queries, g)
			continue
		}
		if q.done || now.Sub(q.started) < wait {
			continue
		}
		q.done = true
		if q.results < dqEnoughHits {
			out = append(out, struct {
				g protocol.GUID
				q dqQuery
			}{g, *q})
		}
		delete(d.queries, g)
	}
	return out
}

// dqStep sends the second step of due leaf queries at TTL MaxTTL-1.
func (n *Node) dqStep(now time.Time) {
	for _, e := range n.dq.due(now, n.cfg.dqWait) {
		leaf := n.snap.Load().byID[e.q.leaf]
		if leaf == nil {
			continue // the leaf left: nobody wants the results
		}
		var q protocol.Query
		if q.Decode(e.q.payload) != nil {
			continue
		}
		ttl := n.cfg.MaxTTL - 1
		n.routes.AddTTL(e.g, protocol.TypeQuery, leaf.id, ttl)
		h := protocol.Header{GUID: e.g, Type: protocol.TypeQuery, TTL: ttl + 1}
		n.stats.dqSecondSteps.Add(1)
		n.forwardQuery(nil, h, e.q.payload, &q, ttl, 1, true, false)
	}
}
