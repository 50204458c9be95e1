package protocol

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

const vecHitPayload = "02ca18c000020ae8030000" +
	"010000000c00000068656c6c6f2e7478740075726e3a736861313a454a4d5747593554335a414c413334594436344633415252463247413556495200" +
	"0200000000000000656d7074792e62696e0075726e3a736861313a33493432483353364e4e4651324d53565837585a4b594159534358355142594a00" +
	"53525654022c21c382424840" + "53525654c0ffee11ff2233445566aa00"

// hitWith builds a payload from a header, result records and trailer, all hex.
func hitWith(t testing.TB, n int, records, trailer string) []byte {
	return dhex(t, fmt.Sprintf("%02x", n)+"ca18c000020ae8030000"+records+trailer+"53525654c0ffee11ff2233445566aa00")
}

const rec1 = "010000000c00000068656c6c6f2e74787400" + "00" // index 1, size 12, hello.txt, no extensions

func TestQueryHitTrailerFlags(t *testing.T) {
	tests := []struct {
		name                           string
		trailer                        string
		push, busy, uploaded, measured bool
		vendor                         string
		ggep                           GGEP
	}{
		{"GTKG not firewalled", "47544b47 02 2c 21 c382424840", false, false, false, false, "GTKG", GGEP{{ID: "BH"}}},
		{"GTKG firewalled busy uploaded", "47544b47 02 2d 2d", true, true, true, false, "GTKG", nil},
		{"push bit without valid bit", "47544b47 02 2d 20", false, false, false, false, "GTKG", nil},
		{"busy value without enable", "47544b47 02 20 05", false, false, false, false, "GTKG", nil},
		{"speed measured", "4742554e 02 3c 31 c382424840", false, false, false, true, "GBUN", GGEP{{ID: "BH"}}},
		{"LimeWire 4-byte open data", "4c494d45 04 3d 3d 0000 c382424840", true, true, true, true, "LIME", GGEP{{ID: "BH"}}},
		{"NapShare 1-byte open data", "4e415053 01 01", true, false, false, false, "NAPS", nil},
		{"no open data", "4e415053 00", false, false, false, false, "NAPS", nil},
		{"vendor only", "4e415053", false, false, false, false, "NAPS", nil},
		{"no trailer", "", false, false, false, false, "\x00\x00\x00\x00", nil},
		{"bad GGEP dropped", "47544b47 02 2c 21 c392424840", false, false, false, false, "GTKG", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var qh QueryHit
			require.NoError(t, qh.Decode(hitWith(t, 1, rec1, tt.trailer)))
			require.Equal(t, tt.push, qh.Push, "push")
			require.Equal(t, tt.busy, qh.Busy, "busy")
			require.Equal(t, tt.uploaded, qh.Uploaded, "uploaded")
			require.Equal(t, tt.measured, qh.Measured, "measured")
			require.Equal(t, tt.vendor, string(qh.Vendor[:]))
			require.Equal(t, tt.ggep, normalize(&qh).(*QueryHit).GGEP)
			require.Equal(t, "hello.txt", qh.Results[0].Name)
		})
	}
}

func TestQueryHitAppendFlags(t *testing.T) {
	base := QueryHit{Port: 6346, IP: netip.MustParseAddr("192.0.2.10"), Speed: 1000, Vendor: VendorSRVT,
		Results: []Result{{Index: 1, Size: 12, Name: "hello.txt"}}}
	trailerOf := func(q QueryHit) []byte {
		enc := q.Append(nil)
		return enc[len(enc)-16-3 : len(enc)-16]
	}
	require.Equal(t, []byte{2, 0x2c, 0x01}, trailerOf(base))
	fw := base
	fw.Push, fw.Busy, fw.Uploaded, fw.Measured = true, true, true, true
	require.Equal(t, []byte{2, 0x3d, 0x1d}, trailerOf(fw))
	var got QueryHit
	require.NoError(t, got.Decode(fw.Append(nil)))
	require.Equal(t, fw, got)
}

func TestQueryHitErrors(t *testing.T) {
	tests := []struct {
		name    string
		payload []byte
		want    error
	}{
		{"empty", nil, ErrTruncated},
		{"26 bytes", make([]byte, 26), ErrTruncated},
		{"N = 0", hitWith(t, 0, "", "53525654022c21"), ErrMalformed},
		{"N larger than the payload holds", hitWith(t, 255, rec1, "53525654022c21"), ErrTruncated},
		{"N = 2, one record", hitWith(t, 2, rec1, "53525654022c2100"), ErrTruncated},
		{"name without NUL", hitWith(t, 1, "010000000c00000068656c6c6f2e747874", "4142"), ErrMalformed},
		{"extensions without NUL", hitWith(t, 1, "010000000c00000068656c6c6f2e74787400", "75726e3a"), ErrMalformed},
		{"open data past the end", hitWith(t, 1, rec1, "47544b4705 2c21"), ErrTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var qh QueryHit
			require.ErrorIs(t, qh.Decode(tt.payload), tt.want)
		})
	}
	// The N check happens before allocation: a 255-result claim in a tiny
	// payload allocates no results.
	var qh QueryHit
	require.ErrorIs(t, qh.Decode(hitWith(t, 255, rec1, "")), ErrTruncated)
	require.Nil(t, qh.Results)
}

func TestQueryHitLargeFileAndCOBS(t *testing.T) {
	big := uint64(5) << 32
	qh := QueryHit{Port: 6346, IP: netip.MustParseAddr("192.0.2.10"), Speed: 1000, Vendor: VendorSRVT,
		Results: []Result{
			{Index: 7, Size: big, Name: "big.iso", SHA1: sha1Hello},
			{Index: 8, Size: 0xFFFFFFFF, Name: "edge.bin"},
			{Index: 9, Size: 0xFFFFFFFE, Name: "under.bin"},
			{Index: 10, Size: 1, Name: "alt.txt", GGEP: GGEP{{ID: "ALT", Data: []byte{192, 0, 2, 1, 0, 0x18}, COBS: true}, {ID: "CT", Data: []byte{1, 2}}}},
		},
		ServentGUID: mustGUID(t, vecServent)}
	enc := qh.Append(nil)
	var got QueryHit
	require.NoError(t, got.Decode(enc))
	require.Equal(t, qh, *normalize(&got).(*QueryHit))

	// Record 1: size field FFFFFFFF, then the urn, 1C and a GGEP LF whose
	// data 00 00 00 00 05 is COBS-encoded because the record is
	// NUL-delimited.
	rec := enc[QueryHitHeaderLen:]
	require.Equal(t, dhex(t, "07000000 ffffffff"), rec[:8])
	want := append([]byte("big.iso\x00"+sha1Hello.URN()+"\x1c"), dhex(t, "c3 c2 4c 46 46 01 01 01 01 02 05 00")...)
	require.Equal(t, want, rec[8:8+len(want)])
	// Record 2: exactly 2^32-1 also travels as LF (ff ff ff ff, no zero: plain).
	i := bytes.Index(enc, []byte("edge.bin\x00"))
	require.Equal(t, dhex(t, "ffffffff"), enc[i-4:i])
	require.Equal(t, dhex(t, "c3 82 4c 46 44 ff ff ff ff 00"), enc[i+9:i+9+10])
	// Record 3: under the limit, no LF.
	i = bytes.Index(enc, []byte("under.bin\x00"))
	require.Equal(t, byte(0), enc[i+10])
	// Record 4: ALT holds 00 bytes: COBS; CT does not: plain. The encoder
	// applies COBS to such data even when Extension.COBS is false.
	qh.Results[3].GGEP[0].COBS = false
	require.Equal(t, enc, qh.Append(nil))
	i = bytes.Index(enc, []byte("alt.txt\x00"))
	require.Equal(t, dhex(t, "c3 43 41 4c 54 47 02 c0 03 02 01 02 18 82 43 54 42 01 02 00"), enc[i+8:i+8+20])
}

func TestQueryHitResultExtensions(t *testing.T) {
	// GTKG's H form (01 + sha1, COBS) and a second, different urn:sha1 text
	// that is kept in URNs; an unknown urn; XML skipped.
	h := AppendCOBS(nil, append([]byte{1}, sha1Empty[:]...))
	ext := "75726e3a736861313a454a4d5747593554335a414c4133345944363446334152524632474135564952 1c" + // urn hello
		"75726e3a74726565 1c" + // urn:tree
		"3c786d6c3e 1c" + // <xml>
		"c3 c1 48" + fmt.Sprintf("%02x", 0x40+len(h)) + fmt.Sprintf("%x", h) + // H = empty's sha1, different: kept in GGEP
		"00"
	p := hitWith(t, 1, "01000000 0c000000 61626300"+ext, "53525654022c21")
	var qh QueryHit
	require.NoError(t, qh.Decode(p))
	r := qh.Results[0]
	require.Equal(t, sha1Hello, r.SHA1)
	require.Equal(t, []string{"urn:tree"}, r.URNs)
	require.Len(t, r.GGEP, 1)
	require.Equal(t, "H", r.GGEP[0].ID)
	require.True(t, r.GGEP[0].COBS)
	// DecodeShared gives the same.
	var s QueryHit
	require.NoError(t, s.DecodeShared(p))
	require.Equal(t, qh, s)
}

func tenResultHit() QueryHit {
	qh := QueryHit{Port: 6346, IP: netip.MustParseAddr("192.0.2.10"), Speed: 1000, Vendor: VendorSRVT,
		GGEP: GGEP{{ID: "BH"}}, ServentGUID: GUID{1, 2, 3}}
	for i := range 10 {
		s := sha1Hello
		s[0] = byte(i)
		qh.Results = append(qh.Results, Result{Index: uint32(i + 1), Size: uint64(1000 * (i + 1)),
			Name: fmt.Sprintf("some file name number %d.mp3", i), SHA1: s})
	}
	return qh
}

func TestQueryHitRoundTrip(t *testing.T) {
	for _, qh := range []QueryHit{tenResultHit(), {IP: netip.AddrFrom4([4]byte{}), Results: []Result{{Name: ""}}}} {
		var got QueryHit
		require.NoError(t, got.Decode(qh.Append(nil)))
		require.Equal(t, qh, *normalize(&got).(*QueryHit))
	}
	// Decode into a reused value with more results than the next hit.
	var got QueryHit
	ten := tenResultHit()
	require.NoError(t, got.Decode(ten.Append(nil)))
	require.NoError(t, got.Decode(dhex(t, vecHitPayload)))
	require.Len(t, got.Results, 2)
	require.Equal(t, "empty.bin", got.Results[1].Name)
	require.Empty(t, got.Results[1].URNs)
	require.Empty(t, got.Results[1].GGEP)
}

func FuzzQueryHit(f *testing.F) {
	addInteropSeeds(f, typePtr(TypeQueryHit))
	f.Add(dhex(f, vecHitPayload))
	ten := tenResultHit()
	f.Add(ten.Append(nil))
	f.Add(hitWith(f, 1, rec1, "4c494d45 04 3c 3d 0000 c382424840"))
	f.Add(hitWith(f, 1, rec1, "4e415053 01 01"))
	f.Add(hitWith(f, 3, rec1, ""))
	big := QueryHit{Results: []Result{{Size: 1 << 40, Name: "x", GGEP: GGEP{{ID: "ALT", Data: []byte{1, 0, 0, 1, 0, 0}}}}}}
	f.Add(big.Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var qh QueryHit
		if err := qh.Decode(b); err != nil {
			return
		}
		require.LessOrEqual(t, len(qh.Results), 255)
		if a := qh.Addr().Addr(); a != qh.IP {
			require.True(t, a.Is6() && !a.Is4In6() && qh.IP == IPv4None)
		}
		var s QueryHit
		require.NoError(t, s.DecodeShared(b))
		require.Equal(t, qh, s)
		// Canonical form: our encoding decodes to the same hit, except
		// fields our encoder normalises (open data is always 2 bytes, so a
		// 1-byte NapShare push flag stays; GGEP flags are kept).
		var again QueryHit
		enc := qh.Append(nil)
		require.NoError(t, again.Decode(enc))
		require.Equal(t, len(qh.Results), len(again.Results))
		for i := range qh.Results {
			a, b := qh.Results[i], again.Results[i]
			require.Equal(t, a.Index, b.Index)
			require.Equal(t, a.SHA1.IsZero(), b.SHA1.IsZero())
			if !bytes.ContainsRune([]byte(a.Name), 0) {
				require.Equal(t, a.Name, b.Name)
			}
		}
		require.Equal(t, qh.Push, again.Push)
		require.Equal(t, qh.ServentGUID, again.ServentGUID)
	})
}

func BenchmarkQueryHitDecode10(b *testing.B) {
	qh := tenResultHit()
	p := qh.Append(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	var got QueryHit
	defer cpuTimer(b)()
	for b.Loop() {
		_ = got.Decode(p)
	}
}

func BenchmarkQueryHitDecodeShared10(b *testing.B) {
	qh := tenResultHit()
	p := qh.Append(nil)
	b.ReportAllocs()
	b.SetBytes(int64(len(p)))
	var got QueryHit
	defer cpuTimer(b)()
	for b.Loop() {
		_ = got.DecodeShared(p)
	}
}

func BenchmarkQueryHitAppend10(b *testing.B) {
	qh := tenResultHit()
	buf := make([]byte, 0, 2048)
	b.ReportAllocs()
	b.SetBytes(int64(len(qh.Append(nil))))
	defer cpuTimer(b)()
	for b.Loop() {
		buf = qh.Append(buf[:0])
	}
}

func TestQueryHitDecodeCopies(t *testing.T) {
	p := dhex(t, vecHitPayload)
	var qh, sh QueryHit
	require.NoError(t, qh.Decode(p))
	require.NoError(t, sh.DecodeShared(p))
	i := bytes.Index(p, []byte("hello.txt"))
	p[i] = 'J'
	require.Equal(t, "hello.txt", qh.Results[0].Name)
	require.Equal(t, "empty.bin", qh.Results[1].Name)
	require.Equal(t, "Jello.txt", sh.Results[0].Name) // DecodeShared aliases
}
