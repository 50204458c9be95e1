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
func (r *Router) dqStart(g protocol.GUID, leaf LinkID, payload []byte, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.dq) >= DQMax {
		return
	}
	r.dq[g] = &dqQuery{leaf: leaf, payload: append([]byte(nil), payload...), started: now}
	r.dqLen.Store(int32(len(r.dq)))
}

// dqHits is dynQuery.hits.
func (r *Router) dqHits(g protocol.GUID, results int) {
	if r.dqLen.Load() == 0 {
		return
	}
	r.mu.Lock()
	if q := r.dq[g]; q != nil {
		q.results += results
	}
	r.mu.Unlock()
}

// Tick runs the work due at now (Node.dqStep with dynQuery.due): the second
// step of leaf queries with too few results, at TTL MaxTTL-1 to the
// ultrapeers only.
func (r *Router) Tick(dst Actions, now time.Time) Actions {
	r.tick(now)
	type due struct {
		g protocol.GUID
		q *dqQuery
	}
	var todo []due
	r.mu.Lock()
	for g, q := range r.dq {
		if now.Sub(q.started) > DQForget {
			delete(r.dq, g)
			continue
		}
		if now.Sub(q.started) < r.cfg.DQWait {
			continue
		}
		delete(r.dq, g)
		if q.results < DQEnoughHits {
			todo = append(todo, due{g, q})
		}
	}
	r.dqLen.Store(int32(len(r.dq)))
	r.mu.Unlock()
	if len(todo) == 0 {
		return dst
	}
	s := r.getScratch()
	defer r.done(s)
	for _, d := range todo {
		var pq protocol.Query
		if r.link(d.q.leaf) == nil || pq.Decode(d.q.payload) != nil {
			continue
		}
		ttl := r.cfg.MaxTTL - 1
		r.routes.AddTTL(d.g, protocol.TypeQuery, d.q.leaf, ttl)
		h := protocol.Header{GUID: d.g, Type: protocol.TypeQuery, TTL: ttl + 1}
		r.stats.DQSecondSteps.Add(1)
		dst = r.forwardQuery(s, dst, nil, h, d.q.payload, &pq, ttl, 1, true, false, Own)
	}
	return dst
}

// NextWake is when Tick has work next; ok is false when nothing waits.
func (r *Router) NextWake() (at time.Time, ok bool) {
	if r.dqLen.Load() == 0 {
		return at, false // the simulator asks after every event
	}
	r.mu.Lock()
	defer r.mu.Unlock()
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
	if r.ultrapeer() {
		fh := h
		fh.TTL = r.cfg.MaxTTL + 1
		s := r.getScratch()
		defer r.done(s)
		return r.forwardQuery(s, dst, nil, fh, payload, q, r.cfg.MaxTTL, 0, true, true, Own)
	}
	b := protocol.AppendMessage(nil, h, q)
	for _, l := range r.v.Load().ups {
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
	s := r.getScratch()
	defer r.done(s)
	return r.forwardQuery(s, dst, nil, h, q.Append(nil), q, 1, 1, false, true, Own)
}
