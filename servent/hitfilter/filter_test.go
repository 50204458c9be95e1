package hitfilter

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

var t0 = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

func hitFrom(ip string, guid byte, results ...protocol.Result) *protocol.QueryHit {
	return &protocol.QueryHit{IP: netip.MustParseAddr(ip), Port: 6346, ServentGUID: protocol.GUID{guid, 1}, Results: results}
}

func res(name string, size uint64, s protocol.SHA1) protocol.Result {
	return protocol.Result{Name: name, Size: size, SHA1: s}
}

func testFilter(t *testing.T) *Filter {
	t.Helper()
	spam, ld := ParseSpamList(strings.NewReader("SHA1 Y5P65ZOJ5MHQYZXBBIO2A2ZD4SK3KBMD\nADDED x\nEND\nNAME ^.*screensaver\\.exe$\nADDED x\nEND\n"))
	require.Equal(t, 2, ld.Entries)
	hostiles, ld := ParseHostiles(strings.NewReader("203.0.113.0/24\n"))
	require.Equal(t, 1, ld.Entries)
	return New(spam, hostiles, true)
}

func TestFilterRules(t *testing.T) {
	f := testFilter(t)
	q := NewQuery("Madonna Frozen")
	spamSHA := sha(t, "Y5P65ZOJ5MHQYZXBBIO2A2ZD4SK3KBMD")
	good := sha(t, "DT5UZRNKCWWROTTGKQLWGKDXH5FHXKFX")

	v := f.Check(q, hitFrom("198.51.100.7", 1,
		res("Madonna - Frozen (1998).mp3", 4<<20, good),
		res("madonna frozen live.ogg", 3<<20, protocol.SHA1{}),
		res("Madonna - Frozen.mp3", 4<<20, spamSHA),
		res("Britney - Toxic.mp3", 3<<20, protocol.SHA1{}),
		res("madonna frozen.exe", 300000, protocol.SHA1{}),
		res("frozen madonna free screensaver.exe", 300000, protocol.SHA1{}),
	), t0)
	assert.Equal(t, Keep, v.Hit)
	assert.Equal(t, []Reason{Keep, Keep, SpamSHA1, NoMatch, EchoesQuery, SpamName}, v.Results)
	assert.Equal(t, 2, v.Kept())

	// The spammer's later hits are dropped whole, by servent and by address.
	v = f.Check(q, hitFrom("198.51.100.7", 9, res("Madonna Frozen.mp3", 1, good)), t0.Add(time.Minute))
	assert.Equal(t, Karma, v.Hit)
	v = f.Check(q, hitFrom("198.51.100.99", 1, res("Madonna Frozen.mp3", 1, good)), t0.Add(time.Minute))
	assert.Equal(t, Karma, v.Hit)
	v = f.Check(q, hitFrom("198.51.100.7", 1, res("Madonna Frozen.mp3", 1, good)), t0.Add(KarmaFor+time.Second))
	assert.Equal(t, Keep, v.Hit, "karma lapses")

	assert.Equal(t, Hostile, f.Check(q, hitFrom("203.0.113.9", 2, res("Madonna Frozen.mp3", 1, good)), t0).Hit)
	assert.Equal(t, Bogon, f.Check(q, hitFrom("192.168.1.5", 3, res("Madonna Frozen.mp3", 1, good)), t0).Hit)
	fw := hitFrom("192.168.1.5", 3, res("Madonna Frozen.mp3", 1, good))
	fw.Push = true
	assert.Equal(t, Keep, f.Check(q, fw, t0).Hit, "a firewalled servent names its private address")
	lab := New(nil, nil, false)
	assert.Equal(t, Keep, lab.Check(q, hitFrom("127.0.0.2", 3, res("Madonna Frozen.mp3", 1, good)), t0).Hit, "a lab mesh")
	lab.SetOpenNetwork(true) // the node learnt a public address
	assert.Equal(t, Bogon, lab.Check(q, hitFrom("127.0.0.2", 3, res("Madonna Frozen.mp3", 1, good)), t0).Hit)

	assert.EqualValues(t, 1, f.Dropped(SpamSHA1))
	assert.EqualValues(t, 1, f.Dropped(Hostile))
	assert.EqualValues(t, 2, f.Dropped(Karma))
}

func TestFilterOneSHA1ManyNames(t *testing.T) {
	f := New(nil, nil, false)
	s := sha(t, "DT5UZRNKCWWROTTGKQLWGKDXH5FHXKFX")
	var rs []protocol.Result
	for _, n := range []string{"jazz a.mp3", "jazz b.mp3", "jazz c.mp3", "jazz d.mp3", "jazz e.mp3"} {
		rs = append(rs, res(n, 1000, s))
	}
	v := f.Check(NewQuery("jazz"), hitFrom("198.51.100.1", 1, rs...), t0)
	assert.Equal(t, 0, v.Kept())
	assert.Equal(t, OneSHA1Names, v.Results[0])
	v = f.Check(NewQuery("jazz"), hitFrom("198.51.100.2", 2, rs[:4]...), t0)
	assert.Equal(t, 4, v.Kept(), "four names under one SHA-1 pass")
}

func TestFilterSHA1Search(t *testing.T) {
	f := New(nil, nil, false)
	v := f.Check(NewQuery(""), hitFrom("198.51.100.1", 1, res("anything.mp3", 1, protocol.SHA1{1})), t0)
	assert.Equal(t, 1, v.Kept(), "a search by SHA-1 does not check names")
	assert.Len(t, Reasons(), int(numReasons)-1)
	assert.Equal(t, "one-sha1-many-names", OneSHA1Names.String())
}

// BenchmarkCheck is the cost per result of a hit of 10 results with both
// lists loaded (the aim: under 5 µs per result).
func BenchmarkCheck(b *testing.B) {
	spam, _ := ParseSpamList(strings.NewReader("NAME ^.* setup\\.exe$\nADDED x\nEND\nNAME \\.(wmv|asf)$\nSIZE 100000-120000\nADDED x\nEND\n"))
	var sb strings.Builder
	for i := range 500 {
		sb.WriteString(netip.AddrFrom4([4]byte{byte(i), 7, 0, 0}).String() + "/16\n")
	}
	hostiles, _ := ParseHostiles(strings.NewReader(sb.String()))
	f := New(spam, hostiles, true)
	q := NewQuery("madonna frozen")
	hit := hitFrom("198.51.100.7", 1)
	for i := range 10 {
		hit.Results = append(hit.Results, res("Madonna - Frozen (live "+string(rune('a'+i))+").mp3", 4<<20, protocol.SHA1{byte(i), 1}))
	}
	b.ReportAllocs()
	for b.Loop() {
		f.Check(q, hit, t0)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10), "ns/result")
}

func TestKeywordsFastPath(t *testing.T) {
	for _, s := range []string{"Madonna - Frozen (1998).MP3", "a_b-c.d e", "ÜBER Straße.mp3", "", "  x  "} {
		assert.Equal(t, strings.Join(protocol.Keywords(s), " "), strings.Join(keywords(s), " "), s)
	}
}
