package routing

import (
	"hash/maphash"
	"time"

	"github.com/servent/servent/protocol"
)

type pushRoute struct {
	at   int64
	conn ConnID
}

// PushTable routes Pushes by servent GUID (GNUTELLA.md 7.3): servent GUID
// -> the connection a QueryHit from that servent came through (or the leaf
// itself). Bounded by count and age like Table; the latest Add wins and
// refreshes the age. Safe for concurrent use.
type PushTable struct {
	lruTable[pushKey, pushRoute]
	seed maphash.Seed
}

// pushKey is a keyed 64-bit hash of the servent GUID, for the reasons of
// routeKey: an entry of 80 bytes instead of 96 and a map slot of 16
// instead of 24.
type pushKey uint64

func (p *PushTable) key(servent protocol.GUID) pushKey {
	return pushKey(maphash.Bytes(p.seed, servent[:]))
}

// NewPushTable makes a PushTable; the arguments are those of NewTable.
func NewPushTable(size int, maxAge time.Duration, now func() time.Time, opts ...Option) *PushTable {
	return &PushTable{lruTable: newLRUTable[pushKey, pushRoute](size, maxAge, now, opts), seed: maphash.MakeSeed()}
}

// Add records that servent is reached through conn, replacing any older
// route for it.
func (p *PushTable) Add(servent protocol.GUID, conn ConnID) {
	now := p.clock.tick()
	p.mu.Lock()
	// Every Add moves its entry to the front, so the tail is the oldest:
	// drop expired ones before the count bound evicts a live one.
	for range sweepPerAdd {
		r, ok := p.oldest()
		if !ok || !p.clock.expired(r.at, now) {
			break
		}
		p.removeOldest()
	}
	evicted := p.add(p.key(servent), pushRoute{at: now, conn: conn})
	p.mu.Unlock()
	if evicted {
		p.stats.Evicted.Add(1)
	}
}

// Lookup gives the connection to send a Push for servent to. ok is false,
// and Stats.Unroutable counts one, when there is no route, it is older than
// maxAge, or its connection is closed (WithAlive). Local means servent is
// us.
func (p *PushTable) Lookup(servent protocol.GUID) (ConnID, bool) {
	now := p.clock.tick()
	p.mu.Lock()
	r, ok := p.peek(p.key(servent))
	if ok && p.clock.expired(r.at, now) {
		ok = false
	}
	p.mu.Unlock()
	if ok && r.conn != Local && p.alive != nil && !p.alive(r.conn) {
		ok = false
	}
	if !ok {
		p.stats.Unroutable.Add(1)
		return 0, false
	}
	return r.conn, true
}

// Remove forgets servent's route (e.g. a leaf that left).
func (p *PushTable) Remove(servent protocol.GUID) {
	p.mu.Lock()
	p.remove(p.key(servent))
	p.mu.Unlock()
}

// Len is the number of entries held, expired ones not yet dropped
// included.
func (p *PushTable) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.len()
}
