package protocol

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const vecQueryPayload = "8800 616c70686120626574610075726e3a736861313a454a4d5747593554335a414c4133345944363446334152524632474135564952"

// GNUTELLA.md 10.2: the forms a decoder must also accept.
func TestQueryVectorVariants(t *testing.T) {
	urn := "75726e3a736861313a454a4d5747593554335a414c4133345944363446334152524632474135564952"
	gh := "c3 81 48 55 01 22 59 63 63 b3 de 40 b0 6f 98 1f b8 5d 82 31 2e 8c 0e d5 11"
	want := Query{Flags: 0x8800, Criteria: "alpha beta", SHA1s: []SHA1{sha1Hello}}
	tests := []struct {
		name    string
		payload string
		ggep    GGEP
		urns    []string
	}{
		{"GTKG style, no trailing NUL", vecQueryPayload, nil, nil},
		{"HUGE style, trailing NUL", vecQueryPayload + "00", nil, nil},
		{"urn 1C GGEP", vecQueryPayload + "1c c3 82 44 55 42 10 0e", GGEP{{ID: "DU", Data: []byte{0x10, 0x0e}}}, nil},
		{"GGEP H instead of text", "8800 616c70686120626574610 0" + gh, GGEP{{ID: "H", Data: append([]byte{1}, sha1Hello[:]...)}}, nil},
		{"both forms, deduplicated", vecQueryPayload + "1c" + gh, GGEP{{ID: "H", Data: append([]byte{1}, sha1Hello[:]...)}}, nil},
		{"lower-case urn", "8800 616c7068612062657461 00" + "75726e3a736861313a" + "656a6d776779357433 7a616c6133347964363466336172726632676135766972", nil, nil},
		{"XML and unknown text skipped, urn: kept", "8800 616c7068612062657461 00 3c786d6c3e 1c 75726e3a 00" + urn, nil, []string{"urn:"}},
		{"bad GGEP skipped", "8800 616c7068612062657461 00 c3 92 44 55 40 1c" + urn, nil, nil},
		{"bitprint urn", "8800 616c7068612062657461 00" + hexOf("urn:bitprint:EJMWGY5T3ZALA34YD64F3ARRF2GA5VIR.ABCDEFGHIJKLMNOPQRSTUVWXYZ234567ABCDEFG"), nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var q Query
			require.NoError(t, q.Decode(dhex(t, tt.payload)))
			w := want
			w.GGEP = tt.ggep
			w.URNs = tt.urns
			require.Equal(t, w, *normalize(&q).(*Query))
			var s Query
			require.NoError(t, s.DecodeShared(dhex(t, tt.payload)))
			require.Equal(t, w, *normalize(&s).(*Query))
		})
	}
}

func hexOf(s string) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(s))
	for i := 0; i < len(s); i++ {
		out = append(out, digits[s[i]>>4], digits[s[i]&15])
	}
	return string(out)
}

func TestQueryURNOnly(t *testing.T) {
	// GTKG's URN-only query: criteria `\`.
	q := Query{Flags: FlagMark, SHA1s: []SHA1{sha1Hello}}
	enc := q.Append(nil)
	require.Equal(t, dhex(t, "8000 5c 00"+hexOf(sha1Hello.URN())), enc)
	var got Query
	require.NoError(t, got.Decode(enc))
	require.Equal(t, q, got)
	// Empty criteria without urns: just the NUL.
	require.Equal(t, []byte{0x80, 0x00, 0x00}, (&Query{Flags: FlagMark}).Append(nil))
}

func TestQueryErrors(t *testing.T) {
	var q Query
	require.ErrorIs(t, q.Decode(nil), ErrTruncated)
	require.ErrorIs(t, q.Decode([]byte{0x80}), ErrTruncated)
	require.ErrorIs(t, q.Decode([]byte{0x80, 0, 'a', 'b'}), ErrMalformed) // no NUL
	require.NoError(t, q.Decode([]byte{0x80, 0, 0}))
	require.Equal(t, Query{Flags: FlagMark}, q)
}

func TestQueryFlags(t *testing.T) {
	require.Equal(t, 0, QueryFlags(0x8800).MaxHits())
	require.Equal(t, 50, QueryFlags(0x8832).MaxHits())
	require.Equal(t, 0, QueryFlags(0x0032).MaxHits()) // unmarked: legacy speed
	require.True(t, QueryFlags(0xC800).Has(FlagFirewalled))
	require.True(t, QueryFlags(0xC800).Has(FlagGGEPH))
	require.False(t, QueryFlags(0xC800).Has(FlagOOB))
	require.False(t, QueryFlags(0x4800).Has(FlagGGEPH)) // unmarked
}

// Decode reuses a Query's storage: keeping the value per connection, the
// copying Decode allocates only the criteria string, DecodeShared nothing.
func TestQueryDecodeAllocs(t *testing.T) {
	p1 := dhex(t, vecQueryPayload+"1c c3 81 48 55 01 22 59 63 63 b3 de 40 b0 6f 98 1f b8 5d 82 31 2e 8c 0e d5 11")
	p2 := dhex(t, "8800 6f746865722071756572790075726e3a736861313a454a4d5747593554335a414c4133345944363446334152524632474135564952")
	var q Query
	require.NoError(t, q.Decode(p1))
	require.NoError(t, q.Decode(p2))
	require.Zero(t, testing.AllocsPerRun(100, func() {
		_ = q.DecodeShared(p1)
		_ = q.DecodeShared(p2)
	}))
	require.Equal(t, 2.0, testing.AllocsPerRun(100, func() {
		_ = q.Decode(p1)
		_ = q.Decode(p2)
	}))
	// Decode after DecodeShared still copies, even for the same criteria.
	buf := append([]byte(nil), p1...)
	require.NoError(t, q.DecodeShared(buf))
	require.NoError(t, q.Decode(buf))
	buf[2] = 'Z'
	require.Equal(t, "alpha beta", q.Criteria)
	// Decode copies: changing the payload afterwards leaves Criteria alone.
	buf = append(buf[:0], p1...)
	require.NoError(t, q.Decode(buf))
	buf[2] = 'X'
	require.Equal(t, "alpha beta", q.Criteria)
	// DecodeShared aliases.
	require.NoError(t, q.DecodeShared(buf))
	buf[2] = 'Y'
	require.Equal(t, "Ylpha beta", q.Criteria)
}

func TestQueryRoundTrip(t *testing.T) {
	for _, q := range []Query{
		{Flags: FlagMark | FlagGGEPH, Criteria: "alpha beta"},
		{Flags: FlagMark | FlagGGEPH | FlagFirewalled | 20, Criteria: "x", SHA1s: []SHA1{sha1Hello, sha1Empty}, URNs: []string{"urn:tree:tiger/:ABC", "urn:"}},
		{Flags: FlagMark, SHA1s: []SHA1{sha1Hello}, GGEP: GGEP{{ID: "H", Data: append([]byte{1}, sha1Hello[:]...)}, {ID: "M", Data: []byte{4}}}},
		{Flags: FlagMark, Criteria: "z", GGEP: GGEP{{ID: "NP"}}},
		{Flags: 0, Criteria: "legacy"},
	} {
		var got Query
		require.NoError(t, got.Decode(q.Append(nil)))
		require.Equal(t, q, *normalize(&got).(*Query))
	}
}

func FuzzQuery(f *testing.F) {
	addInteropSeeds(f, typePtr(TypeQuery))
	f.Add(dhex(f, vecQueryPayload))
	f.Add(dhex(f, vecQueryPayload+"00"))
	f.Add(dhex(f, vecQueryPayload+"1c c3 82 44 55 42 10 0e"))
	f.Add(dhex(f, "8800 616c70686120626574610 0 c3 81 48 55 01 22 59 63 63 b3 de 40 b0 6f 98 1f b8 5d 82 31 2e 8c 0e d5 11"))
	f.Add(dhex(f, "0080 5c 00 75726e3a736861313a435033463648534e32465247324832374b4157575432564f544654595133334e00"))
	f.Add([]byte{0x80, 0x00, 0x00, 0xc3, 0x92})
	f.Add(dhex(f, "8800 736978 00 c3 82 49 36 41 01")) // "six" with I6 = 01 (IPv6 only)
	f.Fuzz(func(t *testing.T, b []byte) {
		var q Query
		if err := q.Decode(b); err != nil {
			return
		}
		require.LessOrEqual(t, q.HitFamilies(), HitsIPv6Only)
		var s Query
		require.NoError(t, s.DecodeShared(b))
		require.Equal(t, q, s)
		// Canonical form: what we re-encode decodes to the same query.
		var again Query
		require.NoError(t, again.Decode(q.Append(nil)))
		normalize(&q)
		normalize(&again)
		if q.Criteria == urnOnlyCriteria || (q.Criteria == "" && len(q.SHA1s) == 0) {
			again.Criteria = q.Criteria
		}
		require.Equal(t, q.Flags, again.Flags)
		require.Equal(t, q.SHA1s, again.SHA1s)
		require.Equal(t, q.GGEP, again.GGEP)
	})
}

func BenchmarkQueryDecodeShared(b *testing.B) {
	p := dhex(b, vecQueryPayload)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	var q Query
	defer cpuTimer(b)()
	for b.Loop() {
		_ = q.DecodeShared(p)
	}
}

// BenchmarkQueryDecode alternates two queries so that every Decode copies
// its criteria (one allocation).
func BenchmarkQueryDecode(b *testing.B) {
	p := [2][]byte{dhex(b, vecQueryPayload), dhex(b, "8800 6f746865722071756572790075726e3a736861313a454a4d5747593554335a414c4133345944363446334152524632474135564952")}
	b.ReportAllocs()
	b.SetBytes(int64(len(p[0])))
	var q Query
	i := 0
	defer cpuTimer(b)()
	for b.Loop() {
		_ = q.Decode(p[i&1])
		i++
	}
}

func BenchmarkQueryAppend(b *testing.B) {
	q := Query{Flags: FlagMark | FlagGGEPH, Criteria: "alpha beta", SHA1s: []SHA1{sha1Hello}}
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(q.Append(nil))))
	defer cpuTimer(b)()
	for b.Loop() {
		buf = q.Append(buf[:0])
	}
}

func TestDecodeSHA1Base32(t *testing.T) {
	for _, s := range []SHA1{sha1Hello, sha1Empty, {}, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}} {
		var got SHA1
		ok := decodeSHA1Base32(&got, []byte(s.Base32()))
		require.True(t, ok)
		require.Equal(t, s, got)
		ok = decodeSHA1Base32(&got, []byte(strings.ToLower(s.Base32())))
		require.True(t, ok)
		require.Equal(t, s, got)
	}
	for _, bad := range []string{"", "EJMWGY5T3ZALA34YD64F3ARRF2GA5VI", "EJMWGY5T3ZALA34YD64F3ARRF2GA5VI1", "EJMWGY5T3ZALA34YD64F3ARRF2GA5VI=", "EJMWGY5T3ZALA34YD64F3ARRF2GA5VI\x00"} {
		var dst SHA1
		ok := decodeSHA1Base32(&dst, []byte(bad))
		require.False(t, ok, bad)
	}
}
