package servent

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/servent/servent/servent/gnet"
	"github.com/stretchr/testify/require"
)

// TestHostCacheLoadBounds: load skips what it cannot use and stops at a
// size no saved cache reaches, keeping what it read.
func TestHostCacheLoadBounds(t *testing.T) {
	good := "192.0.2.7:6346 1 1700000000 0\n"
	for _, c := range []struct {
		name, content, err string
	}{
		{"long line skipped", "# servent host cache\n" + strings.Repeat("x", 70<<10) + "\n" + good, ""},
		{"huge file cut", good + strings.Repeat("# junk junk junk junk junk junk\n", (2<<20)/32), "larger than"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, hostFile), []byte(c.content), 0o600))
			hc := newHostCache(time.Now)
			err := hc.load(dir)
			if c.err == "" {
				require.NoError(t, err)
			} else {
				require.ErrorContains(t, err, c.err)
			}
			require.Equal(t, 1, hc.len())
			require.Equal(t, netip.MustParseAddrPort("192.0.2.7:6346"), hc.list()[0].Addr)
		})
	}
}

// FuzzHostCache reads hosts.txt content: every host kept is one the cache
// would take from the network, the cache stays within its size, and what
// is saved reads back to the same hosts.
func FuzzHostCache(f *testing.F) {
	saved := newHostCache(func() time.Time { return time.Unix(1764806400, 0) })
	saved.add(netip.MustParseAddrPort("192.0.2.7:6346"), true)
	saved.add(netip.MustParseAddrPort("198.51.100.20:36412"), false)
	saved.failed(netip.MustParseAddrPort("198.51.100.20:36412"))
	f.Add(saved.encode())
	f.Add([]byte("# servent host cache: addr ultrapeer last-seen-unix failures\n" +
		"203.0.113.5:6346 1 1764806400 3\n203.0.113.5:6346 0 1 0\n" + // a repeat: the last line wins
		"[2001:db8::1]:6346 1 1764806400 0\n0.0.0.0:6346 1 0 0\n224.0.0.1:6346 0 0 0\n" +
		"192.0.2.9:0 1 0 0\n192.0.2.10:6346 1 -9223372036854775808 99\n192.0.2.11:6346 1 5 -1\n" +
		"\t192.0.2.12:6346  2 0 1 \r\n192.0.2.13:6346 1 0\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hc := newHostCache(time.Now)
		hc.ipv6 = len(data)%2 == 0 // both ways
		if err := hc.read(bytes.NewReader(data)); err != nil {
			require.Greater(t, len(data), maxHostFile, "only a size cap is an error: %v", err)
		}
		got := hc.list()
		require.LessOrEqual(t, len(got), hostCacheMax)
		for _, h := range got {
			require.True(t, gnet.UsableHost(h.Addr, hc.ipv6), "%v", h.Addr)
			require.True(t, h.Failures >= 0 && h.Failures <= 20, "failures %d", h.Failures)
		}

		again := newHostCache(time.Now)
		again.ipv6 = hc.ipv6
		require.NoError(t, again.read(bytes.NewReader(hc.encode())))
		byAddr := func(a, b HostInfo) int { return a.Addr.Compare(b.Addr) }
		want, have := slices.SortedFunc(slices.Values(got), byAddr), slices.SortedFunc(slices.Values(again.list()), byAddr)
		require.Equal(t, len(want), len(have))
		for i := range want {
			require.Equal(t, want[i].Addr, have[i].Addr)
			require.Equal(t, want[i].Ultrapeer, have[i].Ultrapeer)
			require.Equal(t, want[i].Failures, have[i].Failures)
			require.True(t, want[i].LastSeen.Equal(have[i].LastSeen), "%v %v", want[i].LastSeen, have[i].LastSeen)
		}
	})
}
