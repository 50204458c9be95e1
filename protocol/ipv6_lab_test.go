package protocol_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// Replays of what gtk-gnutella 1.2.3 sent over IPv6 in the lab (a
// loopback-only namespace with fd00::1-9 on lo, 2026-12-05), each file one
// whole descriptor. "ipv6only" ran network_protocol = 6 (no IPv4 at all),
// "dualstack" network_protocol = 0. Links between two gtk-gnutellas run
// TLS: these are the decrypted bytes.

func ipv6Lab(t *testing.T, name string) (protocol.Header, []byte) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "ipv6-lab", name))
	require.NoError(t, err)
	h, err := protocol.ParseHeader(b)
	require.NoError(t, err)
	require.Equal(t, int(h.Length), len(b)-protocol.HeaderLen, name)
	return h, b[protocol.HeaderLen:]
}

func ggepIDs(g protocol.GGEP) []string {
	var ids []string
	for _, e := range g {
		ids = append(ids, e.ID)
	}
	return ids
}

// TestGTKGIPv6Pongs: without IPv4 the pong's IPv4 field is 127.0.0.0 and
// GGEP "6" comes first; on both families the IPv4 field is real and "6"
// comes after DU, before TLS. Re-encoded byte for byte.
func TestGTKGIPv6Pongs(t *testing.T) {
	for _, c := range []struct {
		file string
		addr string
		six  string
		ids  []string
	}{
		{"gtkg6-pong-ipv6only.bin", "[fd00::3]:6346", "fd00::3", []string{"6", "VC", "GUE", "UP", "DU", "TLS"}},
		{"gtkg6-pong-ipv6only-udp.bin", "[fd00::1]:6346", "fd00::1", nil},
		{"gtkg6-pong-dualstack.bin", "127.0.0.1:6346", "fd00::1", []string{"VC", "GUE", "UP", "DU", "6", "TLS"}},
	} {
		h, p := ipv6Lab(t, c.file)
		require.Equal(t, protocol.TypePong, h.Type)
		var pong protocol.Pong
		require.NoError(t, pong.Decode(p))
		require.Equal(t, netip.MustParseAddrPort(c.addr), pong.Addr(), c.file)
		require.Equal(t, netip.MustParseAddr(c.six), pong.GGEP.IPv6(), c.file)
		if c.ids != nil {
			require.Equal(t, c.ids, ggepIDs(pong.GGEP), c.file)
		}
		require.Equal(t, p, pong.Append(nil), c.file)
	}
}

// TestGTKGIPv6Hits: the hit of a servent without IPv4 says 127.0.0.0 and
// its address in the trailer's "6"; a dual-stack one its IPv4 address,
// and "6" all the same (its second address).
func TestGTKGIPv6Hits(t *testing.T) {
	for _, c := range []struct {
		file string
		addr string
		six  string
	}{
		{"gtkg6-qhit-ipv6only.bin", "[fd00::1]:6346", "fd00::1"},
		{"gtkg6-qhit-dualstack.bin", "127.0.0.1:6346", "fd00::1"},
	} {
		h, p := ipv6Lab(t, c.file)
		require.Equal(t, protocol.TypeQueryHit, h.Type)
		var hit protocol.QueryHit
		require.NoError(t, hit.Decode(p))
		require.Equal(t, netip.MustParseAddrPort(c.addr), hit.Addr(), c.file)
		require.Equal(t, netip.MustParseAddr(c.six), hit.IPv6(), c.file)
		require.True(t, hit.GGEP.Has("TLS"), c.file)
		require.NotEmpty(t, hit.Results)
	}
}

// TestGTKGIPv6Push: a push from a requester without IPv4 says 127.0.0.0,
// then GGEP TLS and "6"; a dual-stack requester its IPv4 and "6" beside
// it, where gtk-gnutella connects when it runs IPv6. Ours is written in
// the same order.
func TestGTKGIPv6Push(t *testing.T) {
	for _, c := range []struct {
		file string
		addr string
		six  string
	}{
		{"gtkg6-push-ipv6only.bin", "[fd00::2]:6346", "fd00::2"},
		{"gtkg6-push-dualstack.bin", "127.0.0.2:6346", "fd00::2"},
	} {
		h, p := ipv6Lab(t, c.file)
		require.Equal(t, protocol.TypePush, h.Type)
		var push protocol.Push
		require.NoError(t, push.Decode(p))
		require.Equal(t, netip.MustParseAddrPort(c.addr), push.Addr(), c.file)
		require.Equal(t, netip.MustParseAddr(c.six), push.IPv6(), c.file)
		require.Equal(t, []string{"TLS", "6"}, ggepIDs(push.GGEP), c.file)

		ours := protocol.Push{ServentGUID: push.ServentGUID, Index: push.Index, GGEP: protocol.GGEP{{ID: "TLS"}}}
		also := netip.Addr{}
		if push.IP != protocol.IPv4None {
			also = push.IPv6()
		}
		ours.SetAddr(push.Addr(), also)
		require.Equal(t, p, ours.Append(nil), "our push is gtk-gnutella's, byte for byte: %s", c.file)
	}
}

// TestGTKGIPv6Queries: "I6" 01 (IPv6 only) with "6" (its OOB address) and
// a MUID naming 127.0.0.0; on both families "I6" empty; an ultrapeer
// relays the query without "6" and without the OOB flag, "I6" kept.
func TestGTKGIPv6Queries(t *testing.T) {
	for _, c := range []struct {
		file string
		fam  protocol.HitFamilies
		six  string
	}{
		{"gtkg6-query-ipv6only.bin", protocol.HitsIPv6Only, "fd00::2"},
		{"gtkg6-query-ipv6only-forwarded.bin", protocol.HitsIPv6Only, ""},
		{"gtkg6-query-dualstack.bin", protocol.HitsIPv6Too, ""},
	} {
		h, p := ipv6Lab(t, c.file)
		var q protocol.Query
		require.NoError(t, q.Decode(p))
		require.Equal(t, c.fam, q.HitFamilies(), c.file)
		if c.six != "" {
			require.Equal(t, netip.MustParseAddr(c.six), q.GGEP.IPv6())
			require.Equal(t, protocol.IPv4None, protocol.OOBAddr(h.GUID).Addr(), "the MUID says no IPv4")
		} else {
			require.False(t, q.GGEP.IPv6().IsValid())
		}
	}
}
