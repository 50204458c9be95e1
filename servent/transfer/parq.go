package transfer

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// PARQ, active queueing (GNUTELLA-TRANSFERS.md 21, gtk-gnutella's parq.c):
// when every upload slot is taken, a requester gets a place in line, an ID
// and a time to come back (Retry-After) within a lifetime; coming back in
// time keeps the place, and the first in line gets the next free slot.

// Queue settings, gtk-gnutella's where it has them.
const (
	QueueSize      = 128 // places in line
	QueuePerIP     = 1   // places one address may hold (one per file asked)
	queuePollStep  = 15 * time.Second
	queuePollMax   = 5 * time.Minute
	queueLifeExtra = 60 * time.Second // lifetime = Retry-After + this (seen: 30 -> 90)
	queueSafety    = 40 * time.Second // PARQ_RETRY_SAFETY: kept that much past the lifetime told
	queueEarly     = 5 * time.Second  // a poll this much before Retry-After is "too soon"
	queueMaxEarly  = 3                // too-soon polls before the place is lost
	quickBytes     = 8192             // parq_size_always_continue: served even when slots are full

	// QUEUE callbacks (21.4): gtk-gnutella's QUEUE_HOST_DELAY, MAX_QUEUE,
	// MAX_QUEUE_REFUSED, and the time a called place is kept for its answer.
	queueHostDelay  = 12 * time.Second
	queueMaxSent    = 144
	queueMaxRefused = 2
	queueCallGrace  = 60 * time.Second

	// queueGuard: a client served a moment ago that asks for more of the
	// same file goes ahead of the line, as gtk-gnutella keeps a client
	// that just lost its slot ahead for 45 s: a download in several
	// requests is not sent to the back between two of them.
	queueGuard = 45 * time.Second
)

type parqEntry struct {
	id      string
	ip      netip.Addr
	key     string // the file asked for
	retry   time.Time
	expires time.Time
	early   int

	// QUEUE callback: the holder's X-Node (same address as the request),
	// how often we called, how often the call brought no request, and
	// whether a call is out now.
	callback netip.AddrPort
	called   int
	refused  int
	calling  bool
	lapsed   bool // its lifetime ran out: kept only for the call
}

// queueCall is a QUEUE callback to make: connect to addr and send the
// place's ID.
type queueCall struct {
	id   string
	addr netip.AddrPort
}

// parqAnswer is the queue's decision about one request.
type parqAnswer struct {
	serve    bool   // take the free slot now
	refused  bool   // no place: the line is full, or the address holds one already
	id       string // the place's ID ("" when served without queueing)
	pos, len int
	retry    time.Duration
	lifetime time.Duration
	answered bool // the request answers our QUEUE call
}

// parqQueue is the line behind the upload slots. Its methods take the
// time as an argument; safe for concurrent use.
type parqQueue struct {
	size, perIP int
	pollMin     time.Duration

	mu       sync.Mutex
	entries  []*parqEntry             // arrival order
	lastCall map[netip.Addr]time.Time // QUEUE sent per address, for queueHostDelay
	served   map[servedKey]time.Time  // last served, per client and file (queueGuard)
}

type servedKey struct {
	ip  netip.Addr
	key string
}

func newParqQueue(size, perIP int, pollMin time.Duration) *parqQueue {
	if size <= 0 {
		size = QueueSize
	}
	if perIP <= 0 {
		perIP = QueuePerIP
	}
	if pollMin <= 0 {
		pollMin = 30 * time.Second
	}
	return &parqQueue{size: size, perIP: perIP, pollMin: pollMin, lastCall: map[netip.Addr]time.Time{}, served: map[servedKey]time.Time{}}
}

// request decides about a request from ip for key, carrying the place ID
// it was given (if any); slotFree says whether a slot is free for it now,
// eligible whether a waiting address could take one (it is not at its
// per-address limit): a free slot goes to the first eligible in line.
//
// callback is the requester's X-Node address, for QUEUE callbacks; it is
// kept only when its address is the requester's own (no one may make us
// connect to a third host).
func (q *parqQueue) request(ip netip.Addr, key, id string, callback netip.AddrPort, slotFree bool, eligible func(netip.Addr) bool, now time.Time) parqAnswer {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expire(now)
	i := q.find(ip, key, id)
	called := false
	if i >= 0 {
		e := q.entries[i]
		// The holder answered our call (or came back on its own): the
		// place is alive again, and an early request is not early.
		called, e.calling, e.lapsed, e.refused = e.calling, false, false, 0
	}
	if i < 0 {
		if at, ok := q.served[servedKey{ip, key}]; ok && slotFree && now.Sub(at) < queueGuard {
			q.served[servedKey{ip, key}] = now
			return parqAnswer{serve: true} // the rest of what it was being served
		}
		if slotFree && !q.eligibleBefore(len(q.entries), eligible) {
			q.noteServed(ip, key, now)
			return parqAnswer{serve: true} // nobody who could take it waits
		}
		held := 0
		for _, e := range q.entries {
			if e.ip == ip {
				held++
			}
		}
		if len(q.entries) >= q.size || held >= q.perIP {
			return parqAnswer{refused: true, retry: q.pollMin}
		}
		q.entries = append(q.entries, &parqEntry{id: newQueueID(), ip: ip, key: key})
		i = len(q.entries) - 1
	} else if e := q.entries[i]; !called && now.Before(e.retry.Add(-queueEarly)) {
		// Too soon: the place stays as it is; three times and it is lost.
		if e.early++; e.early >= queueMaxEarly {
			q.entries = append(q.entries[:i], q.entries[i+1:]...)
			return parqAnswer{refused: true, retry: q.pollMin}
		}
		return q.answer(i, e.retry.Sub(now), now, false)
	}
	e := q.entries[i]
	if callback.IsValid() && callback.Port() != 0 && callback.Addr().Unmap() == ip {
		e.callback = netip.AddrPortFrom(ip, callback.Port())
	}
	if slotFree && !q.eligibleBefore(i, eligible) {
		q.entries = append(q.entries[:i], q.entries[i+1:]...)
		q.noteServed(ip, key, now)
		return parqAnswer{serve: true, id: e.id, answered: called}
	}
	retry := min(q.pollMin+time.Duration(i)*queuePollStep, queuePollMax)
	a := q.answer(i, retry, now, true)
	a.answered = called
	return a
}

// answer fills the place's figures; a fresh poll sets its next times.
func (q *parqQueue) answer(i int, retry time.Duration, now time.Time, fresh bool) parqAnswer {
	e := q.entries[i]
	retry = max(retry, time.Second)
	life := retry + queueLifeExtra
	if fresh {
		e.retry = now.Add(retry)
		e.expires = now.Add(life + queueSafety)
		e.early = 0
	}
	return parqAnswer{id: e.id, pos: i + 1, len: len(q.entries), retry: retry, lifetime: life}
}

// eligibleBefore reports whether one of the first n places could take a
// free slot now.
func (q *parqQueue) eligibleBefore(n int, eligible func(netip.Addr) bool) bool {
	for _, e := range q.entries[:n] {
		if eligible == nil || eligible(e.ip) {
			return true
		}
	}
	return false
}

func (q *parqQueue) find(ip netip.Addr, key, id string) int {
	for i, e := range q.entries {
		if e.ip == ip && (strings.EqualFold(e.id, id) || e.key == key) {
			return i
		}
	}
	return -1
}

// expire drops the places whose holder stopped polling. A place with a
// callback address lapses first: it stays for one more QUEUE call, as
// gtk-gnutella calls its "dead" entries, and goes when that brings nobody.
func (q *parqQueue) expire(now time.Time) {
	kept := q.entries[:0]
	for _, e := range q.entries {
		switch {
		case e.expires.IsZero() || now.Before(e.expires), e.calling:
			// Alive, or a call is out: its answer decides.
		case !e.lapsed && e.callback.IsValid() && e.called < queueMaxSent && e.refused < queueMaxRefused:
			e.lapsed = true
			e.expires = now.Add(queueCallGrace)
		default:
			continue
		}
		kept = append(kept, e)
	}
	clear(q.entries[len(kept):])
	q.entries = kept
	for ip, t := range q.lastCall {
		if now.Sub(t) >= queueHostDelay {
			delete(q.lastCall, ip)
		}
	}
	for k, t := range q.served {
		if now.Sub(t) >= queueGuard {
			delete(q.served, k)
		}
	}
}

// noteServed remembers that ip is being served key (queueGuard), bounded
// by the line's size.
func (q *parqQueue) noteServed(ip netip.Addr, key string, now time.Time) {
	if len(q.served) >= q.size {
		for k := range q.served {
			delete(q.served, k)
			break
		}
	}
	q.served[servedKey{ip, key}] = now
}

// calls lists the QUEUE callbacks to make now: to the first place that
// could take a free slot (slotFree), so that it need not wait for its
// Retry-After, and to lapsed places. At most one per address per
// queueHostDelay; the caller makes each and reports with callDone.
func (q *parqQueue) calls(slotFree bool, eligible func(netip.Addr) bool, now time.Time) []queueCall {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expire(now)
	var out []queueCall
	call := func(e *parqEntry) {
		if e.calling || !e.callback.IsValid() || e.called >= queueMaxSent || e.refused >= queueMaxRefused {
			return
		}
		if _, recent := q.lastCall[e.ip]; recent {
			return
		}
		e.calling = true
		e.called++
		if grace := now.Add(queueCallGrace); e.expires.Before(grace) {
			e.expires = grace
		}
		q.lastCall[e.ip] = now
		out = append(out, queueCall{id: e.id, addr: e.callback})
	}
	if slotFree {
		for _, e := range q.entries {
			if eligible == nil || eligible(e.ip) {
				call(e)
				break
			}
		}
	}
	for _, e := range q.entries {
		if e.lapsed {
			call(e)
		}
	}
	return out
}

// callDone ends a QUEUE call: answered false (the connection failed or
// brought no request for the place) counts a refusal; gtk-gnutella stops
// calling after queueMaxRefused.
func (q *parqQueue) callDone(id string, now time.Time) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, e := range q.entries {
		if e.id == id && e.calling {
			e.calling = false
			e.refused++
			if e.lapsed { // its last chance
				q.entries = append(q.entries[:i], q.entries[i+1:]...)
			}
			break
		}
	}
	q.expire(now)
}

// Len is the number of places taken.
func (q *parqQueue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.entries)
}

func newQueueID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// QueueStatus is what an X-Queued header (or the old X-Queue form with
// pollMin/pollMax) says.
type QueueStatus struct {
	ID       string
	Position int
	Length   int
	Lifetime int // seconds; pollMax in the old form
	ETA      int // seconds
	PollMin  int // seconds, old form
}

// ParseXQueued reads "ID=<hex>; position=<n>; lifetime=<s>; length=<n>;
// ETA=<s>" (and the old "position=.., length=.., pollMin=.., pollMax=.."
// form): fields split on ';' or ',', names case-insensitive, unknown ones
// ignored. An ID must be 32 hex digits.
func ParseXQueued(v string) (QueueStatus, error) {
	var q QueueStatus
	if len(v) > 1024 {
		return q, fmt.Errorf("X-Queued of %d bytes", len(v))
	}
	for f := range strings.FieldsFuncSeq(v, func(r rune) bool { return r == ';' || r == ',' }) {
		name, val, ok := strings.Cut(f, "=")
		if !ok {
			continue
		}
		name, val = strings.ToLower(strings.TrimSpace(name)), strings.TrimSpace(val)
		num := func() int {
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 {
				return 0
			}
			return min(n, 1<<30)
		}
		switch name {
		case "id":
			if _, err := hex.DecodeString(val); err != nil || len(val) != 32 {
				return q, fmt.Errorf("X-Queued ID %q: want 32 hex digits", val)
			}
			q.ID = strings.ToLower(val)
		case "position":
			q.Position = num()
		case "length":
			q.Length = num()
		case "lifetime", "pollmax":
			q.Lifetime = num()
		case "eta":
			q.ETA = num()
		case "pollmin":
			q.PollMin = num()
		}
	}
	if q.ID == "" && q.Position == 0 {
		return q, fmt.Errorf("X-Queued %q: neither ID nor position", v)
	}
	return q, nil
}

// humanETA is gtk-gnutella's "ETA: 36d 9h" form for the reason phrase.
func humanETA(d time.Duration) string {
	s := int(d / time.Second)
	switch {
	case s >= 86400:
		return fmt.Sprintf("%dd %dh", s/86400, s%86400/3600)
	case s >= 3600:
		return fmt.Sprintf("%dh %dm", s/3600, s%3600/60)
	case s >= 60:
		return fmt.Sprintf("%dm %ds", s/60, s%60)
	}
	return fmt.Sprintf("%ds", s)
}
