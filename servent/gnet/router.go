// Package gnet is the socket-free routing core of a Gnutella 0.6 servent
// (issue 12 item 1): one Router owns the state that decides what happens
// to a descriptor (route and push tables, pong cache, per-link QRP tables,
// TTL rules, dedup, dynamic querying, per-link abuse counters and flood
// meters) and answers plain calls with Actions. It starts no goroutine and
// reads no clock, socket or file: time is always an argument, and work it
// wants later is announced by NextWake. It is not safe for concurrent use;
// the node's shell (or the simulator) serialises calls.
//
// The rules are ports of servent/handle.go, dq.go, qrp.go and pongcache.go;
// each function names the node function it follows. It lives under
// servent/ (not routing/) because it uses servent/flood, and routing/ must
// not import servent packages.
package gnet

import (
	"net/netip"
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
	DQWait       = 4 * time.Second
	DQEnoughHits = 50
	DQMax        = 1024
	DQForget     = 10 * time.Minute
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
	MaxTTL     uint8         // 0: routing.DefaultMaxTTL
	DQWait     time.Duration // 0: DQWait
	// Lookup answers a query from the library (nil: we share nothing).
	Lookup func(q *protocol.Query) []protocol.Result
	// Files and KB are what our own pong announces.
	Files, KB uint32
	// NoFloodLimits disables the per-link flood meters (load tests).
	NoFloodLimits bool
	// NoDynamicQuery sends a leaf's query at once at MaxTTL-1 instead of
	// probing at TTL 2 first (the simulator's policies without DQ).
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
}

// OurVersion is the version byte of our VC extension (handle.go ourVersion).
const OurVersion = 0x01

// LinkInfo is what the handshake told us about a link.
type LinkInfo struct {
	Ultrapeer bool           // the peer is an ultrapeer (else a leaf, or a peer when we are a leaf)
	UpQRP     bool           // X-Ultrapeer-Query-Routing: it wants our last-hop table
	MaxTTL    uint8          // its X-Max-TTL, 0 if none
	Addr      netip.AddrPort // its remote address
	Listen    netip.AddrPort // its listening address, if known
}

type link struct {
	id       LinkID
	info     LinkInfo
	hopsFlow uint32 // queries with hops >= this are not sent; 256 = all
	qrt      *routing.QueryRouteTable
	qrpRecv  *protocol.QRPReceiver // made on the first QRP message
	meter    *flood.Meter          // nil: NoFloodLimits
	winStart time.Time
	winBad   int
	winDups  int
	lastPing time.Time
}

type pongEntry struct {
	addr    netip.AddrPort
	payload []byte
	hops    uint8
	from    LinkID
	up      bool
	at      time.Time
}

type dqQuery struct {
	leaf    LinkID
	payload []byte
	started time.Time
	results int
}

// Router is one node's routing state. Make it with New.
type Router struct {
	cfg    Config
	now    time.Time // the time of the current call; the tables' clock
	links  map[LinkID]*link
	dense  []*link // links[id] for small IDs: one memory access instead of a map probe
	ups    []*link // open order, as the node's snapshot
	leaves []*link
	routes *routing.Table
	pushes *routing.PushTable
	rstats *routing.Stats
	pongs  map[netip.AddrPort]*pongEntry
	dq     map[protocol.GUID]*dqQuery
	stats  *Stats

	query protocol.Query // decoded in place (DecodeShared)
	pong  protocol.Pong
	hash  routing.QueryHashes
	arena []byte
	byTTL [16][]byte
}

// New makes a router.
func New(cfg Config) *Router {
	if cfg.MaxTTL == 0 {
		cfg.MaxTTL = routing.DefaultMaxTTL
	}
	if cfg.DQWait == 0 {
		cfg.DQWait = DQWait
	}
	r := &Router{cfg: cfg, links: map[LinkID]*link{}, pongs: map[netip.AddrPort]*pongEntry{}, dq: map[protocol.GUID]*dqQuery{}, stats: cfg.Stats}
	if r.stats == nil {
		r.stats = new(Stats)
	}
	r.rstats = cfg.RouteStats
	if r.rstats == nil {
		r.rstats = new(routing.Stats)
	}
	clock := func() time.Time { return r.now }
	alive := func(id LinkID) bool { return r.link(id) != nil }
	r.routes, r.pushes = cfg.Routes, cfg.Pushes
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
func (r *Router) SetUltrapeer(up bool) { r.cfg.Ultrapeer = up }

// SetFirewalled follows the node's reachability verdict (Node.firewalled).
func (r *Router) SetFirewalled(fw bool) { r.cfg.Firewalled = fw }

func (r *Router) firewalled() bool {
	if r.cfg.FirewalledNow != nil {
		return r.cfg.FirewalledNow()
	}
	return r.cfg.Firewalled
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
	if now.After(r.now) {
		r.now = now
	}
}

// LinkOpened adds a link after its handshake (node.go addConn).
func (r *Router) LinkOpened(id LinkID, info LinkInfo, now time.Time) {
	r.tick(now)
	if id == routing.Local || r.link(id) != nil {
		return
	}
	l := &link{id: id, info: info, hopsFlow: 256}
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
	r.links[id] = l
	if id < maxDense {
		if int(id) >= len(r.dense) {
			r.dense = append(r.dense, make([]*link, int(id)+1-len(r.dense))...)
		}
		r.dense[id] = l
	}
	if info.Ultrapeer {
		r.ups = append(r.ups, l)
	} else {
		r.leaves = append(r.leaves, l)
	}
}

// LinkClosed forgets a link; its routes die with it (WithAlive).
func (r *Router) LinkClosed(id LinkID, now time.Time) {
	r.tick(now)
	l := r.link(id)
	if l == nil {
		return
	}
	delete(r.links, id)
	if id < LinkID(len(r.dense)) {
		r.dense[id] = nil
	}
	r.ups = remove(r.ups, l)
	r.leaves = remove(r.leaves, l)
}

// maxDense bounds the IDs kept in Router.dense: the simulator numbers a
// node's links from 1, a node numbers its connections from 1 as they come.
const maxDense = 4096

// link is the open link id, or nil.
func (r *Router) link(id LinkID) *link {
	if id < LinkID(len(r.dense)) {
		return r.dense[id]
	}
	return r.links[id]
}

func remove(s []*link, l *link) []*link {
	for i, x := range s {
		if x == l {
			copy(s[i:], s[i+1:])
			s[len(s)-1] = nil
			return s[:len(s)-1]
		}
	}
	return s
}

// Links is the number of open links.
func (r *Router) Links() int { return len(r.links) }

// QRT is the complete QRP table received on a link, or nil.
func (r *Router) QRT(id LinkID) *routing.QueryRouteTable {
	if l := r.link(id); l != nil {
		return l.qrt
	}
	return nil
}

// SetQRT installs a link's QRP table directly (tests, the simulator).
func (r *Router) SetQRT(id LinkID, t *protocol.QRPTable) {
	if l := r.link(id); l != nil {
		l.qrt = routing.NewQueryRouteTable(t)
	}
}

// alloc carves size bytes out of the router's arena (conn.alloc): the
// forwarded form of a descriptor is built once and shared by every Send.
// Slices handed out stay valid: a full chunk is replaced, never reused.
func (r *Router) alloc(size int) []byte {
	const chunk = 16 << 10
	if size > chunk/8 {
		return make([]byte, size)
	}
	if cap(r.arena)-len(r.arena) < size {
		r.arena = make([]byte, 0, chunk)
	}
	n := len(r.arena)
	r.arena = r.arena[:n+size]
	return r.arena[n : n+size : n+size]
}

func (r *Router) relayed(h protocol.Header, ttl, hops uint8, payload []byte) []byte {
	b := r.alloc(protocol.HeaderLen + len(payload))
	h.TTL, h.Hops, h.Length = ttl, hops, uint32(len(payload))
	h.Append(b[:0])
	copy(b[protocol.HeaderLen:], payload)
	return b
}
