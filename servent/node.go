package servent

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/admit"
	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/gnet"
	"github.com/servent/servent/servent/hitfilter"
	"github.com/servent/servent/servent/natmap"
	"github.com/servent/servent/servent/selfaddr"
	"github.com/servent/servent/servent/uhc"
	"github.com/servent/servent/sharedir"

	"github.com/servent/servent/internal/atomicfile"
)

// Status is a snapshot of the node for the control API.
type Status struct {
	Mode         string
	Started      time.Time
	Peers        int // ultrapeer connections
	Leaves       int
	SharedFiles  int
	SharedKB     uint64
	SharedHashed int // of SharedFiles, with a SHA-1
	BytesIn      uint64
	BytesOut     uint64
	MsgsIn       uint64
	MsgsOut      uint64
	Listen       string
	IPv4, IPv6   netip.AddrPort // our advertised address in each family, when known
	// Links counts the established links by IP family ("ipv4", "ipv6")
	// and, under "tls", those over TLS.
	Links   map[string]int
	Inbound InboundStats
	Floods  uint64 // connections closed (and banned) for a flood
	Banned  uint64 // addresses banned for misbehaviour
	UDP     UDPStatus
	Reach   Reachability
	DQ      DQStatus
}

// DQStatus counts the dynamic queries this node ran as an ultrapeer (for
// its leaves and its own searches).
type DQStatus struct {
	Running     int
	Started     uint64
	Steps       uint64            // ultrapeers queried one at a time after the probe
	StatusAsked uint64            // BEAR/11 sent to a leaf
	Guidance    uint64            // BEAR/12 taken from a leaf
	Ended       map[string]uint64 // by why: enough, horizon, cancelled, ...
}

// nodeStats are counters read without locks.
type nodeStats struct {
	msgsIn, msgsOut                 atomic.Uint64
	bytesIn, bytesOut               atomic.Uint64 // of closed connections
	core                            gnet.Stats    // the routing core's counters
	dropped                         atomic.Uint64
	refused, banned, queueOverflows atomic.Uint64
	refusedBanned, hsTimeouts       atomic.Uint64 // inbound sockets (listen.go)
	tlsInbound                      atomic.Uint64 // inbound TLS handshakes completed
	floods                          atomic.Uint64 // connections cut for a flood (core.go)
	inByType, outByType             [256]atomic.Uint64

	resultsKept atomic.Uint64 // search results the filter let through
}

// reservation is one Gnet slot held from the handshake on.
type reservation struct {
	ip   netip.Addr
	guid protocol.GUID
	up   bool // counts against ultrapeer slots, else leaf slots
}

// connSnap is the immutable set of live connections the routing code reads
// without locks; rebuilt on every change.
type connSnap struct {
	ups    []*conn
	leaves []*conn
	byID   map[routing.ConnID]*conn
}

// Node is a Gnutella 0.6 servent.
type Node struct {
	cfg       Config
	log       *slog.Logger
	limits    bwlimit.Set // bandwidth caps per class, changeable at run time
	guid      protocol.GUID
	ultrapeer atomic.Bool // our role; an auto node turns it on once (promote.go)
	reach     reachState  // what proved we are reachable (udp_reach.go)
	lib       *sharedir.Library
	hosts     *hostCache
	routes    *routing.Table
	pushes    *routing.PushTable
	rstats    routing.Stats
	core      routingCore
	filter    *hitfilter.Filter // spam and hostile lists (filter.go)

	upTableDirty atomic.Bool                       // leaves' tables or library changed
	upTableSent  atomic.Pointer[protocol.QRPTable] // last table sent to ultrapeers
	stats        nodeStats

	mu       sync.Mutex
	slots    map[netip.Addr]*reservation // guarded by mu: one Gnet connection per IP
	guids    map[protocol.GUID]bool      // guarded by mu
	upUsed   int                         // guarded by mu
	leafUsed int                         // guarded by mu
	conns    map[routing.ConnID]*conn    // guarded by mu
	sockets  *admit.Table[net.Conn]      // guarded by mu: inbound sockets (listen.go)
	admitLog logGate                     // guarded by mu
	bans     map[netip.Addr]time.Time    // guarded by mu
	dialing  map[string]bool             // guarded by mu: peers being dialled
	peerBook *namedPeers                 // the user-named peers (named.go)
	snap     atomic.Pointer[connSnap]
	nextID   atomic.Uint64

	searchMu sync.Mutex
	searches []*Search // guarded by searchMu

	self    *selfaddr.Book // our addresses per IP family; set by Start
	lns     []net.Listener
	addr    netip.AddrPort
	started time.Time
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closing atomic.Bool
	running atomic.Bool // Start succeeded
	closeMu sync.Mutex
	closed  bool
	kick    chan struct{} // wakes connection maintenance

	udp udpSide
	nat *natmap.Mapper // our port mapping on the router (nat.go); nil when off

	transfer transferHooks
	hooks    testHooks

	tls *tlsState // TLS we accept and dial (tls.go)
}

// New makes a node; nothing runs until Start.
func New(cfg Config) (*Node, error) {
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{
		cfg:      cfg,
		log:      cfg.Logger,
		slots:    map[netip.Addr]*reservation{},
		guids:    map[protocol.GUID]bool{},
		conns:    map[routing.ConnID]*conn{},
		sockets:  admit.New[net.Conn](cfg.MaxConns, cfg.MaxConnsPerNet),
		bans:     map[netip.Addr]time.Time{},
		dialing:  map[string]bool{},
		peerBook: newNamedPeers(cfg.Peers),
		kick:     make(chan struct{}, 1),
	}
	n.ultrapeer.Store(cfg.Mode == ModeUltrapeer)
	tlsSt, err := newTLSState(cfg.TLS, cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("servent: %w", err)
	}
	n.tls = tlsSt
	for c, v := range cfg.Caps {
		n.limits.Get(bwlimit.Class(c)).Set(v)
	}
	n.snap.Store(&connSnap{byID: map[routing.ConnID]*conn{}})
	if n.cfg.Dial == nil {
		n.cfg.Dial = boundDialer(&net.Dialer{Timeout: n.cfg.HandshakeTimeout}, n.cfg.bindAddrs())
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("servent: data folder: %w", err)
		}
	}
	g, err := loadGUID(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	n.guid = g
	n.hosts = newHostCache(cfg.Now)
	n.hosts.self = n.isSelf
	n.hosts.ipv6 = !cfg.NoIPv6
	n.hosts.caches = uhc.NewClient(cfg.namedCaches())
	n.udp.caches = newCacheSide()
	if err := n.hosts.load(cfg.DataDir); err != nil {
		n.log.Warn("host cache not loaded", "err", err)
	}
	alive := func(id routing.ConnID) bool { _, ok := n.snap.Load().byID[id]; return ok }
	n.routes = routing.NewTable(0, 0, cfg.Now, routing.WithStats(&n.rstats), routing.WithAlive(alive))
	n.pushes = routing.NewPushTable(0, 0, cfg.Now, routing.WithStats(&n.rstats), routing.WithAlive(alive))
	n.core.r = n.newCore()
	if n.filter, err = loadFilter(cfg, n.log); err != nil {
		return nil, fmt.Errorf("servent: %w", err)
	}
	lib, err := sharedir.Open(sharedir.Config{Dir: cfg.ShareDir, DataDir: cfg.DataDir, Logger: cfg.Logger})
	if err != nil {
		return nil, fmt.Errorf("servent: %w", err)
	}
	n.lib = lib
	if err := n.initTransfer(); err != nil {
		_ = lib.Close()
		return nil, err
	}
	return n, nil
}

const guidFile = "guid"

// loadGUID reads the persisted servent GUID or makes and saves one: it must
// not change across restarts (GNUTELLA.md 3.3).
func loadGUID(dir string) (protocol.GUID, error) {
	if dir == "" {
		return protocol.NewGUID(), nil
	}
	path := filepath.Join(dir, guidFile)
	// Bounded: a damaged or hostile file of any size only costs a new GUID.
	if b, err := atomicfile.Read(path, 1<<10); err == nil {
		if g, err := protocol.ParseGUID(strings.TrimSpace(string(b))); err == nil && !g.IsZero() {
			return g, nil
		}
	}
	g := protocol.NewGUID()
	if err := atomicfile.Write(path, []byte(g.String()+"\n"), 0o600); err != nil {
		return g, fmt.Errorf("servent: save guid: %w", err)
	}
	return g, nil
}

// Start listens, starts the library and connection maintenance, and
// returns at once.
func (n *Node) Start(ctx context.Context) error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.ctx != nil || n.closed {
		return errors.New("servent: already started")
	}
	lns, err := n.listen()
	if err != nil {
		return err
	}
	n.lns = lns
	bound := make([]netip.AddrPort, 0, len(lns))
	for _, ln := range lns {
		bound = append(bound, addrPortOf(ln.Addr()))
	}
	n.addr = bound[0]
	n.self = selfaddr.New(bound, !n.cfg.NoIPv6)
	n.started = n.cfg.Now()
	n.reach.begin(n.started)
	n.ctx, n.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if err := n.lib.Start(n.ctx); err != nil {
		closeAll(lns)
		return fmt.Errorf("servent: library: %w", err)
	}
	n.log.Info("listening", "addr", n.addr, "mode", n.modeName(), "guid", n.guid)
	n.startNAT() // before anything that reads n.nat runs
	n.startUDP()
	n.wg.Add(2 + len(lns))
	for _, ln := range lns {
		go n.acceptLoop(ln)
	}
	go n.maintainLoop()
	go n.libraryLoop()
	n.startTransfer()
	n.running.Store(true)
	n.kickMaintain()
	return nil
}

// Close says Bye to every peer, saves the host cache and waits for every
// goroutine to end.
func (n *Node) Close() error {
	n.closeMu.Lock()
	if n.closed {
		n.closeMu.Unlock()
		return nil
	}
	n.closed = true
	n.closeMu.Unlock()
	n.closing.Store(true)
	var errs []error
	closeAll(n.lns)
	n.closeUDP()
	n.closeNAT()
	n.mu.Lock()
	conns := make([]*conn, 0, len(n.conns))
	for _, c := range n.conns {
		conns = append(conns, c)
	}
	n.mu.Unlock()
	for _, c := range conns {
		c.bye(200, "Servent shutdown")
	}
	// The writers flush the Byes (bounded by a 2 s write deadline) and the
	// readers wait for the peers to close (bounded by byeGrace): closing
	// first would reset links on which the Bye is still unread.
	deadline := time.After(3 * time.Second)
	for _, c := range conns {
		select {
		case <-c.closed:
		case <-deadline:
		}
		c.close(errors.New("node closed"))
	}
	if n.cancel != nil {
		n.cancel()
	}
	if err := n.closeTransfer(); err != nil {
		errs = append(errs, err)
	}
	n.wg.Wait()
	if err := n.lib.Close(); err != nil {
		errs = append(errs, err)
	}
	if err := n.hosts.save(n.cfg.DataDir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// boundDialer dials from our listening IP of the target's family, so peers
// see one address for us (the per-IP rules of tests on 127.0.0.x depend on
// it); a family we listen on by wildcard, or not at all, dials unbound.
func boundDialer(d *net.Dialer, bind []netip.Addr) func(ctx context.Context, network, addr string) (net.Conn, error) {
	var v4, v6 *net.Dialer
	for _, ip := range bind {
		if ip.IsUnspecified() {
			continue
		}
		b := *d
		b.LocalAddr = &net.TCPAddr{IP: ip.AsSlice()}
		if ip.Is4() {
			v4 = &b
		} else {
			v6 = &b
		}
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		use := d
		if ap, err := netip.ParseAddrPort(addr); err == nil {
			if ap.Addr().Unmap().Is4() && v4 != nil {
				use = v4
			} else if ap.Addr().Unmap().Is6() && v6 != nil {
				use = v6
			}
		}
		return use.DialContext(ctx, network, addr)
	}
}

// listen opens the configured listeners: Listener (and Listener6), or
// one per address of Listen.
func (n *Node) listen() ([]net.Listener, error) {
	if n.cfg.Listener != nil {
		if n.cfg.Listener6 != nil {
			return []net.Listener{n.cfg.Listener, n.cfg.Listener6}, nil
		}
		return []net.Listener{n.cfg.Listener}, nil
	}
	addrs, err := n.cfg.listenAddrs()
	if err != nil {
		return nil, err
	}
	network := "tcp"
	if n.cfg.NoIPv6 {
		network = "tcp4"
	}
	var lns []net.Listener
	for i, a := range addrs {
		if host, port, _ := net.SplitHostPort(a); i > 0 && port == "0" {
			// Port 0: the kernel's choice for the first, the same for the other.
			a = net.JoinHostPort(host, strconv.Itoa(int(addrPortOf(lns[0].Addr()).Port())))
		}
		ln, err := net.Listen(network, a)
		if err != nil && isIPv6Wildcard(a) && len(addrs) == 1 && noIPv6Here(err) {
			// A machine without IPv6: the dual-stack default becomes IPv4.
			port := a[strings.LastIndexByte(a, ':')+1:]
			n.log.Info("no IPv6 here, listening on IPv4 only", "err", err)
			ln, err = net.Listen("tcp4", "0.0.0.0:"+port)
		}
		if err != nil {
			closeAll(lns)
			return nil, fmt.Errorf("servent: listen: %w", err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// noIPv6Here: the error of a listen on "[::]" says the machine has no
// IPv6 (not that the port is taken).
func noIPv6Here(err error) bool {
	return errors.Is(err, syscall.EAFNOSUPPORT) || errors.Is(err, syscall.EADDRNOTAVAIL) || errors.Is(err, syscall.EPROTONOSUPPORT)
}

func isIPv6Wildcard(a string) bool {
	host, _, err := net.SplitHostPort(a)
	ip, perr := netip.ParseAddr(host)
	return err == nil && perr == nil && ip.Is6() && ip.IsUnspecified()
}

func closeAll(lns []net.Listener) {
	for _, ln := range lns {
		_ = ln.Close()
	}
}

// listenString lists the listening addresses.
func (n *Node) listenString() string {
	var b []byte
	for i, ln := range n.lns {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = addrPortOf(ln.Addr()).AppendTo(b)
	}
	return string(b)
}

// family names ip's IP family as status and the API say it.
func family(ip netip.Addr) string {
	if ip.Unmap().Is4() {
		return "ipv4"
	}
	return "ipv6"
}

// Addr is the (first) listening address.
func (n *Node) Addr() netip.AddrPort { return n.addr }

// GUID is the servent GUID.
func (n *Node) GUID() protocol.GUID { return n.guid }

// Library is the shared folder.
func (n *Node) Library() *sharedir.Library { return n.lib }

func (n *Node) modeName() string {
	if n.ultrapeer.Load() {
		return string(ModeUltrapeer)
	}
	return string(ModeLeaf)
}

// Status is a snapshot of counters.
func (n *Node) Status() Status {
	s := n.snap.Load()
	st := Status{
		Mode: n.modeName(), Started: n.started, Peers: len(s.ups), Leaves: len(s.leaves),
		BytesIn: n.stats.bytesIn.Load(), BytesOut: n.stats.bytesOut.Load(),
		MsgsIn: n.stats.msgsIn.Load(), MsgsOut: n.stats.msgsOut.Load(),
		Listen: n.listenString(), Links: map[string]int{},
	}
	st.IPv4, st.IPv6 = n.self.V4(), n.self.V6()
	if a := n.advertised(); a.Addr().Is4() {
		st.IPv4 = a // the router's mapping
	}
	for _, c := range s.byID {
		st.BytesIn += c.bytesIn.Load()
		st.BytesOut += c.bytesOut.Load()
		st.Links[family(c.addr.Addr())]++
		if c.tls {
			st.Links["tls"]++
		}
	}
	files, kb := n.lib.Stats()
	st.SharedFiles, st.SharedKB = files, kb
	if n.lib != nil {
		st.SharedHashed = n.lib.Hashed()
	}
	st.Inbound = n.inboundStats()
	st.Floods, st.Banned = n.stats.floods.Load(), n.stats.banned.Load()
	c := &n.stats.core
	st.DQ = DQStatus{Running: n.core.r.DQRunning(), Started: c.DQStarted.Load(), Steps: c.DQSteps.Load(),
		StatusAsked: c.DQStatusAsked.Load(), Guidance: c.DQGuidance.Load(), Ended: map[string]uint64{}}
	for _, why := range gnet.DQEnds() {
		if v := c.DQEnded[why].Load(); v > 0 {
			st.DQ.Ended[why.String()] = v
		}
	}
	st.UDP = n.udpStatus()
	st.Reach = n.reach.status(n.cfg.Now())
	return st
}

// Peers lists the established Gnutella connections.
func (n *Node) Peers() []PeerInfo {
	s := n.snap.Load()
	out := make([]PeerInfo, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c.info())
	}
	slices.SortFunc(out, func(a, b PeerInfo) int { return a.Since.Compare(b.Since) })
	return out
}

// Limits are the bandwidth caps per class: Get(class).Set changes one at
// run time.
func (n *Node) Limits() *bwlimit.Set { return &n.limits }

// Hosts lists the host cache.
func (n *Node) Hosts() []HostInfo { return n.hosts.list() }

// NamedPeers lists the user-named peers with the last error of each.
func (n *Node) NamedPeers() []NamedPeer { return n.peerBook.list() }

// AddPeer dials addr (HOST:PORT, [IPv6]:PORT) now and keeps it among the
// user-named peers; how the dial went shows in NamedPeers.
func (n *Node) AddPeer(addr string) error {
	if _, _, err := splitPeer(addr); err != nil {
		return fmt.Errorf("servent: %w", err)
	}
	n.peerBook.add(addr)
	n.mu.Lock()
	busy := n.dialing[addr] || n.closing.Load() || !n.running.Load()
	if !busy {
		n.dialing[addr] = true
		n.peerBook.dialing(addr)
	}
	n.mu.Unlock()
	if busy {
		return nil
	}
	// The user asked for this one: dial now, even past MaxPeers.
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.dial(addr, netip.AddrPort{}, true, true)
	}()
	return nil
}

// DropPeer closes the connection to addr (its listening or socket address,
// or the name it was added by) and forgets it as a user-named peer. Nothing
// redials it, not even from the host cache, until it is added again or for
// a long while (goneHold).
func (n *Node) DropPeer(addr string) error {
	resolved, named := n.peerBook.drop(addr)
	ap, err := netip.ParseAddrPort(addr)
	if err == nil {
		ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	var found *conn
	for _, c := range n.snap.Load().byID {
		if (err == nil && (c.listen == ap || c.addr == ap)) ||
			(resolved.IsValid() && (c.listen == resolved || c.addr == resolved)) {
			found = c
			break
		}
	}
	stayAway := parting{hold: goneHold}
	now := n.cfg.Now()
	for _, a := range []netip.AddrPort{ap, resolved} {
		if a.IsValid() {
			n.hosts.parted(a, stayAway, now)
		}
	}
	if found == nil {
		if named {
			return nil
		}
		return fmt.Errorf("servent: not connected to %s", addr)
	}
	if found.listen.IsValid() {
		n.hosts.parted(found.listen, stayAway, now)
	}
	found.bye(201, "User closed")
	return nil
}

// advertised is the address we tell others: the router's mapping, else
// our IPv4 address (listening or as peers see it), else our IPv6 one.
func (n *Node) advertised() netip.AddrPort {
	if m := n.mapping(); m.TCP && m.External.IsValid() {
		return m.External // the router's word on our address beats the rest
	}
	return n.self.Primary()
}

// advertised6 is our IPv6 address when it is not advertised itself: it
// goes beside the IPv4 one in GGEP "6" (pongs, hits, pushes).
func (n *Node) advertised6() netip.Addr {
	if a := n.advertised(); !a.Addr().Is4() {
		return netip.Addr{}
	}
	return n.self.V6().Addr()
}

func (n *Node) learnRemoteIP(ip netip.Addr) {
	if n.self.Learn(ip) && ip.Unmap().Is4() {
		n.reach.addressSeen(ip.Unmap(), n.cfg.Now())
	}
}

func (n *Node) isSelf(a netip.AddrPort) bool {
	return n.self.Self(a) || (a.Port() == n.addr.Port() && a == n.advertised())
}

// banned reports whether ip is refused for now.
func (n *Node) banned(ip netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	key := banKey(ip)
	until, ok := n.bans[key]
	if ok && n.cfg.Now().After(until) {
		delete(n.bans, key)
		return false
	}
	return ok
}

// banKey is what a ban holds: an IPv4 address, or the /64 of an IPv6 one,
// where one host picks any of 2^64 source addresses (admit.Group counts
// sockets the same way).
func banKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// maxBans is the ban list size past which expired bans are swept (an
// entry is otherwise only dropped when its IP comes back).
const maxBans = 1024

// ban closes c with a Bye and refuses its IP for BanDuration.
func (n *Node) ban(c *conn, code uint16, reason string) {
	n.stats.banned.Add(1)
	n.mu.Lock()
	now := n.cfg.Now()
	if len(n.bans) >= maxBans {
		for ip, until := range n.bans {
			if !now.Before(until) {
				delete(n.bans, ip)
			}
		}
	}
	n.bans[banKey(c.addr.Addr())] = now.Add(n.cfg.BanDuration)
	n.mu.Unlock()
	n.log.Debug("peer banned", "peer", c.addr, "code", code, "reason", reason)
	c.bye(code, reason)
}

// reserve takes a Gnet slot for ip (and guid) as an ultrapeer or leaf
// peer. It answers the refusal code otherwise.
func (n *Node) reserve(ip netip.Addr, guid protocol.GUID, up, outbound bool) (*reservation, int, string) {
	return n.reserveForce(ip, guid, up, outbound, false)
}

// reserveForce is reserve; force ignores the slot limits (a peer the user
// named through AddPeer).
func (n *Node) reserveForce(ip netip.Addr, guid protocol.GUID, up, outbound, force bool) (*reservation, int, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if until, ok := n.bans[banKey(ip)]; ok && n.cfg.Now().Before(until) {
		return nil, 403, "Banned"
	}
	if _, ok := n.slots[ip]; ok {
		return nil, 409, "Already connected"
	}
	if !guid.IsZero() && n.guids[guid] {
		return nil, 409, "Already connected to this GUID"
	}
	r := &reservation{ip: ip, guid: guid, up: up}
	switch {
	case up || outbound:
		r.up = true
		if n.upUsed >= n.maxPeers() && !force {
			if n.ultrapeer.Load() {
				return nil, 503, fmt.Sprintf("Too many ultra connections (%d max)", n.maxPeers())
			}
			return nil, 503, fmt.Sprintf("Shielded leaf node (%d ultrapeers max)", n.maxPeers())
		}
		n.upUsed++
	case !n.ultrapeer.Load():
		return nil, 503, fmt.Sprintf("Shielded leaf node (%d ultrapeers max)", n.maxPeers())
	default:
		if n.leafUsed >= n.cfg.MaxLeaves {
			return nil, 503, fmt.Sprintf("Too many leaf connections (%d max)", n.cfg.MaxLeaves)
		}
		n.leafUsed++
	}
	n.slots[ip] = r
	if !guid.IsZero() {
		n.guids[guid] = true
	}
	return r, 200, "OK"
}

// fixSlot settles an outgoing reservation once the peer's role and GUID
// are known: an ultrapeer that reached a leaf holds a leaf slot instead.
func (n *Node) fixSlot(r *reservation, peerUp bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if r.up && !peerUp {
		if n.leafUsed >= n.cfg.MaxLeaves {
			return false
		}
		n.upUsed--
		n.leafUsed++
		r.up = false
	}
	return true
}

func (n *Node) setSlotGUID(r *reservation, g protocol.GUID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if g.IsZero() || r.guid == g {
		return true
	}
	if n.guids[g] {
		return false
	}
	r.guid = g
	n.guids[g] = true
	return true
}

func (n *Node) release(r *reservation) {
	if r == nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.slots[r.ip] != r {
		return
	}
	delete(n.slots, r.ip)
	if !r.guid.IsZero() {
		delete(n.guids, r.guid)
	}
	if r.up {
		n.upUsed--
	} else {
		n.leafUsed--
	}
}

func (n *Node) upSlotsFree() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.upUsed < n.maxPeers()
}

func (n *Node) freeSlots() (leaves, ups int) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return max(n.cfg.MaxLeaves-n.leafUsed, 0), max(n.maxPeers()-n.upUsed, 0)
}

// connectedTo reports whether ip holds (or is handshaking for) a slot.
func (n *Node) connectedTo(ip netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, ok := n.slots[ip]
	return ok
}

// newConn registers an established connection and starts its writer; the
// caller runs its reader.
func (n *Node) newConn(nc net.Conn, br *bufio.Reader, remote netip.AddrPort, outbound bool, h peerHello, slot *reservation) *conn {
	c := &conn{
		n: n, id: routing.ConnID(n.nextID.Add(1)), addr: remote, listen: h.listen,
		outbound: outbound, up: h.up, agent: h.agent, guid: h.guid, since: n.cfg.Now(),
		deflateIn: h.deflateIn, deflateOut: h.deflateOut, byeOK: h.byeOK, vendorOK: h.vendorOK,
		maxTTL: h.maxTTL, upQRP: h.upQRP, weLeaf: h.weLeaf, upNotNeeded: h.upNotNeeded, guess: h.guess,
		q: newSendQueue(n.cfg.QueueBytes), closed: make(chan struct{}), writerOut: make(chan struct{}),
		slot: slot, tls: isTLS(nc),
	}
	c.br = br
	c.nc = countingConn{Conn: nc, c: c}
	c.lastRead.Store(n.cfg.Now().UnixNano())
	n.linkOpened(c, h)
	n.mu.Lock()
	n.conns[c.id] = c
	n.rebuildSnapLocked()
	n.mu.Unlock()
	if !c.up && !c.guid.IsZero() {
		n.pushes.Add(c.guid, c.id) // Pushes for our leaf come through us (7.3)
	}
	if c.listen.IsValid() {
		if outbound {
			n.hosts.succeeded(c.listen, c.up)
		} else if c.up {
			n.hosts.add(c.listen, true)
		}
	}
	n.log.Info("peer connected", "peer", remote, "ultrapeer", c.up, "agent", c.agent, "outbound", outbound,
		"deflate_in", c.deflateIn, "deflate_out", c.deflateOut)
	return c
}

func (n *Node) rebuildSnapLocked() {
	s := &connSnap{byID: make(map[routing.ConnID]*conn, len(n.conns))}
	for id, c := range n.conns {
		s.byID[id] = c
		if c.up {
			s.ups = append(s.ups, c)
		} else {
			s.leaves = append(s.leaves, c)
		}
	}
	n.snap.Store(s)
}

// removeConn unregisters a closed connection.
func (n *Node) removeConn(c *conn, err error) {
	n.mu.Lock()
	if _, ok := n.conns[c.id]; ok {
		delete(n.conns, c.id)
		n.rebuildSnapLocked()
	}
	n.mu.Unlock()
	n.release(c.slot)
	n.linkClosed(c)
	if !c.up && c.qrt.Load() != nil {
		n.upTableDirty.Store(true)
	}
	n.stats.bytesIn.Add(c.bytesIn.Load())
	n.stats.bytesOut.Add(c.bytesOut.Load())
	n.log.Info("peer disconnected", "peer", c.addr, "err", err)
	n.kickMaintain()
}

func (n *Node) kickMaintain() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}
