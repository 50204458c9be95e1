package routing

import (
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func table(bits uint, words ...string) *protocol.QRPTable {
	t := protocol.NewQRPTable(bits)
	for _, w := range words {
		t.AddWord(w)
	}
	return t
}

func query(criteria string, sha1s ...protocol.SHA1) *protocol.Query {
	return &protocol.Query{Flags: protocol.FlagMark, Criteria: criteria, SHA1s: sha1s}
}

func mustSHA1(t testing.TB, urn string) protocol.SHA1 {
	s, err := protocol.ParseSHA1URN(urn)
	require.NoError(t, err)
	return s
}

// TestMayMatchVectors10_7 builds the 64-slot table of GNUTELLA.md 10.7 from
// its RESET and PATCH payloads and matches the two queries given there.
func TestMayMatchVectors10_7(t *testing.T) {
	var rx protocol.QRPReceiver
	reset, err := hex.DecodeString("004000000002")
	require.NoError(t, err)
	patch, err := hex.DecodeString("0101010004" +
		"0000000000f000000000000000000000" +
		"000000000000f0000000000000000000")
	require.NoError(t, err)
	tb, err := rx.HandlePayload(reset)
	require.NoError(t, err)
	require.Nil(t, tb)
	tb, err = rx.HandlePayload(patch)
	require.NoError(t, err)
	require.NotNil(t, tb)
	require.Equal(t, uint(6), tb.Bits())
	require.True(t, tb.Present(44)) // alpha
	require.True(t, tb.Present(10)) // beta
	require.Equal(t, 2, tb.Count())
	require.True(t, tb.Equal(table(6, "alpha", "beta")))

	r := NewQueryRouteTable(tb)
	require.Same(t, tb, r.Table())
	require.True(t, r.MayMatch(query("alpha beta")))
	require.False(t, r.MayMatch(query("alpha gamma")))
}

func TestMayMatchWords(t *testing.T) {
	r := NewQueryRouteTable(table(16, "alpha", "beta", "gamma", "delta", "cafe", "naive", "mp3"))
	for _, tc := range []struct {
		criteria string
		want     bool
	}{
		{"alpha", true},
		{"omega", false},
		{"alpha beta", true},
		{"alpha omega", false},                  // < 3 words: all present
		{"ALPHA-Beta!", true},                   // canonicalised: case and punctuation
		{"  alpha \t beta  ", true},             // separators
		{"alpha be", true},                      // "be" < 3 bytes, ignored
		{"al be", false},                        // no word >= 3 bytes
		{"", false},                             // nothing to route on
		{"alpha beta omega", true},              // 3 words, 2 present: 6 >= 6
		{"alpha omega sigma", false},            // 3 words, 1 present
		{"alpha beta gamma omega", true},        // 4 words, 3 present: 9 >= 8
		{"alpha beta omega sigma", false},       // 4 words, 2 present: 6 < 8
		{"alpha beta gamma omega sigma", false}, // 5 words, 3 present: 9 < 10
		{"alpha alpha omega", false},            // repeats count once: 2 words, 1 present
		{"alpha alpha beta", true},              // 2 distinct words, both present
		{"Café Naïve", true},                    // non-ASCII path: cafe naive
		{"CAFÉ-NAÏVE.MP3", true},
		{"café omega", false},
		{"日本", false},
	} {
		t.Run(tc.criteria, func(t *testing.T) {
			require.Equal(t, tc.want, r.MayMatch(query(tc.criteria)))
		})
	}
}

func TestMayMatchTwoThirds(t *testing.T) {
	present := []string{"aaa", "bbb", "ccc", "ddd", "eee", "fff", "ggg", "hhh", "iii"}
	absent := []string{"zza", "zzb", "zzc", "zzd", "zze", "zzf", "zzg", "zzh", "zzi"}
	r := NewQueryRouteTable(table(20, present...))
	for n := 1; n <= 9; n++ {
		for hit := 0; hit <= n; hit++ {
			words := append(slices.Clone(present[:hit]), absent[:n-hit]...)
			// Misses first, then hits: the early exit must not cut short.
			slices.Reverse(words)
			want := hit == n
			if n >= 3 {
				want = 3*hit >= 2*n
			}
			require.Equal(t, want, r.MayMatch(query(strings.Join(words, " "))), "%d of %d", hit, n)
		}
	}
}

func TestMayMatchURN(t *testing.T) {
	hello := mustSHA1(t, "urn:sha1:EJMWGY5T3ZALA34YD64F3ARRF2GA5VIR")
	empty := mustSHA1(t, "urn:sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ")
	// 10.5: the whole urn string hashes to 39598 at 16 bits.
	require.Equal(t, uint32(39598), protocol.QRPHash(hello.URN(), 16))

	tb := table(16, "alpha")
	tb.AddWord(strings.ToLower(hello.URN())) // LimeWire hashes lower case
	r := NewQueryRouteTable(tb)

	require.True(t, r.MayMatch(query("", hello)), "urn-only query, urn present")
	require.True(t, r.MayMatch(query("", empty, hello)), "any urn present")
	require.False(t, r.MayMatch(query("", empty)), "urn absent, no words")
	require.True(t, r.MayMatch(query("omega", hello)), "the urn routes whatever the words")
	require.True(t, r.MayMatch(query("alpha", empty)), "urn absent: fall back to the words")
	require.False(t, r.MayMatch(query("omega", empty)))

	// URNs held only as text (not sha1) are not used.
	q := query("")
	q.URNs = []string{"urn:tree:tiger/:ABC"}
	require.False(t, r.MayMatch(q))
}

func TestMayMatchNil(t *testing.T) {
	var r *QueryRouteTable
	require.False(t, r.MayMatch(query("alpha")))
	require.Nil(t, r.Table())
	require.False(t, NewQueryRouteTable(nil).MayMatch(query("alpha")))
	require.False(t, NewQueryRouteTable(table(8, "alpha")).MayMatch(nil))
	var h QueryHashes
	require.False(t, NewQueryRouteTable(table(8, "alpha")).Match(&h))
}

func TestQueryHashesReuse(t *testing.T) {
	h := HashQuery(query("alpha beta alpha xy", protocol.SHA1{1}))
	require.Equal(t, 2, h.Words())
	require.Equal(t, 1, h.URNs())
	h.Reset(query("gamma"))
	require.Equal(t, 1, h.Words())
	require.Equal(t, 0, h.URNs())
	// One hash serves tables of every size.
	for bits := uint(6); bits <= protocol.MaxQRPBits; bits++ {
		require.True(t, NewQueryRouteTable(table(bits, "gamma")).Match(h), "bits %d", bits)
	}
}

func TestQueryHashesBounds(t *testing.T) {
	var words []string
	for i := range 300 {
		words = append(words, fmt.Sprintf("w%03d", i))
	}
	h := HashQuery(query(strings.Join(words, " ")))
	require.Equal(t, MaxQueryWords, h.Words())
	sha1s := make([]protocol.SHA1, 40)
	for i := range sha1s {
		sha1s[i][0] = byte(i)
	}
	h = HashQuery(query("", sha1s...))
	require.Equal(t, MaxQueryURNs, h.URNs())
}

// wordCodes is the reference: distinct hashcodes of protocol.Keywords of
// at least MinWordLen bytes, in order.
func wordCodes(criteria string) []uint32 {
	var out []uint32
	for _, w := range protocol.Keywords(criteria) {
		if len(w) < MinWordLen {
			continue
		}
		c := protocol.QRPHashCode(w)
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// FuzzHashQuery checks that the allocation-free ASCII path splits and
// canonicalises exactly as protocol.Keywords.
func FuzzHashQuery(f *testing.F) {
	for _, s := range []string{"alpha beta", "ALPHA-Beta!", "a_b-c.d", "Café Naïve", "x\x00y\tzzz", "Metallica - ONE.mp3", "日本語 abc", "\\"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, criteria string) {
		h := HashQuery(query(criteria))
		want := wordCodes(criteria)
		if len(want) > MaxQueryWords {
			want = want[:MaxQueryWords]
		}
		var got []uint32
		got = append(got, h.words[:h.nWords]...)
		require.Equal(t, want, got, "%q", criteria)
	})
}

func TestMayMatchAllocs(t *testing.T) {
	r := NewQueryRouteTable(table(16, "alpha", "beta", "gamma"))
	q := query("Alpha BETA gamma.mp3", mustSHA1(t, "urn:sha1:EJMWGY5T3ZALA34YD64F3ARRF2GA5VIR"))
	allocs := testing.AllocsPerRun(100, func() {
		if !r.MayMatch(q) {
			t.Fatal("no match")
		}
	})
	require.Zero(t, allocs)
}

func TestMerge(t *testing.T) {
	words := map[uint][]string{
		6:  {"alpha", "beta"},
		8:  {"gamma"},
		10: {"delta", "epsilon"},
		16: {"zeta"},
	}
	var in []*protocol.QRPTable
	for bits, ws := range words {
		in = append(in, table(bits, ws...))
	}
	in = append(in, nil)
	for _, bits := range []uint{6, 8, 10, 16} {
		m := Merge(bits, in...)
		require.Equal(t, bits, m.Bits())
		r := NewQueryRouteTable(m)
		for _, ws := range words {
			for _, w := range ws {
				require.True(t, r.MayMatch(query(w)), "%s at %d bits", w, bits)
			}
		}
		// Exactly the slots the mapping gives, nothing more.
		want := protocol.NewQRPTable(bits)
		for b, ws := range words {
			for _, w := range ws {
				s := protocol.QRPHash(w, b)
				if b >= bits {
					want.Set(s >> (b - bits))
					continue
				}
				d := bits - b
				for k := s << d; k < (s+1)<<d; k++ {
					want.Set(k)
				}
			}
		}
		require.True(t, want.Equal(m), "bits %d", bits)
	}
	// Inputs are not changed.
	total := 0
	for _, tb := range in[:4] {
		total += tb.Count()
	}
	require.Equal(t, 6, total)
	require.Equal(t, 0, Merge(8).Count())
}

func TestASCIIHash(t *testing.T) {
	for _, w := range []string{"alpha", "beta", "gnutella", "metallica", "7777a88a8a8a8", "ndflalem"} {
		h := HashQuery(query(strings.ToUpper(w)))
		require.Equal(t, 1, h.Words())
		require.Equal(t, protocol.QRPHashCode(w), h.words[0], w)
	}
	// 10.5 vectors at their sizes.
	r := NewQueryRouteTable(table(16))
	r.Table().Set(46060)
	require.True(t, r.MayMatch(query("Alpha")))
	r = NewQueryRouteTable(table(13))
	r.Table().Set(6174)
	require.True(t, r.MayMatch(query("METALLICA")))
}

// TestMayMatchConcurrent: one table read by many connection goroutines
// (run with -race).
func TestMayMatchConcurrent(t *testing.T) {
	r := NewQueryRouteTable(table(16, "alpha", "beta"))
	var wg sync.WaitGroup
	var wrong atomic.Int64
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				want := (i+w)%2 == 0
				q := query("alpha beta")
				if !want {
					q = query("alpha omega")
				}
				if r.MayMatch(q) != want {
					wrong.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, wrong.Load())
}
