package magnet

import (
	"bufio"
	"errors"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// The lab file of GNUTELLA-TRANSFERS.md section 28.4 / interop 60-65.
const (
	labSHA1 = "PK5NVFJWZZDMFPTXLE2RQHQSMJWKVFXX"
	labTTH  = "2NHBNAQX2F2MFISTR4RAPRTLBNHLWBV22G2BX7Y"
)

// section27 is the magnet of GNUTELLA-TRANSFERS.md section 27 (the one fed to
// gtk-gnutella in interop 64).
const section27 = "magnet:?xt=urn:sha1:PK5NVFJWZZDMFPTXLE2RQHQSMJWKVFXX&xt=urn:tree:tiger/:2NHBNAQX2F2MFISTR4RAPRTLBNHLWBV22G2BX7Y&dn=pfsp%20sample%201500000.bin&xl=1500000&xs=http://127.0.9.1:7001/uri-res/N2R?urn:sha1:PK5NVFJWZZDMFPTXLE2RQHQSMJWKVFXX"

func mustSHA1(t testing.TB, b32 string) protocol.SHA1 {
	t.Helper()
	s, err := protocol.ParseSHA1Base32(b32)
	require.NoError(t, err)
	return s
}

func mustTTH(t testing.TB, b32 string) protocol.TTH {
	t.Helper()
	tth, err := protocol.ParseTTHBase32(b32)
	require.NoError(t, err, b32)
	return tth
}

// interop64 reads the shell session of interop 64: the magnet given to
// "download add" and the "key=value" lines of "download show".
func interop64(t *testing.T) (added string, shown []map[string]string) {
	t.Helper()
	f, err := os.Open("testdata/64-magnet-download-add.txt")
	require.NoError(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	var cur map[string]string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "> download add "):
			added = strings.TrimPrefix(line, "> download add ")
		case strings.HasPrefix(line, "> download show "):
			cur = map[string]string{}
			shown = append(shown, cur)
		case cur != nil && strings.Contains(line, "=") && !strings.HasPrefix(line, ">"):
			k, v, _ := strings.Cut(line, "=")
			if _, dup := cur[k]; !dup && !strings.ContainsAny(k, " *") {
				cur[k] = v
			}
		case line == "":
			cur = nil
		}
	}
	require.NoError(t, sc.Err())
	require.NotEmpty(t, added)
	require.Len(t, shown, 2)
	return added, shown
}

// TestInterop64 replays interop 64: the magnet we gave gtk-gnutella parses to
// what its "download show" reported, and String writes back, byte for byte,
// the magnets gtk-gnutella printed for the download and its THEX entry.
func TestInterop64(t *testing.T) {
	added, shown := interop64(t)
	require.Equal(t, section27, added, "section 27 shows the magnet of interop 64")

	m, err := Parse(added)
	require.NoError(t, err)
	dl := shown[0]
	require.Equal(t, dl["filename"], m.Name)
	require.Equal(t, dl["size"], "1500000")
	require.EqualValues(t, 1500000, m.Size)
	require.Equal(t, dl["sha1"], m.SHA1.URN())
	require.True(t, m.HasTTH)
	require.Equal(t, dl["tth"], m.TTH.TTRootURN())
	require.Len(t, m.Sources, 1)
	src := m.Sources[0]
	require.Equal(t, netip.MustParseAddr("127.0.9.1"), src.Addr)
	require.EqualValues(t, 7001, src.Port)
	require.Equal(t, m.SHA1, src.SHA1)
	require.Empty(t, src.Path)
	require.Equal(t, "/uri-res/N2R?urn:sha1:"+labSHA1, src.RequestURI())

	// gtk-gnutella's own rendering: dn, xl, xt as bitprint, xs with %3F
	// and the N2R urn as bitprint.
	require.Equal(t, dl["magnet"], m.String())
	again, err := Parse(dl["magnet"])
	require.NoError(t, err)
	require.Equal(t, m, again)

	// The THEX download entry: no xt (gtkg knows no SHA-1 for it), an N2X
	// path kept as written.
	thex := shown[1]
	tm, err := Parse(thex["magnet"])
	require.NoError(t, err)
	require.Equal(t, thex["filename"], tm.Name)
	require.EqualValues(t, 1500000, tm.Size)
	require.True(t, tm.SHA1.IsZero())
	require.False(t, tm.HasTTH)
	require.Len(t, tm.Sources, 1)
	require.Equal(t, "/uri-res/N2X?urn:sha1:"+labSHA1, tm.Sources[0].Path)
	require.Equal(t, thex["magnet"], tm.String())
}

func TestParseForms(t *testing.T) {
	sha := mustSHA1(t, labSHA1)
	tth := mustTTH(t, labTTH)
	v4 := func(s string, port uint16) Source {
		return Source{Addr: netip.MustParseAddr(s), Port: port, Path: "/"}
	}
	tests := []struct {
		name string
		in   string
		want Magnet
	}{
		{"sha1 only", "magnet:?xt=urn:sha1:" + labSHA1, Magnet{SHA1: sha}},
		{"sha1 lower case, key upper case", "MAGNET:?XT=URN:SHA1:" + strings.ToLower(labSHA1), Magnet{SHA1: sha}},
		{"sha1 in hex (gtkg accepts it)", "magnet:?xt=urn:sha1:7abada9536ce46c2be775935181e12626caa96f7", Magnet{SHA1: sha}},
		{"bitprint", "magnet:?xt=urn:bitprint:" + labSHA1 + "." + labTTH, Magnet{SHA1: sha, TTH: tth, HasTTH: true}},
		{"bitprint in hex (gtkg accepts it)", "magnet:?xt=urn:bitprint:7abada9536ce46c2be775935181e12626caa96f7.d34e168217d174c2a2538f2207c66b0b4ebb06bad1b41bff", Magnet{SHA1: sha, TTH: tth, HasTTH: true}},
		{"tree:tiger", "magnet:?xt=urn:tree:tiger:" + labTTH, Magnet{TTH: tth, HasTTH: true}},
		{"tree:tiger/ (RAZA)", "magnet:?xt=urn:tree:tiger/:" + strings.ToLower(labTTH), Magnet{TTH: tth, HasTTH: true}},
		{"tth then sha1 merge", "magnet:?xt=urn:tree:tiger:" + labTTH + "&xt=urn:sha1:" + labSHA1, Magnet{SHA1: sha, TTH: tth, HasTTH: true}},
		{"same sha1 twice", "magnet:?xt=urn:sha1:" + labSHA1 + "&xt=urn:bitprint:" + labSHA1 + "." + labTTH, Magnet{SHA1: sha, TTH: tth, HasTTH: true}},
		{"other namespaces ignored", "magnet:?xt=urn:btih:c12fe1c06bba254a9dc9f519b335aa7c1367a88a&xt=urn:ed2k:31d6cfe0d16ae931b73c59d7e0c089c0&dn=x", Magnet{Name: "x"}},
		{"unknown keys ignored, even badly escaped", "magnet:?foo=%zz&tr=udp://t.example:80&dn=a&=b&&x.other=1", Magnet{Name: "a"}},
		{"plus is a space, %2B a plus", "magnet:?dn=a+b%2Bc%20d", Magnet{Name: "a b+c d"}},
		{"first dn wins", "magnet:?dn=first&dn=second", Magnet{Name: "first"}},
		{"non-UTF-8 dn kept readable", "magnet:?dn=caf%E9", Magnet{Name: "caf\uFFFD"}},
		{"xl", "magnet:?xl=1500000", Magnet{Size: 1500000}},
		{"xl 0 is unknown", "magnet:?xl=0", Magnet{}},
		{"keywords", "magnet:?kt=free+software&kt=song&kt=", Magnet{Keywords: []string{"free software", "song"}}},
		{"extensions", "magnet:?x.parq-id=21cc06d06b6b9be55dce1ff8f5873b4f&x.vndr=GTKG&x.guid=ff813102bd073f81a4f2a7647628f937&x.dht=1&X.G2=0",
			Magnet{ParqID: "21cc06d06b6b9be55dce1ff8f5873b4f", Vendor: "GTKG", GUID: "ff813102bd073f81a4f2a7647628f937", DHT: true}},
		{"http source without port is port 80 (gtkg)", "magnet:?xs=http://1.2.3.4/get/12/a%2520b.txt",
			Magnet{Sources: []Source{{Addr: netip.MustParseAddr("1.2.3.4"), Port: 80, Path: "/get/12/a%20b.txt"}}}},
		{"as is a source too", "magnet:?as=http://1.2.3.4:6346/", Magnet{Sources: []Source{{Addr: netip.MustParseAddr("1.2.3.4"), Port: 6346, Path: "/"}}}},
		{"N2R source gives the SHA-1", "magnet:?xs=http://1.2.3.4:6346/uri-res/N2R?urn:sha1:" + labSHA1,
			Magnet{SHA1: sha, Sources: []Source{{Addr: netip.MustParseAddr("1.2.3.4"), Port: 6346, SHA1: sha}}}},
		{"N2R bitprint source gives both", "magnet:?xs=http://1.2.3.4:6346/uri-res/N2R%3Furn:bitprint:" + labSHA1 + "." + labTTH,
			Magnet{SHA1: sha, TTH: tth, HasTTH: true, Sources: []Source{{Addr: netip.MustParseAddr("1.2.3.4"), Port: 6346, SHA1: sha}}}},
		{"IPv6 source", "magnet:?xs=http://[2001:db8::1]:6346/uri-res/N2R?urn:sha1:" + labSHA1,
			Magnet{SHA1: sha, Sources: []Source{{Addr: netip.MustParseAddr("2001:db8::1"), Port: 6346, SHA1: sha}}}},
		{"IPv6 source escaped", "magnet:?xs=http://%5B::1%5D:6346/",
			Magnet{Sources: []Source{{Addr: netip.MustParseAddr("::1"), Port: 6346, Path: "/"}}}},
		{"IPv4-mapped IPv6 is IPv4", "magnet:?xs=http://[::ffff:1.2.3.4]:6346/",
			Magnet{Sources: []Source{v4("1.2.3.4", 6346)}}},
		{"host name kept, not resolved", "magnet:?xs=http://Peer.example.org:8080/x?y",
			Magnet{Sources: []Source{{Host: "Peer.example.org", Port: 8080, Path: "/x?y"}}}},
		{"leading zeros read as decimal (gtkg)", "magnet:?xs=http://010.001.002.003:6346/",
			Magnet{Sources: []Source{v4("10.1.2.3", 6346)}}},
		{"push source with proxies", "magnet:?xs=push://0123456789ABCDEF0123456789abcdef:1.2.4.7:6346:[2001:db8::2]:7000/uri-res/N2R?urn:sha1:" + labSHA1,
			Magnet{SHA1: sha, Sources: []Source{{Push: true,
				GUID:    [16]byte{0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef},
				Proxies: []netip.AddrPort{netip.MustParseAddrPort("1.2.4.7:6346"), netip.MustParseAddrPort("[2001:db8::2]:7000")},
				SHA1:    sha}}}},
		{"push source without proxy", "magnet:?xs=push://ff813102bd073f81a4f2a7647628f937/",
			Magnet{Sources: []Source{{Push: true,
				GUID: [16]byte{0xff, 0x81, 0x31, 0x02, 0xbd, 0x07, 0x3f, 0x81, 0xa4, 0xf2, 0xa7, 0x64, 0x76, 0x28, 0xf9, 0x37}, Path: "/"}}}},
		{"push proxy without port is port 80 (gtkg)", "magnet:?xs=push://ff813102bd073f81a4f2a7647628f937:1.2.3.4/",
			Magnet{Sources: []Source{{Push: true,
				GUID:    [16]byte{0xff, 0x81, 0x31, 0x02, 0xbd, 0x07, 0x3f, 0x81, 0xa4, 0xf2, 0xa7, 0x64, 0x76, 0x28, 0xf9, 0x37},
				Proxies: []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:80")}, Path: "/"}}}},
		{"other schemes skipped", "magnet:?xs=ed2kftp://1.2.3.4:4662/31d6cfe0d16ae931b73c59d7e0c089c0/0/&as=https://example.org/f&xs=dchub://h", Magnet{}},
		{"surrounding white space", "  magnet:?dn=x\r\n", Magnet{Name: "x"}},
		{"empty", "magnet:?", Magnet{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.in)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			again, err := Parse(got.String())
			require.NoError(t, err, got.String())
			require.Equal(t, got, again, got.String())
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"magnet:?xt=urn:sha1:XYZ", `magnet: xt "urn:sha1:XYZ": not a SHA-1 urn`},
		{"http://x", `magnet: not a magnet URI (no "magnet:" prefix)`},
		{"magnet:xt=urn:sha1:" + labSHA1, `magnet: no '?' after "magnet:"`},
		{"magnet:?xt=urn:sha1:" + labSHA1 + "1", `magnet: xt "urn:sha1:` + labSHA1 + `1": not a SHA-1 urn`},
		{"magnet:?xt=urn:sha1:" + labSHA1 + "&xt=urn:sha1:X6OGQJAL5Y5JQI742NLOKOQ5DMAFQMZP",
			`magnet: xt "urn:sha1:X6OGQJAL5Y5JQI742NLOKOQ5DMAFQMZP": conflicts with urn:sha1:` + labSHA1},
		{"magnet:?xt=urn:tree:tiger:" + labTTH + "&xt=urn:bitprint:" + labSHA1 + ".35QBFFVH3YDODB2WNTDBO7AAS6YUJ4P4AZQPMEQ",
			`magnet: xt "urn:bitprint:PK5NVFJWZZDMFPTXLE2RQHQSMJWKVFXX.35QBFFVH3YDODB2WNT"...: conflicts with urn:tree:tiger:` + labTTH},
		{"magnet:?xs=http://1.2.3.4/uri-res/N2R?urn:sha1:X6OGQJAL5Y5JQI742NLOKOQ5DMAFQMZP&xt=urn:sha1:" + labSHA1,
			`magnet: xt "urn:sha1:` + labSHA1 + `": conflicts with urn:sha1:X6OGQJAL5Y5JQI742NLOKOQ5DMAFQMZP`},
		{"magnet:?xt=urn:bitprint:" + labSHA1, `magnet: xt "urn:bitprint:` + labSHA1 + `": not a bitprint urn (urn:bitprint:<32 base32>.<39 base32>)`},
		{"magnet:?xt=urn:tree:tiger/1024:" + labTTH, `magnet: xt "urn:tree:tiger/1024:` + labTTH + `": not a TTH urn (urn:tree:tiger:<39 base32>)`},
		{"magnet:?xt=urn:tree:tiger:" + labTTH[:38] + "1", `magnet: xt "urn:tree:tiger:` + labTTH[:38] + `1": not a TTH urn (urn:tree:tiger:<39 base32>)`},
		// One spelling per root: the unused low bits of the last character are zero.
		{"magnet:?xt=urn:tree:tiger:" + labTTH[:38] + "Z", `magnet: xt "urn:tree:tiger:` + labTTH[:38] + `Z": not a TTH urn (urn:tree:tiger:<39 base32>)`},
		{"magnet:?xt=urn:bitprint:" + labSHA1 + "." + labTTH[:38] + "Z", `magnet: xt "urn:bitprint:` + labSHA1 + "." + labTTH[:18] + `"...: not a bitprint urn (urn:bitprint:<32 base32>.<39 base32>)`},
		{"magnet:?xt=urn:bitprint:7abada9536ce46c2be775935181e12626caa96f7." + labTTH, `magnet: xt "urn:bitprint:7abada9536ce46c2be775935181e12626caa96f7.` + labTTH[:10] + `"...: not a bitprint urn (urn:bitprint:<32 base32>.<39 base32>)`},
		{"magnet:?dn=%zz", `magnet: dn "%zz": bad percent escape`},
		{"magnet:?dn=a%00b", `magnet: dn "a%00b": bad percent escape`},
		{"magnet:?dn=a%4", `magnet: dn "a%4": bad percent escape`},
		{"magnet:?dn=a%0Ab", `magnet: dn "a\nb": control character`},
		{"magnet:?dn=a\x00b", `magnet: NUL byte`},
		{"magnet:?kt=%FF", `magnet: kt "\xff": not UTF-8`},
		{"magnet:?xl=-1", `magnet: xl "-1": not a length in bytes`},
		{"magnet:?xl=9223372036854775808", `magnet: xl "9223372036854775808": not a length in bytes`},
		{"magnet:?xl=1&xl=2", `magnet: xl "2": conflicts with xl=1`},
		{"magnet:?x.dht=yes", `magnet: x.dht "yes": not a number from 0 to 255`},
		{"magnet:?xs=http://1.2.3.4:0/", `magnet: xs "http://1.2.3.4:0/": bad port`},
		{"magnet:?xs=http://1.2.3.4:65536/", `magnet: xs "http://1.2.3.4:65536/": bad port`},
		{"magnet:?xs=http://1.2.3.4:6346", `magnet: xs "http://1.2.3.4:6346": expected a path starting with '/'`},
		{"magnet:?xs=http:///x", `magnet: xs "http:///x": expected a host`},
		{"magnet:?xs=http://[::1/", `magnet: xs "http://[::1/": no ']' after an IPv6 address`},
		{"magnet:?xs=http://[1.2.3.4]/", `magnet: xs "http://[1.2.3.4]/": bad IPv6 address`},
		{"magnet:?xs=http://[fe80::1%25eth0]/", `magnet: xs "http://[fe80::1%eth0]/": bad IPv6 address`},
		{"magnet:?xs=http://1.2.3.4/uri-res/N2R?urn:md5:x", `magnet: xs "http://1.2.3.4/uri-res/N2R?urn:md5:x": N2R path without a urn:sha1 or urn:bitprint`},
		{"magnet:?xs=push://0123/", `magnet: xs "push://0123/": bad GUID in push source (want 32 hex digits)`},
		{"magnet:?xs=push://0123456789abcdef0123456789abcdeg/", `magnet: xs "push://0123456789abcdef0123456789abcdeg/": bad GUID in push source (want 32 hex digits)`},
		{"magnet:?xs=push://0123456789abcdef0123456789abcdef", `magnet: xs "push://0123456789abcdef0123456789abcdef": expected ':' or '/' after the GUID`},
		{"magnet:?xs=push://0123456789abcdef0123456789abcdef:proxy.example:6346/", `magnet: xs "push://0123456789abcdef0123456789abcdef:proxy.example:6346/": not an IP address`},
		{"magnet:?dn=" + strings.Repeat("a", MaxValueLen+1), `magnet: dn "` + strings.Repeat("a", 64) + `"...: longer than 1024 bytes`},
		{"magnet:?" + strings.Repeat("a", MaxLen), `magnet: longer than 8192 bytes`},
		{"magnet:?" + strings.Repeat("xs=http://1.2.3.4/&", MaxSources) + "as=http://1.2.3.5/", `magnet: as "http://1.2.3.5/": more than 32 sources`},
		{"magnet:?" + strings.Repeat("kt=a&", MaxKeywords) + "kt=b", `magnet: kt "b": more than 32 keywords`},
		{"magnet:?xs=push://0123456789abcdef0123456789abcdef" + strings.Repeat(":1.2.3.4:1", MaxProxies+1) + "/",
			`magnet: xs "push://0123456789abcdef0123456789abcdef:1.2.3.4:1:1.2.3.4:1:1.2."...: more than 8 push proxies`},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			m, err := Parse(tc.in)
			require.Error(t, err)
			require.Equal(t, tc.want, err.Error())
			require.True(t, errors.Is(err, protocol.ErrMalformed))
			var me *Error
			require.True(t, errors.As(err, &me))
			require.Equal(t, Magnet{}, m)
		})
	}
}

func TestString(t *testing.T) {
	sha := mustSHA1(t, labSHA1)
	tth := mustTTH(t, labTTH)
	m := Magnet{
		Name: "a b+c&d=e?f[g]~h/é", Size: 44, SHA1: sha,
		Sources: []Source{
			{Addr: netip.MustParseAddr("2001:db8::1"), Port: 6346, SHA1: sha},
			{Host: "peer.example", Port: 80, Path: "/get/3/a b.txt"},
			{Host: "peer.example", Port: 8080, Path: "/"},
			{Push: true, GUID: [16]byte{0xff, 1}, Proxies: []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:80")}, SHA1: sha},
		},
		Keywords: []string{"a b"},
		ParqID:   "ID 1", Vendor: "GTKG", GUID: "ff", DHT: true, G2: true,
	}
	want := "magnet:?dn=a%20b%2Bc%26d%3De%3Ff%5Bg%5D%7Eh/%C3%A9&xl=44&xt=urn:sha1:" + labSHA1 +
		"&x.parq-id=ID%201&x.vndr=GTKG&x.guid=ff&x.dht=1&x.g2=1" +
		"&xs=http://%5B2001:db8::1%5D:6346/uri-res/N2R%3Furn:sha1:" + labSHA1 +
		"&xs=http://peer.example/get/3/a%20b.txt" +
		"&xs=http://peer.example:8080/" +
		"&xs=push://ff010000000000000000000000000000:1.2.3.4:80/uri-res/N2R%3Furn:sha1:" + labSHA1 +
		"&kt=a%20b"
	require.Equal(t, want, m.String())
	again, err := Parse(m.String())
	require.NoError(t, err)
	require.Equal(t, m, again)

	m.TTH, m.HasTTH = tth, true
	require.Contains(t, m.String(), "&xt=urn:bitprint:"+labSHA1+"."+labTTH+"&")
	require.Contains(t, m.String(), "/uri-res/N2R%3Furn:bitprint:"+labSHA1+"."+labTTH+"&")

	// A TTH alone: gtkg would write no xt and lose it; we keep it.
	require.Equal(t, "magnet:?xt=urn:tree:tiger:"+labTTH, Magnet{TTH: tth, HasTTH: true}.String())
	require.Equal(t, "magnet:?", Magnet{}.String())
}

func TestSourceHelpers(t *testing.T) {
	sha := mustSHA1(t, labSHA1)
	require.Equal(t, "http://1.2.3.4:6346/uri-res/N2R?urn:sha1:"+labSHA1,
		Source{Addr: netip.MustParseAddr("1.2.3.4"), Port: 6346, SHA1: sha}.String())
	require.Equal(t, "/", Source{Host: "h", Port: 80}.RequestURI())

	for _, tc := range []struct {
		path  string
		index uint32
		name  string
		ok    bool
	}{
		{"/get/12/a%20b.txt", 12, "a b.txt", true},
		{"/get/0/100%.txt", 0, "100%.txt", true}, // not a clean escape: as written
		{"/get/4294967295/x", 4294967295, "x", true},
		{"/get/4294967296/x", 0, "", false},
		{"/get/12", 0, "", false},
		{"/get//x", 0, "", false},
		{"/get/+1/x", 0, "", false},
		{"/uri-res/N2X?urn:sha1:" + labSHA1, 0, "", false},
	} {
		index, name, ok := Source{Path: tc.path}.FileIndex()
		require.Equal(t, tc.ok, ok, tc.path)
		require.Equal(t, tc.index, index, tc.path)
		require.Equal(t, tc.name, name, tc.path)
	}
}

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(section27); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkString(b *testing.B) {
	m, err := Parse(section27)
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = m.Append(buf[:0])
	}
}
