package httphdr

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func TestParseAlt(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Alt
		format   string // FormatAlt of want
	}{
		{"gtkg compact", "1.2.4.6:6348, 1.2.4.5, 1.2.3.5", alts("1.2.4.6:6348", "1.2.4.5:6346", "1.2.3.5:6346"), "1.2.4.6:6348, 1.2.4.5, 1.2.3.5"},
		{"no spaces, semicolons (gtkg splits on both)", "1.2.3.4:1;1.2.3.5:2,1.2.3.6", alts("1.2.3.4:1", "1.2.3.5:2", "1.2.3.6:6346"), "1.2.3.4:1, 1.2.3.5:2, 1.2.3.6"},
		{"tabs and folded lines", " 1.2.3.4:1 ,\t1.2.3.5\r\n ,", alts("1.2.3.4:1", "1.2.3.5:6346"), "1.2.3.4:1, 1.2.3.5"},
		{"tls bitmap", "tls=A, 1.2.3.1, 1.2.3.2, 1.2.3.3, 1.2.3.4", alts("tls:1.2.3.1:6346", "1.2.3.2:6346", "tls:1.2.3.3:6346", "1.2.3.4:6346"), "tls=A, 1.2.3.1, 1.2.3.2, 1.2.3.3, 1.2.3.4"},
		{"tls bitmap second digit", "TLS=0c, 1.2.3.1, 1.2.3.2, 1.2.3.3, 1.2.3.4, 1.2.3.5, 1.2.3.6", alts("1.2.3.1:6346", "1.2.3.2:6346", "1.2.3.3:6346", "1.2.3.4:6346", "tls:1.2.3.5:6346", "tls:1.2.3.6:6346"), "tls=0C, 1.2.3.1, 1.2.3.2, 1.2.3.3, 1.2.3.4, 1.2.3.5, 1.2.3.6"},
		{"tls bitmap counts skipped items", "tls=6, bad, 1.2.3.2, 1.2.3.3", alts("tls:1.2.3.2:6346", "tls:1.2.3.3:6346"), "tls=C, 1.2.3.2, 1.2.3.3"},
		{"bad tls bitmap ignored", "tls=xyz, 1.2.3.1", alts("1.2.3.1:6346"), "1.2.3.1"},
		{"a later tls= is skipped", "1.2.3.1, tls=8, 1.2.3.2", alts("1.2.3.1:6346", "1.2.3.2:6346"), "1.2.3.1, 1.2.3.2"},
		{"IPv6", "[2001:db8::1]:6347, 2001:db8::2, [2001:db8::3], [::ffff:1.2.3.4]:5", alts("[2001:db8::1]:6347", "[2001:db8::2]:6346", "[2001:db8::3]:6346", "1.2.3.4:5"), "[2001:db8::1]:6347, 2001:db8::2, 2001:db8::3, 1.2.3.4:5"},
		{"bad items skipped", "1.2.3.4:0, 1.2.3.4:65536, 0.0.0.0:1, 1.2.3.256, 1.2.3, 1.2.3.4:, :6346, host.example:6346, [1.2.3.4]:1, [::1, [fe80::1%eth0]:1, 1.2.3.4:1x, http://1.2.3.4:6346/, 5.6.7.8:9",
			alts("5.6.7.8:9"), "5.6.7.8:9"},
		{"duplicates kept once", "1.2.3.4, 1.2.3.4:6346, 001.002.003.004", alts("1.2.3.4:6346"), "1.2.3.4"},
		{"empty", " , ,", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAlt(tc.in, 0)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.format, FormatAlt(got))
			again, err := ParseAlt(FormatAlt(got), 0)
			require.NoError(t, err)
			require.Equal(t, got, again)
		})
	}
}

func TestAltBounds(t *testing.T) {
	var b strings.Builder
	for i := range 300 {
		fmt.Fprintf(&b, "1.2.%d.%d, ", i/256, i%256)
	}
	got, err := ParseAlt(b.String(), 0)
	require.NoError(t, err)
	require.Len(t, got, MaxItems)
	got, err = ParseAlt(b.String(), 10)
	require.NoError(t, err)
	require.Len(t, got, 10)
	require.Equal(t, netip.MustParseAddrPort("1.2.0.9:6346"), got[9].Addr)

	_, err = ParseAlt(strings.Repeat(" ", MaxValueLen+1), 0)
	require.ErrorIs(t, err, ErrTooLong)
	_, err = ParseAlt(strings.Repeat(" ", MaxValueLen), 0)
	require.NoError(t, err)
}

func TestFormatAltSkipsInvalid(t *testing.T) {
	in := []Alt{{}, {Addr: netip.MustParseAddrPort("1.2.3.4:0"), TLS: true}, {Addr: netip.MustParseAddrPort("[::ffff:1.2.3.4]:6346"), TLS: true}, {Addr: netip.MustParseAddrPort("[2001:db8::1]:1")}}
	require.Equal(t, "tls=8, 1.2.3.4, [2001:db8::1]:1", FormatAlt(in))
	require.Equal(t, "1.2.3.4:6346, [2001:db8::1]:1", FormatNalt(in), "gtkg writes X-Nalt with the port, without tls=")
	require.Equal(t, "", FormatAlt(nil))
}

// The X-Falt example of gtkg's dmesh.c (LimeWire's form).
const dmeshFalt = "9DBC52EEEBCA2C8A79036D626B959900;fwt/1;26252:85.182.49.3;pptls=E;69.12.88.95:1085;64.53.20.48:804;66.17.23.159:343"

func TestParseFalt(t *testing.T) {
	guid := [16]byte{0x9d, 0xbc, 0x52, 0xee, 0xeb, 0xca, 0x2c, 0x8a, 0x79, 0x03, 0x6d, 0x62, 0x6b, 0x95, 0x99, 0x00}
	tests := []struct {
		name, in string
		want     []Falt
		format   string
	}{
		{"dmesh.c example", dmeshFalt, []Falt{{GUID: guid, FWT: true, Addr: netip.MustParseAddrPort("85.182.49.3:26252"),
			Proxies: alts("tls:69.12.88.95:1085", "tls:64.53.20.48:804", "tls:66.17.23.159:343")}},
			"9dbc52eeebca2c8a79036d626b959900;fwt/1;26252:85.182.49.3;pptls=E;69.12.88.95:1085;64.53.20.48:804;66.17.23.159:343"},
		{"GUID only (gtkg's own PFSP entry when firewalled)", " 9dbc52eeebca2c8a79036d626b959900 ", []Falt{{GUID: guid}}, "9dbc52eeebca2c8a79036d626b959900"},
		{"two entries, IPv6, persisted date, unknown option", "9dbc52eeebca2c8a79036d626b959900;6346:[2001:db8::1];[2001:db8::2]:7;tls/1.0;2010-02-23 16:06:55Z, 0123456789abcdef0123456789abcdef;1.2.3.4:5",
			[]Falt{{GUID: guid, Addr: netip.MustParseAddrPort("[2001:db8::1]:6346"), Proxies: alts("[2001:db8::2]:7")},
				{GUID: [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}, Proxies: alts("1.2.3.4:5")}},
			"9dbc52eeebca2c8a79036d626b959900;6346:[2001:db8::1];[2001:db8::2]:7, 0123456789abcdef0123456789abcdef;1.2.3.4:5"},
		{"port:ip only before the proxies", "9dbc52eeebca2c8a79036d626b959900;1.2.3.4:5;6346:1.2.3.5", []Falt{{GUID: guid, Proxies: alts("1.2.3.4:5")}}, "9dbc52eeebca2c8a79036d626b959900;1.2.3.4:5"},
		{"pptls counts proxies as written", "9dbc52eeebca2c8a79036d626b959900;pptls=4;1.2.3.4:5;1.2.3.4:5;1.2.3.6:7", []Falt{{GUID: guid, Proxies: alts("1.2.3.4:5", "1.2.3.6:7")}}, "9dbc52eeebca2c8a79036d626b959900;1.2.3.4:5;1.2.3.6:7"},
		{"bad GUIDs skipped, repeated GUID once", "XXXX;1.2.3.4:5, 9dbc52eeebca2c8a79036d626b95990;1.2.3.4:5, 9dbc52eeebca2c8a79036d626b959900, 9dbc52eeebca2c8a79036d626b959900;1.2.3.4:5",
			[]Falt{{GUID: guid}}, "9dbc52eeebca2c8a79036d626b959900"},
		{"proxies capped", "9dbc52eeebca2c8a79036d626b959900;1.0.0.1:1;1.0.0.2:1;1.0.0.3:1;1.0.0.4:1;1.0.0.5:1;1.0.0.6:1;1.0.0.7:1;1.0.0.8:1;1.0.0.9:1",
			[]Falt{{GUID: guid, Proxies: alts("1.0.0.1:1", "1.0.0.2:1", "1.0.0.3:1", "1.0.0.4:1", "1.0.0.5:1", "1.0.0.6:1", "1.0.0.7:1", "1.0.0.8:1")}},
			"9dbc52eeebca2c8a79036d626b959900;1.0.0.1:1;1.0.0.2:1;1.0.0.3:1;1.0.0.4:1;1.0.0.5:1;1.0.0.6:1;1.0.0.7:1;1.0.0.8:1"},
		{"empty", "", nil, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseFalt(tc.in, 0)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.format, FormatFalt(got))
			again, err := ParseFalt(FormatFalt(got), 0)
			require.NoError(t, err)
			require.Equal(t, got, again)
		})
	}
	_, err := ParseFalt(strings.Repeat("0", MaxValueLen+1), 0)
	require.ErrorIs(t, err, ErrTooLong)
}

func TestAvailableRanges(t *testing.T) {
	const size = 1500000
	tests := []struct {
		name, in string
		size     int64
		want     Ranges
		format   string
	}{
		{"gtkg interop 62", "bytes 0-1048575", size, Ranges{{0, 1048575}}, "bytes 0-1048575"},
		{"gtkg's separator", "bytes 0-1048575, 1100000-1199999", size, Ranges{{0, 1048575}, {1100000, 1199999}}, "bytes 0-1048575, 1100000-1199999"},
		{"PFSP doc's separator, unsorted, overlapping, adjacent", "bytes 20-30,0-10,25-40,11-12", 100, Ranges{{0, 12}, {20, 40}}, "bytes 0-12, 20-40"},
		{"bytes= and blanks (gtkg takes both)", "bytes= 1 - 2 ,\t5-", 10, Ranges{{1, 2}, {5, 9}}, "bytes 1-2, 5-9"},
		{"clipped to the file", "bytes 0-99999999", size, Ranges{{0, size - 1}}, "bytes 0-1499999"},
		{"past the end, reversed, suffix, junk skipped", "bytes 1500000-1500001, 9-5, -100, x-1, 1-y, 3, 1-2-3, 4-4", size, Ranges{{4, 4}}, "bytes 4-4"},
		{"joined headers", "bytes 0-9, bytes 20-29", 100, Ranges{{0, 9}, {20, 29}}, "bytes 0-9, 20-29"},
		{"LimeWire: partial with nothing yet", "bytes", size, nil, ""},
		{"huge file", "bytes 9223372036854775806-", 1<<63 - 1, Ranges{{1<<63 - 2, 1<<63 - 2}}, "bytes 9223372036854775806-9223372036854775806"},
		{"overflow skipped", "bytes 0-9223372036854775808, 1-2", 100, Ranges{{1, 2}}, "bytes 1-2"},
		{"case", "BYTES 1-2", 100, Ranges{{1, 2}}, "bytes 1-2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAvailableRanges(tc.in, tc.size)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			require.Equal(t, tc.format, FormatAvailableRanges(got))
			if len(got) > 0 {
				again, err := ParseAvailableRanges(FormatAvailableRanges(got), tc.size)
				require.NoError(t, err)
				require.Equal(t, got, again)
			}
		})
	}
	for _, tc := range []struct {
		in   string
		size int64
		err  error
	}{
		{"bytes 0-1", 0, ErrMalformed},
		{"bytes 0-1", -1, ErrMalformed},
		{"0-1", 10, ErrMalformed},
		{"bytes0-1", 10, ErrMalformed},
		{"items 0-1", 10, ErrMalformed},
		{"", 10, ErrMalformed},
		{"bytes " + strings.Repeat("1", MaxValueLen), 10, ErrTooLong},
	} {
		_, err := ParseAvailableRanges(tc.in, tc.size)
		require.ErrorIs(t, err, tc.err, "%q", tc.in)
		require.Less(t, len(err.Error()), 200)
	}
}

func TestRangesBounds(t *testing.T) {
	var b strings.Builder
	b.WriteString("bytes ")
	for i := range 1000 {
		fmt.Fprintf(&b, "%d-%d,", 3*i, 3*i)
	}
	got, err := ParseAvailableRanges(b.String(), 1<<20)
	require.NoError(t, err)
	require.Len(t, got, MaxRanges, "the lowest are kept")
	require.Equal(t, Range{3 * 255, 3 * 255}, got[MaxRanges-1])
	require.Less(t, len(FormatAvailableRanges(got)), MaxValueLen)
}

func TestRangesHelpers(t *testing.T) {
	rs := NewRanges(100, Range{50, 59}, Range{10, 19}, Range{20, 24}, Range{70, 200}, Range{-5, 3}, Range{90, 80})
	require.Equal(t, Ranges{{10, 24}, {50, 59}, {70, 99}}, rs)
	require.EqualValues(t, 15+10+30, rs.Total())

	require.True(t, rs.Contains(10, 24))
	require.True(t, rs.Contains(99, 99))
	require.False(t, rs.Contains(9, 10))
	require.False(t, rs.Contains(20, 50))
	require.False(t, rs.Contains(25, 25))
	require.False(t, rs.Contains(5, 4))
	require.False(t, Ranges(nil).Contains(0, 0))

	for _, tc := range []struct {
		off           int64
		next, largest Range
		ok            bool
	}{
		{0, Range{10, 24}, Range{70, 99}, true},
		{15, Range{15, 24}, Range{70, 99}, true},
		{25, Range{50, 59}, Range{70, 99}, true},
		{80, Range{80, 99}, Range{80, 99}, true},
		{100, Range{}, Range{}, false},
	} {
		next, ok := rs.Next(tc.off)
		require.Equal(t, tc.ok, ok, tc.off)
		require.Equal(t, tc.next, next, tc.off)
		largest, ok := rs.Largest(tc.off)
		require.Equal(t, tc.ok, ok, tc.off)
		require.Equal(t, tc.largest, largest, tc.off)
	}
	largest, _ := NewRanges(100, Range{0, 9}, Range{20, 29}).Largest(0)
	require.Equal(t, Range{0, 9}, largest, "the lowest of equal runs")
	require.Nil(t, NewRanges(10))
}

func TestAvailable(t *testing.T) {
	n, err := ParseAvailable("bytes 1048576")
	require.NoError(t, err)
	require.EqualValues(t, 1048576, n)
	n, err = ParseAvailable(" Bytes\t7 ")
	require.NoError(t, err)
	require.EqualValues(t, 7, n)
	for _, bad := range []string{"", "bytes", "bytes ", "1048576", "bytes -1", "bytes 1x", "bytes=1", "bytes 99999999999999999999"} {
		_, err := ParseAvailable(bad)
		require.ErrorIs(t, err, ErrMalformed, "%q", bad)
	}
}

func TestNode(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:6348":          "127.0.0.1:6348",
		" 1.2.3.4:1 ":             "1.2.3.4:1",
		"[2001:db8::1]:6346":      "[2001:db8::1]:6346",
		"[::ffff:1.2.3.4]:6346":   "1.2.3.4:6346",
		"001.002.003.004:0006346": "1.2.3.4:6346",
	} {
		ap, err := ParseNode(in)
		require.NoError(t, err, in)
		require.Equal(t, want, string(AppendNode(nil, ap)), in)
	}
	for _, bad := range []string{"", "1.2.3.4", "1.2.3.4:0", "1.2.3.4:65536", "2001:db8::1", "[2001:db8::1]", "host:6346", "0.0.0.0:1", "1.2.3.4:1 x", "[fe80::1%eth0]:1"} {
		_, err := ParseNode(bad)
		require.ErrorIs(t, err, ErrMalformed, "%q", bad)
	}
	ap, err := ParseNodeIPv6("[2001:db8::1]:6346")
	require.NoError(t, err)
	require.Equal(t, netip.MustParseAddrPort("[2001:db8::1]:6346"), ap)
	_, err = ParseNodeIPv6("1.2.3.4:6346")
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ParseNode(strings.Repeat("1", MaxValueLen+1))
	require.ErrorIs(t, err, ErrTooLong)
}

func TestAltLocations(t *testing.T) {
	sha, err := protocol.ParseSHA1URN("urn:sha1:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC")
	require.NoError(t, err)
	in := "http://1.2.3.4:6346/uri-res/N2R?urn:sha1:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC 2002-06-17T07:53:14Z, " +
		"\"http://1.2.3.5/get/7/a,b%20c.txt\" Mon, 17 Jun 2002 07:53:14 +0200," +
		"HTTP://[2001:db8::1]:7/uri-res/N2R?urn:bitprint:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC.VQWEVLI5CZLO25BLCGKT5TI75RCYAISG5C5EKUI," +
		"http://1.2.3.6:1/uri-res/N2R?urn:sha1:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC 2002-06-17T07:53:14Zhttp://1.2.3.7:2/get/3/x " + // LimeWire's missing ','
		"http://host.example:6346/get/1/x, http://1.2.3.8/other, ed2kftp://1.2.3.9:4662/x/1/, http://1.2.3.10/get/4294967295/x, " +
		"http://1.2.3.11/get/1/%zz, http://::1/get/1/x, http://1.2.3.4:6346/uri-res/N2R?urn:sha1:DK3OUPWMDN5PVLLZTYLJ7IJHGJN72POC"
	got, err := ParseAltLocations(in, 0)
	require.NoError(t, err)
	require.Equal(t, []AltLocation{
		{Addr: netip.MustParseAddrPort("1.2.3.4:6346"), SHA1: sha},
		{Addr: netip.MustParseAddrPort("1.2.3.5:80"), Index: 7, Name: "a,b c.txt"},
		{Addr: netip.MustParseAddrPort("[2001:db8::1]:7"), SHA1: sha},
		{Addr: netip.MustParseAddrPort("1.2.3.6:1"), SHA1: sha},
		{Addr: netip.MustParseAddrPort("1.2.3.7:2"), Index: 3, Name: "x"},
	}, got)

	got, err = ParseAltLocations(in, 2)
	require.NoError(t, err)
	require.Len(t, got, 2)
	_, err = ParseAltLocations(strings.Repeat("h", MaxValueLen+1), 0)
	require.ErrorIs(t, err, ErrTooLong)
}

func TestErrorsAreOneLine(t *testing.T) {
	_, err := ParseNode("\r\n\x00" + strings.Repeat("x", 1000))
	require.Error(t, err)
	require.NotContains(t, err.Error(), "\n")
	require.Less(t, len(err.Error()), 200)
	require.True(t, errors.Is(err, ErrMalformed))

	// Found by FuzzXNode: a byte that quotes as \xNN made the line 4 times
	// longer than the 64 bytes kept.
	_, err = ParseNode(strings.Repeat("\xb1", 1000))
	require.Less(t, len(err.Error()), 120, err.Error())
}

func BenchmarkParseAlt(b *testing.B) {
	for _, bc := range []struct{ name, value string }{
		{"gtkg-3", "1.2.4.6:6348, 1.2.4.5, 1.2.3.5"},
		{"tls-20", "tls=A5A5A, " + altList(20)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.value)))
			for b.Loop() {
				if _, err := ParseAlt(bc.value, 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkAppendAlt(b *testing.B) {
	list, err := ParseAlt("tls=A5A5A, "+altList(20), 0)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendAlt(buf[:0], list)
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkParseAvailableRanges(b *testing.B) {
	const v = "bytes 0-1048575, 2097152-3145727, 4194304-5242879"
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseAvailableRanges(v, 6<<20); err != nil {
			b.Fatal(err)
		}
	}
}

// altList is n entries, every third on another port, every fifth IPv6.
func altList(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		switch {
		case i%5 == 4:
			fmt.Fprintf(&b, "[2001:db8::%x]:%d", i, 6346+i%3)
		case i%3 == 0:
			fmt.Fprintf(&b, "81.%d.%d.%d", i, i*7%256, i*13%256)
		default:
			fmt.Fprintf(&b, "81.%d.%d.%d:%d", i, i*7%256, i*13%256, 6346+i)
		}
	}
	return b.String()
}
