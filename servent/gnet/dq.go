package gnet

import (
	"math"
	"slices"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
)

// Dynamic querying (GNUTELLA.md 7.6; gtk-gnutella's src/core/dq.c, which
// follows LimeWire's design). An ultrapeer runs one for each query of a
// leaf and for its own searches: it probes a few ultrapeers whose last-hop
// table matches, at a TTL lowered when many match; then, one ultrapeer at a
// time, it estimates the results per ultrapeer reached so far and sends at
// the TTL whose horizon should bring the rest, until enough results are
// kept, the horizon cap is reached, every ultrapeer was queried or the
// lifetime ends. A leaf that guides (FlagLeafGuided in its query, or BEAR/11
// in its Messages Supported) is asked with BEAR/11 how many results it kept
// after filtering, and its BEAR/12 answers replace the raw count, so that
// spam does not end a query. The timings are gtk-gnutella's.
const (
	DQProbeUPs        = 3                       // ultrapeers probed first
	DQProbeTimeout    = 1500 * time.Millisecond // extra wait per probed ultrapeer
	DQQueryTimeout    = 3700 * time.Millisecond // wait after each later step
	DQTimeoutAdjust   = 100 * time.Millisecond  // shortened by this while results are scarce
	DQMinTimeout      = 1500 * time.Millisecond
	DQStatusTimeout   = 40 * time.Second // a leaf's BEAR/12 answer, at most
	DQStatThreshold   = 3                // ask the leaf again after this many ultrapeers
	DQMinForGuidance  = 20               // ... and this many new results
	DQMaxStatTimeouts = 2                // unanswered requests before the leaf counts as not guiding
	DQLifetime        = 10 * time.Minute
	DQMaxHorizon      = 200_000 // ultrapeers reached (in theory) before we stop
	DQMinHorizon      = 3000    // from here, few results shorten the wait
	DQLowResults      = 10      // "few": under this many per DQMinHorizon reached
	// DQOwnResults is the results our own search wants (gtk-gnutella's
	// SEARCH_MAX_RESULTS): a screenful a user can choose from; a leaf's
	// query wants a third of it since its other ultrapeers query too.
	DQOwnResults    = 150
	DQLeafResults   = DQOwnResults / 3
	DQURNDivisor    = 25 // a SHA-1 query wants a few sources, not 150
	DQPercentKept   = 5  // stop after max/5% raw results: the leaf's filter keeps too little
	DQAvgUltrapeers = 3  // a leaf's kept count covers this many ultrapeers' queries
	DQMaxTTL        = 5
	DQDefaultDegree = 32 // an ultrapeer that sent no X-Degree
	DQMax           = 1024
	// StatusEvery spaces the unsolicited BEAR/12 updates a leaf sends for
	// one search (gtk-gnutella sends one per batch of kept results).
	StatusEvery    = time.Second
	maxOwnSearches = 1024
)

// DQEnd says why a dynamic query ended.
type DQEnd uint8

const (
	DQEnough     DQEnd = iota // enough results kept
	DQHorizon                 // the horizon cap
	DQTooMuchRaw              // many results, the leaf kept almost none
	DQAllQueried              // every ultrapeer was queried
	DQUnguided                // the leaf neither guides nor gets its hits through us
	DQCancelled               // the searcher stopped it (BEAR/12 0xFFFF, StopSearch)
	DQExpired                 // lifetime over
	DQLeafGone                // the leaf closed, or we are no longer an ultrapeer
	numDQEnds
)

var dqEndNames = [numDQEnds]string{"enough", "horizon", "too-much-raw", "all-queried", "unguided", "cancelled", "expired", "leaf-gone"}

// DQEnds lists every DQEnd.
func DQEnds() []DQEnd {
	out := make([]DQEnd, numDQEnds)
	for i := range out {
		out[i] = DQEnd(i)
	}
	return out
}

func (e DQEnd) String() string {
	if e < numDQEnds {
		return dqEndNames[e]
	}
	return "end?"
}

const dqProbeBit = 0x80 // in dqQuery.queried: that TTL was a probe

type dqQuery struct {
	muid  protocol.GUID // the MUID we send
	lmuid protocol.GUID // the leaf's (differs when we OOB-proxy its query)
	leaf  LinkID        // routing.Local: our own search
	h     protocol.Header
	body  []byte // the query payload
	query protocol.Query
	ttl   uint8 // the highest TTL this query may go at

	started, next time.Time
	wait          time.Duration // the wait after a step (result_timeout)

	maxResults, finResults int
	results, newResults    int // hits routed back; since the last guidance
	kept                   int // the searcher's count of results it kept
	guided, gotGuidance    bool
	waiting, routingHits   bool
	statTimeouts           int
	upSent, lastStatus     int
	horizon                float64
	queried                map[LinkID]uint8
}

// ownSearch is one of our searches, for BEAR/11 answers and BEAR/12
// updates as a leaf.
type ownSearch struct {
	started  time.Time
	kept     int
	sentKept int
	sentAt   time.Time
}

// horizon is the ultrapeers a query sent at ttl to an ultrapeer of the
// given degree reaches in theory: Sum (degree-1)^i for i < ttl, less a
// fifth per hop for cycles and flow control (gtk-gnutella's
// dq_get_horizon).
func horizon(degree int, ttl uint8) float64 {
	degree = min(max(degree, 1), 50)
	t := int(min(max(ttl, 1), DQMaxTTL))
	h := 0.0
	for i := range t {
		h += math.Pow(float64(degree-1), float64(i))
	}
	return h * math.Pow(0.8, float64(t-1))
}

func (l *link) degree() int {
	if l.info.Degree > 0 {
		return l.info.Degree
	}
	return DQDefaultDegree
}

// scaled is d times Config.DQTimeScale.
func (r *Router) scaled(d time.Duration) time.Duration {
	if r.cfg.DQTimeScale > 0 {
		return time.Duration(float64(d) * r.cfg.DQTimeScale)
	}
	return d
}

// dqLaunch starts a dynamic query for a leaf's new query (from) or our own
// (from nil): the leaves whose table matches get it at once, at TTL 1, and
// a probe goes to the ultrapeers. lmuid is the leaf's MUID when h carries
// the one we proxied it under. false: too many running (the caller floods).
func (r *Router) dqLaunch(s *scratch, dst Actions, from *link, lmuid protocol.GUID, h protocol.Header, payload []byte, q *protocol.Query, now time.Time) (Actions, bool) {
	r.mu.Lock()
	if len(r.dq) >= DQMax || r.dq[h.GUID] != nil {
		r.mu.Unlock()
		return dst, false
	}
	d := &dqQuery{muid: h.GUID, lmuid: lmuid, leaf: routing.Local, h: h, body: append([]byte(nil), payload...),
		started: now, wait: r.scaled(DQQueryTimeout), maxResults: DQOwnResults, routingHits: true,
		queried: map[LinkID]uint8{}}
	d.ttl = min(r.cfg.MaxTTL, DQMaxTTL)
	if from != nil {
		d.leaf = from.id
		d.ttl = min(max(r.cfg.MaxTTL-1, 1), DQMaxTTL)
		d.maxResults = DQLeafResults
		d.guided = q.Flags.Has(protocol.FlagLeafGuided) || from.guides.Load()
		d.routingHits = lmuid != h.GUID || !q.Flags.Has(protocol.FlagOOB)
	}
	if len(q.SHA1s) > 0 || len(q.URNs) > 0 {
		d.maxResults = max(d.maxResults/DQURNDivisor, 1)
	}
	d.finResults = d.maxResults * 100 / DQPercentKept
	if d.query.Decode(d.body) != nil {
		r.mu.Unlock()
		return dst, false
	}
	r.dq[h.GUID] = d
	if lmuid != h.GUID {
		r.dqLeafMUID[lmuid] = h.GUID
	}
	r.dqLen.Store(int32(len(r.dq)))
	r.stats.DQStarted.Add(1)
	r.mu.Unlock()

	// The leaves first (dq_sendto_leaves), then the probe (dq_send_probe).
	dst = r.forwardQuery(s, dst, from, h, payload, q, 1, h.Hops, false, true, priorityOf(from))
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dq[h.GUID] != d {
		return dst, true
	}
	v := r.v.Load()
	rc := routeCheck{s: s, q: &d.query}
	var probe []*link
	for _, p := range v.ups {
		if p != from && uint32(h.Hops) < p.hopsFlow.Load() && rc.canRoute(p) {
			probe = append(probe, p)
		}
	}
	ttl := d.ttl
	if len(probe) > 6*DQProbeUPs {
		ttl--
	}
	if len(probe) > 3*DQProbeUPs {
		ttl--
	}
	ttl = max(ttl, 1)
	if ttl < d.ttl {
		// A low-TTL probe only to those that take the query again later
		// at a higher TTL (dq_fill_probe_up).
		probe = slices.DeleteFunc(probe, func(p *link) bool { return !p.info.ExtProbes })
	}
	if len(probe) == 0 {
		return r.dqNext(s, dst, d, now), true // rare: go one by one at once
	}
	n := min(len(probe), DQProbeUPs)
	for _, p := range probe[:n] {
		dst = r.dqSend(s, dst, d, p, ttl, ttl < d.ttl)
	}
	d.next = now.Add(time.Duration(n) * (r.scaled(DQProbeTimeout) + d.wait))
	return dst, true
}

func priorityOf(from *link) Priority {
	if from == nil {
		return Own
	}
	return Relayed
}

// routeCheck is qrp_node_can_route for ultrapeers: a link's last-hop
// table, if it sent one, matches q. The query is hashed once, on the first
// link with a table.
type routeCheck struct {
	s      *scratch
	q      *protocol.Query
	hashed bool
}

func (c *routeCheck) canRoute(p *link) bool {
	t := p.qrt.Load()
	if t == nil {
		return true
	}
	if !c.hashed {
		c.s.hash.Reset(c.q)
		c.hashed = true
	}
	return t.Match(&c.s.hash)
}

// dqSend sends d to ultrapeer p at ttl (capped by its X-Max-TTL).
func (r *Router) dqSend(s *scratch, dst Actions, d *dqQuery, p *link, ttl uint8, probe bool) Actions {
	if p.info.MaxTTL > 0 {
		ttl = min(ttl, p.info.MaxTTL)
	}
	mark := ttl
	if probe {
		mark |= dqProbeBit
	}
	d.queried[p.id] = mark
	d.upSent++
	d.horizon += horizon(p.degree(), ttl)
	r.stats.QueriesForwarded.Add(1)
	return append(dst, Action{Kind: Send, Link: p.id, Msg: s.relayed(d.h, ttl, d.h.Hops, d.body), Priority: priorityOf(r.link(d.leaf))})
}

// keptResults is dq_kept_results: what counts toward maxResults.
func (d *dqQuery) keptResults() int {
	switch {
	case !d.gotGuidance:
		return d.results
	case d.leaf == routing.Local:
		return d.kept
	}
	return d.kept/DQAvgUltrapeers + d.newResults
}

// selectTTL is dq_select_ttl: the lowest TTL whose horizon through p covers
// this ultrapeer's share of the hosts still needed, at the rate of kept
// results per ultrapeer reached so far.
func (d *dqQuery) selectTTL(p *link, candidates int) uint8 {
	kept := d.keptResults()
	needed := float64(d.maxResults - kept)
	perUP := math.Max(float64(kept)/math.Max(d.horizon, 1), 0.000001)
	viaNode := needed / perUP / float64(candidates)
	top := d.ttl
	if p.info.MaxTTL > 0 {
		top = min(top, p.info.MaxTTL)
	}
	for ttl := top; ttl > 0; ttl-- {
		if horizon(p.degree(), ttl) <= viaNode {
			return ttl
		}
	}
	return 1
}

// dqNext is dq_send_next: send d to one more ultrapeer, or end it. r.mu is held.
func (r *Router) dqNext(s *scratch, dst Actions, d *dqQuery, now time.Time) Actions {
	kept := d.keptResults()
	v := r.v.Load()
	end := numDQEnds
	switch {
	case !r.ultrapeer():
		end = DQLeafGone
	case d.horizon >= DQMaxHorizon:
		end = DQHorizon
	case kept >= d.maxResults:
		end = DQEnough
	case d.results > d.finResults:
		end = DQTooMuchRaw
	case d.upSent >= len(v.ups):
		end = DQAllQueried
	}
	if end != numDQEnds {
		r.dqEnd(d, end)
		return dst
	}
	// Candidates: not queried yet, or only probed; those whose table
	// matches first (node_mq_qrp_cmp).
	rc := routeCheck{s: s, q: &d.query}
	var matching, others []*link
	for _, p := range v.ups {
		if p.id == d.leaf || uint32(d.h.Hops) >= p.hopsFlow.Load() {
			continue
		}
		if mark, ok := d.queried[p.id]; ok && (mark&dqProbeBit == 0 || !p.info.ExtProbes) {
			continue
		}
		if p.qrt.Load() != nil && rc.canRoute(p) {
			matching = append(matching, p)
		} else {
			others = append(others, p)
		}
	}
	cands := append(matching, others...)
	for _, p := range cands {
		ttl := d.selectTTL(p, len(cands))
		if mark, ok := d.queried[p.id]; ok && mark&^dqProbeBit >= ttl {
			continue // probed already at that TTL
		}
		if ttl == 1 && !rc.canRoute(p) {
			continue
		}
		dst = r.dqSend(s, dst, d, p, ttl, false)
		r.stats.DQSteps.Add(1)
		if d.horizon > DQMinHorizon && float64(kept) < DQLowResults*d.horizon/DQMinHorizon {
			d.wait = max(d.wait-r.scaled(DQTimeoutAdjust), r.scaled(DQMinTimeout))
		}
		d.next = now.Add(d.wait)
		return dst
	}
	r.dqEnd(d, DQAllQueried)
	return dst
}

// dqEnd forgets d. r.mu is held.
func (r *Router) dqEnd(d *dqQuery, why DQEnd) {
	delete(r.dq, d.muid)
	if d.lmuid != d.muid {
		delete(r.dqLeafMUID, d.lmuid)
	}
	r.dqLen.Store(int32(len(r.dq)))
	r.stats.DQEnded[why].Add(1)
}

// dqDue is dq_results_expired: the wait after d's last step is over.
// r.mu is held.
func (r *Router) dqDue(s *scratch, dst Actions, d *dqQuery, now time.Time) Actions {
	if now.Sub(d.started) >= r.scaled(DQLifetime) {
		r.dqEnd(d, DQExpired)
		return dst
	}
	wasWaiting := d.waiting
	if d.waiting {
		d.waiting = false
		d.statTimeouts++
		if !d.gotGuidance && d.statTimeouts >= DQMaxStatTimeouts {
			d.guided = false // it probably does not do it
			if l := r.link(d.leaf); l != nil {
				l.guides.Store(false)
			}
		}
	}
	if d.leaf != routing.Local && !d.guided && !d.routingHits {
		r.dqEnd(d, DQUnguided)
		return dst
	}
	// Ask every DQStatThreshold ultrapeers, and (unlike gtk-gnutella)
	// before raw results would end the query: they may all be spam.
	due := d.upSent-d.lastStatus >= DQStatThreshold || d.keptResults() >= d.maxResults
	if wasWaiting || !d.guided || !due || (d.routingHits && d.newResults < DQMinForGuidance) {
		return r.dqNext(s, dst, d, now)
	}
	l := r.link(d.leaf)
	if l == nil {
		r.dqEnd(d, DQLeafGone)
		return dst
	}
	// Ask the leaf how many it kept, with the MUID it knows.
	d.waiting = true
	d.next = now.Add(r.scaled(DQStatusTimeout))
	r.stats.DQStatusAsked.Add(1)
	v := protocol.QueryStatusRequest{}.Vendor()
	return append(dst, Action{Kind: Send, Link: l.id, Priority: Own,
		Msg: protocol.AppendMessage(nil, protocol.Header{GUID: d.lmuid, Type: protocol.TypeVendor, TTL: 1}, &v)})
}

// dqHits counts n results routed back for the query g.
func (r *Router) dqHits(g protocol.GUID, n int) {
	if r.dqLen.Load() == 0 {
		return
	}
	r.mu.Lock()
	if d := r.dq[g]; d != nil {
		d.results += n
		d.newResults += n
	}
	r.mu.Unlock()
}

// Results counts n results for the query g that reached us outside the
// router (claimed out of band, for our search or a leaf's query we proxy).
func (r *Router) Results(g protocol.GUID, n int) { r.dqHits(g, n) }

// dqStatus takes a leaf's BEAR/12 for the query g (dq_got_query_status).
// r.mu is not held.
func (r *Router) dqStatus(s *scratch, dst Actions, l *link, g protocol.GUID, kept uint16, now time.Time) Actions {
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.dq[g]
	if d == nil {
		if m, ok := r.dqLeafMUID[g]; ok {
			d = r.dq[m]
		}
	}
	if d == nil || d.leaf != l.id {
		return dst // not its query
	}
	r.stats.DQGuidance.Add(1)
	if kept == protocol.QueryStatusStop {
		r.dqEnd(d, DQCancelled)
		return dst
	}
	d.kept, d.gotGuidance, d.lastStatus, d.newResults = int(kept), true, d.upSent, 0
	if !d.waiting {
		d.guided = true // unsolicited: it guides
		l.guides.Store(true)
		return dst
	}
	d.waiting = false
	return r.dqNext(s, dst, d, now)
}

// Tick runs the dynamic-query steps due at now.
func (r *Router) Tick(dst Actions, now time.Time) Actions {
	r.tick(now)
	if r.dqLen.Load() == 0 {
		return dst
	}
	s := r.getScratch()
	defer r.done(s)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, d := range r.dq {
		if d.next.IsZero() || now.Before(d.next) {
			continue
		}
		d.next = time.Time{}
		dst = r.dqDue(s, dst, d, now)
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
	for _, d := range r.dq {
		t := d.next
		if t.IsZero() {
			t = d.started.Add(r.scaled(DQLifetime))
		}
		if !ok || t.Before(at) {
			at, ok = t, true
		}
	}
	return at, ok
}

// Search sends our own query q with MUID g (Node.Search). As an
// ultrapeer: a dynamic query (flooded at MaxTTL with NoDynamicQuery). As a
// leaf: to every ultrapeer at MaxTTL; they query for us, and Kept tells
// them how many results we keep.
func (r *Router) Search(dst Actions, g protocol.GUID, q *protocol.Query, now time.Time) Actions {
	r.tick(now)
	r.ownAdd(g, now)
	payload := q.Append(nil)
	h := protocol.Header{GUID: g, Type: protocol.TypeQuery, TTL: r.cfg.MaxTTL}
	if r.ultrapeer() {
		s := r.getScratch()
		defer r.done(s)
		if !r.cfg.NoDynamicQuery {
			r.routes.AddTTL(g, protocol.TypeQuery, routing.Local, r.cfg.MaxTTL)
			if out, ok := r.dqLaunch(s, dst, nil, g, h, payload, q, now); ok {
				return out
			}
		}
		r.routes.Add(g, protocol.TypeQuery, routing.Local)
		fh := h
		fh.TTL = r.cfg.MaxTTL + 1
		return r.forwardQuery(s, dst, nil, fh, payload, q, r.cfg.MaxTTL, 0, true, true, Own)
	}
	r.routes.Add(g, protocol.TypeQuery, routing.Local)
	b := protocol.AppendMessage(nil, h, q)
	for _, l := range r.v.Load().ups {
		dst = append(dst, Action{Kind: Send, Link: l.id, Msg: b, Priority: Own})
	}
	return dst
}

// ownAdd records our search g (for BEAR/11 answers), forgetting the oldest
// beyond maxOwnSearches.
func (r *Router) ownAdd(g protocol.GUID, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.own) >= maxOwnSearches {
		var oldest protocol.GUID
		first := true
		for k, o := range r.own {
			if first || o.started.Before(r.own[oldest].started) {
				oldest, first = k, false
			}
		}
		delete(r.own, oldest)
	}
	r.own[g] = &ownSearch{started: now}
}

// Kept tells the router how many results of our search g the searcher
// kept after filtering. An ultrapeer's dynamic query counts these instead
// of the raw hits; a leaf tells its ultrapeers (BEAR/12, at most every
// StatusEvery per search).
func (r *Router) Kept(dst Actions, g protocol.GUID, kept int, now time.Time) Actions {
	r.tick(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	o := r.own[g]
	if o == nil {
		return dst
	}
	o.kept = kept
	if r.ultrapeer() {
		if d := r.dq[g]; d != nil && d.leaf == routing.Local {
			d.kept, d.gotGuidance = kept, true
		}
		return dst
	}
	if (kept == o.sentKept && !o.sentAt.IsZero()) || (!o.sentAt.IsZero() && now.Sub(o.sentAt) < StatusEvery) {
		return dst // the first report goes even when nothing was kept
	}
	o.sentKept, o.sentAt = kept, now
	return r.statusToUps(dst, g, uint16(min(kept, protocol.QueryStatusStop-1)))
}

// StopSearch ends our search g: an ultrapeer stops its dynamic query, a
// leaf tells its ultrapeers to stop (BEAR/12 0xFFFF).
func (r *Router) StopSearch(dst Actions, g protocol.GUID, now time.Time) Actions {
	r.tick(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.own[g] == nil {
		return dst
	}
	delete(r.own, g)
	if d := r.dq[g]; d != nil && d.leaf == routing.Local {
		r.dqEnd(d, DQCancelled)
	}
	if r.ultrapeer() {
		return dst
	}
	return r.statusToUps(dst, g, protocol.QueryStatusStop)
}

func (r *Router) statusToUps(dst Actions, g protocol.GUID, kept uint16) Actions {
	v := protocol.QueryStatusResponse{Hits: kept}.Vendor()
	b := protocol.AppendMessage(nil, protocol.Header{GUID: g, Type: protocol.TypeVendor, TTL: 1}, &v)
	for _, l := range r.v.Load().ups {
		dst = append(dst, Action{Kind: Send, Link: l.id, Msg: b, Priority: Own})
	}
	return dst
}

// answerStatus answers an ultrapeer's BEAR/11 for our search g: the
// results we kept, or 0xFFFF (stop) for a search we do not run
// (handle_qstat_req).
func (r *Router) answerStatus(dst Actions, l *link, g protocol.GUID) Actions {
	kept := uint16(protocol.QueryStatusStop)
	r.mu.Lock()
	if o := r.own[g]; o != nil {
		kept = uint16(min(o.kept, protocol.QueryStatusStop-1))
	}
	r.mu.Unlock()
	v := protocol.QueryStatusResponse{Hits: kept}.Vendor()
	return append(dst, Action{Kind: Send, Link: l.id, Priority: Own,
		Msg: protocol.AppendMessage(nil, protocol.Header{GUID: g, Type: protocol.TypeVendor, TTL: 1}, &v)})
}

// DQRunning is the number of dynamic queries running.
func (r *Router) DQRunning() int { return int(r.dqLen.Load()) }

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
