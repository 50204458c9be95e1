package routing

import (
	"errors"

	"github.com/servent/servent/protocol"
)

// TTL and hops rules of GNUTELLA.md 3.4.

const (
	// HardTTLLimit is GTKG's hard_ttl_limit: TTL + hops above it is dropped.
	HardTTLLimit = 15
	// DefaultMaxTTL is GTKG's max_ttl, the TTL we originate queries and
	// pushes with and the horizon forwarded queries are trimmed to.
	DefaultMaxTTL = 4
	// HitTTLMargin is what GTKG adds to a hit's TTL so that hits survive
	// re-routing.
	HitTTLMargin = 5
)

// Errors of Check. They are returned bare (no wrapping, no allocation):
// a hostile peer can make the node call Check millions of times.
var (
	ErrHops      = errors.New("routing: hops 255")
	ErrTTLZero   = errors.New("routing: ttl 0")
	ErrHardLimit = errors.New("routing: ttl+hops over the hard limit")
)

// Check applies the receive rules (3.4 rules 1-2) to a routed descriptor
// (Query, Push, QueryHit, and Ping/Pong where relayed): hops 255, TTL 0 and
// TTL + hops > HardTTLLimit are dropped. Stats.CountCheck counts the result.
func Check(h protocol.Header) error {
	switch {
	case h.Hops == 255:
		return ErrHops
	case h.TTL == 0:
		return ErrTTLZero
	case int(h.TTL)+int(h.Hops) > HardTTLLimit:
		return ErrHardLimit
	}
	return nil
}

// ForwardTTL gives the TTL and hops a broadcast (a Query) is forwarded with,
// h holding the values received (3.4 rules 3-4). First the trim: when
// hops + TTL > maxTTL the TTL becomes max(maxTTL - hops, 1). Then hops + 1,
// TTL - 1. ok is false, and ttl 0, when the result would be TTL 0: not
// forwarded to ultrapeers. hops is h.Hops + 1 (at most 255) either way, for
// the copy a leaf still gets.
// maxTTL 0 means DefaultMaxTTL. peerMaxTTL, when given and not 0, is the
// receiving peer's X-Max-TTL: the TTL is capped to it ("never send a peer a
// TTL above its X-Max-TTL").
func ForwardTTL(h protocol.Header, maxTTL uint8, peerMaxTTL ...uint8) (ttl, hops uint8, ok bool) {
	if maxTTL == 0 {
		maxTTL = DefaultMaxTTL
	}
	t, hp := int(h.TTL), int(h.Hops)
	if hp+t > int(maxTTL) {
		t = max(int(maxTTL)-hp, 1)
	}
	t, hp = t-1, hp+1
	if len(peerMaxTTL) > 0 && peerMaxTTL[0] > 0 && t > int(peerMaxTTL[0]) {
		t = int(peerMaxTTL[0])
	}
	hp = min(hp, 255)
	if t < 1 || hp == 255 {
		return 0, uint8(hp), false
	}
	return uint8(t), uint8(hp), true
}

// RelayTTL gives the TTL and hops a routed reply (Pong, QueryHit, Push) is
// passed on with: hops + 1, TTL - 1, no trim (rule 3). ok is false (ttl 0)
// when the received TTL was below 2; hops is h.Hops + 1 (at most 255) either
// way.
func RelayTTL(h protocol.Header) (ttl, hops uint8, ok bool) {
	hops = uint8(min(int(h.Hops)+1, 255))
	if h.TTL < 2 || hops == 255 {
		return 0, hops, false
	}
	return h.TTL - 1, hops, true
}

// PongTTL is the TTL of a Pong answering a Ping that arrived with pingHops:
// min(pingHops + 1, maxTTL), at least 1. maxTTL 0 means DefaultMaxTTL.
func PongTTL(pingHops, maxTTL uint8) uint8 {
	if maxTTL == 0 {
		maxTTL = DefaultMaxTTL
	}
	return uint8(max(min(int(pingHops)+1, int(maxTTL)), 1))
}

// HitTTL is the TTL of a QueryHit answering a Query that arrived with
// queryHops: min(queryHops + 1 + 5, 15), as GTKG.
func HitTTL(queryHops uint8) uint8 {
	return uint8(min(int(queryHops)+1+HitTTLMargin, HardTTLLimit))
}

// PushTTL is the TTL of a Push we originate. GTKG sends max_ttl; a result
// whose QueryHit arrived with hitHops needs hitHops + 1 to reach its servent,
// so the larger of the two is used (capped at HardTTLLimit). Pass hitHops 0
// when unknown. maxTTL 0 means DefaultMaxTTL.
func PushTTL(hitHops, maxTTL uint8) uint8 {
	if maxTTL == 0 {
		maxTTL = DefaultMaxTTL
	}
	return uint8(min(max(int(maxTTL), int(hitHops)+1), HardTTLLimit))
}
