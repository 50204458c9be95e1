// Package udp is the node's UDP socket: one descriptor per datagram, read
// on one goroutine, with input budgets checked before a byte is parsed and
// output budgets checked before a byte is sent. What a datagram means is
// decided by the handler the node passes in.
package udp

import (
	"hash/maphash"
	"net/netip"
	"time"
)

// Rate is a GCRA budget: Burst events at once, one more every Every.
// Every == 0 means unlimited.
type Rate struct {
	Every time.Duration
	Burst int
}

// gcra is one budget's state: the theoretical arrival time.
type gcra struct{ tat int64 }

// allow spends one event of r at now.
func (g *gcra) allow(r Rate, now int64) bool {
	if r.Every <= 0 {
		return true
	}
	every := int64(r.Every)
	tat := max(g.tat, now)
	if tat-now > every*int64(max(r.Burst-1, 0)) {
		return false
	}
	g.tat = tat + every
	return true
}

// Limiter holds a per-address budget and a global one. Per-address state
// lives in a fixed table indexed by a seeded hash of the address group
// (an IPv4 address, an IPv6 /64): memory does not grow with the number of
// (spoofed) sources, and two sources sharing a slot only share a budget,
// which makes the limit stricter, never looser. The hash seed is private,
// so a sender cannot aim at a victim's slot.
type Limiter struct {
	perSource Rate
	global    Rate
	seed      maphash.Seed
	slots     []gcra
	all       gcra
}

// limiterSlots is the per-source table size: 4096 slots of 8 bytes.
const limiterSlots = 4096

// NewLimiter makes a limiter; a zero Rate is unlimited.
func NewLimiter(perSource, global Rate) *Limiter {
	return &Limiter{perSource: perSource, global: global, seed: maphash.MakeSeed(), slots: make([]gcra, limiterSlots)}
}

// Allow spends one event of addr's budget and of the global one. A
// refusal by the per-source budget does not spend the global one: one
// noisy source does not starve the others.
func (l *Limiter) Allow(addr netip.Addr, now time.Time) bool {
	t := now.UnixNano()
	s := &l.slots[l.slot(addr)]
	saved := *s
	if !s.allow(l.perSource, t) {
		return false
	}
	if !l.all.allow(l.global, t) {
		*s = saved
		return false
	}
	return true
}

func (l *Limiter) slot(addr netip.Addr) uint64 {
	addr = addr.Unmap()
	var key [16]byte
	if addr.Is4() {
		a := addr.As4()
		copy(key[:], a[:])
	} else {
		a := addr.As16()
		copy(key[:8], a[:8]) // one host owns a whole /64
		key[15] = 6
	}
	return maphash.Bytes(l.seed, key[:]) % limiterSlots
}
