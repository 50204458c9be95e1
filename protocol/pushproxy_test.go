package protocol

import (
	"net/netip"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestPushProxiesRoundTrip: the PUSH entries of GNUTELLA-TRANSFERS.md 25.1
// (IPv4 BE, port LE) survive a hit's encoding; bad entries are dropped.
func TestPushProxiesRoundTrip(t *testing.T) {
	want := []netip.AddrPort{netip.MustParseAddrPort("1.2.3.4:6346"), netip.MustParseAddrPort("5.6.7.8:6347")}
	hit := QueryHit{IP: netip.MustParseAddr("10.0.0.1"), Port: 6346, Push: true, Results: []Result{{Name: "a"}}}
	hit.SetPushProxies(append(want, netip.MustParseAddrPort("[::1]:1")), false)
	require.Equal(t, "PUSH", hit.GGEP[0].ID)
	assert.Equal(t, []byte{1, 2, 3, 4, 0xca, 0x18, 5, 6, 7, 8, 0xcb, 0x18}, hit.GGEP[0].Data)

	var got QueryHit
	require.NoError(t, got.Decode(hit.Append(nil)))
	assert.True(t, got.Push)
	assert.Equal(t, want, got.PushProxies())

	got.GGEP[0].Data = append(got.GGEP[0].Data, 0, 0, 0, 0, 0, 0) // port 0
	assert.Equal(t, want, got.PushProxies())
	got.GGEP[0].Data = got.GGEP[0].Data[:5]
	assert.Empty(t, got.PushProxies(), "not a multiple of 6")

	many := make([]netip.AddrPort, 12)
	for i := range many {
		many[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte{9, 9, 9, byte(i + 1)}), 6346)
	}
	hit.SetPushProxies(many, true)
	assert.Len(t, hit.PushProxies(), MaxPushProxies)
	hit.SetPushProxies(nil, true)
	assert.Empty(t, hit.GGEP)
}

// TestPushProxies6: IPv6 proxies go in PUSH6 (18 bytes each) to a
// querier that takes IPv6, and are read back after the IPv4 ones.
func TestPushProxies6(t *testing.T) {
	v4, v6 := netip.MustParseAddrPort("1.2.3.4:6346"), netip.MustParseAddrPort("[2606:4700::1]:6347")
	hit := QueryHit{IP: netip.MustParseAddr("10.0.0.1"), Port: 6346, Push: true, Results: []Result{{Name: "a"}}}
	hit.SetPushProxies([]netip.AddrPort{v6, v4}, true)
	require.Equal(t, []string{"PUSH", "PUSH6"}, []string{hit.GGEP[0].ID, hit.GGEP[1].ID})
	require.Len(t, hit.GGEP[1].Data, 18)
	var got QueryHit
	require.NoError(t, got.Decode(hit.Append(nil)))
	require.Equal(t, []netip.AddrPort{v4, v6}, got.PushProxies())
	hit.SetPushProxies([]netip.AddrPort{v6, v4}, false)
	require.Equal(t, []netip.AddrPort{v4}, hit.PushProxies(), "no PUSH6 to a querier without IPv6")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func FuzzPushProxies(f *testing.F) {
	f.Add([]byte{1, 2, 3, 4, 0xca, 0x18})
	f.Add([]byte{1, 2, 3, 4, 0xca})
	f.Add(make([]byte, 6*20))
	f.Add(make([]byte, 18*3)) // PUSH6 entries
	f.Fuzz(func(t *testing.T, data []byte) {
		hit := QueryHit{GGEP: GGEP{{ID: "PUSH", Data: data}, {ID: "PUSH6", Data: data}}}
		got := hit.PushProxies()
		require.LessOrEqual(t, len(got), MaxPushProxies)
		var again QueryHit
		again.SetPushProxies(got, true)
		want := slices.SortedFunc(slices.Values(got), func(a, b netip.AddrPort) int { return b2i(a.Addr().Is6()) - b2i(b.Addr().Is6()) })
		require.Equal(t, want, again.PushProxies(), "IPv4 ones first (PUSH), then PUSH6")
	})
}
