package uhc

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/servent/servent/internal/netscope"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 12, 5, 2, 0, 0, 0, time.UTC)

func ap(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }

func TestLimiterOnePerIPPerWindow(t *testing.T) {
	l := NewLimiter(PingWindow, 0)
	a := netip.MustParseAddr("203.0.113.7")
	require.True(t, l.Allow(a, t0), "first ping answered")
	require.False(t, l.Allow(a, t0.Add(time.Second)), "second ping from the same IP (any port) within the window")
	require.False(t, l.Allow(netip.MustParseAddr("::ffff:203.0.113.7"), t0.Add(59*time.Second)), "the mapped form is the same IP")
	require.True(t, l.Allow(netip.MustParseAddr("203.0.113.8"), t0.Add(time.Second)), "another IP is answered")
	require.True(t, l.Allow(a, t0.Add(PingWindow)), "answered again once the window has passed")

	v6 := netip.MustParseAddr("2001:db8:1:2::1")
	require.True(t, l.Allow(v6, t0))
	require.False(t, l.Allow(netip.MustParseAddr("2001:db8:1:2::99"), t0.Add(time.Second)), "an IPv6 /64 counts as one source")
	require.True(t, l.Allow(netip.MustParseAddr("2001:db8:1:3::1"), t0.Add(time.Second)))
}

// A spoofed flood of sources fills the limiter; then new sources get no
// answer until the window frees room, and memory stays bounded.
func TestLimiterBoundedUnderFlood(t *testing.T) {
	const max = 100
	l := NewLimiter(PingWindow, max)
	answered := 0
	for i := range 10 * max {
		ip := netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)})
		if l.Allow(ip, t0.Add(time.Duration(i)*time.Millisecond)) {
			answered++
		}
	}
	require.Equal(t, max, answered, "no more answers than addresses remembered per window")
	require.Equal(t, max, l.Len())
	later := t0.Add(PingWindow + 10*time.Second)
	require.True(t, l.Allow(netip.MustParseAddr("192.0.2.1"), later), "room again once the window passed")
	require.Equal(t, 1, l.Len(), "expired sources forgotten")
	require.LessOrEqual(t, cap(l.queue), 4*max, "the queue does not grow without bound")
}

func TestPick(t *testing.T) {
	req := ap("203.0.113.50:40000")
	self := ap("203.0.113.1:6346")
	cached := []netip.AddrPort{
		ap("198.51.100.1:6346"), // reserved (TEST-NET-2): never listed
		ap("8.8.4.1:6346"),
		self,
		ap("203.0.113.50:6346"), // the requester's IP on its Gnet port
		ap("10.0.0.1:6346"),     // private, requester is global
		ap("8.8.4.2:7000"),
		ap("8.8.4.1:6346"), // twice
		ap("[::ffff:8.8.4.3]:7001"),
	}
	got := Pick(PickInput{Cached: cached, Requester: req, Self: []netip.AddrPort{self}})
	require.Equal(t, []netip.AddrPort{ap("8.8.4.1:6346"), ap("8.8.4.2:7000"), ap("8.8.4.3:7001")}, got)

	require.Empty(t, Pick(PickInput{Requester: req}), "nothing known: no hosts (the answer has no IPP)")
}

// As gtk-gnutella's node_fill_ultra: a full list gives its last places to
// up to 8 connected ultrapeers not already in it.
func TestPickNeighboursTakeTheTail(t *testing.T) {
	req := ap("127.0.0.9:5555")
	var cached, neighbours []netip.AddrPort
	for i := range 40 {
		cached = append(cached, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 1, byte(i)}), 7000))
	}
	for i := range 10 {
		neighbours = append(neighbours, netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 0, 2, byte(i)}), 7000))
	}
	neighbours = append([]netip.AddrPort{cached[0]}, neighbours...) // already listed: not twice
	got := Pick(PickInput{Cached: cached, Neighbours: neighbours, Requester: req})
	require.Len(t, got, MaxHosts)
	require.Equal(t, cached[:MaxHosts-MaxNeighbours], got[:MaxHosts-MaxNeighbours])
	require.Equal(t, neighbours[1:1+MaxNeighbours], got[MaxHosts-MaxNeighbours:])

	few := Pick(PickInput{Cached: cached[:3], Neighbours: neighbours[1:3], Requester: req, Max: 10})
	require.Equal(t, append(append([]netip.AddrPort{}, cached[:3]...), neighbours[1:3]...), few, "free places are filled, nothing replaced")
}

func BenchmarkPick(b *testing.B) {
	var cached []netip.AddrPort
	for i := range 100 {
		cached = append(cached, ap(fmt.Sprintf("8.8.%d.%d:6346", i/200, i%200+1)))
	}
	req := ap("203.0.113.50:40000")
	b.ReportAllocs()
	for b.Loop() {
		_ = Pick(PickInput{Cached: cached, Requester: req})
	}
}

// FuzzPick: whatever the inputs, the pick holds its promises.
func FuzzPick(f *testing.F) {
	f.Add([]byte{127, 0, 0, 1, 0x1b, 0x5b, 8, 8, 8, 8, 0xca, 0x18}, []byte{127, 0, 0, 1, 0, 80}, uint8(3))
	f.Add([]byte{10, 0, 0, 1, 1, 1, 203, 0, 113, 9, 1, 1}, []byte{203, 0, 113, 9, 9, 9}, uint8(0))
	f.Fuzz(func(t *testing.T, hosts, req []byte, split uint8) {
		list := ippOf(hosts)
		if len(req) < 6 {
			return
		}
		requester := ippOf(req[:6])[0]
		k := min(int(split), len(list))
		self := netip.AddrPortFrom(netip.AddrFrom4([4]byte{8, 8, 8, 8}), 6346)
		got := Pick(PickInput{Cached: list[:k], Neighbours: list[k:], Requester: requester, Self: []netip.AddrPort{self}, Max: int(split % 40)})
		limit := int(split % 40)
		if limit == 0 {
			limit = MaxHosts
		}
		require.LessOrEqual(t, len(got), limit)
		seen := map[netip.AddrPort]bool{}
		for _, h := range got {
			require.True(t, netscope.Listable(h, requester.Addr()), "%v to %v", h, requester)
			require.NotEqual(t, requester.Addr(), h.Addr())
			require.NotEqual(t, self, h)
			require.False(t, seen[h], "twice: %v", h)
			seen[h] = true
		}
	})
}

// ippOf reads 6-byte IPv4+port entries.
func ippOf(b []byte) []netip.AddrPort {
	var out []netip.AddrPort
	for ; len(b) >= 6; b = b[6:] {
		out = append(out, netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), uint16(b[4])<<8|uint16(b[5])))
	}
	return out
}
