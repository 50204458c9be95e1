package servent

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// TestBansExpire: bans of addresses that never come back are forgotten once
// expired; the ban list does not grow for the life of the node.
func TestBansExpire(t *testing.T) {
	n := startNode(t, ModeUltrapeer)
	past := n.cfg.Now().Add(-n.cfg.BanDuration)
	n.mu.Lock()
	for i := range 2 * maxBans {
		n.bans[netip.AddrFrom4([4]byte{10, 9, byte(i >> 8), byte(i)})] = past
	}
	n.mu.Unlock()
	p := connectRaw(t, n, true, "")
	hdr := protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeQuery, TTL: 2, Length: 0x10000}
	p.write(hdr.Append(nil))
	require.EqualValues(t, 400, p.expectByeThenEOF())
	n.mu.Lock()
	left := len(n.bans)
	_, banned := n.bans[netip.MustParseAddr(addrIP(p))]
	n.mu.Unlock()
	require.True(t, banned)
	require.LessOrEqual(t, left, maxBans)
}

func addrIP(p *rawPeer) string {
	return netip.MustParseAddrPort(p.conn.LocalAddr().String()).Addr().String()
}

// TestBanCoversIPv6Net: a ban holds an IPv4 address, but the whole /64 of
// an IPv6 one: a flooder there would otherwise come back from the next of
// its 2^64 addresses at once.
func TestBanCoversIPv6Net(t *testing.T) {
	n := startNode(t, ModeUltrapeer)
	until := n.cfg.Now().Add(time.Hour)
	n.mu.Lock()
	for _, a := range []string{"2001:db8:1:2::5", "192.0.2.7", "::ffff:198.51.100.9"} {
		n.bans[banKey(netip.MustParseAddr(a))] = until // as ban does
	}
	n.mu.Unlock()
	for a, want := range map[string]bool{
		"2001:db8:1:2::5": true, "2001:db8:1:2:ffff::9": true, "2001:db8:1:3::5": false,
		"192.0.2.7": true, "192.0.2.8": false, "198.51.100.9": true, "::ffff:192.0.2.7": true,
	} {
		require.Equal(t, want, n.banned(netip.MustParseAddr(a)), a)
	}
	_, code, _ := n.reserve(netip.MustParseAddr("2001:db8:1:2::77"), protocol.GUID{}, true, false)
	require.Equal(t, 403, code)
}
