package oob

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
)

type pendKey struct {
	to   netip.AddrPort
	guid protocol.GUID
}

type pending struct {
	hits    []protocol.QueryHit
	secure  bool // the query had GGEP SO: the ACK's token goes into the hits
	acked   bool
	next    time.Time // acked: when the next hit is due
	expires time.Time
}

// Delivery is one hit due to be sent over UDP.
type Delivery struct {
	To   netip.AddrPort
	GUID protocol.GUID
	Hit  protocol.QueryHit
}

// ResponderStats are the responder's counters.
type ResponderStats struct {
	Held      uint64 // queries announced by LIME/12
	Acked     uint64 // LIME/11 matched
	Expired   uint64 // held hits dropped without an ACK
	StrayAcks uint64 // LIME/11 for nothing held
	Sent      uint64 // hits handed out for sending
}

// Responder holds the hits of OOB queries we answer until the querier
// claims them with LIME/11, then paces them out as gtk-gnutella's oob.c:
// the first at once, the others DeliverBase + up to DeliverRand apart.
type Responder struct {
	jitter  func(time.Duration) time.Duration // random in [0, d)
	pending map[pendKey]*pending
	Stats   ResponderStats
}

// NewResponder returns an empty Responder; jitter returns a random
// duration below its argument.
func NewResponder(jitter func(time.Duration) time.Duration) *Responder {
	return &Responder{jitter: jitter, pending: map[pendKey]*pending{}}
}

// Hold keeps hits for the querier at to and returns the LIME/12 to send it.
// secure: the query carried GGEP SO (answer LIME/12 v3). False: nothing
// to hold, already held, or the table full (drop, as GTKG does).
func (r *Responder) Hold(to netip.AddrPort, guid protocol.GUID, hits []protocol.QueryHit, secure bool, now time.Time) (protocol.OOBReplyNumber, bool) {
	n := 0
	for _, h := range hits {
		n += len(h.Results)
	}
	k := pendKey{to, guid}
	if n == 0 || r.pending[k] != nil {
		return protocol.OOBReplyNumber{}, false
	}
	if len(r.pending) >= maxPending {
		r.Expire(now)
		if len(r.pending) >= maxPending {
			return protocol.OOBReplyNumber{}, false
		}
	}
	if len(hits) > MaxQueued {
		hits = hits[:MaxQueued]
	}
	r.pending[k] = &pending{hits: hits, secure: secure, expires: now.Add(AckTimeout)}
	r.Stats.Held++
	v := uint16(2)
	if secure {
		v = 3
	}
	return protocol.OOBReplyNumber{Version: v, Hits: uint8(min(n, 255))}, true
}

// Ack takes LIME/11 from from: the claimed results (Wanted) with the
// token copied into each hit's GGEP SO when the query was secure. It
// returns the first hit to send at once; the others come from Due.
func (r *Responder) Ack(from netip.AddrPort, guid protocol.GUID, ack protocol.OOBReplyAck, now time.Time) (Delivery, bool) {
	k := pendKey{from, guid}
	p := r.pending[k]
	if p == nil || p.acked || !now.Before(p.expires) || ack.Wanted == 0 {
		r.Stats.StrayAcks++
		return Delivery{}, false
	}
	if p.secure && len(ack.Token) == 0 {
		// v3 requires the token; GTKG drops an ack without one.
		r.Stats.StrayAcks++
		return Delivery{}, false
	}
	r.Stats.Acked++
	p.acked = true
	p.hits = trim(p.hits, int(ack.Wanted))
	if p.secure {
		tok := append([]byte(nil), ack.Token...)
		for i := range p.hits {
			g := make(protocol.GGEP, 0, len(p.hits[i].GGEP)+1)
			for _, e := range p.hits[i].GGEP {
				if e.ID != "SO" {
					g = append(g, e)
				}
			}
			p.hits[i].GGEP = append(g, protocol.Extension{ID: "SO", Data: tok})
		}
	}
	p.next = now
	d, _ := r.pop(k, p, now)
	return d, true
}

// trim keeps the first wanted results of hits (OOBWantAll: all).
func trim(hits []protocol.QueryHit, wanted int) []protocol.QueryHit {
	if wanted == protocol.OOBWantAll {
		return hits
	}
	for i := range hits {
		if wanted <= 0 {
			return hits[:i]
		}
		if len(hits[i].Results) > wanted {
			hits[i].Results = hits[i].Results[:wanted]
		}
		wanted -= len(hits[i].Results)
	}
	return hits
}

func (r *Responder) pop(k pendKey, p *pending, now time.Time) (Delivery, bool) {
	if len(p.hits) == 0 {
		delete(r.pending, k)
		return Delivery{}, false
	}
	d := Delivery{To: k.to, GUID: k.guid, Hit: p.hits[0]}
	p.hits = p.hits[1:]
	p.next = now.Add(DeliverBase + r.jitter(DeliverRand))
	r.Stats.Sent++
	if len(p.hits) == 0 {
		delete(r.pending, k)
	}
	return d, true
}

// Due returns the acked hits whose time has come, one per querier per
// call, and drops unacked hits past AckTimeout (none sent: the querier
// never claimed them).
func (r *Responder) Due(now time.Time) []Delivery {
	var out []Delivery
	for k, p := range r.pending {
		switch {
		case !p.acked && !now.Before(p.expires):
			delete(r.pending, k)
			r.Stats.Expired++
		case p.acked && !now.Before(p.next):
			if d, ok := r.pop(k, p, now); ok {
				out = append(out, d)
			}
		}
	}
	return out
}

// Expire drops unacked hits past AckTimeout.
func (r *Responder) Expire(now time.Time) {
	for k, p := range r.pending {
		if !p.acked && !now.Before(p.expires) {
			delete(r.pending, k)
			r.Stats.Expired++
		}
	}
}

// Len is the number of queries with hits held.
func (r *Responder) Len() int { return len(r.pending) }
