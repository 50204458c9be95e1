// Package oob keeps the state of out-of-band query hits (GNUTELLA-UDP.md
// 16, gtk-gnutella's oob.c and oob_proxy.c): the searcher's claims, the
// responder's held hits and the ultrapeer's proxied leaf queries. All of it
// is pure: the time is an argument, nothing is sent from here, tables are
// bounded and entries expire. Callers hold their own lock.
package oob

import (
	"bytes"
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
)

// Timings and bounds, as gtk-gnutella's oob.c and oob_proxy.c.
const (
	// SearchLife is how long our OOB query accepts claims and hits.
	SearchLife = 3 * time.Minute // OOB_EXPIRE_SMALL_MS
	// AckTimeout is how long a responder waits for LIME/11.
	AckTimeout = 80 * time.Second // OOB_TIMEOUT_MS
	// DeliverBase and DeliverRand pace the hits after the first.
	DeliverBase = 2500 * time.Millisecond
	DeliverRand = 5000 * time.Millisecond
	// ProxyLife is how long a proxied leaf query is remembered.
	ProxyLife = 11 * time.Minute // PROXY_EXPIRE_MS
	// MaxQueued is the most hit messages held for one querier.
	MaxQueued = 50 // OOB_MAX_QUEUED

	maxSearches = 256
	maxClaims   = 1024
	maxPending  = 1024
	maxProxied  = 1024
)

// TokenLen is the length of the v3 security tokens we hand out.
const TokenLen = 8

type claimKey struct {
	from netip.Addr
	guid protocol.GUID
}

type search struct {
	want    int // results still wanted
	expires time.Time
}

type claim struct {
	left    int // results still accepted
	token   []byte
	expires time.Time
}

// SearcherStats are the searcher's counters.
type SearcherStats struct {
	Claimed      uint64 // LIME/11 decided
	Accepted     uint64 // hits accepted
	Unsolicited  uint64 // UDP hits without a claim, dropped
	BadToken     uint64 // hits whose SO token did not match, dropped
	OverClaim    uint64 // hits beyond what was claimed, dropped
	UnknownReply uint64 // LIME/12 for no query of ours
}

// Searcher remembers our OOB queries and the hits we claimed.
type Searcher struct {
	token    func() []byte // new random token
	searches map[protocol.GUID]*search
	claims   map[claimKey]*claim
	Stats    SearcherStats
}

// NewSearcher returns an empty Searcher; token makes a fresh random token
// of TokenLen bytes (crypto/rand in the node, fixed in tests).
func NewSearcher(token func() []byte) *Searcher {
	return &Searcher{token: token, searches: map[protocol.GUID]*search{}, claims: map[claimKey]*claim{}}
}

// Add registers our OOB query guid wanting up to want results. False when
// the table is full even after expiry (the caller then searches without OOB).
func (s *Searcher) Add(guid protocol.GUID, want int, now time.Time) bool {
	if len(s.searches) >= maxSearches {
		s.Expire(now)
		if len(s.searches) >= maxSearches {
			return false
		}
	}
	s.searches[guid] = &search{want: max(want, 1), expires: now.Add(SearchLife)}
	return true
}

// Remove forgets our query guid (the search was stopped).
func (s *Searcher) Remove(guid protocol.GUID) {
	delete(s.searches, guid)
	for k := range s.claims {
		if k.guid == guid {
			delete(s.claims, k)
		}
	}
}

// Reply decides the LIME/11 answer to LIME/12 n from from for guid: the
// results still wanted, with a token when the server speaks v3. False: no
// ACK (not our query, expired, nothing more wanted, or table full).
func (s *Searcher) Reply(from netip.AddrPort, guid protocol.GUID, n protocol.OOBReplyNumber, now time.Time) (protocol.OOBReplyAck, bool) {
	q, ok := s.searches[guid]
	if !ok || !now.Before(q.expires) {
		s.Stats.UnknownReply++
		return protocol.OOBReplyAck{}, false
	}
	if q.want <= 0 {
		return protocol.OOBReplyAck{}, false
	}
	k := claimKey{from.Addr().Unmap(), guid}
	if _, dup := s.claims[k]; !dup && len(s.claims) >= maxClaims {
		s.Expire(now)
		if len(s.claims) >= maxClaims {
			return protocol.OOBReplyAck{}, false
		}
	}
	wanted := min(int(n.Hits), q.want, protocol.OOBWantAll-1)
	q.want -= wanted
	c := &claim{left: wanted, expires: q.expires}
	ack := protocol.OOBReplyAck{Version: 2, Wanted: uint8(wanted)}
	if n.Version >= 3 {
		c.token = s.token()
		ack.Version, ack.Token = 3, c.token
	}
	s.claims[k] = c
	s.Stats.Claimed++
	return ack, true
}

// Accept says whether a UDP hit from from for guid with results results
// and the GGEP SO token (nil if none) is one we claimed; it counts it.
// Hits beyond the claim, with a wrong token or without a claim are dropped.
func (s *Searcher) Accept(from netip.AddrPort, guid protocol.GUID, results int, token []byte, now time.Time) bool {
	c, ok := s.claims[claimKey{from.Addr().Unmap(), guid}]
	if !ok || !now.Before(c.expires) {
		s.Stats.Unsolicited++
		return false
	}
	if c.token != nil && !bytes.Equal(c.token, token) {
		s.Stats.BadToken++
		return false
	}
	if results <= 0 || results > c.left {
		s.Stats.OverClaim++
		return false
	}
	c.left -= results
	s.Stats.Accepted++
	return true
}

// Expire drops expired searches and claims.
func (s *Searcher) Expire(now time.Time) {
	for g, q := range s.searches {
		if !now.Before(q.expires) {
			delete(s.searches, g)
		}
	}
	for k, c := range s.claims {
		if !now.Before(c.expires) {
			delete(s.claims, k)
		}
	}
}

// Len is the number of searches and claims held.
func (s *Searcher) Len() (searches, claims int) { return len(s.searches), len(s.claims) }
