package routing

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func hdr(ttl, hops uint8) protocol.Header {
	return protocol.Header{Type: protocol.TypeQuery, TTL: ttl, Hops: hops}
}

func TestCheck(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ttl, hops uint8
		want      error
	}{
		{"fresh query", 4, 0, nil},
		{"last hop", 1, 3, nil},
		{"at the hard limit", 10, 5, nil},
		{"15 and 0", 15, 0, nil},
		{"over the hard limit", 10, 6, ErrHardLimit},
		{"ttl 16", 16, 0, ErrHardLimit},
		{"ttl 255", 255, 0, ErrHardLimit},
		{"ttl 0", 0, 3, ErrTTLZero},
		{"ttl 0 hops 0", 0, 0, ErrTTLZero},
		{"hops 255", 1, 255, ErrHops},
		{"hops 255 ttl 0", 0, 255, ErrHops},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(hdr(tc.ttl, tc.hops))
			if tc.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestStatsCountCheck(t *testing.T) {
	var s Stats
	for _, h := range []protocol.Header{hdr(0, 1), hdr(0, 2), hdr(1, 255), hdr(9, 9), hdr(4, 0)} {
		s.CountCheck(Check(h))
	}
	require.Equal(t, Counters{TTLDrops: 2, HopsDrops: 1, HardLimit: 1}, s.Snapshot())
}

func TestForwardTTL(t *testing.T) {
	for _, tc := range []struct {
		name             string
		ttl, hops        uint8
		maxTTL, peerMax  uint8
		wantTTL, wantHop uint8
		wantOK           bool
	}{
		// 3.4 rule 3: hops+1, TTL-1, forward only if the received TTL >= 2.
		{"origin ttl 4", 4, 0, 4, 0, 3, 1, true},
		{"ttl 2 becomes last hop", 2, 2, 4, 0, 1, 3, true},
		{"ttl 1 is not forwarded", 1, 3, 4, 0, 0, 4, false},
		// Rule 4 trim: hops+TTL > max_ttl -> TTL = max(max_ttl-hops, 1).
		{"ttl 7 from origin trimmed to 4", 7, 0, 4, 0, 3, 1, true},
		{"hops 2 ttl 5 trimmed to 2", 5, 2, 4, 0, 1, 3, true},
		{"trim gives 1: not forwarded", 3, 4, 4, 0, 0, 5, false},
		{"trim beyond horizon: not forwarded", 9, 6, 4, 0, 0, 7, false},
		{"max_ttl 5 keeps ttl 5", 5, 0, 5, 0, 4, 1, true},
		{"max_ttl 0 is the default 4", 7, 1, 0, 0, 2, 2, true},
		// X-Max-TTL of the receiving peer caps the TTL.
		{"peer max 2", 4, 0, 4, 2, 2, 1, true},
		{"peer max above", 4, 0, 4, 9, 3, 1, true},
		{"ttl 0 never", 0, 0, 4, 0, 0, 1, false},
		{"hops 254", 1, 254, 4, 0, 0, 255, false},
		{"hops 255", 1, 255, 4, 0, 0, 255, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ttl, hops uint8
			var ok bool
			if tc.peerMax != 0 {
				ttl, hops, ok = ForwardTTL(hdr(tc.ttl, tc.hops), tc.maxTTL, tc.peerMax)
			} else {
				ttl, hops, ok = ForwardTTL(hdr(tc.ttl, tc.hops), tc.maxTTL)
			}
			require.Equal(t, tc.wantOK, ok)
			require.Equal(t, tc.wantTTL, ttl)
			require.Equal(t, tc.wantHop, hops)
		})
	}
}

func TestRelayTTL(t *testing.T) {
	ttl, hops, ok := RelayTTL(hdr(6, 0))
	require.True(t, ok)
	require.Equal(t, uint8(5), ttl)
	require.Equal(t, uint8(1), hops)
	ttl, hops, ok = RelayTTL(hdr(1, 4))
	require.False(t, ok, "a reply arriving with TTL 1 dies here")
	require.Equal(t, uint8(0), ttl)
	require.Equal(t, uint8(5), hops)
	_, hops, ok = RelayTTL(hdr(3, 254))
	require.False(t, ok)
	require.Equal(t, uint8(255), hops)
	ttl, hops, ok = RelayTTL(hdr(12, 3)) // no trim for replies
	require.True(t, ok)
	require.Equal(t, uint8(11), ttl)
	require.Equal(t, uint8(4), hops)
}

func TestReplyTTLs(t *testing.T) {
	// Pong: min(ping_hops + 1, max_ttl).
	require.Equal(t, uint8(1), PongTTL(0, 4))
	require.Equal(t, uint8(3), PongTTL(2, 4))
	require.Equal(t, uint8(4), PongTTL(7, 4))
	require.Equal(t, uint8(4), PongTTL(3, 0))
	require.Equal(t, uint8(4), PongTTL(255, 4))
	// QueryHit: min(query_hops + 1 + 5, 15).
	require.Equal(t, uint8(6), HitTTL(0))
	require.Equal(t, uint8(9), HitTTL(3))
	require.Equal(t, uint8(15), HitTTL(9))
	require.Equal(t, uint8(15), HitTTL(14))
	require.Equal(t, uint8(15), HitTTL(255))
	// Push: max_ttl, or enough to reach the responder.
	require.Equal(t, uint8(4), PushTTL(0, 4))
	require.Equal(t, uint8(4), PushTTL(2, 0))
	require.Equal(t, uint8(6), PushTTL(5, 4))
	require.Equal(t, uint8(15), PushTTL(200, 4))
	// A reply keeps TTL+hops constant on the way and passes Check.
	h := protocol.Header{TTL: HitTTL(9)}
	for h.TTL > 1 {
		require.NoError(t, Check(h))
		var ok bool
		h.TTL, h.Hops, ok = RelayTTL(h)
		require.True(t, ok)
	}
}
