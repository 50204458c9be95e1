package routing

import (
	"github.com/servent/servent/protocol"
)

// Query routing (GNUTELLA.md 4.9 "Matching", 7.2-7.4).

const (
	// MinWordLen is GTKG's QRP_MIN_WORD_LENGTH: shorter query words are
	// not looked up.
	MinWordLen = 3
	// MaxQueryWords and MaxQueryURNs bound what HashQuery keeps, so that
	// it needs no heap: further distinct words and urns are ignored. A
	// relayed query (<= 256 bytes) has at most 64 words of >= 3 bytes.
	MaxQueryWords = 128
	MaxQueryURNs  = 16
)

// QueryRouteTable is a neighbour's complete QRP table (a leaf's, or an
// ultrapeer's for last-hop QRP), used read-only: replace the whole value
// when a new table completes (e.g. an atomic.Pointer per connection).
// Safe for concurrent use.
type QueryRouteTable struct {
	t *protocol.QRPTable
}

// NewQueryRouteTable wraps t, which must no longer be modified.
func NewQueryRouteTable(t *protocol.QRPTable) *QueryRouteTable {
	return &QueryRouteTable{t: t}
}

// Table is the wrapped table.
func (r *QueryRouteTable) Table() *protocol.QRPTable {
	if r == nil {
		return nil
	}
	return r.t
}

// MayMatch reports whether q may match a file behind this table, with
// GTKG's rules: a sha1 urn of q ("urn:sha1:<BASE32>") hashing to a present
// slot routes it; otherwise its distinct canonical words of >= 3 bytes
// decide: fewer than 3 must all be present, 3 or more need 2/3 present; no
// such word (and no urn match) does not route. A nil table matches nothing
// (a leaf that sent no table gets no queries; whether an ultrapeer without
// a table gets everything is the caller's rule). It does not allocate for
// ASCII criteria.
func (r *QueryRouteTable) MayMatch(q *protocol.Query) bool {
	if r == nil || r.t == nil || q == nil {
		return false
	}
	var h QueryHashes
	h.Reset(q)
	return r.Match(&h)
}

// QueryHashes are the QRP hashcodes of a query, computed once and tested
// against many tables (one per leaf) with Match. The zero value is a query
// with nothing to route on. About 600 bytes: keep it on the stack or reuse it.
type QueryHashes struct {
	nWords, nURNs int
	words         [MaxQueryWords]uint32 // distinct hashcodes of words >= MinWordLen bytes
	urns          [MaxQueryURNs]uint32
}

// HashQuery computes the hashcodes of q's words and sha1 urns.
func HashQuery(q *protocol.Query) *QueryHashes {
	h := new(QueryHashes)
	h.Reset(q)
	return h
}

// Words is the number of distinct words that count for matching.
func (h *QueryHashes) Words() int { return h.nWords }

// URNs is the number of sha1 urns that count for matching.
func (h *QueryHashes) URNs() int { return h.nURNs }

// Reset fills h from q.
func (h *QueryHashes) Reset(q *protocol.Query) {
	h.nWords, h.nURNs = 0, 0
	for _, s := range q.SHA1s {
		if h.nURNs == MaxQueryURNs {
			break
		}
		h.urns[h.nURNs] = protocol.QRPURNCode(s)
		h.nURNs++
	}
	h.addCriteria(q.Criteria)
}

// addCriteria hashes the canonical words of criteria, as
// protocol.Keywords splits them. ASCII is canonicalised and hashed in one
// pass without a copy (lower-case letters and digits, everything else a
// separator: what protocol.Canonical does to ASCII); anything else goes
// through protocol.Canonical, which allocates.
func (h *QueryHashes) addCriteria(criteria string) {
	if !isASCII(criteria) {
		// Canonical leaves letters and digits and turns the rest into
		// ' ', so splitting on ' ' gives the words of protocol.Keywords.
		canon := protocol.Canonical(criteria)
		for i := 0; i < len(canon); {
			if canon[i] == ' ' {
				i++
				continue
			}
			j := i
			for j < len(canon) && canon[j] != ' ' {
				j++
			}
			if j-i >= MinWordLen {
				h.addWord(protocol.QRPHashCode(canon[i:j]))
			}
			i = j
		}
		return
	}
	// protocol.QRPHashCode for ASCII: each byte XORed in at shift
	// 0, 8, 16, 24, 0, ..., times the golden ratio.
	var x uint32
	var shift, n int
	for i := 0; i <= len(criteria); i++ {
		c := byte(' ')
		if i < len(criteria) {
			c = criteria[i]
		}
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		default: // separator
			if n >= MinWordLen {
				h.addWord(x * qrpGoldenRatio)
			}
			x, shift, n = 0, 0, 0
			continue
		}
		x ^= uint32(c) << shift
		shift = (shift + 8) & 24
		n++
	}
}

// qrpGoldenRatio is protocol's QRP multiplier (GNUTELLA.md 4.9), repeated
// for the ASCII fast path; TestASCIIHash and FuzzHashQuery hold the two
// equal.
const qrpGoldenRatio = 0x4F1BBCDC

// addWord keeps distinct hashcodes only: GTKG matches a word vector without
// repeats, so "foo foo bar" is two words, not three.
func (h *QueryHashes) addWord(code uint32) {
	for _, w := range h.words[:h.nWords] {
		if w == code {
			return
		}
	}
	if h.nWords < MaxQueryWords {
		h.words[h.nWords] = code
		h.nWords++
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// Match is MayMatch for precomputed hashes.
func (r *QueryRouteTable) Match(h *QueryHashes) bool {
	if r == nil || r.t == nil {
		return false
	}
	for _, code := range h.urns[:h.nURNs] {
		if r.t.HasHashCode(code) {
			return true
		}
	}
	n := h.nWords
	if n == 0 {
		return false
	}
	hit := 0
	for i, code := range h.words[:n] {
		if r.t.HasHashCode(code) {
			hit++
		} else if n < 3 || 3*(n-(i+1)+hit) < 2*n {
			return false // a miss under the all-present rule, or 2/3 out of reach
		}
	}
	if n < 3 {
		return hit == n
	}
	return 3*hit >= 2*n
}

// Merge ORs tables into a new table of 2^bits slots: the table an
// ultrapeer sends for last-hop QRP (its own and its leaves' tables). A
// table of b bits is folded down (slot s -> s>>(b-bits)) or spread up (slot
// s -> the 2^(bits-b) slots s<<(bits-b) ...), so every word present in any
// input is present in the result. nil tables are skipped. It panics if bits
// > protocol.MaxQRPBits.
func Merge(bits uint, tables ...*protocol.QRPTable) *protocol.QRPTable {
	out := protocol.NewQRPTable(bits)
	for _, t := range tables {
		if t != nil {
			out.Or(t)
		}
	}
	return out
}
