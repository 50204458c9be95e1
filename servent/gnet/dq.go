package gnet

import (
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
)

// Simple dynamic querying for our leaves' queries (servent/dq.go,
// GNUTELLA.md 7.6): probe at TTL 2 now, and at MaxTTL-1 after DQWait when
// the leaf got fewer than DQEnoughHits results.

// dqStart is dynQuery.start.
func (r *Router) dqStart(g protocol.GUID, leaf LinkID, payload []byte) {
	if len(r.dq) >= DQMax {
		return
	}
	r.dq[g] = &dqQuery{leaf: leaf, payload: append([]byte(nil), payload...), started: r.now}
}

// dqHits is dynQuery.hits.
func (r *Router) dqHits(g protocol.GUID, results int) {
	if q := r.dq[g]; q != nil {
		q.results += results
	}
}

// Tick runs the work due at now (Node.dqStep with dynQuery.due): the second
// step of leaf queries with too few results, at TTL MaxTTL-1 to the
// ultrapeers only.
func (r *Router) Tick(dst Actions, now time.Time) Actions {
	r.tick(now)
	for g, q := range r.dq {
		if now.Sub(q.started) > DQForget {
			delete(r.dq, g)
			continue
		}
		if now.Sub(q.started) < r.cfg.DQWait {
			continue
		}
		delete(r.dq, g)
		if q.results >= DQEnoughHits || r.link(q.leaf) == nil {
			continue
		}
		var pq protocol.Query
		if pq.Decode(q.payload) != nil {
			continue
		}
		ttl := r.cfg.MaxTTL - 1
		r.routes.AddTTL(g, protocol.TypeQuery, q.leaf, ttl)
		h := protocol.Header{GUID: g, Type: protocol.TypeQuery, TTL: ttl + 1}
		r.stats.DQSecondSteps.Add(1)
		dst = r.forwardQuery(dst, nil, h, q.payload, &pq, ttl, 1, true, false, Own)
	}
	return dst
}

// NextWake is when Tick has work next; ok is false when nothing waits.
func (r *Router) NextWake() (at time.Time, ok bool) {
	for _, q := range r.dq {
		t := q.started.Add(r.cfg.DQWait)
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	return at, ok
}

// Search sends our own query q with MUID g (Node.Search): as an ultrapeer
// flooded at MaxTTL to ultrapeers and matching leaves, as a leaf sent to
// every ultrapeer at MaxTTL (the ultrapeers query for us).
func (r *Router) Search(dst Actions, g protocol.GUID, q *protocol.Query, now time.Time) Actions {
	r.tick(now)
	payload := q.Append(nil)
	r.routes.Add(g, protocol.TypeQuery, routing.Local)
	h := protocol.Header{GUID: g, Type: protocol.TypeQuery, TTL: r.cfg.MaxTTL}
	if r.cfg.Ultrapeer {
		fh := h
		fh.TTL = r.cfg.MaxTTL + 1
		return r.forwardQuery(dst, nil, fh, payload, q, r.cfg.MaxTTL, 0, true, true, Own)
	}
	b := protocol.AppendMessage(nil, h, q)
	for _, l := range r.ups {
		dst = append(dst, Action{Kind: Send, Link: l.id, Msg: b, Priority: Own})
	}
	return dst
}

// QueryLeaves sends a query that came from elsewhere (a GUESS query over
// UDP) to the leaves whose table matches, at TTL 1 and hops 1: it goes no
// further (udp_guess.go guessToLeaves).
func (r *Router) QueryLeaves(dst Actions, g protocol.GUID, q *protocol.Query, now time.Time) Actions {
	r.tick(now)
	h := protocol.Header{GUID: g, Type: protocol.TypeQuery}
	return r.forwardQuery(dst, nil, h, q.Append(nil), q, 1, 1, false, true, Own)
}
