package routing

import (
	"errors"
	"sync/atomic"
)

// Stats counts what the tables and the TTL rules dropped. All fields are
// atomic: the node reads them while connection goroutines add to them. One
// Stats may be shared by several tables (WithStats).
type Stats struct {
	Duplicates atomic.Uint64 // Add/AddTTL found the (MUID, type) already known, higher-TTL copies included
	HigherTTL  atomic.Uint64 // duplicates that came with a higher forwardable TTL (re-forwarded once)
	Unroutable atomic.Uint64 // Lookup found no route, an expired one, or one to a closed connection
	TTLDrops   atomic.Uint64 // Check: TTL 0
	HopsDrops  atomic.Uint64 // Check: hops 255
	HardLimit  atomic.Uint64 // Check: TTL + hops > 15
	Evicted    atomic.Uint64 // routes pushed out by the count bound (live ones: expired ones are dropped first)
}

// Counters is a plain copy of Stats.
type Counters struct {
	Duplicates, HigherTTL, Unroutable, TTLDrops, HopsDrops, HardLimit, Evicted uint64
}

// Snapshot copies the counters (each read is atomic, the set is not).
func (s *Stats) Snapshot() Counters {
	return Counters{
		Duplicates: s.Duplicates.Load(),
		HigherTTL:  s.HigherTTL.Load(),
		Unroutable: s.Unroutable.Load(),
		TTLDrops:   s.TTLDrops.Load(),
		HopsDrops:  s.HopsDrops.Load(),
		HardLimit:  s.HardLimit.Load(),
		Evicted:    s.Evicted.Load(),
	}
}

// CountCheck adds err, a result of Check, to its counter. nil and other
// errors count nothing.
func (s *Stats) CountCheck(err error) {
	switch {
	case err == nil:
	case errors.Is(err, ErrTTLZero):
		s.TTLDrops.Add(1)
	case errors.Is(err, ErrHops):
		s.HopsDrops.Add(1)
	case errors.Is(err, ErrHardLimit):
		s.HardLimit.Add(1)
	}
}
