package servent

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/hitfilter"
	"github.com/servent/servent/servent/transfer"
)

const (
	maxSearches       = 100  // searches kept; the oldest stopped ones go first
	oobWant           = 255  // OOB results a search claims in all
	maxSearchResults  = 1000 // distinct files per search
	maxResultSources  = 50   // sources per file
	searchQueryMaxLen = 200  // criteria bytes; the query must stay <= 256 (3.2)
	// maxSearchBytes bounds the names one search keeps (results and
	// sources): hits can carry long names, and the counts above alone
	// let one search hold tens of MB.
	maxSearchBytes = 1 << 20
)

// SearchResult is one file found by a search, with every source seen.
type SearchResult struct {
	SHA1    protocol.SHA1
	Name    string
	Size    uint64
	Sources []transfer.Source
}

// Search is a search started here: its results accumulate until Stop.
type Search struct {
	ID       string
	Criteria string
	Started  time.Time
	guid     protocol.GUID
	sha1s    []protocol.SHA1 // asked for, for GUESS (udp_guess.go)

	filterQuery hitfilter.Query // the criteria, canonical, for the hit filter

	mu      sync.Mutex
	results []*SearchResult          // guarded by mu, arrival order
	byKey   map[string]*SearchResult // guarded by mu: urn, or name+size without urn
	sources map[string]bool          // guarded by mu: result key + source
	stopped bool                     // guarded by mu
	hits    int                      // guarded by mu: QueryHit messages received
	dropped map[string]int           // guarded by mu: results filtered out, by reason
	kept    int                      // guarded by mu: results the filter let through
	err     error                    // guarded by mu: why a browse failed
	reject  []RejectedResult         // guarded by mu: the first maxRejected dropped
	onStop  func()                   // tells the ultrapeers (or our dynamic query) to stop
	bytes   int                      // guarded by mu: name bytes held (maxSearchBytes)
}

// Results returns a copy of the results so far.
func (s *Search) Results() []SearchResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SearchResult, len(s.results))
	for i, r := range s.results {
		out[i] = *r
		out[i].Sources = slices.Clone(r.Sources)
	}
	return out
}

// Filtered is the count of results the hit filter dropped, by reason
// (servent/hitfilter's names).
func (s *Search) Filtered() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.dropped))
	for k, v := range s.dropped {
		out[k] = v
	}
	return out
}

// RejectedResult is a result the filter dropped (--show-filtered).
type RejectedResult struct {
	Reason string
	Name   string
	Size   uint64
	SHA1   protocol.SHA1
	From   netip.AddrPort
	Vendor string
}

// maxRejected bounds the dropped results a search lists; maxRejectedName
// the bytes of each name kept.
const (
	maxRejected     = 256
	maxRejectedName = 256
)

// Rejected lists the first results the filter dropped.
func (s *Search) Rejected() []RejectedResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reject)
}

func (s *Search) countFiltered(v *hitfilter.Verdict, hit *protocol.QueryHit) {
	if v.Kept() == len(v.Results) {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.dropped == nil {
		s.dropped = map[string]int{}
	}
	for i, r := range v.Results {
		why := r
		if v.Hit != hitfilter.Keep {
			why = v.Hit
		}
		if why == hitfilter.Keep {
			continue
		}
		s.dropped[why.String()]++
		if len(s.reject) < maxRejected && i < len(hit.Results) {
			res := &hit.Results[i]
			name := res.Name
			if len(name) > maxRejectedName {
				name = strings.ToValidUTF8(name[:maxRejectedName], "")
			}
			s.reject = append(s.reject, RejectedResult{Reason: why.String(), Name: strings.Clone(name), Size: res.Size, SHA1: res.SHA1,
				From: hit.Addr(), Vendor: vendorCode(hit.Vendor)})
		}
	}
}

// vendorCode is a hit's vendor code as text, "" when not printable.
func vendorCode(v [4]byte) string {
	for _, c := range v {
		if c < 0x20 || c > 0x7e {
			return ""
		}
	}
	return string(v[:])
}

// Stop stops collecting results.
func (s *Search) Stop() {
	s.mu.Lock()
	was := s.stopped
	s.stopped = true
	s.mu.Unlock()
	if !was && s.onStop != nil {
		s.onStop()
	}
}

// finish ends a browse: the host's list ended, or err says why it failed.
func (s *Search) finish(err error) {
	s.mu.Lock()
	s.err = err
	s.stopped = true
	s.mu.Unlock()
}

// Err is why a browse failed (nil for a search, or a browse that worked).
func (s *Search) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stopped reports whether Stop was called.
func (s *Search) Stopped() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopped
}

// keptSoFar is the results kept; false when stopped.
func (s *Search) keptSoFar() (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.kept, !s.stopped
}

// add takes a hit's results (filtered); kept is the running count of
// results kept, false when stopped.
func (s *Search) add(hit *protocol.QueryHit) (kept int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return 0, false
	}
	s.hits++
	s.kept += len(hit.Results)
	addr := hit.Addr()
	proxies := hitProxies(hit)
	for i := range hit.Results {
		r := &hit.Results[i]
		key := r.SHA1.Base32()
		if r.SHA1.IsZero() {
			key = "name:" + strings.ToLower(r.Name) + "/" + itoa(r.Size)
		}
		res, ok := s.byKey[key]
		if !ok {
			// The name is held twice: by the result and by its source.
			if len(s.results) >= maxSearchResults || s.bytes+2*len(r.Name)+len(key) > maxSearchBytes {
				continue
			}
			res = &SearchResult{SHA1: r.SHA1, Name: strings.Clone(r.Name), Size: r.Size}
			s.byKey[key] = res
			s.results = append(s.results, res)
			s.bytes += len(res.Name) + len(key)
		}
		skey := key + "|" + addr.String()
		if hit.Push {
			skey = key + "|push:" + hit.ServentGUID.String()
		}
		if s.sources[skey] || len(res.Sources) >= maxResultSources || s.bytes+len(r.Name)+len(skey) > maxSearchBytes {
			continue
		}
		name := res.Name
		if r.Name != name {
			name = strings.Clone(r.Name)
		}
		src := transfer.Source{Addr: addr, Index: r.Index, Name: name, ServentGUID: hit.ServentGUID, Push: hit.Push, Proxies: proxies}
		s.bytes += len(name) + len(skey)
		s.sources[skey] = true
		res.Sources = append(res.Sources, src)
	}
	return s.kept, true
}

func itoa(v uint64) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return string(b[i:])
}

// newSearch records a search (or a browse) under MUID g.
func (n *Node) newSearch(criteria string, g protocol.GUID, sha1s []protocol.SHA1, fq hitfilter.Query) *Search {
	s := &Search{
		ID: g.String(), Criteria: criteria, Started: n.cfg.Now(), guid: g, sha1s: slices.Clone(sha1s),
		filterQuery: fq,
		byKey:       map[string]*SearchResult{}, sources: map[string]bool{},
	}
	n.searchMu.Lock()
	if len(n.searches) >= maxSearches {
		i := slices.IndexFunc(n.searches, func(s *Search) bool { return s.Stopped() })
		if i < 0 {
			i = 0
		}
		n.searches = slices.Delete(n.searches, i, i+1)
	}
	n.searches = append(n.searches, s)
	n.searchMu.Unlock()
	return s
}

// Search starts a search: a Query with a fresh GUID and flags 0x8800
// (MARK|GGEP_H; +FIREWALLED when firewalled), TTL MaxTTL, sent to every
// ultrapeer (and, as an ultrapeer, to the leaves whose QRP table matches).
func (n *Node) Search(criteria string, sha1s []protocol.SHA1) *Search {
	criteria = strings.Join(strings.Fields(criteria), " ")
	if len(criteria) > searchQueryMaxLen {
		criteria = criteria[:searchQueryMaxLen]
		for len(criteria) > 0 && criteria[len(criteria)-1]&0xC0 == 0x80 {
			criteria = criteria[:len(criteria)-1] // do not cut a UTF-8 sequence
		}
	}
	g, oobFlag := n.oobQueryGUID(protocol.NewGUID(), oobWant)
	words := criteria
	if len(sha1s) > 0 {
		words = "" // a search by SHA-1: result names are not checked against it
	}
	s := n.newSearch(criteria, g, sha1s, hitfilter.NewQuery(words))

	s.onStop = func() { n.coreStopSearch(g) }
	// We filter, and tell our ultrapeers what we kept (BEAR/12).
	flags := protocol.FlagMark | protocol.FlagGGEPH | protocol.FlagLeafGuided
	if n.firewalled() {
		flags |= protocol.FlagFirewalled
	}
	flags |= oobFlag
	q := &protocol.Query{Flags: flags, Criteria: criteria, SHA1s: slices.Clone(sha1s)}
	if flags.Has(protocol.FlagOOB) {
		// GGEP SO: ask for secure OOB (LIME/12 v3, a token in the hits).
		q.GGEP = protocol.GGEP{{ID: "SO"}}
	}
	q.SetHitFamilies(n.hitFamilies())
	n.coreSearch(g, q)
	n.guessLater(s)
	return s
}

// Searches lists the searches started here, oldest first.
func (n *Node) Searches() []*Search {
	n.searchMu.Lock()
	defer n.searchMu.Unlock()
	return slices.Clone(n.searches)
}

// SearchByID finds a search by its ID.
func (n *Node) SearchByID(id string) (*Search, bool) {
	n.searchMu.Lock()
	defer n.searchMu.Unlock()
	for _, s := range n.searches {
		if s.ID == id {
			return s, true
		}
	}
	return nil, false
}

// deliverHit gives a QueryHit for one of our queries to its search.
func (n *Node) deliverHit(h protocol.Header, hit *protocol.QueryHit) {
	if n.oobProxiedHit(h, hit) {
		return
	}
	n.searchMu.Lock()
	var s *Search
	for _, x := range n.searches {
		if x.guid == h.GUID {
			s = x
			break
		}
	}
	n.searchMu.Unlock()
	if s != nil {
		n.takeHit(s, hit)
	}
}

// hitFamilies is what our queries ask of the hits' addresses (GGEP
// "I6", as gtk-gnutella's): IPv6 too when we listen on both families,
// IPv6 only when we have no IPv4. It is also our X-Features IP/6.x.
func (n *Node) hitFamilies() protocol.HitFamilies {
	if n.cfg.NoIPv6 {
		return protocol.HitsIPv4
	}
	var v4, v6 bool
	if n.self != nil {
		v4, v6 = n.self.Listening(netip.IPv4Unspecified()), n.self.Listening(netip.IPv6Unspecified())
	} else { // before Start: what the configuration asks for
		for _, ip := range n.cfg.bindAddrs() {
			v4 = v4 || ip.Is4() || ip.IsUnspecified()
			v6 = v6 || ip.Is6()
		}
	}
	switch {
	case v4 && v6:
		return protocol.HitsIPv6Too
	case v6:
		return protocol.HitsIPv6Only
	}
	return protocol.HitsIPv4
}
