package hitfilter

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func sha(t testing.TB, s string) protocol.SHA1 {
	t.Helper()
	v, err := protocol.ParseSHA1Base32(s)
	require.NoError(t, err)
	return v
}

func TestSpamList(t *testing.T) {
	f, err := os.Open("testdata/spam.txt")
	require.NoError(t, err)
	defer f.Close()
	l, ld := ParseSpamList(f)
	require.NoError(t, ld.Stopped)
	// 4 good entries: SHA1, NAME, NAME+SIZE, SHA1+NAME+SIZE (2), unknown tag (1).
	assert.Equal(t, 6, ld.Entries)
	assert.Equal(t, 6, l.Len())
	assert.Equal(t, 4, ld.Damaged, "%v", ld.Problems)

	assert.True(t, l.SpamSHA1(sha(t, "Y5P65ZOJ5MHQYZXBBIO2A2ZD4SK3KBMD")))
	assert.True(t, l.SpamSHA1(sha(t, "DT5UZRNKCWWROTTGKQLWGKDXH5FHXKFX")))
	assert.True(t, l.SpamSHA1(sha(t, "B7MQT6KX4G62KDEZ6QY43KGSNSRQJ7OS")))
	assert.False(t, l.SpamSHA1(sha(t, "CDA7Z2BPKWTXXVGI33QRWEYER33LV2FH")), "no ADDED: skipped")
	assert.False(t, l.SpamSHA1(protocol.SHA1{}))

	assert.True(t, l.SpamName("madonna frozen setup.exe", 1))
	assert.False(t, l.SpamName("madonna frozen setup.exe.txt", 1))
	assert.True(t, l.SpamName("clip.wmv", 110000))
	assert.False(t, l.SpamName("clip.wmv", 130000), "outside the size range")
	assert.True(t, l.SpamName("free kitten screensaver.zip", 4096))
	assert.False(t, l.SpamName("free kitten screensaver.zip", 4097))
	assert.False(t, l.SpamName("x", 7), "inverted size range: skipped")
}

func TestSpamListEdges(t *testing.T) {
	for name, tc := range map[string]struct {
		text             string
		entries, damaged int
		stopped          bool
	}{
		"empty":           {"", 0, 0, false},
		"no END":          {"SHA1 Y5P65ZOJ5MHQYZXBBIO2A2ZD4SK3KBMD\nADDED x\n", 0, 1, false},
		"CRLF":            {"SHA1 Y5P65ZOJ5MHQYZXBBIO2A2ZD4SK3KBMD\r\nADDED x\r\nEND\r\n", 1, 0, false},
		"tag twice":       {"SHA1 Y5P65ZOJ5MHQYZXBBIO2A2ZD4SK3KBMD\nSHA1 DT5UZRNKCWWROTTGKQLWGKDXH5FHXKFX\nADDED x\nEND\n", 1, 1, false},
		"bad regexp":      {"NAME (\nADDED x\nEND\n", 0, 1, false},
		"END alone":       {"END\n", 0, 1, false},
		"line too long":   {"# " + strings.Repeat("x", MaxLine+10) + "\nSHA1 Y5P65ZOJ5MHQYZXBBIO2A2ZD4SK3KBMD\nADDED x\nEND\n", 0, 0, true},
		"not UTF-8 NAME":  {"NAME \xff\xfe\nADDED x\nEND\n", 0, 2, false},
		"size not number": {"NAME a\nSIZE big\nADDED x\nEND\n", 0, 1, false},
	} {
		t.Run(name, func(t *testing.T) {
			l, ld := ParseSpamList(strings.NewReader(tc.text))
			assert.Equal(t, tc.entries, ld.Entries)
			assert.Equal(t, tc.entries, l.Len())
			assert.Equal(t, tc.damaged, ld.Damaged, "%v", ld.Problems)
			assert.Equal(t, tc.stopped, ld.Stopped != nil)
		})
	}
}

func TestHostiles(t *testing.T) {
	f, err := os.Open("testdata/hostiles.txt")
	require.NoError(t, err)
	defer f.Close()
	h, ld := ParseHostiles(f)
	require.NoError(t, ld.Stopped)
	assert.Equal(t, 7, ld.Entries)
	assert.Equal(t, 2, ld.Damaged, "%v", ld.Problems)
	for addr, want := range map[string]bool{
		"38.144.0.0": true, "38.144.255.255": true, "38.145.0.0": false, "38.143.255.255": false,
		"65.118.41.192": true, "65.118.41.255": true, "65.118.42.0": false,
		"85.88.2.200":   true, // trailing blank on the line
		"194.146.227.8": true, "194.146.227.9": false,
		"66.63.162.130":     false, // commented out
		"10.200.0.1":        true,  // 10.1.2.3/8 is the /8
		"192.0.2.77":        true,  // netmask form
		"::ffff:38.144.1.1": true,
		"2001:db8:bad::1":   true, "2001:db8:bae::1": false,
		"198.51.100.1": false, // /33 is damaged
	} {
		assert.Equal(t, want, h.Hostile(netip.MustParseAddr(addr)), addr)
	}
	assert.False(t, h.Hostile(netip.Addr{}))
	var none *Hostiles
	assert.False(t, none.Hostile(netip.MustParseAddr("38.144.0.1")))
}

func TestHostilesMerge(t *testing.T) {
	h, _ := ParseHostiles(strings.NewReader("10.0.0.0/24\n10.0.1.0/24\n10.0.0.128/25\n255.255.255.255\n0.0.0.0/1\n"))
	assert.Equal(t, 2, h.Len(), "adjacent and nested ranges merge")
	assert.True(t, h.Hostile(netip.MustParseAddr("10.0.1.255")))
	assert.True(t, h.Hostile(netip.MustParseAddr("255.255.255.255")))
	assert.True(t, h.Hostile(netip.MustParseAddr("127.0.0.1")))
	assert.False(t, h.Hostile(netip.MustParseAddr("128.0.0.1")))
}

func FuzzParseSpamList(f *testing.F) {
	b, _ := os.ReadFile("testdata/spam.txt")
	f.Add(b)
	f.Add([]byte("NAME (a|b)*c\nSIZE 0-18446744073709551615\nADDED x\nEND\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, ld := ParseSpamList(bytes.NewReader(data))
		if ld.Entries != l.Len() || len(ld.Problems) > maxProblems {
			t.Fatalf("entries %d, list %d, problems %d", ld.Entries, l.Len(), len(ld.Problems))
		}
		l.SpamName(string(data), uint64(len(data)))
	})
}

func FuzzParseHostiles(f *testing.F) {
	b, _ := os.ReadFile("testdata/hostiles.txt")
	f.Add(b)
	f.Add([]byte("0.0.0.0/0\n::/0\n1.2.3.4/255.0.255.0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, ld := ParseHostiles(bytes.NewReader(data))
		if len(ld.Problems) > maxProblems || h.Len() > ld.Entries {
			t.Fatalf("len %d entries %d", h.Len(), ld.Entries)
		}
		for i := 1; i < len(h.v4); i++ {
			if h.v4[i].lo <= h.v4[i-1].hi {
				t.Fatalf("spans overlap: %v", h.v4)
			}
		}
		h.Hostile(netip.AddrFrom4([4]byte{1, 2, 3, 4}))
	})
}

func BenchmarkHostile(b *testing.B) {
	var sb strings.Builder
	for i := range 2000 {
		sb.WriteString(netip.AddrFrom4([4]byte{byte(i >> 3), byte(i * 7), 0, 0}).String() + "/16\n")
	}
	h, _ := ParseHostiles(strings.NewReader(sb.String()))
	a := netip.MustParseAddr("198.51.100.7")
	b.ReportAllocs()
	for b.Loop() {
		h.Hostile(a)
	}
}

func BenchmarkSpamName(b *testing.B) {
	l, _ := ParseSpamList(strings.NewReader("NAME ^.* setup\\.exe$\nADDED x\nEND\nNAME \\.(wmv|asf)$\nSIZE 100000-120000\nADDED x\nEND\n"))
	b.ReportAllocs()
	for b.Loop() {
		l.SpamName("madonna frozen live 1998 remastered.mp3", 4<<20)
	}
}
