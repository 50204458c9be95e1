// Package gnet is the socket-free routing core of a Gnutella 0.6 servent
// (issue 12 item 1): one Router owns the state that decides what happens
// to a descriptor (route and push tables, pong cache, per-link QRP tables,
// TTL rules, dedup, dynamic querying, per-link abuse counters and flood
// meters) and answers plain calls with Actions. It starts no goroutine and
// reads no clock, socket or file: time is always an argument, and work it
// wants later is announced by NextWake. Receive may run concurrently for
// different links (a node has a reader per connection), never twice at
// once for one link; every other method is safe from any goroutine.
//
// The rules are ports of servent/handle.go, dq.go, qrp.go and pongcache.go;
// each function names the node function it follows. It lives under
// servent/ (not routing/) because it uses servent/flood, and routing/ must
// not import servent packages.
package gnet

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/flood"
)

// LinkID names a link; 0 (routing.Local) is ourselves and is never a link.
// IDs must not be reused (routing.Table invalidates routes lazily).
type LinkID = routing.ConnID

// Thresholds, as servent/handle.go and servent/dq.go.
const (
	AbuseWindow  = 10 * time.Second
	MaxBadMsgs   = 50
	MaxDupMsgs   = 500
	PingEvery    = 2 * time.Second
	MaxHitBatch  = 10
	HitSpeed     = 1000
	MaxPongsOut  = 10
	PongLifeUP   = 20 * time.Second
	PongLifeLeaf = 120 * time.Second
	PongCacheMax = 256
)

// Config is what the router knows about its node.
type Config struct {
	GUID       protocol.GUID  // our servent GUID (hits, pushes to us)
	Addr       netip.AddrPort // the address in our hits and pongs
	Ultrapeer  bool
	Firewalled bool
	NoIPv6     bool  // pongs naming IPv6 hosts are not taken
	MaxTTL     uint8 // 0: routing.DefaultMaxTTL
	// DQTimeScale multiplies every dynamic-query timing (tests run them
	// faster); 0: 1.
	DQTimeScale float64
	// Lookup answers a query from the library (nil: we share nothing).
	Lookup func(q *protocol.Query) []protocol.Result
	// Files and KB are what our own pong announces.
	Files, KB uint32
	// NoFloodLimits disables the per-link flood meters (load tests).
	NoFloodLimits bool
	// NoDynamicQuery floods a leaf's query at once at MaxTTL-1, and ours
	// at MaxTTL, instead of querying dynamically (the simulator's policies
	// without DQ).
	NoDynamicQuery bool
	// The node's shell fills these when it is switched onto the Router;
	// nil gives the simple defaults (the simulator's).
	// HitAddr is the address put in hits and pongs sent on a link
	// (Node.hitAddr: advertised, else the link's local address); nil: Addr.
	HitAddr func(LinkID) netip.AddrPort
	// OwnPong describes us on a link (Node.ownPong: GUE, UP slots); nil: a
	// pong with HitAddr, Files, KB and the VC extension.
	OwnPong func(LinkID) *protocol.Pong
	// PushProxies go in our hits when firewalled (Node.pushProxies).
	PushProxies func() []netip.AddrPort
	// FirewalledNow, when set, replaces Firewalled: the node's verdict
	// changes while it runs (Node.firewalled).
	FirewalledNow func() bool
	// IsSelf, when set, says whether a pong's address is ours (Node.isSelf:
	// every address we listen on or were seen at); nil compares with Addr.
	IsSelf func(netip.AddrPort) bool
	// ShellAnswers: a new query is not looked up here but handed to the
	// shell as an Answer action (the node answers outside the router's
	// lock, with OOB and its test hooks). Lookup is then unused.
	ShellAnswers bool
	// ProxyQuery may rewrite a new query of a leaf before it is forwarded
	// (Node.oobProxyQuery: a fresh MUID with the OOB flag). It must not
	// call the router.
	ProxyQuery func(from LinkID, h protocol.Header, payload []byte, q *protocol.Query) (protocol.Header, []byte)
	// Routes and Pushes, when set, are the tables to use (the node shares
	// its own with its search, UDP and transfer code; they lock
	// themselves). nil: the router makes its own on its call clock.
	Routes *routing.Table
	Pushes *routing.PushTable
	// TableSize bounds the tables the router makes itself (0: routing's
	// default, 256k entries); the simulator keeps 10,000 routers small.
	TableSize int
	// RouteStats, when set, counts failed TTL/hops checks (with Routes:
	// the stats those tables count into).
	RouteStats *routing.Stats
	// Stats, when set, receives the counters (the node's, read by its
	// status and tests); nil: the router's own.
	Stats *Stats
	// Serial promises that calls never overlap (the simulator): the router
	// keeps one working buffer instead of a pool of them.
	Serial bool
}

// OurVersion is the version byte of our VC extension (handle.go ourVersion).
const OurVersion = 0x01

// LinkInfo is what the handshake told us about a link.
type LinkInfo struct {
	Ultrapeer bool  // the peer is an ultrapeer (else a leaf, or a peer when we are a leaf)
	UpQRP     bool  // X-Ultrapeer-Query-Routing: it wants our last-hop table
	MaxTTL    uint8 // its X-Max-TTL, 0 if none
	Degree    int   // its X-Degree, 0 if none
	// ExtProbes: it re-forwards a query seen at a lower TTL when it comes
	// again with a higher one (X-Ext-Probes, or gtk-gnutella), so a
	// dynamic query may probe it at a low TTL and query it again later.
	ExtProbes bool
	Addr      netip.AddrPort // its remote address
	Listen    netip.AddrPort // its listening address, if known
}

// link is one open link. Its abuse, flood and QRP state belong to the
// caller of Receive for it; qrt and hopsFlow are read by other links'
// calls, hence atomic.
type link struct {
	id       LinkID
	info     LinkInfo
	hopsFlow atomic.Uint32 // queries with hops >= this are not sent; 256 = all
	guides   atomic.Bool   // a leaf that answers BEAR/11 (Messages Supported, or it did)
	qrt      atomic.Pointer[routing.QueryRouteTable]
	qrpRecv  *protocol.QRPReceiver // made on the first QRP message
	meter    *flood.Meter          // nil: NoFloodLimits
	winStart time.Time
	winBad   int
	winDups  int
	lastPing time.Time
	scratch  *scratch // Receive's working buffers (not with Config.Serial)
}

// view is the open links, replaced whole (copy on write) when one opens or
// closes, so that Receive reads it without a lock.
type view struct {
	byID   map[LinkID]*link
	dense  []*link // byID[id] for small IDs: one memory access instead of a map probe
	ups    []*link // open order, as the node's snapshot
	leaves []*link
}

// scratch is one call's working memory: decode buffers, and the arena the
// forwarded copies are cut from. Receive uses its link's; Search, Tick and
// QueryLeaves take one from a pool.
type scratch struct {
	query protocol.Query // decoded in place (DecodeShared)
	pong  protocol.Pong
	hash  routing.QueryHashes
	arena []byte
}

type pongEntry struct {
	addr    netip.AddrPort
	payload []byte
	hops    uint8
	from    LinkID
	up      bool
	at      time.Time
}

// Router is one node's routing state. Make it with New.
type Router struct {
	cfg    Config
	up     atomic.Bool
	fw     atomic.Bool
	now    atomic.Int64 // unix ns of the latest call: the clock of the tables the router made
	origin atomic.Int64 // unix ns of the first call: those tables count from it (their stamps span ~18 years)
	v      atomic.Pointer[view]
	routes *routing.Table
	pushes *routing.PushTable
	rstats *routing.Stats
	stats  *Stats
	pool   sync.Pool // *scratch
	serial *scratch  // Config.Serial: the only one
	// ownClock is 1 when the router made a table itself: only then does it
	// keep the time of the latest call.
	ownClock int

	mu         sync.Mutex // guards what follows, and view changes
	pongs      map[netip.AddrPort]*pongEntry
	dq         map[protocol.GUID]*dqQuery
	dqLeafMUID map[protocol.GUID]protocol.GUID // a proxied leaf query's MUID -> ours
	dqLen      atomic.Int32                    // len(dq), read without the lock
	own        map[protocol.GUID]*ownSearch
}

// New makes a router.
func New(cfg Config) *Router {
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = routing.DefaultMaxTTL
	}
	r := &Router{cfg: cfg, pongs: map[netip.AddrPort]*pongEntry{}, dq: map[protocol.GUID]*dqQuery{},
		dqLeafMUID: map[protocol.GUID]protocol.GUID{}, own: map[protocol.GUID]*ownSearch{}, stats: cfg.Stats}
	r.up.Store(cfg.Ultrapeer)
	r.fw.Store(cfg.Firewalled)
	r.v.Store(&view{byID: map[LinkID]*link{}})
	r.pool.New = func() any { return new(scratch) }
	if cfg.Serial {
		r.serial = new(scratch)
	}
	if r.stats == nil {
		r.stats = new(Stats)
	}
	r.rstats = cfg.RouteStats
	if r.rstats == nil {
		r.rstats = new(routing.Stats)
	}
	clock := func() time.Time { return time.Unix(0, r.now.Load()-r.origin.Load()) }
	alive := func(id LinkID) bool { return r.link(id) != nil }
	r.routes, r.pushes = cfg.Routes, cfg.Pushes
	if r.routes == nil || r.pushes == nil {
		r.ownClock = 1
	}
	if r.routes == nil {
		r.routes = routing.NewTable(cfg.TableSize, 0, clock, routing.WithStats(r.rstats), routing.WithAlive(alive))
	}
	if r.pushes == nil {
		r.pushes = routing.NewPushTable(cfg.TableSize, 0, clock, routing.WithStats(r.rstats), routing.WithAlive(alive))
	}
	return r
}

// Stats is the router's counters; they may be read while it runs.
func (r *Router) Stats() *Stats { return r.stats }

// RouteStats is the route and push tables' counters.
func (r *Router) RouteStats() routing.Counters { return r.rstats.Snapshot() }

// SetUltrapeer switches the role (promotion).
func (r *Router) SetUltrapeer(up bool) { r.up.Store(up) }

// SetFirewalled follows the node's reachability verdict (Node.firewalled).
func (r *Router) SetFirewalled(fw bool) { r.fw.Store(fw) }

func (r *Router) ultrapeer() bool { return r.up.Load() }

func (r *Router) firewalled() bool {
	if r.cfg.FirewalledNow != nil {
		return r.cfg.FirewalledNow()
	}
	return r.fw.Load()
}

func (r *Router) isSelf(a netip.AddrPort) bool {
	if r.cfg.IsSelf != nil {
		return r.cfg.IsSelf(a)
	}
	return a == r.cfg.Addr
}

func (r *Router) hitAddr(id LinkID) netip.AddrPort {
	if r.cfg.HitAddr != nil {
		return r.cfg.HitAddr(id)
	}
	return r.cfg.Addr
}

func (r *Router) tick(now time.Time) {
	if r.ownClock == 0 {
		return // the tables are the caller's, on its clock: no shared write per call
	}
	ns := now.UnixNano()
	if r.origin.Load() == 0 {
		r.origin.CompareAndSwap(0, ns)
	}
	for {
		old := r.now.Load()
		if ns <= old || r.now.CompareAndSwap(old, ns) {
			return
		}
	}
}

// LinkOpened adds a link after its handshake (node.go addConn).
func (r *Router) LinkOpened(id LinkID, info LinkInfo, now time.Time) {
	r.tick(now)
	l := &link{id: id, info: info}
	l.hopsFlow.Store(256)
	var m flood.Meter
	switch { // Node.floodMeter
	case r.cfg.NoFloodLimits:
	case info.Ultrapeer:
		m = flood.NewMeter(flood.ForUltrapeer())
		l.meter = &m
	default:
		m = flood.NewMeter(flood.ForLeaf())
		l.meter = &m
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.v.Load()
	if id == routing.Local || old.byID[id] != nil {
		return
	}
	v := &view{byID: make(map[LinkID]*link, len(old.byID)+1), ups: old.ups, leaves: old.leaves, dense: old.dense}
	for k, x := range old.byID {
		v.byID[k] = x
	}
	v.byID[id] = l
	if id < maxDense {
		v.dense = make([]*link, max(len(old.dense), int(id)+1))
		copy(v.dense, old.dense)
		v.dense[id] = l
	}
	if info.Ultrapeer {
		v.ups = append(old.ups[:len(old.ups):len(old.ups)], l)
	} else {
		v.leaves = append(old.leaves[:len(old.leaves):len(old.leaves)], l)
	}
	r.v.Store(v)
}

// LinkClosed forgets a link; its routes die with it (WithAlive).
func (r *Router) LinkClosed(id LinkID, now time.Time) {
	r.tick(now)
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.v.Load()
	l := old.byID[id]
	if l == nil {
		return
	}
	v := &view{byID: make(map[LinkID]*link, len(old.byID)), ups: remove(old.ups, l), leaves: remove(old.leaves, l), dense: old.dense}
	for k, x := range old.byID {
		if k != id {
			v.byID[k] = x
		}
	}
	if id < LinkID(len(old.dense)) {
		v.dense = append([]*link(nil), old.dense...)
		v.dense[id] = nil
	}
	r.v.Store(v)
	for _, d := range r.dq {
		if d.leaf == id {
			r.dqEnd(d, DQLeafGone)
		}
	}
}

// maxDense bounds the IDs kept in view.dense: the simulator numbers a
// node's links from 1, a node numbers its connections from 1 as they come.
const maxDense = 4096

// link is the open link id, or nil.
func (r *Router) link(id LinkID) *link { return r.v.Load().get(id) }

func (v *view) get(id LinkID) *link {
	if id < LinkID(len(v.dense)) {
		return v.dense[id]
	}
	return v.byID[id]
}

// remove returns s without l, in a new array (views are shared).
func remove(s []*link, l *link) []*link {
	out := make([]*link, 0, len(s))
	for _, x := range s {
		if x != l {
			out = append(out, x)
		}
	}
	return out
}

// Links is the number of open links.
func (r *Router) Links() int { return len(r.v.Load().byID) }

// QRT is the complete QRP table received on a link, or nil.
func (r *Router) QRT(id LinkID) *routing.QueryRouteTable {
	if l := r.link(id); l != nil {
		return l.qrt.Load()
	}
	return nil
}

// SetQRT installs a link's QRP table directly (tests, the simulator).
func (r *Router) SetQRT(id LinkID, t *protocol.QRPTable) {
	if l := r.link(id); l != nil {
		l.qrt.Store(routing.NewQueryRouteTable(t))
	}
}

func (r *Router) getScratch() *scratch {
	if r.serial != nil {
		return r.serial
	}
	return r.pool.Get().(*scratch)
}

func (r *Router) done(s *scratch) {
	s.query = protocol.Query{} // no reference to a payload outlives the call
	if r.serial == nil {
		r.pool.Put(s)
	}
}

// alloc carves size bytes out of the arena: the forwarded form of a
// descriptor is built once and shared by every Send, and the arena saves an
// allocation per message. Slices handed out stay valid: a full chunk is
// replaced, never reused. A chunk lives as long as its last queued message,
// so a send queue keeping one message of every chunk pins a chunk per
// message: 16 KiB bounds that while one allocation still serves ~250
// queries.
func (s *scratch) alloc(size int) []byte {
	const chunk = 16 << 10
	if size > chunk/8 {
		return make([]byte, size)
	}
	if cap(s.arena)-len(s.arena) < size {
		s.arena = make([]byte, 0, chunk)
	}
	n := len(s.arena)
	s.arena = s.arena[:n+size]
	return s.arena[n : n+size : n+size]
}

func (s *scratch) relayed(h protocol.Header, ttl, hops uint8, payload []byte) []byte {
	b := s.alloc(protocol.HeaderLen + len(payload))
	h.TTL, h.Hops, h.Length = ttl, hops, uint32(len(payload))
	h.Append(b[:0])
	copy(b[protocol.HeaderLen:], payload)
	return b
}
