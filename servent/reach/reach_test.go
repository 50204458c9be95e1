package reach

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)

func TestFactsExpire(t *testing.T) {
	var f Facts
	from := netip.MustParseAddrPort("10.0.0.1:6346")
	require.False(t, f.Reachable(TCP, t0))
	f.Prove(TCP, from, SourceConnectBack, t0)
	require.True(t, f.Reachable(TCP, t0.Add(TCPWindow-time.Second)))
	require.False(t, f.Reachable(TCP, t0.Add(TCPWindow)))
	require.Equal(t, Proof{At: t0, From: from, Source: SourceConnectBack}, f.Last(TCP))
	require.False(t, f.Reachable(UDPSolicited, t0))
}

func TestUnsolicitedImpliesSolicited(t *testing.T) {
	var f Facts
	from := netip.MustParseAddrPort("10.0.0.2:6346")
	f.Prove(UDPSolicited, from, SourceConnectBack, t0)
	require.False(t, f.Reachable(UDPUnsolicited, t0))
	f.Prove(UDPUnsolicited, from, SourceInbound, t0)
	require.True(t, f.Reachable(UDPSolicited, t0))
	require.True(t, f.Reachable(UDPUnsolicited, t0))
}

func TestAnswerPerIPAndGlobal(t *testing.T) {
	var l Limiter
	a := netip.MustParseAddr("10.0.0.1")
	require.True(t, l.Answer(TCP, a, t0))
	require.False(t, l.Answer(TCP, a, t0.Add(time.Minute)), "same IP within AnswerPerIP")
	require.False(t, l.Answer(TCP, netip.MustParseAddr("::ffff:10.0.0.1"), t0.Add(time.Minute)), "mapped form is the same IP")
	require.True(t, l.Answer(UDPSolicited, a, t0.Add(time.Minute)), "kinds are limited apart")
	require.True(t, l.Answer(TCP, a, t0.Add(AnswerPerIP)))

	// Global: a burst of distinct IPs is cut at AnswerBurst.
	var g Limiter
	n := 0
	for i := range 100 {
		if g.Answer(TCP, netip.AddrFrom4([4]byte{10, 1, byte(i), 1}), t0) {
			n++
		}
	}
	require.Equal(t, AnswerBurst, n)
	require.True(t, g.Answer(TCP, netip.MustParseAddr("10.2.0.1"), t0.Add(AnswerEvery)))
}

func TestAnswerMemoryBounded(t *testing.T) {
	var l Limiter
	now := t0
	for i := range 5 * maxTrackedIPs {
		now = now.Add(AnswerEvery) // refill: only the table limits
		l.Answer(TCP, netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), now)
		require.LessOrEqual(t, len(l.answered), maxTrackedIPs)
	}
}

func TestAskAgain(t *testing.T) {
	var l Limiter
	var f Facts
	require.True(t, l.Ask(TCP, &f, t0))
	require.False(t, l.Ask(TCP, &f, t0.Add(time.Minute)))
	require.True(t, l.Ask(UDPSolicited, &f, t0), "kinds are asked apart")
	require.True(t, l.Ask(TCP, &f, t0.Add(AskAgain)))
	f.Prove(TCP, netip.MustParseAddrPort("10.0.0.1:1"), SourceConnectBack, t0.Add(AskAgain))
	require.False(t, l.Ask(TCP, &f, t0.Add(2*AskAgain)), "proven: no need to ask")
}

func TestOutgoingUnsolicited(t *testing.T) {
	var o Outgoing
	a := netip.MustParseAddr("10.0.0.1")
	require.True(t, o.Unsolicited(a, t0))
	o.Sent(a, t0)
	require.False(t, o.Unsolicited(netip.MustParseAddr("::ffff:10.0.0.1"), t0.Add(time.Minute)))
	require.True(t, o.Unsolicited(a, t0.Add(UDPWindow)))
	require.True(t, o.Unsolicited(netip.MustParseAddr("10.0.0.2"), t0))
	for i := range 3 * maxOutgoing {
		o.Sent(netip.AddrFrom4([4]byte{11, byte(i >> 16), byte(i >> 8), byte(i)}), t0)
		require.LessOrEqual(t, len(o.sent), maxOutgoing)
	}
}
