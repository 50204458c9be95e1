// Package flood keeps a per-connection message budget by descriptor type
// and says when a neighbour floods: more messages of one kind than a
// burst allowance plus a sustained rate. The servent then says Bye, closes
// and bans the address.
//
// A Meter is pure state (a few integers, no allocation, no goroutines);
// the time is passed in. It belongs to the connection's reader.
package flood

import (
	"time"

	"github.com/servent/servent/protocol"
)

// Kind is a class of descriptors with its own budget.
type Kind uint8

// Kinds.
const (
	Ping Kind = iota
	Pong
	Query
	QueryHit
	Push
	Other // Bye, QRP, vendor messages, unknown types
	numKinds
)

var kindNames = [numKinds]string{"ping", "pong", "query", "query hit", "push", "other"}

func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return "unknown"
}

// KindOf classifies a descriptor type.
func KindOf(t protocol.PayloadType) Kind {
	switch t {
	case protocol.TypePing:
		return Ping
	case protocol.TypePong:
		return Pong
	case protocol.TypeQuery:
		return Query
	case protocol.TypeQueryHit:
		return QueryHit
	case protocol.TypePush:
		return Push
	}
	return Other
}

// Budget allows Burst messages at once and one more per Every after that.
// Every == 0 means no limit.
type Budget struct {
	Every time.Duration
	Burst int
}

// Budgets holds a Budget per Kind.
type Budgets [numKinds]Budget

// The budgets follow gtk-gnutella and LimeWire where they have a number:
//   - pings: gtk-gnutella answers one ping per PING_REG_THROTTLE (3 s,
//     nodes.h) from a peer and drops the rest as "Message throttle"
//     (pcache.c pcache_ping_accept) without closing; it pings its
//     neighbours itself when its pong cache expires, every
//     CACHE_UP_LIFESPAN (20 s; 120 s as a leaf, pcache.c), and sends alive
//     pings every ALIVE_PERIOD (20 s, nodes.c). A LimeWire ultrapeer's
//     Pinger pings every connection every 3 s (Pinger.java), on top of its
//     connect and keep-alive pings: a budget of exactly one per 3 s would
//     drain its burst and ban it in time. One per second with a burst of
//     60 is three times LimeWire's rate and still cuts a flood within a
//     minute; handlePing drops the pings it does not answer before the
//     route table, so what the budget lets through costs no memory.
//   - pongs: gtk-gnutella returns at most MAX_PONGS (10, pcache.c) per
//     accepted ping, plus CONNECT_PONGS_COUNT (10, nodes.c) at connect: a
//     leaf gets a burst of 100 and 3.3/s. An ultrapeer link carries more:
//     GnutellaBun relays a ping with TTL > 1 to all its peers (at most one
//     per second per peer, descriptor_routing/ttl.ts shouldRelayPing), so
//     the TTL-4 discovery ping we send every 30 s comes back as up to 10
//     pongs from each of its neighbours, and theirs: burst 1000, 100/s.
//   - queries from a leaf: gtk-gnutella spaces the queries it sends on a
//     connection by search_queue_spacing (10 s by default and at least,
//     gnet_props.ag) and drops a leaf's identical query within
//     node_requery_threshold (1700 s); burst 50 covers a client without
//     such a queue.
//   - pushes from a leaf: gtk-gnutella sends one push per server every
//     DOWNLOAD_PUSH_FREQ (30 s, downloads.c) for up to max_downloads (100
//     by default, gnet_props.ag) downloads at once: 100 pushes at once and
//     3.3/s sustained. Ten per second, burst 200.
//
// Relayed traffic on ultrapeer links (queries, hits, pushes) has no count
// limit in gtk-gnutella, only its Gnet input bandwidth (bw_gnet_in, 8 KiB/s
// by default, about 100-300 messages/s). Our caps there (10,000/s, burst
// 10,000) are sanity bounds far above any real link.
var (
	leaf = Budgets{
		Ping:     {Every: time.Second, Burst: 60},
		Pong:     {Every: 300 * time.Millisecond, Burst: 100},
		Query:    {Every: 10 * time.Second, Burst: 50},
		QueryHit: {Every: 10 * time.Millisecond, Burst: 1000},
		Push:     {Every: 100 * time.Millisecond, Burst: 200},
		Other:    {Every: 10 * time.Millisecond, Burst: 1000},
	}
	ultrapeer = Budgets{
		Ping:     {Every: time.Second, Burst: 60},
		Pong:     {Every: 10 * time.Millisecond, Burst: 1000},
		Query:    {Every: 100 * time.Microsecond, Burst: 10000},
		QueryHit: {Every: 100 * time.Microsecond, Burst: 10000},
		Push:     {Every: time.Millisecond, Burst: 1000},
		Other:    {Every: 10 * time.Millisecond, Burst: 1000},
	}
	unlimited Budgets
)

// ForLeaf is the budget of a connection to a leaf; ForUltrapeer that of a
// connection to an ultrapeer. Unlimited never says flood (load tests).
func ForLeaf() *Budgets      { return &leaf }
func ForUltrapeer() *Budgets { return &ultrapeer }
func Unlimited() *Budgets    { return &unlimited }

// Meter is one connection's account: per kind, the theoretical arrival
// time of the next message at the sustained rate (GCRA).
type Meter struct {
	b   *Budgets
	tat [numKinds]int64 // unix nanoseconds
}

// NewMeter starts an account under b (not copied: budgets are shared).
func NewMeter(b *Budgets) Meter { return Meter{b: b} }

// Allow accounts for one message of kind k arriving at now and reports
// whether it is within budget; false means the connection floods. A
// message over budget is not accounted.
func (m *Meter) Allow(k Kind, now time.Time) bool {
	if m.b == nil || k >= numKinds {
		return true
	}
	bud := m.b[k]
	if bud.Every <= 0 {
		return true
	}
	t := now.UnixNano()
	tat := max(m.tat[k], t) + int64(bud.Every)
	if tat-t > int64(bud.Every)*int64(bud.Burst) {
		return false
	}
	m.tat[k] = tat
	return true
}
