package servent

import (
	"net/netip"
	"sync"
	"time"

	"github.com/servent/servent/routing"
)

// Pong cache lifetimes (GTKG pcache.c: 20 s as ultrapeer, 120 s as leaf).
const (
	pongLifeUP   = 20 * time.Second
	pongLifeLeaf = 120 * time.Second
	pongCacheMax = 256
)

type pongEntry struct {
	addr    netip.AddrPort
	payload []byte // copy of the Pong payload
	hops    uint8
	from    routing.ConnID
	up      bool
	at      time.Time
}

// pongCache keeps recent Pongs to answer Pings with (Pong-Caching 0.1),
// one entry per address.
type pongCache struct {
	mu      sync.Mutex
	entries map[netip.AddrPort]*pongEntry // guarded by mu
	now     func() time.Time
	life    time.Duration // guarded by mu: it shortens when an auto node is promoted
}

func newPongCache(now func() time.Time, ultrapeer bool) *pongCache {
	life := pongLifeLeaf
	if ultrapeer {
		life = pongLifeUP
	}
	return &pongCache{entries: map[netip.AddrPort]*pongEntry{}, now: now, life: life}
}

// setUltrapeer switches to the lifetime of the new role.
func (pc *pongCache) setUltrapeer(up bool) {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.life = pongLifeLeaf
	if up {
		pc.life = pongLifeUP
	}
}

func (pc *pongCache) add(addr netip.AddrPort, payload []byte, hops uint8, from routing.ConnID, up bool) {
	now := pc.now()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	e, ok := pc.entries[addr]
	if !ok {
		if len(pc.entries) >= pongCacheMax {
			pc.expireLocked(now, true)
		}
		e = &pongEntry{addr: addr}
		pc.entries[addr] = e
	}
	e.payload = append([]byte(nil), payload...) // fresh: pick hands out copies sharing it
	e.hops, e.from, e.up, e.at = hops, from, up, now
}

// expireLocked drops stale entries; with force, also the oldest one.
func (pc *pongCache) expireLocked(now time.Time, force bool) {
	var oldest *pongEntry
	for a, e := range pc.entries {
		if now.Sub(e.at) > pc.life {
			delete(pc.entries, a)
			continue
		}
		if oldest == nil || e.at.Before(oldest.at) {
			oldest = e
		}
	}
	if force && len(pc.entries) >= pongCacheMax && oldest != nil {
		delete(pc.entries, oldest.addr)
	}
}

// pick returns up to max fresh pongs for a ping from c, none that c told
// us about or that describe c, ultrapeers first.
func (pc *pongCache) pick(max int, c *conn) []pongEntry {
	now := pc.now()
	pc.mu.Lock()
	defer pc.mu.Unlock()
	pc.expireLocked(now, false)
	out := make([]pongEntry, 0, max)
	for pass := 0; pass < 2 && len(out) < max; pass++ {
		for _, e := range pc.entries {
			if len(out) == max {
				break
			}
			if e.up != (pass == 0) || e.from == c.id || e.addr == c.listen || e.addr.Addr() == c.addr.Addr() {
				continue
			}
			out = append(out, *e)
		}
	}
	return out
}

func (pc *pongCache) len() int {
	pc.mu.Lock()
	defer pc.mu.Unlock()
	return len(pc.entries)
}
