package gnet

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/servent/servent/routing"

	"github.com/servent/servent/protocol"
)

// Kind says what an Action asks of the shell.
type Kind uint8

const (
	// Send Msg (a whole descriptor: header and payload) on Link. Msg may
	// be shared by several Sends: the shell must not modify it.
	Send Kind = iota + 1
	// Deliver Msg, a QueryHit for one of our searches, that came on Link.
	Deliver
	// Drop: a descriptor from Link was not handled further, for Reason.
	Drop
	// Close Link after a Bye with ByeCode and ByeReason (the peer's own
	// Bye has ByeCode 0 and Reason ReasonPeerBye: close without answering).
	Close
	// Pushed: a Push for us asks us to connect to Addr and give file Index.
	Pushed
	// QRPComplete: a complete QRP table (QRT) arrived on Link; for a leaf
	// link the node's last-hop table must be recomputed
	// (Node.refreshUpTable).
	QRPComplete
	// Answer: the query given to this Receive is new: the shell answers it
	// from its library (Config.ShellAnswers). No Msg: the shell still
	// holds the descriptor.
	Answer
	// Vendor: the vendor message given to this Receive is not the
	// router's (reachability, push-proxy acks, messages-supported): the
	// shell handles it. No Msg, as Answer.
	Vendor
	// Host: a pong named a usable host at Addr (Up: an ultrapeer) for the
	// shell's host cache.
	Host
)

// Priority of a Send, as the node's queue (conn.send's "own" flag):
// our own traffic (answers, searches) before relayed traffic.
type Priority uint8

const (
	Relayed Priority = iota
	Own
)

// Action is one thing the router asks its shell to do.
type Action struct {
	Kind      Kind
	Link      LinkID
	Msg       []byte
	Priority  Priority
	Reason    Reason
	ByeCode   uint16
	ByeReason string
	Addr      netip.AddrPort           // Pushed, Host
	Index     uint32                   // Pushed
	Up        bool                     // Host
	TLS       bool                     // Pushed, Host: it accepts TLS (GGEP TLS)
	QRT       *routing.QueryRouteTable // QRPComplete
}

// Actions is a reusable buffer: pass it back (truncated: acts[:0]) so the
// hot path allocates nothing.
type Actions []Action

// Reason names why a descriptor was dropped or a link closed.
type Reason uint8

const (
	ReasonNone Reason = iota
	ReasonHops255
	ReasonTTLZero
	ReasonHardTTL
	ReasonLeafRelayed // a leaf sent a query with hops > 0
	ReasonDuplicate
	ReasonMalformed
	ReasonAncient // query flags word 0 (GTKG drops these)
	ReasonUnroutable
	ReasonTooLarge // hit over MaxForwardHitLen
	ReasonRelayTTL // would be relayed with TTL 0
	ReasonPingThrottled
	ReasonUnknownType
	ReasonPushNoRoute
	ReasonPushF2F // firewall-to-firewall push: not supported
	ReasonNotForUs
	ReasonFlood
	ReasonTooManyBad
	ReasonTooManyDups
	ReasonBadQRP
	ReasonPeerBye
	numReasons
)

var reasonNames = [numReasons]string{
	"none", "hops-255", "ttl-0", "hard-ttl-limit", "leaf-relayed", "duplicate", "malformed",
	"ancient-query", "unroutable", "too-large", "relay-ttl", "ping-throttled", "unknown-type",
	"push-no-route", "push-f2f", "not-for-us", "flood", "too-many-bad", "too-many-dups", "bad-qrp", "peer-bye",
}

// Reasons lists every Reason a drop can have.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := ReasonNone + 1; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason?"
}

// Stats counts what the router did. The counters are atomic so that a
// node's status and tests may read them while its readers route.
type Stats struct {
	Dropped          [numReasons]atomic.Uint64
	Bad              atomic.Uint64 // descriptors counted against the abuse window
	QueriesHandled   atomic.Uint64
	QueriesAnswered  atomic.Uint64
	QueriesForwarded atomic.Uint64
	HitsRouted       atomic.Uint64
	HitsDelivered    atomic.Uint64
	HitsUnroutable   atomic.Uint64
	PongsSent        atomic.Uint64
	PingsAnswered    atomic.Uint64
	PushesRouted     atomic.Uint64
	DQStarted        atomic.Uint64 // dynamic queries started
	DQSteps          atomic.Uint64 // queries sent after the probe, one ultrapeer each
	DQStatusAsked    atomic.Uint64 // BEAR/11 sent to a leaf
	DQGuidance       atomic.Uint64 // BEAR/12 taken from a leaf
	DQEnded          [numDQEnds]atomic.Uint64
	Closed           atomic.Uint64
}

func reasonOfCheck(err error) Reason {
	switch err {
	case nil:
		return ReasonNone
	case errHops:
		return ReasonHops255
	case errTTLZero:
		return ReasonTTLZero
	}
	return ReasonHardTTL
}

var (
	errHops    = routing.ErrHops
	errTTLZero = routing.ErrTTLZero
)

func (r *Router) drop(dst Actions, l *link, why Reason) Actions {
	r.stats.Dropped[why].Add(1)
	return append(dst, Action{Kind: Drop, Link: l.id, Reason: why})
}

// bad is conn.bad: it counts towards the abuse window.
func (r *Router) bad(dst Actions, l *link, why Reason) Actions {
	l.winBad++
	r.stats.Bad.Add(1)
	return r.drop(dst, l, why)
}

func (r *Router) dup(dst Actions, l *link) Actions {
	l.winDups++
	return r.drop(dst, l, ReasonDuplicate)
}

func (r *Router) close(dst Actions, l *link, code uint16, why Reason, text string, now time.Time) Actions {
	r.stats.Closed.Add(1)
	r.stats.Dropped[why].Add(1)
	r.LinkClosed(l.id, now)
	return append(dst, Action{Kind: Close, Link: l.id, ByeCode: code, ByeReason: text, Reason: why})
}

var _ = protocol.HeaderLen
