package guess

import (
	"net/netip"
	"time"
)

// Client defaults, from gtk-gnutella's src/core/guess.c.
const (
	DefaultAlpha      = 5                   // GUESS_ALPHA: concurrent probes
	DefaultRPCTimeout = 35 * time.Second    // GUESS_RPC_LIFETIME
	DefaultKeyLife    = 86000 * time.Second // GUESS_QK_LIFE
	DefaultMaxKeys    = 1024                // GUESS_QK_DB_CACHE_SIZE
	DefaultMaxHosts   = 1000                // hosts one search may learn (its horizon)
	maxHostsPerEvent  = 64                  // learned from one Pong at most
)

// KeyCache remembers the query keys ultrapeers gave us, per IP:port, for
// KeyLife (GTKG caches them ~a day). Not safe for concurrent use: the node
// keeps it under the search's lock.
type KeyCache struct {
	life time.Duration
	max  int
	m    map[netip.AddrPort]cachedKey
}

type cachedKey struct {
	key     []byte
	expires time.Time
}

// NewKeyCache returns a cache of at most max keys, each kept for life.
func NewKeyCache(life time.Duration, max int) *KeyCache {
	return &KeyCache{life: life, max: max, m: make(map[netip.AddrPort]cachedKey)}
}

// Put records key for host. Keys longer than protocol's 16 bytes or empty
// are not kept. When full, expired keys go first, then an arbitrary one.
func (c *KeyCache) Put(host netip.AddrPort, key []byte, now time.Time) {
	if len(key) == 0 || len(key) > 16 {
		return
	}
	if _, ok := c.m[host]; !ok && len(c.m) >= c.max {
		c.prune(now)
		for h := range c.m {
			if len(c.m) < c.max {
				break
			}
			delete(c.m, h)
		}
	}
	c.m[host] = cachedKey{key: append([]byte(nil), key...), expires: now.Add(c.life)}
}

// Get returns host's key if it has not expired.
func (c *KeyCache) Get(host netip.AddrPort, now time.Time) ([]byte, bool) {
	e, ok := c.m[host]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.key, true
}

// Forget drops host's key (the host refused it).
func (c *KeyCache) Forget(host netip.AddrPort) { delete(c.m, host) }

// Len is the number of keys held.
func (c *KeyCache) Len() int { return len(c.m) }

func (c *KeyCache) prune(now time.Time) {
	for h, e := range c.m {
		if !now.Before(e.expires) {
			delete(c.m, h)
		}
	}
}

// SearchConfig tunes a GUESS search; zero fields take the defaults.
type SearchConfig struct {
	Alpha    int           // probes in flight at once
	Target   int           // stop after this many results
	Timeout  time.Duration // per probe (key request or query)
	MaxHosts int           // horizon: hosts this search may know
}

func (c *SearchConfig) defaults() {
	if c.Alpha <= 0 {
		c.Alpha = DefaultAlpha
	}
	if c.Target <= 0 {
		c.Target = 1
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultRPCTimeout
	}
	if c.MaxHosts <= 0 {
		c.MaxHosts = DefaultMaxHosts
	}
}

// ActionKind is what the node must send.
type ActionKind uint8

const (
	// RequestKey: send To a Ping with GGEP QK and SCP (TTL 1).
	RequestKey ActionKind = iota + 1
	// SendQuery: send To the search's Query with GGEP QK = Key and SCP.
	SendQuery
)

// Action is one datagram for the node to send.
type Action struct {
	Kind ActionKind
	To   netip.AddrPort
	Key  []byte // SendQuery: the key to put in QK
}

type probeState uint8

const (
	waitKey probeState = iota + 1
	waitAck
)

type probe struct {
	state    probeState
	deadline time.Time
}

// Search is one GUESS search as gtk-gnutella's guess.c runs it: up to
// Alpha ultrapeers probed at once, each asked for a key first unless the
// cache has one, then sent the query; acknowledgement Pongs add hosts to
// the pool; it ends when Target results came in or when no host is left
// to ask (the horizon) and nothing is in flight. It does no I/O: events and
// time go in, the datagrams to send come out. Not safe for concurrent use.
type Search struct {
	cfg     SearchConfig
	keys    *KeyCache
	pool    []netip.AddrPort // to ask, in order
	known   map[netip.AddrPort]struct{}
	pending map[netip.AddrPort]*probe
	asked   map[netip.AddrPort]struct{} // sent the query, answered or not
	results int
	queried int
	done    bool
}

// NewSearch starts a search over hosts (the GUESS ultrapeers we know) with
// keys as the shared key cache. self is never queried.
func NewSearch(cfg SearchConfig, keys *KeyCache, hosts []netip.AddrPort, self netip.AddrPort) *Search {
	cfg.defaults()
	s := &Search{cfg: cfg, keys: keys, known: make(map[netip.AddrPort]struct{}), pending: make(map[netip.AddrPort]*probe), asked: make(map[netip.AddrPort]struct{})}
	if self.IsValid() {
		s.known[self] = struct{}{}
	}
	s.learn(hosts)
	return s
}

func (s *Search) learn(hosts []netip.AddrPort) {
	for _, h := range hosts {
		if len(s.known) >= s.cfg.MaxHosts {
			return
		}
		if !h.IsValid() || h.Port() == 0 || h.Addr().IsUnspecified() || h.Addr().IsMulticast() {
			continue
		}
		if _, ok := s.known[h]; ok {
			continue
		}
		s.known[h] = struct{}{}
		s.pool = append(s.pool, h)
	}
}

// Start returns the first probes.
func (s *Search) Start(now time.Time) []Action { return s.fill(nil, now) }

// fill starts probes until Alpha are in flight or the pool is empty.
func (s *Search) fill(acts []Action, now time.Time) []Action {
	for !s.done && len(s.pending) < s.cfg.Alpha && len(s.pool) > 0 {
		h := s.pool[0]
		s.pool = s.pool[1:]
		p := &probe{deadline: now.Add(s.cfg.Timeout)}
		s.pending[h] = p
		if key, ok := s.keys.Get(h, now); ok {
			p.state = waitAck
			s.queried++
			s.asked[h] = struct{}{}
			acts = append(acts, Action{Kind: SendQuery, To: h, Key: key})
		} else {
			p.state = waitKey
			acts = append(acts, Action{Kind: RequestKey, To: h})
		}
	}
	if len(s.pending) == 0 && len(s.pool) == 0 {
		s.done = true // horizon exhausted
	}
	return acts
}

// OnKey takes a Pong with GGEP QK from host. Awaited, it sends the query;
// after our query (the host refused the key) the key is kept for later
// searches and the host is done: GTKG drops a resent MUID as a duplicate.
func (s *Search) OnKey(host netip.AddrPort, key []byte, now time.Time) []Action {
	s.keys.Put(host, key, now)
	p, ok := s.pending[host]
	if !ok || s.done {
		return nil
	}
	if p.state == waitAck {
		delete(s.pending, host)
		return s.fill(nil, now)
	}
	k, ok := s.keys.Get(host, now)
	if !ok { // a key we do not keep (empty, too long): the host is useless
		delete(s.pending, host)
		return s.fill(nil, now)
	}
	p.state, p.deadline = waitAck, now.Add(s.cfg.Timeout)
	s.queried++
	s.asked[host] = struct{}{}
	return []Action{{Kind: SendQuery, To: host, Key: k}}
}

// OnAck takes the acknowledgement Pong of host to our query: host is
// done; more are the GUESS hosts it names (fixed part and IPP).
func (s *Search) OnAck(host netip.AddrPort, more []netip.AddrPort, now time.Time) []Action {
	p, ok := s.pending[host]
	if !ok || p.state != waitAck {
		return nil // unsolicited: learn nothing from it
	}
	delete(s.pending, host)
	if len(more) > maxHostsPerEvent {
		more = more[:maxHostsPerEvent]
	}
	s.learn(more)
	return s.fill(nil, now)
}

// OnResults counts n results that arrived for this search.
func (s *Search) OnResults(n int, now time.Time) []Action {
	s.results += max(n, 0)
	if s.results >= s.cfg.Target {
		s.done = true
		clear(s.pending)
		return nil
	}
	return s.fill(nil, now)
}

// Tick expires probes whose deadline passed and starts others.
func (s *Search) Tick(now time.Time) []Action {
	for h, p := range s.pending {
		if !now.Before(p.deadline) {
			delete(s.pending, h)
		}
	}
	return s.fill(nil, now)
}

// NextDeadline is when Tick has something to do (zero: nothing pending).
func (s *Search) NextDeadline() time.Time {
	var t time.Time
	for _, p := range s.pending {
		if t.IsZero() || p.deadline.Before(t) {
			t = p.deadline
		}
	}
	return t
}

// Done reports whether the search is over (target met or horizon reached).
func (s *Search) Done() bool { return s.done }

// Queried is the number of hosts sent the query.
func (s *Search) Queried() int { return s.queried }

// Results is the number of results counted.
func (s *Search) Results() int { return s.results }
