package hitfilter

import (
	"net/netip"
	"path"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/servent/servent/protocol"
)

// Reason names why a hit or a result was dropped.
type Reason uint8

const (
	Keep         Reason = iota
	Hostile             // the hit's address is in the hostile list
	Bogon               // a private or reserved address, not firewalled, from the open network
	Karma               // its servent or address sent spam a short while ago
	SpamSHA1            // the spam list has the result's SHA-1
	SpamName            // a spam list name pattern (and size) matches
	NoMatch             // the name does not hold the query's words
	EchoesQuery         // the name is the query plus an executable or archive extension
	OneSHA1Names        // one SHA-1 under many names in one hit
	numReasons
)

var reasonNames = [numReasons]string{"kept", "hostile", "bogon", "karma", "spam-sha1", "spam-name", "no-match", "echoes-query", "one-sha1-many-names"}

func (r Reason) String() string {
	if r < numReasons {
		return reasonNames[r]
	}
	return "reason?"
}

// Reasons lists every drop reason, for counters and the API.
func Reasons() []Reason {
	out := make([]Reason, 0, numReasons-1)
	for r := Keep + 1; r < numReasons; r++ {
		out = append(out, r)
	}
	return out
}

// Thresholds, after gtk-gnutella's spam heuristics.
const (
	KarmaFor     = 30 * time.Minute // how long a spammer's later hits are dropped
	karmaSize    = 4096             // servents and addresses remembered
	oneSHA1Names = 5                // results sharing one SHA-1 under different names
	minQueryWord = 2                // shorter query words are not checked against names
)

// executable and archive extensions of the "query + .exe" spam.
var echoExts = []string{".exe", ".zip", ".rar", ".scr", ".com", ".bat", ".msi", ".7z", ".vbs", ".pif"}

// Filter applies the lists and heuristics to hits. Safe for concurrent use.
type Filter struct {
	Spam     *SpamList
	Hostiles *Hostiles
	// open: drop hits naming a private or reserved address that is not
	// marked firewalled (on a lab or LAN mesh every address is private).
	open atomic.Bool

	mu      sync.Mutex
	byGUID  *simplelru.LRU[protocol.GUID, time.Time] // guarded by mu
	byAddr  *simplelru.LRU[netip.Addr, time.Time]    // guarded by mu
	dropped [numReasons]atomic.Uint64
}

// New makes a filter over the lists (either may be nil).
func New(spam *SpamList, hostiles *Hostiles, openNetwork bool) *Filter {
	g, _ := simplelru.NewLRU[protocol.GUID, time.Time](karmaSize, nil)
	a, _ := simplelru.NewLRU[netip.Addr, time.Time](karmaSize, nil)
	f := &Filter{Spam: spam, Hostiles: hostiles, byGUID: g, byAddr: a}
	f.open.Store(openNetwork)
	return f
}

// SetOpenNetwork says whether we are on the open network (our own address
// is public): only then are private and reserved addresses in hits bogus.
func (f *Filter) SetOpenNetwork(open bool) { f.open.Store(open) }

// Query is what a hit is checked against: the words searched, or none for
// a search by SHA-1 only.
type Query struct {
	words []string
}

// NewQuery canonicalises the search criteria once per search.
func NewQuery(criteria string) Query {
	var q Query
	for _, w := range protocol.Keywords(criteria) {
		if len(w) >= minQueryWord && !slices.Contains(q.words, w) {
			q.words = append(q.words, w)
		}
	}
	return q
}

// Verdict is a hit's fate: Hit drops it whole; otherwise Results[i] says
// what to do with its result i.
type Verdict struct {
	Hit     Reason
	Results []Reason
}

// Kept counts the results kept.
func (v *Verdict) Kept() int {
	if v.Hit != Keep {
		return 0
	}
	n := 0
	for _, r := range v.Results {
		if r == Keep {
			n++
		}
	}
	return n
}

// Check decides about hit, an answer to q, at now. A result found to be
// spam marks the servent and its address for KarmaFor.
func (f *Filter) Check(q Query, hit *protocol.QueryHit, now time.Time) Verdict {
	v := Verdict{Results: make([]Reason, len(hit.Results))}
	addr := hit.Addr().Addr()
	switch {
	case f.Hostiles.Hostile(addr):
		v.Hit = Hostile
	case f.open.Load() && !hit.Push && (!addr.IsGlobalUnicast() || addr.IsPrivate()):
		v.Hit = Bogon
	case f.marked(hit.ServentGUID, addr, now):
		v.Hit = Karma
	}
	if v.Hit != Keep {
		f.dropped[v.Hit].Add(uint64(len(hit.Results)))
		return v
	}
	spam := false
	names := map[protocol.SHA1][]string{}
	for i := range hit.Results {
		r := &hit.Results[i]
		v.Results[i] = f.result(q, r)
		if v.Results[i] == SpamSHA1 || v.Results[i] == SpamName || v.Results[i] == EchoesQuery {
			spam = true
		}
		if !r.SHA1.IsZero() && !slices.Contains(names[r.SHA1], r.Name) {
			names[r.SHA1] = append(names[r.SHA1], r.Name)
		}
	}
	for i := range hit.Results {
		if s := hit.Results[i].SHA1; !s.IsZero() && len(names[s]) >= oneSHA1Names && v.Results[i] == Keep {
			v.Results[i] = OneSHA1Names
			spam = true
		}
	}
	for _, r := range v.Results {
		if r != Keep {
			f.dropped[r].Add(1)
		}
	}
	if spam {
		f.mark(hit.ServentGUID, addr, now)
	}
	return v
}

func (f *Filter) result(q Query, r *protocol.Result) Reason {
	switch {
	case f.Spam.SpamSHA1(r.SHA1):
		return SpamSHA1
	case f.Spam.SpamName(r.Name, r.Size):
		return SpamName
	}
	if len(q.words) == 0 {
		return Keep // a search by SHA-1: names say nothing
	}
	words := keywords(r.Name)
	for _, w := range q.words {
		if !slices.ContainsFunc(words, func(n string) bool { return strings.HasPrefix(n, w) }) {
			return NoMatch
		}
	}
	if ext := strings.ToLower(path.Ext(r.Name)); slices.Contains(echoExts, ext) {
		base := keywords(r.Name[:len(r.Name)-len(ext)])
		if len(base) <= len(q.words) { // nothing but the query's words
			return EchoesQuery
		}
	}
	return Keep
}

// keywords is protocol.Keywords with a fast path for ASCII names, which
// need no Unicode folding (the general path costs ~10 µs a name).
func keywords(name string) []string {
	for i := 0; i < len(name); i++ {
		if name[i] >= 0x80 {
			return protocol.Keywords(name)
		}
	}
	return strings.FieldsFunc(strings.ToLower(name), func(r rune) bool {
		return !('a' <= r && r <= 'z' || '0' <= r && r <= '9')
	})
}

func (f *Filter) mark(g protocol.GUID, a netip.Addr, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !g.IsZero() {
		f.byGUID.Add(g, now)
	}
	if a.IsValid() {
		f.byAddr.Add(a, now)
	}
}

func (f *Filter) marked(g protocol.GUID, a netip.Addr, now time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if t, ok := f.byGUID.Peek(g); ok && !g.IsZero() && now.Sub(t) < KarmaFor {
		return true
	}
	t, ok := f.byAddr.Peek(a)
	return ok && now.Sub(t) < KarmaFor
}

// Dropped is the count of results dropped for r.
func (f *Filter) Dropped(r Reason) uint64 {
	if r >= numReasons {
		return 0
	}
	return f.dropped[r].Load()
}
