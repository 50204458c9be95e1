package admit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestGroup(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.77", "192.0.2.0/24"},
		{"192.0.3.1", "192.0.3.0/24"},
		{"::ffff:192.0.2.9", "192.0.2.0/24"}, // mapped: unmapped first
		{"::192.0.2.9", "192.0.2.0/24"},      // IPv4-compatible, as gtk-gnutella
		{"2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"::1", "::/64"}, // ::0.0.0.1 is not IPv4-compatible (first byte 0)
	} {
		assert.Equal(t, tc.want, Group(ip(tc.in)).String(), tc.in)
	}
	assert.Equal(t, netip.Prefix{}, Group(netip.Addr{}))
}

func TestNetCap(t *testing.T) {
	tb := New[int](100, 2)
	for i, a := range []string{"10.0.0.1", "10.0.0.200"} {
		d, _, _ := tb.Admit(ip(a), t0, i)
		require.Equal(t, Accept, d)
	}
	d, _, _ := tb.Admit(ip("10.0.0.3"), t0, 3) // another host, same /24
	require.Equal(t, RefuseNet, d)
	d, _, _ = tb.Admit(ip("::ffff:10.0.0.4"), t0, 4)
	require.Equal(t, RefuseNet, d)
	d, _, _ = tb.Admit(ip("10.0.1.1"), t0, 5)
	require.Equal(t, Accept, d)
	// One IPv6 host owns its /64.
	for i := range 2 {
		d, _, _ = tb.Admit(netip.AddrFrom16([16]byte{0x20, 0x01, 0xd, 0xb8, 15: byte(i)}), t0, i)
		require.Equal(t, Accept, d)
	}
	d, _, _ = tb.Admit(ip("2001:db8::9999"), t0, 9)
	require.Equal(t, RefuseNet, d)
	require.Equal(t, Stats{Admitted: 5, RefusedNetCap: 3}, tb.Stats())
}

func TestEvictOldestPending(t *testing.T) {
	tb := New[string](3, 10)
	_, a, _ := tb.Admit(ip("10.0.0.1"), t0, "a")
	_, b, _ := tb.Admit(ip("10.0.1.1"), t0.Add(time.Second), "b")
	_, _, _ = tb.Admit(ip("10.0.2.1"), t0.Add(2*time.Second), "c")
	require.True(t, tb.MarkEstablished(a)) // a is a connection now

	d, dID, victim := tb.Admit(ip("10.0.3.1"), t0.Add(3*time.Second), "d")
	require.Equal(t, Evict, d)
	require.Equal(t, "b", victim, "the oldest half-open socket, not the established one")
	require.False(t, tb.MarkEstablished(b), "an evicted socket cannot establish")
	tb.Release(b) // its goroutine releases later: no-op
	require.Equal(t, 3, tb.Len())

	d, _, victim = tb.Admit(ip("10.0.4.1"), t0.Add(4*time.Second), "e")
	require.Equal(t, Evict, d)
	require.Equal(t, "c", victim)
	since, ok := tb.OldestPending()
	require.True(t, ok)
	require.Equal(t, t0.Add(3*time.Second), since)

	require.True(t, tb.MarkEstablished(dID))
	require.True(t, tb.MarkEstablished(dID)) // twice is harmless
	_, eID, _ := tb.Admit(ip("10.0.5.1"), t0, "f")
	require.NotZero(t, eID)
	// Now a, d and f... f evicted e; mark f established: all established.
	require.True(t, tb.MarkEstablished(eID))
	require.Equal(t, 0, tb.Pending())
	d, _, _ = tb.Admit(ip("10.0.6.1"), t0, "g")
	require.Equal(t, RefuseFull, d)

	tb.Release(a)
	d, _, _ = tb.Admit(ip("10.0.6.1"), t0, "g")
	require.Equal(t, Accept, d)
	require.Equal(t, Stats{Admitted: 7, Evicted: 3, RefusedFull: 1}, tb.Stats())
}

func TestReleaseFreesGroup(t *testing.T) {
	tb := New[int](10, 1)
	_, id, _ := tb.Admit(ip("192.0.2.1"), t0, 1)
	d, _, _ := tb.Admit(ip("192.0.2.2"), t0, 2)
	require.Equal(t, RefuseNet, d)
	tb.Release(id)
	tb.Release(id)
	require.Equal(t, 0, tb.InGroup(ip("192.0.2.9")))
	d, _, _ = tb.Admit(ip("192.0.2.2"), t0, 2)
	require.Equal(t, Accept, d)
}

// FuzzTable drives a small table with arbitrary operations and checks
// its invariants after each one.
func FuzzTable(f *testing.F) {
	f.Add([]byte{0, 1, 0, 2, 0, 3, 1, 0, 2, 1, 0, 4, 0, 5, 0, 6})
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 2, 1, 0, 0})
	f.Add([]byte{0, 200, 1, 200, 0, 201, 0, 13, 1, 1, 2, 2, 0, 9})
	f.Fuzz(func(t *testing.T, ops []byte) {
		tb := New[int](5, 2)
		var ids []ID
		live := map[ID]bool{}
		values := map[ID]int{}
		for i := 0; i+1 < len(ops); i += 2 {
			op, arg := ops[i]%3, ops[i+1]
			switch op {
			case 0: // admit from one of few groups, v4 or v6
				var a netip.Addr
				if arg&0x80 != 0 {
					a = netip.AddrFrom16([16]byte{0x20, 0x01, 7: arg & 3, 15: arg})
				} else {
					a = netip.AddrFrom4([4]byte{10, 0, arg & 3, arg})
				}
				before := tb.InGroup(a)
				d, id, victim := tb.Admit(a, t0.Add(time.Duration(i)), i)
				switch d {
				case Accept, Evict:
					require.NotZero(t, id)
					ids = append(ids, id)
					live[id] = true
					values[id] = i
					if d == Evict {
						gone := 0
						for vid := range live {
							if _, ok := tb.entries[vid]; !ok {
								require.Equal(t, values[vid], victim)
								delete(live, vid)
								gone++
							}
						}
						require.Equal(t, 1, gone, "an eviction removes one socket")
					}
				case RefuseNet:
					require.GreaterOrEqual(t, before, 2)
				case RefuseFull:
					require.Zero(t, tb.Pending())
				}
			case 1:
				if len(ids) > 0 {
					id := ids[int(arg)%len(ids)]
					require.Equal(t, live[id], tb.MarkEstablished(id))
				}
			case 2:
				if len(ids) > 0 {
					id := ids[int(arg)%len(ids)]
					tb.Release(id)
					delete(live, id)
				}
			}
			checkInvariants(t, tb, len(live))
		}
	})
}

func checkInvariants(t *testing.T, tb *Table[int], live int) {
	require.LessOrEqual(t, tb.Len(), 5)
	require.Equal(t, live, tb.Len())
	groups := map[netip.Prefix]int{}
	established := 0
	for _, e := range tb.entries {
		groups[e.group]++
		if e.established {
			established++
		}
	}
	for g, n := range groups {
		require.LessOrEqual(t, n, 2)
		require.Equal(t, n, tb.groups[g])
	}
	require.Len(t, tb.groups, len(groups))
	n := 0
	var prev *entry[int]
	for e := tb.head; e != nil; e = e.next {
		require.False(t, e.established)
		require.Same(t, prev, e.prev)
		prev = e
		n++
	}
	require.Same(t, prev, tb.tail)
	require.Equal(t, n, tb.Pending())
	require.Equal(t, tb.Len()-established, n)
}

func BenchmarkAdmitRelease(b *testing.B) {
	tb := New[int](128, 4)
	var ids [128]ID
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
		if ids[i%128] != 0 {
			tb.Release(ids[i%128])
		}
		_, ids[i%128], _ = tb.Admit(a, t0, i)
		i++
	}
}
