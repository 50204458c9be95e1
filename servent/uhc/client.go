package uhc

import (
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/servent/servent/protocol"
)

// Client timings, from gtk-gnutella's uhc.c and ghc.c.
const (
	// PingTimeout: without an answer by then, the next cache is asked
	// (UHC_TIMEOUT). A later answer is still taken until LateAnswer.
	PingTimeout = 20 * time.Second
	LateAnswer  = 2 * time.Minute
	// UHCRetry is the least time between two pings to one UDP cache
	// (UHC_RETRY_AFTER); each ping left unanswered doubles it, up to
	// UHCRetryMax.
	UHCRetry    = 180 * time.Second
	UHCRetryMax = 2 * time.Hour
	// GWCRetry is the least time between two requests to one web cache
	// (GHC_RETRY_AFTER), doubled on each failure up to GWCRetryMax.
	GWCRetry    = time.Hour
	GWCRetryMax = 24 * time.Hour
	// GWCTimeout: a web cache request with no outcome by then is over
	// (the node's HTTP client gives up sooner).
	GWCTimeout = 60 * time.Second

	maxPending = 64 // pings we remember the MUID of
)

// Kind tells a UDP host cache from a GWebCache.
type Kind uint8

// Cache kinds.
const (
	UDP Kind = iota + 1 // a UDP host cache, "HOST:PORT"
	Web                 // a GWebCache, "http://..."
)

func (k Kind) String() string {
	switch k {
	case UDP:
		return "uhc"
	case Web:
		return "gwc"
	}
	return "?"
}

// Cache is one host cache the user named, with what we know of it.
type Cache struct {
	Kind Kind
	Name string // "HOST:PORT" (UDP, resolved at each use) or the URL (Web)
	// LastAnswer is when it last answered, zero if never.
	LastAnswer time.Time
	// Failures counts the requests in a row it left unanswered.
	Failures int
}

type cacheState struct {
	Cache
	next       time.Time // not asked before this
	nextUpdate time.Time // Web: not told our address before this
}

// Probe is a request the node is to make now: for UDP, resolve Name and
// send a Ping with GGEP SCP and MUID, then call Sent (or Failed); for Web,
// fetch the cache and call Answered (or Failed).
type Probe struct {
	Kind Kind
	Name string
	MUID protocol.GUID // UDP only
}

type pending struct {
	name string
	to   netip.Addr // IP the Ping went to; the Pong must come from it
	sent time.Time
}

// Client is the bootstrap state machine: when the node lacks hosts it
// asks the caches the user named, one at a time, UDP caches before web
// caches, each no more often than its backoff allows. It only decides;
// the node resolves, sends and fetches. Safe for concurrent use.
type Client struct {
	mu      sync.Mutex
	caches  []*cacheState             // guarded by mu; round-robin order
	pings   map[protocol.GUID]pending // guarded by mu; UHC pings sent
	busy    string                    // guarded by mu; the cache being asked, "" if none
	busyEnd time.Time                 // guarded by mu; when that request is given up
	newMUID func() protocol.GUID
}

// NewClient returns a client for caches (duplicates dropped).
func NewClient(caches []Cache) *Client {
	c := &Client{pings: make(map[protocol.GUID]pending), newMUID: protocol.NewGUID}
	for _, k := range caches {
		c.Add(k)
	}
	return c
}

// Add adds a cache, or merges what is known of one already listed (a
// saved entry read after the command line's).
func (c *Client) Add(k Cache) {
	if k.Name == "" || (k.Kind != UDP && k.Kind != Web) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if i := c.indexLocked(k.Kind, k.Name); i >= 0 {
		e := c.caches[i]
		if k.LastAnswer.After(e.LastAnswer) {
			e.LastAnswer = k.LastAnswer
		}
		e.Failures = max(e.Failures, k.Failures)
		return
	}
	k.Failures = max(k.Failures, 0)
	c.caches = append(c.caches, &cacheState{Cache: k})
}

func (c *Client) indexLocked(kind Kind, name string) int {
	return slices.IndexFunc(c.caches, func(e *cacheState) bool { return e.Kind == kind && e.Name == name })
}

// Caches lists the caches in their asking order.
func (c *Client) Caches() []Cache {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Cache, len(c.caches))
	for i, e := range c.caches {
		out[i] = e.Cache
	}
	return out
}

// Next returns the cache to ask now, if need (the node lacks hosts to
// connect to) and no request is under way: the first due UDP cache in
// round-robin order, else the first due web cache. The returned cache is
// not due again before its backoff; a request left without outcome past
// PingTimeout (GWCTimeout) counts as a failure.
func (c *Client) Next(now time.Time, need bool) (Probe, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(now)
	if !need || c.busy != "" {
		return Probe{}, false
	}
	for _, kind := range []Kind{UDP, Web} {
		i := slices.IndexFunc(c.caches, func(e *cacheState) bool { return e.Kind == kind && !now.Before(e.next) })
		if i < 0 {
			continue
		}
		e := c.caches[i]
		// to the tail: the others are asked first next time
		c.caches = append(append(c.caches[:i:i], c.caches[i+1:]...), e)
		e.next = now.Add(retry(e.Kind, e.Failures))
		p := Probe{Kind: e.Kind, Name: e.Name}
		c.busy, c.busyEnd = e.Name, now.Add(PingTimeout)
		if kind == UDP {
			p.MUID = c.newMUID()
		} else {
			c.busyEnd = now.Add(GWCTimeout)
		}
		return p, true
	}
	return Probe{}, false
}

// NextUpdate returns the web cache to tell our address now, if serving
// (we act as a host cache: an ultrapeer others reach): each at most once
// per GWCRetry, whatever the outcome, as GWebCaches ask. The node sends
// the update form and need not report back.
func (c *Client) NextUpdate(now time.Time, serving bool) (string, bool) {
	if !serving {
		return "", false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.caches {
		if e.Kind == Web && !now.Before(e.nextUpdate) {
			e.nextUpdate = now.Add(GWCRetry)
			return e.Name, true
		}
	}
	return "", false
}

// expireLocked ends a request past its time as a failure and forgets
// pings too old to be answered.
func (c *Client) expireLocked(now time.Time) {
	if c.busy != "" && !now.Before(c.busyEnd) {
		c.doneLocked(c.busy, now, false)
	}
	for g, p := range c.pings {
		if now.Sub(p.sent) >= LateAnswer {
			delete(c.pings, g)
		}
	}
}

// Sent records that the Ping of probe p went to addr at now; the Pong
// that answers it is recognised by its MUID and source IP.
func (c *Client) Sent(p Probe, to netip.AddrPort, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pings) >= maxPending {
		clear(c.pings) // forget them all rather than grow
	}
	c.pings[p.MUID] = pending{name: p.Name, to: to.Addr().Unmap(), sent: now}
}

// Failed records that the request to cache name failed (no address, the
// send or the fetch failed): it backs off and the next cache may be asked.
func (c *Client) Failed(name string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.doneLocked(name, now, false)
}

// doneLocked ends the request to cache name: an answer resets its
// failures, a failure counts one more; either way it is not asked again
// before its backoff.
func (c *Client) doneLocked(name string, now time.Time, answered bool) {
	if c.busy == name {
		c.busy = ""
	}
	for _, e := range c.caches {
		if e.Name != name {
			continue
		}
		if answered {
			e.Failures, e.LastAnswer = 0, now
		} else {
			e.Failures = min(e.Failures+1, 30)
		}
		e.next = now.Add(retry(e.Kind, e.Failures))
	}
}

// Pong reports whether a Pong with muid from from answers one of our
// pings, and from which cache. Only such a Pong's IPP hosts are to be
// taken: an unsolicited Pong could fill the host cache with anything.
// The request is over when it answered (with hosts or without).
func (c *Client) Pong(from netip.AddrPort, muid protocol.GUID, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p, ok := c.pings[muid]
	if !ok || p.to != from.Addr().Unmap() || now.Sub(p.sent) >= LateAnswer {
		return "", false
	}
	delete(c.pings, muid)
	c.doneLocked(p.name, now, true)
	return p.name, true
}

// Answered records that web cache name answered at now.
func (c *Client) Answered(name string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.doneLocked(name, now, true)
}

// retry is the wait before asking a cache again after failures failures
// in a row.
func retry(k Kind, failures int) time.Duration {
	d, top := UHCRetry, UHCRetryMax
	if k == Web {
		d, top = GWCRetry, GWCRetryMax
	}
	for i := 1; i < failures && d < top; i++ {
		d *= 2
	}
	return min(d, top)
}
