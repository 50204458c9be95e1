package uhc

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/servent/servent/internal/netscope"
)

// Server-side limits, as gtk-gnutella's pcache.c.
const (
	// PingWindow: one UDP Ping answered per source address per minute
	// (UDP_PING_FREQ); a second Ping from another port of the same IP
	// is not answered either (observed, 30-udp-ping-pong).
	PingWindow = 60 * time.Second
	// MaxHosts is the most hosts an IPP answer lists (PCACHE_UHC_MAX_IP).
	MaxHosts = 30
	// MaxNeighbours is how many connected ultrapeers replace cached hosts
	// in an answer (NODE_IPP_NEIGHBOURS in node_fill_ultra()).
	MaxNeighbours = 8
	// DefaultTracked bounds the addresses the limiter remembers: a spoofed
	// flood fills it and is then refused, never answered twice.
	DefaultTracked = 16384
)

// Limiter answers "may this source get a Pong now?": yes once per window
// per address (an IPv6 address counts by its /64, as the node's bans do).
// It remembers at most max addresses; when all of them are still inside
// their window, new sources are refused until the oldest expire, so a
// flood of spoofed sources never makes us answer more than max Pongs per
// window. Safe for concurrent use.
type Limiter struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	seen   map[netip.Addr]time.Time // guarded by mu
	queue  []limiterEntry           // guarded by mu; in the order recorded
	head   int                      // guarded by mu; first live entry of queue
}

type limiterEntry struct {
	key netip.Addr
	at  time.Time
}

// NewLimiter returns a Limiter of one answer per window per address,
// remembering at most max addresses (<= 0: DefaultTracked).
func NewLimiter(window time.Duration, max int) *Limiter {
	if max <= 0 {
		max = DefaultTracked
	}
	return &Limiter{window: window, max: max, seen: make(map[netip.Addr]time.Time)}
}

// Allow reports whether ip may be answered at now, and if so records it.
func (l *Limiter) Allow(ip netip.Addr, now time.Time) bool {
	key := limiterKey(ip)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.expireLocked(now)
	if at, ok := l.seen[key]; ok && now.Sub(at) < l.window {
		return false
	}
	if len(l.seen) >= l.max {
		return false
	}
	l.seen[key] = now
	l.queue = append(l.queue, limiterEntry{key: key, at: now})
	return true
}

// expireLocked forgets the entries whose window has passed. The queue is
// in recording order, so the expired ones are at its head.
func (l *Limiter) expireLocked(now time.Time) {
	for l.head < len(l.queue) {
		e := l.queue[l.head]
		if now.Sub(e.at) < l.window {
			break
		}
		if at, ok := l.seen[e.key]; ok && at.Equal(e.at) {
			delete(l.seen, e.key)
		}
		l.queue[l.head] = limiterEntry{}
		l.head++
	}
	if l.head > 0 && l.head >= len(l.queue)/2 {
		n := copy(l.queue, l.queue[l.head:])
		l.queue = l.queue[:n]
		l.head = 0
	}
}

// Len is the number of addresses remembered.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.seen)
}

func limiterKey(ip netip.Addr) netip.Addr {
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.Addr()
	}
	return ip
}

// PickInput is what an IPP answer is chosen from.
type PickInput struct {
	// Cached are ultrapeers from the host cache, best first.
	Cached []netip.AddrPort
	// Neighbours are the listening addresses of connected ultrapeers, in
	// the order to use them (the node passes them unsorted: any order is
	// as good as gtk-gnutella's shuffle).
	Neighbours []netip.AddrPort
	// Requester is the source of the Ping: never listed, on any port.
	Requester netip.AddrPort
	// Self is our addresses: never listed.
	Self []netip.AddrPort
	// Max hosts to list (<= 0: MaxHosts).
	Max int
	// IPv6 lists IPv6 hosts too (the requester asked for IPP6).
	IPv6 bool
}

// Pick chooses the hosts of a UHC answer as gtk-gnutella's
// node_fill_ultra(): cached ultrapeers first, then up to MaxNeighbours
// connected ultrapeers not already listed take the last places (or fill
// the free ones). Never the requester's IP, never us, never twice, only
// hosts netscope.Listable to the requester. The result may be empty: then the
// answer has no IPP (as gtk-gnutella's with an empty cache).
func Pick(in PickInput) []netip.AddrPort {
	limit := in.Max
	if limit <= 0 {
		limit = MaxHosts
	}
	req := in.Requester.Addr().Unmap()
	ok := func(h netip.AddrPort, out []netip.AddrPort) bool {
		h = unmap(h)
		return (in.IPv6 || h.Addr().Is4()) && netscope.Listable(h, req) && h.Addr() != req && !slices.Contains(in.Self, h) &&
			!slices.Contains(out, h)
	}
	out := make([]netip.AddrPort, 0, limit)
	for _, h := range in.Cached {
		if len(out) == limit {
			break
		}
		if ok(h, out) {
			out = append(out, unmap(h))
		}
	}
	var ns []netip.AddrPort
	for _, h := range in.Neighbours {
		if len(ns) == min(MaxNeighbours, limit) {
			break
		}
		if ok(h, out) && !slices.Contains(ns, unmap(h)) {
			ns = append(ns, unmap(h))
		}
	}
	// The neighbours go last: they replace the tail of a full list.
	keep := min(len(out), limit-len(ns))
	return append(out[:keep], ns...)
}

func unmap(a netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
}
