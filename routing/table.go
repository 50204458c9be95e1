package routing

import (
	"hash/maphash"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/servent/servent/protocol"
)

// ConnID names a connection of the node. 0 is ourselves (the local origin).
// The node must never reuse an ID (a uint64 counter from 1 never wraps):
// routes are invalidated lazily through WithAlive, not by scanning.
type ConnID uint64

// Local is the ConnID of messages we originated.
const Local ConnID = 0

// Defaults of NewTable and NewPushTable.
const (
	// DefaultSize is the count bound (GNUTELLA.md 7.1: about 256k).
	DefaultSize = 256 * 1024
	// DefaultMaxAge is the age bound. 7.1 asks for at least 10 minutes;
	// dynamic querying runs for up to 10 minutes, and hits still in flight
	// after that should route, hence 15.
	DefaultMaxAge = 15 * time.Minute
)

// Verdict is what AddTTL decided about a routed message.
type Verdict uint8

const (
	// New: first sighting (or the previous one has aged out); the route
	// was recorded. Process and forward.
	New Verdict = iota
	// Duplicate: already seen. Drop: do not answer, do not forward.
	Duplicate
	// HigherTTL: already seen, but this copy can travel further (GNUTELLA
	// 7.1, GTKG handle_duplicate). Forward it again to ultrapeers (leaves
	// already had it, GTKG qrt_build_query_target with leaves=FALSE); do
	// not answer it. The route stays the first copy's.
	HigherTTL
)

func (v Verdict) String() string {
	switch v {
	case New:
		return "new"
	case Duplicate:
		return "duplicate"
	case HigherTTL:
		return "duplicate-higher-ttl"
	}
	return "verdict?"
}

// Option configures a Table or PushTable.
type Option func(*options)

type options struct {
	stats *Stats
	alive func(ConnID) bool
}

// WithStats makes the table count into s (shared with other tables and
// the node) instead of a Stats of its own.
func WithStats(s *Stats) Option { return func(o *options) { o.stats = s } }

// WithAlive gives the table the node's check that a connection is still
// open. Lookup treats a route to a connection for which alive returns false
// as unroutable. It is called without the table's lock held, and never for
// Local. Without it every ConnID is taken as alive and the node checks.
func WithAlive(alive func(ConnID) bool) Option { return func(o *options) { o.alive = alive } }

// clock turns the injected wall clock into int64 nanoseconds since the
// table was made. time.Time.Sub uses the monotonic reading when both times
// have one, so a wall clock jump neither expires nor revives routes.
type clock struct {
	now    func() time.Time
	base   time.Time
	maxAge int64
}

func newClock(now func() time.Time, maxAge time.Duration) clock {
	if now == nil {
		now = time.Now
	}
	if maxAge <= 0 {
		maxAge = DefaultMaxAge
	}
	return clock{now: now, base: now(), maxAge: int64(maxAge)}
}

func (c *clock) tick() int64 { return int64(c.now().Sub(c.base)) }

// expired: an entry older than maxAge counts as absent.
func (c *clock) expired(at, now int64) bool { return now-at > c.maxAge }

// routeKey is a keyed 64-bit hash of (MUID, payload type). A hash rather
// than the 17 bytes themselves: simplelru keeps the key in its map and in
// its entry, and an 8-byte key halves the map's slots (16 bytes instead
// of 32) and takes the entry from 112 to 80 bytes. Two messages share a
// key with probability about routes/2^64 per message (2^-46 for a full
// default table); the seed is random per table, so a peer cannot aim a
// collision at someone else's message.
type routeKey uint64

func (t *Table) key(guid protocol.GUID, typ protocol.PayloadType) routeKey {
	var b [len(guid) + 1]byte
	copy(b[:], guid[:])
	b[len(guid)] = byte(typ)
	return routeKey(maphash.Bytes(t.seed, b[:]))
}

// route is 16 bytes: the first sighting's clock.tick() and the highest
// forwardable TTL seen, packed as tick<<ttlBits | ttl, and the connection.
type route struct {
	stamp int64
	conn  ConnID
}

// ttlBits holds a TTL: forwardable TTLs are at most 15 (the hard limit of
// TTL + hops). tick<<ttlBits still spans 18 years of nanoseconds.
const (
	ttlBits = 4
	ttlMax  = 1<<ttlBits - 1
)

func newRoute(at int64, conn ConnID, ttl uint8) route {
	return route{stamp: at<<ttlBits | int64(min(ttl, ttlMax)), conn: conn}
}

func (r route) at() int64  { return r.stamp >> ttlBits }
func (r route) ttl() uint8 { return uint8(r.stamp & ttlMax) }

// sweepPerAdd bounds the expired entries dropped from the LRU tail per Add:
// enough to keep up with the insert rate, never a long pause.
const sweepPerAdd = 2

// Table is the de-duplication and reply-route table of GNUTELLA.md 7.1:
// (MUID, payload type) -> the connection the message came from, for Ping,
// Query and Push (and our own messages, from Local). It is bounded by count
// (least recently added or re-forwarded entry evicted first) and by age (an
// entry older than maxAge is absent). Safe for concurrent use: one mutex,
// held for a few map operations, no allocation beyond golang-lru's entry.
type Table struct {
	lruTable[routeKey, route]
	seed maphash.Seed
}

// lruTable is what Table and PushTable share: an LRU bounded by count under
// one mutex, the clock of the age bound, the counters and the liveness
// check of connections.
//
// The LRU is renewed now and then (see compactAfter): a new generation
// takes every add while the previous one, all of whose entries are less
// recent, only drains (evicted or expired first, an entry that is used
// again moves to the new one). Together they are one exact LRU of at most
// size entries.
type lruTable[K comparable, V any] struct {
	mu      sync.Mutex
	lru     *simplelru.LRU[K, V] // guarded by mu: the current generation
	old     *simplelru.LRU[K, V] // guarded by mu: the previous one while it drains, else nil
	size    int
	removed int // guarded by mu: entries removed from lru since it was made
	clock   clock
	stats   *Stats
	alive   func(ConnID) bool
}

// compactAfter is how many times its size a table removes entries from
// its LRU before it starts a new generation. A Go map does not give back
// the room of deleted keys, and under the steady churn of a route table
// (every new MUID evicts one) its swiss tables grow over their tombstones
// (golang/go#70886): 4 times the room of a fresh map after 200 turnovers
// with 17-byte keys, 2 times with 8-byte ones (for 256k 8-byte keys the
// growth was not yet measurable after 40). The new generation's map is
// sized by the entries it takes; the old one is freed once drained, within
// one turnover (or maxAge), so two maps are held for one turnover in
// compactAfter+1: rare, since the growth is slow. Nothing is copied:
// rebuilding the LRU at once allocated a whole table (20 MB of entries
// and a map for a default one) in a burst, which lifted the process's
// peak RSS by up to 15 MB.
const compactAfter = 16

func newLRUTable[K comparable, V any](size int, maxAge time.Duration, now func() time.Time, opts []Option) lruTable[K, V] {
	if size <= 0 {
		size = DefaultSize
	}
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.stats == nil {
		o.stats = new(Stats)
	}
	return lruTable[K, V]{lru: newLRU[K, V](size), size: size, clock: newClock(now, maxAge), stats: o.stats, alive: o.alive}
}

func newLRU[K comparable, V any](size int) *simplelru.LRU[K, V] {
	l, err := simplelru.NewLRU[K, V](size, nil)
	if err != nil { // size > 0: callers check
		panic(err)
	}
	return l
}

// peek finds k in either generation. Called with mu held.
func (t *lruTable[K, V]) peek(k K) (V, bool) {
	if v, ok := t.lru.Peek(k); ok || t.old == nil {
		return v, ok
	}
	return t.old.Peek(k)
}

// oldest is the least recent entry. Called with mu held.
func (t *lruTable[K, V]) oldest() (V, bool) {
	if t.old != nil {
		if _, v, ok := t.old.GetOldest(); ok {
			return v, true
		}
	}
	_, v, ok := t.lru.GetOldest()
	return v, ok
}

// add makes k the most recent entry with value v, evicting the least
// recent one beyond size. Called with mu held.
func (t *lruTable[K, V]) add(k K, v V) (evicted bool) {
	if t.old != nil && t.old.Remove(k) {
		t.dropDrained() // k moves to the current generation
	}
	evicted = t.lru.Add(k, v)
	if evicted {
		t.removedOne()
	}
	if t.old != nil && t.old.Len()+t.lru.Len() > t.size {
		t.old.RemoveOldest()
		t.dropDrained()
		evicted = true
	}
	return evicted
}

// removeOldest drops the least recent entry. Called with mu held.
func (t *lruTable[K, V]) removeOldest() {
	if t.old != nil {
		if _, _, ok := t.old.RemoveOldest(); ok {
			t.dropDrained()
			return
		}
	}
	if _, _, ok := t.lru.RemoveOldest(); ok {
		t.removedOne()
	}
}

// remove drops k. Called with mu held.
func (t *lruTable[K, V]) remove(k K) {
	if t.lru.Remove(k) {
		t.removedOne()
	}
	if t.old != nil && t.old.Remove(k) {
		t.dropDrained()
	}
}

// len counts both generations. Called with mu held.
func (t *lruTable[K, V]) len() int {
	n := t.lru.Len()
	if t.old != nil {
		n += t.old.Len()
	}
	return n
}

func (t *lruTable[K, V]) dropDrained() {
	if t.old.Len() == 0 {
		t.old = nil
	}
}

// removedOne counts a removal from the current generation and starts a
// new one after compactAfter turnovers (once the previous one drained).
func (t *lruTable[K, V]) removedOne() {
	t.removed++
	if t.removed >= compactAfter*t.size && t.old == nil {
		t.old, t.lru = t.lru, newLRU[K, V](t.size)
		t.removed = 0
	}
}

// Stats is the counter set this table adds to.
func (t *lruTable[K, V]) Stats() *Stats { return t.stats }

// NewTable makes a Table of at most size entries (size <= 0: DefaultSize)
// that forgets entries older than maxAge (<= 0: DefaultMaxAge). now is the
// clock (nil: time.Now).
func NewTable(size int, maxAge time.Duration, now func() time.Time, opts ...Option) *Table {
	return &Table{lruTable: newLRUTable[routeKey, route](size, maxAge, now, opts), seed: maphash.MakeSeed()}
}

// Add records that the message (guid, typ) came from conn, unless it was
// already known: then it reports dup and changes nothing. It is AddTTL with
// TTL 0, so a duplicate is never "higher".
func (t *Table) Add(guid protocol.GUID, typ protocol.PayloadType, from ConnID) (dup bool) {
	return t.AddTTL(guid, typ, from, 0) != New
}

// AddTTL is Add for messages that may be re-forwarded: ttl is the TTL the
// node would forward this copy with, ForwardTTL(h, maxTTL) without a peer's
// X-Max-TTL cap (0 when it would not forward). That orders copies as GTKG's
// route_max_forward_ttl() does (the trimmed received TTL, one higher). A
// known message whose ttl is higher than every copy seen so far gives
// HigherTTL (and that ttl is remembered, so each higher TTL is reported
// once); otherwise Duplicate. Both count in Stats.Duplicates.
func (t *Table) AddTTL(guid protocol.GUID, typ protocol.PayloadType, from ConnID, ttl uint8) Verdict {
	k := t.key(guid, typ)
	ttl = min(ttl, ttlMax)
	now := t.clock.tick() // outside the lock: the clock may be slow
	t.mu.Lock()
	if r, ok := t.peek(k); ok && !t.clock.expired(r.at(), now) {
		if ttl > r.ttl() {
			t.add(k, newRoute(r.at(), r.conn, ttl)) // also moves it to the front: it is active again
			t.mu.Unlock()
			t.stats.Duplicates.Add(1)
			t.stats.HigherTTL.Add(1)
			return HigherTTL
		}
		t.mu.Unlock()
		t.stats.Duplicates.Add(1)
		return Duplicate
	}
	// New, or an expired entry that Add overwrites. First drop expired
	// entries from the tail, which is the oldest (re-forwarded entries
	// moved up, so the order is nearly by age): memory follows the age
	// bound too, and what the count bound then evicts is still live.
	for range sweepPerAdd {
		r, ok := t.oldest()
		if !ok || !t.clock.expired(r.at(), now) {
			break
		}
		t.removeOldest()
	}
	evicted := t.add(k, newRoute(now, from, ttl))
	t.mu.Unlock()
	if evicted {
		t.stats.Evicted.Add(1)
	}
	return New
}

// Lookup gives the connection to send a reply to (GNUTELLA.md 7.3): Pongs
// look up (MUID, TypePing), QueryHits (MUID, TypeQuery). Local means the
// message was ours. ok is false, and Stats.Unroutable counts one, when
// there is no route, it is older than maxAge, or its connection is closed
// (WithAlive).
func (t *Table) Lookup(guid protocol.GUID, typ protocol.PayloadType) (ConnID, bool) {
	now := t.clock.tick()
	t.mu.Lock()
	r, ok := t.peek(t.key(guid, typ))
	if ok && t.clock.expired(r.at(), now) {
		ok = false
	}
	t.mu.Unlock()
	if ok && r.conn != Local && t.alive != nil && !t.alive(r.conn) {
		ok = false
	}
	if !ok {
		t.stats.Unroutable.Add(1)
		return 0, false
	}
	return r.conn, true
}

// Len is the number of entries held, expired ones not yet dropped
// included.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.len()
}
