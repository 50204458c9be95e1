package sharedir

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// naiveMatch is the reference: every query word must start as many of the
// name's words as the query repeats it.
func naiveMatch(canon string, query []string) bool {
	words := strings.Fields(canon)
	for _, q := range query {
		need := 0
		for _, q2 := range query {
			if q2 == q {
				need++
			}
		}
		have := 0
		for _, w := range words {
			if strings.HasPrefix(w, q) {
				have++
			}
		}
		if have < need {
			return false
		}
	}
	return len(query) > 0
}

func TestMatchAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	vocab := []string{"a", "ab", "abc", "abd", "b", "ba", "bab", "c", "cab", "abcd", "dd", "d", "x1", "x12", "x123"}
	var files []*entry
	for i := range 400 {
		var ws []string
		for range 1 + r.IntN(6) {
			ws = append(ws, vocab[r.IntN(len(vocab))])
		}
		files = append(files, &entry{index: uint32(i + 1), canon: strings.Join(ws, " ")})
	}
	s := buildSnapshot(files)
	queries := append([]string{}, vocab...)
	for range 800 {
		var q []string
		for range 1 + r.IntN(4) {
			w := vocab[r.IntN(len(vocab))]
			q = append(q, w[:1+r.IntN(len(w))])
		}
		queries = append(queries, strings.Join(q, " "))
	}
	for _, qs := range queries {
		q := strings.Fields(qs)
		var want []uint32
		for _, e := range files {
			if naiveMatch(e.canon, q) {
				want = append(want, e.index)
			}
		}
		var got []uint32
		for _, e := range s.match(q, len(files)+1, nil, nil) {
			got = append(got, e.index)
		}
		slices.Sort(got)
		require.Equal(t, want, got, "query %q", qs)
		// The cap keeps the first hits only.
		if len(want) > 3 {
			require.Len(t, s.match(q, 3, nil, nil), 3)
		}
	}
}
