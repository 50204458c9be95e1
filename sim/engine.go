package sim

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/gnet"
	"github.com/servent/servent/servent/hitfilter"
)

// A discrete-event run of one policy: every node is a gnet.Router, a link
// is a pair of link IDs with a latency, and a descriptor in flight is an
// event on a virtual clock. One goroutine, no sockets.

// epoch is virtual time 0.
var epoch = time.Unix(1_000_000_000, 0)

// routeTableSize bounds each router's route and push tables: queries are
// spaced so that far fewer than this are in flight at once (a real node
// keeps 256k entries). A dynamic query runs for up to minutes of virtual
// time, so its policies keep more.
const (
	routeTableSize   = 32
	routeTableSizeDQ = 512
)

type policy struct {
	name    string
	flat    bool // every node a peer on the flat graph
	qrp     bool // leaves send their real tables (else a full one)
	lastHop bool // ultrapeers exchange last-hop tables
	dq      bool // dynamic querying for leaf queries
	guided  bool // leaves guide it: they flag their queries and report what their filter kept
	extra   bool // not in the default comparison
}

var policies = []policy{
	{name: "flood", flat: true},
	{name: "two-tier"},
	{name: "qrp", qrp: true},
	{name: "last-hop-qrp", qrp: true, lastHop: true},
	{name: "dq", qrp: true, lastHop: true, dq: true},
	{name: "dq-guided", qrp: true, lastHop: true, dq: true, guided: true, extra: true},
}

// spamResults is how many results a spammer answers with, each named after
// the query plus ".exe" (the hit filter's echoes-query rule).
const spamResults = 10

type simLink struct {
	peer   int32
	back   gnet.LinkID // the link's ID at the peer
	lat    int64       // one-way latency, virtual ms
	alive  bool
	peerUp bool
}

type simNode struct {
	r      *gnet.Router
	links  []simLink // link ID i+1
	wakeAt int64     // the pending wake event, 0: none
	up     bool
	dead   bool // left (churn)
}

type queryState struct {
	origin   int32
	words    string
	popular  bool
	issued   int64 // virtual ms; -1: not issued (origin gone)
	firstHit int64 // virtual ms after issue of the first true hit; -1: none
	results  int   // results the searcher's hit filter kept
	spam     int   // results it dropped (spammers')
	reached  int   // nodes that handled it (the origin excluded)
	second   bool  // dynamic querying sent a second step
}

const (
	evMsg uint8 = iota
	evWake
	evQuery
	evLeave
	evJoin
)

// event is something due at virtual millisecond at.
type event struct {
	at   int64
	seq  uint64
	msg  []byte
	node int32
	link gnet.LinkID
	kind uint8
}

// ringMs is the calendar queue's horizon: events due within it sit in
// per-millisecond buckets (O(1) in and out); later ones (queries planned
// ahead, churn) wait in a heap.
const ringMs = 8192

// queue orders events by time, FIFO within a millisecond.
type queue struct {
	ring   [ringMs][]event
	base   int64 // the millisecond being processed
	head   int   // next event in ring[base%ringMs]
	inRing int
	far    eventHeap
	seq    uint64
	spare  [][]event // drained buckets' slices, reused while still warm
}

func (q *queue) bucket(at int64) *[]event {
	b := &q.ring[at%ringMs]
	if *b == nil && len(q.spare) > 0 {
		*b = q.spare[len(q.spare)-1]
		q.spare = q.spare[:len(q.spare)-1]
	}
	return b
}

func (q *queue) len() int { return q.inRing + len(q.far) }

func (q *queue) push(e event) {
	q.seq++
	e.seq = q.seq
	e.at = max(e.at, q.base) // never in the past
	if e.at < q.base+ringMs {
		b := q.bucket(e.at)
		*b = append(*b, e)
		q.inRing++
		return
	}
	q.far.push(e)
}

func (q *queue) pop() event {
	for {
		b := &q.ring[q.base%ringMs]
		if q.head < len(*b) {
			e := (*b)[q.head]
			(*b)[q.head] = event{}
			q.head++
			q.inRing--
			return e
		}
		if cap(*b) > 0 {
			q.spare = append(q.spare, (*b)[:0])
		}
		*b, q.head = nil, 0
		if q.inRing == 0 {
			q.base = q.far[0].at // callers check len first
		} else {
			q.base++
		}
		for len(q.far) > 0 && q.far[0].at < q.base+ringMs {
			e := q.far.pop()
			r := q.bucket(e.at)
			*r = append(*r, e)
			q.inRing++
		}
	}
}

// eventHeap is a binary min-heap on (at, seq), written out to avoid
// container/heap's interface calls.
type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].before(&s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s[last] = event{}
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s[r].before(&s[l]) {
			m = r
		}
		if !s[m].before(&s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

func (e *event) before(o *event) bool {
	return e.at < o.at || (e.at == o.at && e.seq < o.seq)
}

// engine runs one policy on one network.
type engine struct {
	cfg     *Config
	pol     policy
	nw      *network
	ct      *content // nil: nobody shares (reach runs)
	spam    []bool
	rng     *rand.Rand
	nodes   []simNode
	events  *queue
	acts    gnet.Actions
	results []protocol.Result
	kept    gnet.Actions                // Kept's actions (hit runs inside do's loop over acts)
	filters map[int32]*hitfilter.Filter // per searching leaf: its karma is its own
	queries []queryState
	tally   tally
	once    map[uint64]bool // (query, node) pairs handled, when checking

	now        time.Time   // virtual time of the event being processed
	at         int32       // the node whose router is being called
	current    *queryState // the query being delivered, if it is one of ours
	currentIdx int
}

// tally is what a run counted.
type tally struct {
	msgs, bytes     [256]uint64 // sent, by descriptor type
	queryDeliveries uint64
	duplicates      uint64
	upDeliveries    uint64 // query copies between ultrapeers (peers when flat)
	lastHop         uint64 // of those, with TTL 1
	closed          uint64
	lost            uint64 // sent to a node that left
	twice           uint64 // a node handled a query twice (must stay 0)
}

func newEngine(cfg *Config, pol policy, nw *network, ct *content, spam []bool, maxTTL int, seed uint64) *engine {
	e := &engine{cfg: cfg, pol: pol, nw: nw, ct: ct, spam: spam, rng: rand.New(rand.NewPCG(seed, 0x5e12)), events: new(queue), now: epoch,
		filters: map[int32]*hitfilter.Filter{}}
	if cfg.checkOnce {
		e.once = map[uint64]bool{}
	}
	e.nodes = make([]simNode, len(nw.up))
	for i := range e.nodes {
		e.nodes[i] = simNode{up: nw.up[i], r: e.newRouter(int32(i), nw.up[i], maxTTL)}
	}
	for a, peers := range nw.links {
		for _, b := range peers {
			if int32(a) < b {
				e.connect(int32(a), b)
			}
		}
	}
	e.installTables()
	return e
}

func (e *engine) newRouter(i int32, up bool, maxTTL int) *gnet.Router {
	// Tables on the engine's clock: the router then keeps no clock of its own.
	clock := func() time.Time { return e.now }
	size := routeTableSize
	if e.pol.dq {
		size = routeTableSizeDQ
	}
	cfg := gnet.Config{
		GUID: serventGUID(i), Addr: fakeAddr(i), Ultrapeer: up, MaxTTL: uint8(maxTTL),
		NoFloodLimits: true, NoDynamicQuery: !e.pol.dq, Serial: true,
		Routes: routing.NewTable(size, 0, clock), Pushes: routing.NewPushTable(routeTableSize, 0, clock),
	}
	switch {
	case e.spam != nil && e.spam[i]:
		cfg.Lookup = func(q *protocol.Query) []protocol.Result {
			e.handled()
			e.results = e.results[:0]
			for k := range spamResults {
				e.results = append(e.results, protocol.Result{Index: uint32(k + 1), Size: uint64(1<<20 + k), Name: q.Criteria + ".exe"})
			}
			return e.results
		}
	case e.ct != nil && len(e.ct.library[i]) > 0:
		cfg.Lookup = func(q *protocol.Query) []protocol.Result {
			e.handled()
			e.results = e.ct.lookup(i, q, e.results[:0])
			return e.results
		}
	default:
		cfg.Lookup = func(*protocol.Query) []protocol.Result {
			e.handled()
			return nil
		}
	}
	return gnet.New(cfg)
}

// connect opens a link between a and b on both routers.
func (e *engine) connect(a, b int32) {
	lo, hi := e.cfg.LatencyMin.Milliseconds(), e.cfg.LatencyMax.Milliseconds()
	lat := lo + e.rng.Int64N(hi-lo+1)
	na, nb := &e.nodes[a], &e.nodes[b]
	ida, idb := gnet.LinkID(len(na.links)+1), gnet.LinkID(len(nb.links)+1)
	na.links = append(na.links, simLink{peer: b, back: idb, lat: lat, alive: true, peerUp: nb.up})
	nb.links = append(nb.links, simLink{peer: a, back: ida, lat: lat, alive: true, peerUp: na.up})
	now := epoch
	na.r.LinkOpened(ida, gnet.LinkInfo{Ultrapeer: nb.up, ExtProbes: true, Addr: fakeAddr(b), Listen: fakeAddr(b)}, now)
	nb.r.LinkOpened(idb, gnet.LinkInfo{Ultrapeer: na.up, ExtProbes: true, Addr: fakeAddr(a), Listen: fakeAddr(a)}, now)
}

// installTables gives each ultrapeer its leaves' QRP tables and, for
// last-hop QRP, its ultrapeer neighbours' merged tables. Tables are static
// for the run (a real node sends changes as patches).
func (e *engine) installTables() {
	if e.pol.flat || e.ct == nil {
		return
	}
	var upTables map[int32]*protocol.QRPTable
	if e.pol.lastHop {
		upTables = map[int32]*protocol.QRPTable{}
		for u, up := range e.nw.up {
			if up {
				upTables[int32(u)] = e.ct.upTable(e.nw, int32(u), e.spam)
			}
		}
	}
	for u := range e.nodes {
		n := &e.nodes[u]
		if !n.up {
			continue
		}
		for i, l := range n.links {
			e.setTable(n, gnet.LinkID(i+1), l.peer, upTables)
		}
	}
}

func (e *engine) setTable(n *simNode, id gnet.LinkID, peer int32, upTables map[int32]*protocol.QRPTable) {
	switch {
	case e.nodes[peer].up:
		if t := upTables[peer]; t != nil {
			n.r.SetQRT(id, t)
		}
	case e.pol.qrp:
		n.r.SetQRT(id, e.ct.leafTable(peer, e.spam))
	default:
		n.r.SetQRT(id, e.ct.full) // two-tier without QRP: every leaf gets every query
	}
}

func (e *engine) schedule(ev event) { e.events.push(ev) }

// run processes events until none is left.
func (e *engine) run(progress func(done int)) {
	issued := 0
	for e.events.len() > 0 {
		ev := e.events.pop()
		now := epoch.Add(time.Duration(ev.at) * time.Millisecond)
		e.now = now
		n := &e.nodes[ev.node]
		switch ev.kind {
		case evMsg:
			e.deliver(ev, now)
		case evWake:
			if ev.at != n.wakeAt || n.dead {
				continue
			}
			n.wakeAt = 0
			e.acts = n.r.Tick(e.acts[:0], now)
			e.do(ev.node, ev.at, true)
		case evQuery:
			e.issue(int(ev.link), ev.at, now)
			issued++
			if progress != nil {
				progress(issued)
			}
		case evLeave:
			e.leave(ev.node, now)
			e.schedule(event{at: ev.at + time.Minute.Milliseconds(), node: ev.node, kind: evJoin})
		case evJoin:
			e.join(ev.node, now)
		}
		e.wake(ev.node, ev.at)
	}
}

func (e *engine) deliver(ev event, now time.Time) {
	n := &e.nodes[ev.node]
	if n.dead {
		e.tally.lost++
		return
	}
	var h protocol.Header
	if h.Decode(ev.msg) != nil {
		return
	}
	// A router ignores what arrives on a link it closed (churn).
	e.at = ev.node
	if h.Type == protocol.TypeQuery {
		e.tally.queryDeliveries++
		e.current = e.query(h.GUID)
		e.currentIdx = queryIndex(h.GUID)
	}
	e.acts = n.r.Receive(e.acts[:0], ev.link, h, ev.msg[protocol.HeaderLen:], now)
	e.current = nil
	e.do(ev.node, ev.at, false)
}

// handled is called by every router's Lookup: the router found the
// query new (it looks up each new query once), so node e.at was reached.
func (e *engine) handled() {
	q := e.current
	if q == nil {
		return
	}
	q.reached++
	if e.once != nil {
		k := uint64(e.currentIdx)<<32 | uint64(e.at)
		if e.once[k] {
			e.tally.twice++
		}
		e.once[k] = true
	}
}

// do carries out the actions in e.acts of node u at virtual time at.
func (e *engine) do(u int32, at int64, fromTick bool) { e.doActs(u, at, fromTick, e.acts) }

func (e *engine) doActs(u int32, at int64, fromTick bool, acts gnet.Actions) {
	n := &e.nodes[u]
	for i := range acts {
		a := &acts[i]
		switch a.Kind {
		case gnet.Send:
			l := n.links[a.Link-1]
			if !l.alive {
				continue
			}
			typ := a.Msg[16]
			e.tally.msgs[typ]++
			e.tally.bytes[typ] += uint64(len(a.Msg))
			if protocol.PayloadType(typ) == protocol.TypeQuery {
				if n.up && l.peerUp {
					e.tally.upDeliveries++
					if a.Msg[17] == 1 {
						e.tally.lastHop++
					}
				}
				if fromTick {
					if q := e.query(protocol.GUID(a.Msg[:16])); q != nil {
						q.second = true
					}
				}
			}
			e.schedule(event{at: at + l.lat, node: l.peer, link: l.back, msg: a.Msg})
		case gnet.Deliver:
			e.hit(u, a.Msg, at)
		case gnet.Drop:
			if a.Reason == gnet.ReasonDuplicate {
				e.tally.duplicates++
			}
		case gnet.Close:
			e.tally.closed++
		}
	}
}

// hit counts a QueryHit delivered to the querying node u, whose hit
// filter sorts spam from results (a guiding leaf then tells its
// ultrapeers how many it kept).
func (e *engine) hit(u int32, msg []byte, at int64) {
	g := protocol.GUID(msg[:16])
	q := e.query(g)
	if q == nil {
		return
	}
	var h protocol.QueryHit
	if h.Decode(msg[protocol.HeaderLen:]) != nil {
		return
	}
	f := e.filters[u]
	if f == nil {
		f = hitfilter.New(nil, nil, false)
		e.filters[u] = f
	}
	v := f.Check(hitfilter.NewQuery(q.words), &h, e.now)
	kept := v.Kept()
	q.spam += len(h.Results) - kept
	if kept == 0 {
		return
	}
	q.results += kept
	if q.firstHit < 0 {
		q.firstHit = at - q.issued
	}
	if e.pol.guided {
		e.kept = e.nodes[u].r.Kept(e.kept[:0], g, q.results, e.now)
		e.doActs(u, at, false, e.kept)
	}
}

// wake schedules node u's next timer, if it has one.
func (e *engine) wake(u int32, now int64) {
	n := &e.nodes[u]
	at, ok := n.r.NextWake()
	if !ok {
		return
	}
	t := max((at.Sub(epoch)+time.Millisecond-1)/time.Millisecond, time.Duration(now))
	if t == 0 {
		t = 1 // 0 means no wake pending
	}
	if n.wakeAt == 0 || int64(t) < n.wakeAt {
		n.wakeAt = int64(t)
		e.schedule(event{at: int64(t), node: u, kind: evWake})
	}
}

// issue starts query qi from its origin.
func (e *engine) issue(qi int, at int64, now time.Time) {
	q := &e.queries[qi]
	n := &e.nodes[q.origin]
	if n.dead {
		q.issued = -1
		return
	}
	q.issued = at
	pq := protocol.Query{Flags: protocol.FlagMark | protocol.FlagGGEPH, Criteria: q.words}
	if e.pol.guided {
		pq.Flags |= protocol.FlagLeafGuided
	}
	e.acts = n.r.Search(e.acts[:0], queryGUID(qi), &pq, now)
	e.do(q.origin, at, false)
}

// leave takes node u off the network: its links close on both sides.
func (e *engine) leave(u int32, now time.Time) {
	n := &e.nodes[u]
	if n.dead {
		return
	}
	n.dead = true
	for i := range n.links {
		l := &n.links[i]
		if !l.alive {
			continue
		}
		l.alive = false
		n.r.LinkClosed(gnet.LinkID(i+1), now)
		p := &e.nodes[l.peer]
		p.links[l.back-1].alive = false
		p.r.LinkClosed(l.back, now)
	}
}

// join brings node u back as a fresh servent (new routing state) with new
// links to random live ultrapeers (peers when flat), as many as it had at
// the start. Ultrapeers keep their last-hop tables of the start.
func (e *engine) join(u int32, now time.Time) {
	n := &e.nodes[u]
	want := len(e.nw.links[u])
	n.dead = false
	n.r = e.newRouter(u, n.up, int(e.cfg.maxTTL(e.pol)))
	for i := range n.links {
		n.links[i].alive = false // IDs are never reused
	}
	for tries := 0; want > 0 && tries < 100*want; tries++ {
		p := int32(e.rng.IntN(len(e.nodes)))
		if p == u || e.nodes[p].dead || !e.nodes[p].up || e.linked(u, p) {
			continue
		}
		e.connect(u, p)
		want--
		if !e.pol.flat && e.ct != nil {
			pn := &e.nodes[p]
			e.setTable(pn, gnet.LinkID(len(pn.links)), u, nil)
		}
	}
}

func (e *engine) linked(a, b int32) bool {
	for _, l := range e.nodes[a].links {
		if l.alive && l.peer == b {
			return true
		}
	}
	return false
}

func (e *engine) query(g protocol.GUID) *queryState {
	i := queryIndex(g)
	if i < 0 || i >= len(e.queries) {
		return nil
	}
	return &e.queries[i]
}

// Query and servent GUIDs carry their index, so that the engine finds them
// without a map: bytes 0-3 the index, 4-7 a tag, 8 and 15 as NewGUID.
func queryGUID(i int) protocol.GUID     { return tagged(uint32(i), "QURY") }
func serventGUID(i int32) protocol.GUID { return tagged(uint32(i), "NODE") }

func tagged(i uint32, tag string) protocol.GUID {
	var g protocol.GUID
	binary.LittleEndian.PutUint32(g[:4], i)
	copy(g[4:8], tag)
	g[8] = 0xff
	return g
}

func untag(g protocol.GUID, tag string) int {
	if string(g[4:8]) != tag {
		return -1
	}
	return int(binary.LittleEndian.Uint32(g[:4]))
}

func queryIndex(g protocol.GUID) int { return untag(g, "QURY") }

// fakeAddr is node i's address in hits: 10.0.0.0/8, port 6346.
func fakeAddr(i int32) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 6346)
}
