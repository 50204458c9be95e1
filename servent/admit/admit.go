// Package admit decides which inbound sockets a servent keeps: a total
// cap, a cap per address group (IPv4 /24, IPv6 /64, as gtk-gnutella's
// host_addr_mask_net groups hosts), and, when the table is full, eviction
// of the oldest socket that has not finished its handshake instead of a
// refusal of the newcomer. A peer holding half-open sockets from many
// addresses can then slow newcomers down but not lock them out.
//
// Table is a pure data structure: no sockets, no goroutines, no locks
// (the caller serialises), time passed in.
package admit

import (
	"net/netip"
	"time"
)

// Decision is what Admit decided for a newcomer.
type Decision uint8

const (
	// Accept: a slot was free.
	Accept Decision = iota
	// Evict: the table was full; the returned victim, the oldest socket
	// still handshaking, lost its slot and must be closed.
	Evict
	// RefuseNet: the newcomer's address group holds its cap of sockets.
	RefuseNet
	// RefuseFull: every slot holds an established connection.
	RefuseFull
)

func (d Decision) String() string {
	switch d {
	case Accept:
		return "accept"
	case Evict:
		return "evict"
	case RefuseNet:
		return "network cap"
	case RefuseFull:
		return "full"
	}
	return "unknown"
}

// Admitted reports whether the newcomer got a slot.
func (d Decision) Admitted() bool { return d == Accept || d == Evict }

// ID names an admitted socket.
type ID uint64

// Stats counts decisions since the table was made.
type Stats struct {
	Admitted      uint64 // including those that evicted someone
	Evicted       uint64 // half-open sockets that lost their slot
	RefusedNetCap uint64
	RefusedFull   uint64
}

// entry is one socket. Pending entries are on the table's list, oldest
// first.
type entry[T any] struct {
	id          ID
	group       netip.Prefix
	since       time.Time
	value       T
	established bool
	prev, next  *entry[T] // pending list
}

// Table holds the inbound sockets. T is what the caller needs to close a
// victim (a net.Conn in the servent). The zero Table is not usable: call
// New.
type Table[T any] struct {
	max, perNet int
	entries     map[ID]*entry[T]
	groups      map[netip.Prefix]int
	head, tail  *entry[T] // pending, oldest at head
	pending     int
	nextID      ID
	stats       Stats
}

// New makes a table of at most total sockets, perNet of them per address
// group. Values below 1 are taken as 1.
func New[T any](total, perNet int) *Table[T] {
	return &Table[T]{
		max: max(total, 1), perNet: max(perNet, 1),
		entries: map[ID]*entry[T]{}, groups: map[netip.Prefix]int{},
	}
}

// Group is the address group a source counts against: the /24 of an IPv4
// address and the /64 of an IPv6 one. IPv4-mapped (::ffff:a.b.c.d) and
// IPv4-compatible (::a.b.c.d) addresses count as the IPv4 address, as
// gtk-gnutella converts them before masking.
func Group(a netip.Addr) netip.Prefix {
	a = a.WithZone("")
	if a.Is6() {
		b := a.As16()
		var zero [12]byte
		if [12]byte(b[:12]) == zero && b[12] != 0 {
			a = netip.AddrFrom4([4]byte(b[12:]))
		}
	}
	a = a.Unmap()
	bits := 64
	if a.Is4() {
		bits = 24
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{} // invalid addresses share one group
	}
	return p
}

// Admit decides on a newcomer from addr at now, registering v for it when
// it is admitted. On Evict, victim is the value of the socket that lost
// its slot; the caller closes it (its later Release is a no-op).
func (t *Table[T]) Admit(addr netip.Addr, now time.Time, v T) (d Decision, id ID, victim T) {
	g := Group(addr)
	if t.groups[g] >= t.perNet {
		t.stats.RefusedNetCap++
		return RefuseNet, 0, victim
	}
	d = Accept
	if len(t.entries) >= t.max {
		old := t.head
		if old == nil {
			t.stats.RefusedFull++
			return RefuseFull, 0, victim
		}
		victim = old.value
		t.remove(old)
		t.stats.Evicted++
		d = Evict
	}
	t.nextID++
	e := &entry[T]{id: t.nextID, group: g, since: now, value: v}
	t.entries[e.id] = e
	t.groups[g]++
	t.pushPending(e)
	t.stats.Admitted++
	return d, e.id, victim
}

// MarkEstablished records that id finished its handshake: it can no
// longer be evicted. false: id is gone (evicted or released).
func (t *Table[T]) MarkEstablished(id ID) bool {
	e, ok := t.entries[id]
	if !ok {
		return false
	}
	if !e.established {
		t.unlinkPending(e)
		e.established = true
	}
	return true
}

// Release frees id's slot; releasing an evicted or unknown id does nothing.
func (t *Table[T]) Release(id ID) {
	if e, ok := t.entries[id]; ok {
		t.remove(e)
	}
}

// Len is the number of sockets held; Pending those still handshaking.
func (t *Table[T]) Len() int     { return len(t.entries) }
func (t *Table[T]) Pending() int { return t.pending }

// InGroup is the number of sockets held from addr's group.
func (t *Table[T]) InGroup(addr netip.Addr) int { return t.groups[Group(addr)] }

// OldestPending is when the oldest socket still handshaking was admitted.
func (t *Table[T]) OldestPending() (time.Time, bool) {
	if t.head == nil {
		return time.Time{}, false
	}
	return t.head.since, true
}

// Stats returns the decision counters.
func (t *Table[T]) Stats() Stats { return t.stats }

func (t *Table[T]) remove(e *entry[T]) {
	if !e.established {
		t.unlinkPending(e)
	}
	delete(t.entries, e.id)
	if t.groups[e.group]--; t.groups[e.group] <= 0 {
		delete(t.groups, e.group)
	}
}

func (t *Table[T]) pushPending(e *entry[T]) {
	e.prev, e.next = t.tail, nil
	if t.tail != nil {
		t.tail.next = e
	} else {
		t.head = e
	}
	t.tail = e
	t.pending++
}

func (t *Table[T]) unlinkPending(e *entry[T]) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		t.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		t.tail = e.prev
	}
	e.prev, e.next = nil, nil
	t.pending--
}
