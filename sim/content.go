package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/sharedir"
)

// content is what the nodes share: a catalogue of files named by keywords,
// each replicated on sharing nodes with Zipf popularity.
type content struct {
	words    []string         // the vocabulary
	wordID   map[string]int32 // word -> index in words
	files    []file           // the catalogue, most popular first
	library  [][]int32        // per node: the catalogue files it shares
	tables   []*protocol.QRPTable
	empty    *protocol.QRPTable // the table of a node sharing nothing
	full     *protocol.QRPTable // every slot present: "send me everything"
	sharers  int
	replicas int
}

type file struct {
	name     string
	words    []int32 // sorted
	replicas int
}

// newContent draws the vocabulary and catalogue and places replicas: file
// i (from 1) is on about c/i sharing nodes (Zipf), at least one and at
// most a tenth of them, with c chosen so that a sharing node holds
// filesPerSharer files on average. Of the leaves, a freeRiders share holds
// nothing; ultrapeers share.
func newContent(rng *rand.Rand, nw *network, nFiles, filesPerSharer int, freeRiders, maxShare float64) *content {
	n := len(nw.up)
	ct := &content{wordID: map[string]int32{}, library: make([][]int32, n), tables: make([]*protocol.QRPTable, n)}
	vocab := max(200, nFiles/2)
	for len(ct.words) < vocab {
		w := pronounceable(rng)
		if _, dup := ct.wordID[w]; !dup {
			ct.wordID[w] = int32(len(ct.words))
			ct.words = append(ct.words, w)
		}
	}
	wordZipf := newZipf(vocab, 0.6)
	var sharers []int32
	for i := range n {
		if nw.up[i] || rng.Float64() >= freeRiders {
			sharers = append(sharers, int32(i))
		}
	}
	ct.sharers = len(sharers)
	if maxShare <= 0 {
		maxShare = 0.1
	}
	maxR := max(1, int(float64(len(sharers))*maxShare))
	c := solveReplication(nFiles, float64(len(sharers)*filesPerSharer), maxR)
	ct.files = make([]file, nFiles)
	for i := range ct.files {
		f := &ct.files[i]
		for len(f.words) < 3 {
			w := int32(wordZipf.draw(rng))
			if !slices.Contains(f.words, w) {
				f.words = append(f.words, w)
			}
		}
		parts := make([]string, len(f.words))
		for j, w := range f.words {
			parts[j] = ct.words[w]
		}
		f.name = strings.Join(parts, " ") + ".mp3"
		slices.Sort(f.words)
		f.replicas = min(maxR, max(1, int(c/float64(i+1)+0.5)))
		for range f.replicas {
			// Drawing with repeats keeps this linear; a repeat only
			// lowers the replica count a little.
			s := sharers[rng.IntN(len(sharers))]
			if lib := ct.library[s]; len(lib) == 0 || lib[len(lib)-1] != int32(i) {
				ct.library[s] = append(lib, int32(i))
				ct.replicas++
			}
		}
	}
	ct.empty = protocol.NewQRPTable(16)
	ct.full = protocol.NewQRPTable(16)
	for s := range uint32(1 << 16) {
		ct.full.Set(s)
	}
	for i, lib := range ct.library {
		if len(lib) == 0 {
			ct.tables[i] = ct.empty
			continue
		}
		names := make([]string, len(lib))
		for j, f := range lib {
			names[j] = ct.files[f].name
		}
		ct.tables[i] = sharedir.QRPTableFor(names)
	}
	return ct
}

// solveReplication finds c with sum_i min(maxR, max(1, c/i)) = target.
func solveReplication(nFiles int, target float64, maxR int) float64 {
	total := func(c float64) float64 {
		s := 0.0
		for i := 1; i <= nFiles; i++ {
			s += min(float64(maxR), max(1, c/float64(i)))
		}
		return s
	}
	lo, hi := 0.0, float64(maxR)*float64(nFiles)
	for range 60 {
		mid := (lo + hi) / 2
		if total(mid) < target {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi
}

// lookup answers a query from node's library: files holding every query
// word, whole words (sharedir also takes a query word as a prefix; here a
// vocabulary word that prefixes another only makes a QRP false positive).
func (ct *content) lookup(node int32, q *protocol.Query, dst []protocol.Result) []protocol.Result {
	var want [4]int32
	k := 0
	for w := range strings.FieldsSeq(q.Criteria) {
		id, ok := ct.wordID[w]
		if !ok || k == len(want) {
			return dst
		}
		want[k] = id
		k++
	}
	if k == 0 {
		return dst
	}
	for _, f := range ct.library[node] {
		fw := ct.files[f].words
		ok := true
		for _, w := range want[:k] {
			if _, found := slices.BinarySearch(fw, w); !found {
				ok = false
				break
			}
		}
		if ok {
			dst = append(dst, protocol.Result{Index: uint32(f), Size: 4 << 20, Name: ct.files[f].name})
		}
	}
	return dst
}

// upTable is what ultrapeer u sends its ultrapeer neighbours for last-hop
// QRP: its own table OR'ed with its leaves' (servent's upTable).
func (ct *content) upTable(nw *network, u int32, spam []bool) *protocol.QRPTable {
	if spam[u] {
		return ct.full
	}
	tables := []*protocol.QRPTable{ct.tables[u]}
	for _, p := range nw.links[u] {
		if !nw.up[p] {
			tables = append(tables, ct.leafTable(p, spam))
		}
	}
	return routing.Merge(16, tables...)
}

// leafTable is the table leaf p sends its ultrapeers; a spammer claims
// everything to be sent every query.
func (ct *content) leafTable(p int32, spam []bool) *protocol.QRPTable {
	if spam[p] {
		return ct.full
	}
	return ct.tables[p]
}

// pronounceable makes a word of 4-8 letters, consonant-vowel pairs.
func pronounceable(rng *rand.Rand) string {
	const cons, vows = "bcdfghjklmnprstvz", "aeiou"
	n := 2 + rng.IntN(3)
	b := make([]byte, 0, 2*n)
	for range n {
		b = append(b, cons[rng.IntN(len(cons))], vows[rng.IntN(len(vows))])
	}
	return string(b)
}

// zipf draws ranks 0..n-1 with probability proportional to 1/(rank+1)^s.
type zipf struct{ cdf []float64 }

func newZipf(n int, s float64) zipf {
	cdf := make([]float64, n)
	sum := 0.0
	for i := range n {
		sum += 1 / math.Pow(float64(i+1), s)
		cdf[i] = sum
	}
	for i := range cdf {
		cdf[i] /= sum
	}
	return zipf{cdf: cdf}
}

func (z zipf) draw(rng *rand.Rand) int {
	i, _ := slices.BinarySearch(z.cdf, rng.Float64())
	return min(i, len(z.cdf)-1)
}
