package servent

import (
	"net/netip"
	"testing"

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
