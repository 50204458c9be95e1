package reach

import (
	"net/netip"
	"time"
)

// Limits of the connect-back answers: each one makes us open a socket or
// send a datagram to an address a peer chose, so one IP gets one answer per
// AnswerPerIP and all IPs together AnswerBurst per AnswerEvery.
const (
	AnswerPerIP   = 10 * time.Minute
	AnswerBurst   = 8
	AnswerEvery   = time.Minute
	maxTrackedIPs = 1024 // bounded memory whatever the peers send
	// AskAgain is how long after asking we ask again while the fact is
	// not proven (half the window: a proof refreshes it in time).
	AskAgain = TCPWindow / 2
)

// answerKey: TCP and UDP connect-backs are limited apart, so a peer asking
// both (as gtk-gnutella does on connect) gets both answers.
type answerKey struct {
	ip   netip.Addr
	kind Kind
}

// Limiter decides which connect-back requests we answer and when we ask
// ours again. The zero value is ready.
type Limiter struct {
	answered map[answerKey]time.Time
	tokens   float64
	refilled time.Time
	asked    [numKinds]time.Time
}

// Answer tells whether to answer a connect-back request of kind k (TCP or
// UDPSolicited) from ip at now, and counts it when so.
func (l *Limiter) Answer(k Kind, ip netip.Addr, now time.Time) bool {
	key := answerKey{ip.Unmap(), k}
	if l.answered == nil {
		l.answered = make(map[answerKey]time.Time)
		l.tokens = AnswerBurst
		l.refilled = now
	}
	if t, ok := l.answered[key]; ok && now.Sub(t) < AnswerPerIP && !now.Before(t) {
		return false
	}
	if d := now.Sub(l.refilled); d > 0 {
		l.tokens = min(AnswerBurst, l.tokens+float64(d)/float64(AnswerEvery)*AnswerBurst)
	}
	l.refilled = now
	if l.tokens < 1 {
		return false
	}
	if len(l.answered) >= maxTrackedIPs {
		l.expire(now)
		if len(l.answered) >= maxTrackedIPs {
			return false
		}
	}
	l.tokens--
	l.answered[key] = now
	return true
}

func (l *Limiter) expire(now time.Time) {
	for key, t := range l.answered {
		if now.Sub(t) >= AnswerPerIP || now.Before(t) {
			delete(l.answered, key)
		}
	}
}

// Ask tells whether to send a connect-back request for k now: not while
// the fact holds, and at most once per AskAgain. It counts the request.
func (l *Limiter) Ask(k Kind, f *Facts, now time.Time) bool {
	if k < 0 || k >= numKinds || f.Reachable(k, now) {
		return false
	}
	if t := l.asked[k]; !t.IsZero() && now.Sub(t) < AskAgain && !now.Before(t) {
		return false
	}
	l.asked[k] = now
	return true
}

// Forget clears when we last asked, so the next Ask of any kind goes out
// (our address changed, or the user asked for a check).
func (l *Limiter) Forget() { l.asked = [numKinds]time.Time{} }
