package flood

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestBurstThenFlood(t *testing.T) {
	m := NewMeter(ForLeaf())
	burst := ForLeaf()[Ping].Burst
	for i := range burst {
		require.True(t, m.Allow(Ping, t0), "ping %d of the burst", i)
	}
	require.False(t, m.Allow(Ping, t0), "one more at the same instant floods")
	// Other kinds have their own budget.
	require.True(t, m.Allow(Query, t0))
	require.True(t, m.Allow(Pong, t0))
}

func TestSustainedRateIsNotAFlood(t *testing.T) {
	m := NewMeter(ForLeaf())
	b := ForLeaf()[Ping]
	now := t0
	for range 10 * b.Burst { // at the sustained rate, for ever
		require.True(t, m.Allow(Ping, now))
		now = now.Add(b.Every)
	}
	// Faster than the rate: the burst absorbs it, then it floods.
	n := 0
	for m.Allow(Ping, now) {
		now = now.Add(b.Every / 2)
		n++
		require.Less(t, n, 10*b.Burst)
	}
	require.GreaterOrEqual(t, n, b.Burst)
}

// TestRealClientsAreNotFloods replays what real servents send for a day:
// a LimeWire ultrapeer pings every connection every 3 s (Pinger.java) and
// adds its keep-alive pings; a gtk-gnutella leaf pushes to each of its
// max_downloads (100) servers once per DOWNLOAD_PUSH_FREQ (30 s); a
// GnutellaBun ultrapeer relays our discovery pings. Arrivals
// jitter by up to half a second. None of it may be called a flood.
func TestRealClientsAreNotFloods(t *testing.T) {
	type sender struct {
		name  string
		b     *Budgets
		k     Kind
		every time.Duration
		burst int // messages at each tick
	}
	for _, s := range []sender{
		{"LimeWire ultrapeer's Pinger", ForUltrapeer(), Ping, 3 * time.Second, 1},
		{"LimeWire ultrapeer's Pinger to its leaf", ForLeaf(), Ping, 3 * time.Second, 1},
		{"gtk-gnutella leaf's pushes", ForLeaf(), Push, 30 * time.Second, 100},
		{"gtk-gnutella leaf's queries", ForLeaf(), Query, 10 * time.Second, 1},
		// Our TTL-4 discovery ping every 30 s through a GnutellaBun
		// ultrapeer, which relays it: 10 pongs from each of 30 hosts.
		{"pongs relayed by GnutellaBun", ForUltrapeer(), Pong, 30 * time.Second, 300},
	} {
		t.Run(s.name, func(t *testing.T) {
			m := NewMeter(s.b)
			keepAlive := t0
			jitter := uint64(12345)
			for at := t0; at.Before(t0.Add(24 * time.Hour)); at = at.Add(s.every) {
				jitter = jitter*6364136223846793005 + 1442695040888963407
				now := at.Add(time.Duration(jitter>>33%1000)*time.Millisecond - 500*time.Millisecond)
				for i := range s.burst {
					require.True(t, m.Allow(s.k, now), "message %d at %v", i, now.Sub(t0))
				}
				if s.k == Ping && now.Sub(keepAlive) >= 10*time.Second {
					keepAlive = now // an extra keep-alive ping
					require.True(t, m.Allow(s.k, now), "keep-alive at %v", now.Sub(t0))
				}
			}
		})
	}
}

func TestIdleRefills(t *testing.T) {
	m := NewMeter(ForUltrapeer())
	b := ForUltrapeer()[Ping]
	for range b.Burst {
		require.True(t, m.Allow(Ping, t0))
	}
	require.False(t, m.Allow(Ping, t0))
	later := t0.Add(time.Duration(b.Burst) * b.Every)
	for range b.Burst {
		require.True(t, m.Allow(Ping, later))
	}
	require.False(t, m.Allow(Ping, later))
}

func TestUnlimitedAndZero(t *testing.T) {
	for _, m := range []Meter{NewMeter(Unlimited()), {}} {
		for range 100000 {
			require.True(t, m.Allow(Ping, t0))
		}
	}
}

func TestKindOf(t *testing.T) {
	require.Equal(t, Ping, KindOf(protocol.TypePing))
	require.Equal(t, Pong, KindOf(protocol.TypePong))
	require.Equal(t, Query, KindOf(protocol.TypeQuery))
	require.Equal(t, QueryHit, KindOf(protocol.TypeQueryHit))
	require.Equal(t, Push, KindOf(protocol.TypePush))
	for _, ty := range []protocol.PayloadType{protocol.TypeBye, protocol.TypeQRP, protocol.TypeVendor, protocol.TypeStdVendor, 0x99} {
		require.Equal(t, Other, KindOf(ty))
	}
	require.Equal(t, "query hit", QueryHit.String())
}

// A clock that goes backwards (a test's fake Now, a stepped wall clock)
// neither panics nor grants more than a burst.
func TestClockBackwards(t *testing.T) {
	m := NewMeter(ForLeaf())
	b := ForLeaf()[Ping]
	allowed := 0
	for i := range 10 * b.Burst {
		if m.Allow(Ping, t0.Add(-time.Duration(i)*time.Second)) {
			allowed++
		}
	}
	require.LessOrEqual(t, allowed, b.Burst)
}

// BenchmarkAllow is the per-message cost of the flood check.
func BenchmarkAllow(b *testing.B) {
	m := NewMeter(ForUltrapeer())
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		if !m.Allow(Query, now) {
			b.Fatal("flood at 1000/s")
		}
	}
}

// FuzzMeter: whatever the arrival pattern (time moving forward), a meter
// never lets through more of a kind than its burst plus its rate allows.
func FuzzMeter(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 255, 0, 0})
	f.Add([]byte{2, 255, 2, 255, 2, 0, 2, 0, 2, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		m := NewMeter(ForLeaf())
		now := t0
		var allowed [numKinds]int
		for i := 0; i+1 < len(ops); i += 2 {
			k := Kind(ops[i] % byte(numKinds))
			now = now.Add(time.Duration(ops[i+1]) * 50 * time.Millisecond)
			if m.Allow(k, now) {
				allowed[k]++
			}
		}
		elapsed := now.Sub(t0)
		for k := range numKinds {
			b := ForLeaf()[k]
			require.LessOrEqual(t, allowed[k], b.Burst+int(elapsed/b.Every)+1, "kind %v", k)
		}
	})
}
