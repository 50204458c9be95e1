package routing

import (
	"encoding/binary"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func guidN(n uint64) protocol.GUID {
	var g protocol.GUID
	binary.BigEndian.PutUint64(g[:8], n)
	g[8] = 0xff
	return g
}

func TestTableDedup(t *testing.T) {
	clk := newFakeClock()
	tb := NewTable(100, 10*time.Minute, clk.Now)
	g := guidN(1)

	require.False(t, tb.Add(g, protocol.TypeQuery, 7))
	require.True(t, tb.Add(g, protocol.TypeQuery, 8), "same MUID and type is a duplicate")
	require.False(t, tb.Add(g, protocol.TypePing, 9), "the type is part of the key")

	conn, ok := tb.Lookup(g, protocol.TypeQuery)
	require.True(t, ok)
	require.Equal(t, ConnID(7), conn, "the first copy's route is kept")
	conn, ok = tb.Lookup(g, protocol.TypePing)
	require.True(t, ok)
	require.Equal(t, ConnID(9), conn)

	_, ok = tb.Lookup(guidN(2), protocol.TypeQuery)
	require.False(t, ok)

	require.False(t, tb.Add(guidN(3), protocol.TypeQuery, Local))
	conn, ok = tb.Lookup(guidN(3), protocol.TypeQuery)
	require.True(t, ok)
	require.Equal(t, Local, conn)

	require.Equal(t, Counters{Duplicates: 1, Unroutable: 1}, tb.Stats().Snapshot())
}

func TestTableHigherTTL(t *testing.T) {
	clk := newFakeClock()
	tb := NewTable(100, 0, clk.Now)
	g := guidN(1)
	steps := []struct {
		from ConnID
		ttl  uint8
		want Verdict
	}{
		{1, 1, New},
		{2, 1, Duplicate},
		{3, 0, Duplicate},
		{4, 3, HigherTTL}, // travels further: forward again, once
		{5, 3, Duplicate},
		{6, 2, Duplicate},
		{7, 4, HigherTTL},
		{8, 4, Duplicate},
	}
	for i, s := range steps {
		require.Equal(t, s.want, tb.AddTTL(g, protocol.TypeQuery, s.from, s.ttl), "step %d", i)
	}
	conn, ok := tb.Lookup(g, protocol.TypeQuery)
	require.True(t, ok)
	require.Equal(t, ConnID(1), conn, "hits still go back to the first sender")
	c := tb.Stats().Snapshot()
	require.Equal(t, uint64(7), c.Duplicates)
	require.Equal(t, uint64(2), c.HigherTTL)
	require.True(t, tb.Add(g, protocol.TypeQuery, 9), "Add never reports a higher TTL")
}

func TestTableAge(t *testing.T) {
	clk := newFakeClock()
	tb := NewTable(100, 10*time.Minute, clk.Now)
	g := guidN(1)
	require.False(t, tb.Add(g, protocol.TypeQuery, 1))

	clk.Advance(10 * time.Minute) // exactly maxAge old: still there
	conn, ok := tb.Lookup(g, protocol.TypeQuery)
	require.True(t, ok)
	require.Equal(t, ConnID(1), conn)
	require.True(t, tb.Add(g, protocol.TypeQuery, 2))

	clk.Advance(time.Nanosecond) // older than maxAge: absent
	_, ok = tb.Lookup(g, protocol.TypeQuery)
	require.False(t, ok)
	require.Equal(t, New, tb.AddTTL(g, protocol.TypeQuery, 3, 2), "an expired entry is replaced")
	conn, ok = tb.Lookup(g, protocol.TypeQuery)
	require.True(t, ok)
	require.Equal(t, ConnID(3), conn)

	// A duplicate does not refresh the age, not even a higher-TTL one.
	clk.Advance(6 * time.Minute)
	require.Equal(t, HigherTTL, tb.AddTTL(g, protocol.TypeQuery, 4, 3))
	clk.Advance(5 * time.Minute)
	_, ok = tb.Lookup(g, protocol.TypeQuery)
	require.False(t, ok)
}

func TestTableDefaults(t *testing.T) {
	clk := newFakeClock()
	tb := NewTable(0, 0, clk.Now)
	require.False(t, tb.Add(guidN(1), protocol.TypeQuery, 1))
	clk.Advance(DefaultMaxAge)
	require.True(t, tb.Add(guidN(1), protocol.TypeQuery, 1))
	clk.Advance(time.Second)
	require.False(t, tb.Add(guidN(1), protocol.TypeQuery, 1))
	require.GreaterOrEqual(t, DefaultMaxAge, 10*time.Minute)

	// nil clock: real time.
	require.False(t, NewTable(1, 0, nil).Add(guidN(1), protocol.TypeQuery, 1))
}

func TestTableSweepsExpired(t *testing.T) {
	clk := newFakeClock()
	tb := NewTable(1000, time.Minute, clk.Now)
	for i := range 100 {
		tb.Add(guidN(uint64(i)), protocol.TypeQuery, 1)
	}
	require.Equal(t, 100, tb.Len())
	clk.Advance(2 * time.Minute)
	// Each new Add drops up to two expired entries from the tail.
	for i := range 60 {
		tb.Add(guidN(uint64(1000+i)), protocol.TypeQuery, 1)
	}
	require.Equal(t, 60, tb.Len(), "the 100 expired entries are gone")
	require.Zero(t, tb.Stats().Evicted.Load())
}

func TestTableCountBound(t *testing.T) {
	clk := newFakeClock()
	const size = 64
	tb := NewTable(size, time.Hour, clk.Now)
	for i := range 3 * size {
		require.False(t, tb.Add(guidN(uint64(i)), protocol.TypeQuery, ConnID(i+1)))
		require.LessOrEqual(t, tb.Len(), size)
	}
	require.Equal(t, size, tb.Len())
	require.Equal(t, uint64(2*size), tb.Stats().Evicted.Load())
	// The oldest were evicted, the newest size remain.
	for i := range 3 * size {
		conn, ok := tb.Lookup(guidN(uint64(i)), protocol.TypeQuery)
		if i < 2*size {
			require.False(t, ok, "entry %d should be evicted", i)
			continue
		}
		require.True(t, ok, "entry %d", i)
		require.Equal(t, ConnID(i+1), conn)
	}
	// An evicted MUID is new again.
	require.False(t, tb.Add(guidN(0), protocol.TypeQuery, 1))
}

func TestTableHigherTTLIsRecent(t *testing.T) {
	clk := newFakeClock()
	tb := NewTable(3, time.Hour, clk.Now)
	tb.AddTTL(guidN(1), protocol.TypeQuery, 1, 1)
	tb.AddTTL(guidN(2), protocol.TypeQuery, 1, 1)
	tb.AddTTL(guidN(3), protocol.TypeQuery, 1, 1)
	require.Equal(t, HigherTTL, tb.AddTTL(guidN(1), protocol.TypeQuery, 2, 3))
	tb.Add(guidN(4), protocol.TypeQuery, 1) // evicts 2, the least recently active
	require.Equal(t, Duplicate, tb.AddTTL(guidN(1), protocol.TypeQuery, 2, 3))
	require.Equal(t, New, tb.AddTTL(guidN(2), protocol.TypeQuery, 2, 3))
}

func TestTableAlive(t *testing.T) {
	clk := newFakeClock()
	var mu sync.Mutex
	open := map[ConnID]bool{1: true, 2: true}
	alive := func(c ConnID) bool {
		mu.Lock()
		defer mu.Unlock()
		return open[c]
	}
	stats := new(Stats)
	tb := NewTable(100, time.Hour, clk.Now, WithAlive(alive), WithStats(stats))
	require.Same(t, stats, tb.Stats())
	tb.Add(guidN(1), protocol.TypeQuery, 1)
	tb.Add(guidN(2), protocol.TypeQuery, 2)
	tb.Add(guidN(3), protocol.TypeQuery, Local)

	mu.Lock()
	delete(open, 1) // connection 1 closed
	mu.Unlock()

	_, ok := tb.Lookup(guidN(1), protocol.TypeQuery)
	require.False(t, ok, "a route to a closed connection is unroutable")
	conn, ok := tb.Lookup(guidN(2), protocol.TypeQuery)
	require.True(t, ok)
	require.Equal(t, ConnID(2), conn)
	conn, ok = tb.Lookup(guidN(3), protocol.TypeQuery)
	require.True(t, ok, "Local is always alive")
	require.Equal(t, Local, conn)
	require.True(t, tb.Add(guidN(1), protocol.TypeQuery, 2), "still a duplicate after its sender left")
	require.Equal(t, uint64(1), stats.Unroutable.Load())
}

func TestPushTable(t *testing.T) {
	clk := newFakeClock()
	closed := atomic.Bool{}
	stats := new(Stats)
	pt := NewPushTable(2, 10*time.Minute, clk.Now, WithStats(stats),
		WithAlive(func(c ConnID) bool { return c != 5 || !closed.Load() }))
	a, b, c := guidN(0xa), guidN(0xb), guidN(0xc)

	_, ok := pt.Lookup(a)
	require.False(t, ok)

	pt.Add(a, 1)
	pt.Add(a, 5) // a later hit from the same servent: latest route wins
	conn, ok := pt.Lookup(a)
	require.True(t, ok)
	require.Equal(t, ConnID(5), conn)

	closed.Store(true)
	_, ok = pt.Lookup(a)
	require.False(t, ok, "route through a closed connection")

	pt.Add(b, 2)
	clk.Advance(6 * time.Minute)
	pt.Add(a, 3) // refreshes a's age and recency
	clk.Advance(5 * time.Minute)
	_, ok = pt.Lookup(b)
	require.False(t, ok, "b is 11 minutes old")
	conn, ok = pt.Lookup(a)
	require.True(t, ok)
	require.Equal(t, ConnID(3), conn)

	pt.Add(c, 4) // count bound 2: b (expired) swept or evicted
	require.Equal(t, 2, pt.Len())
	conn, ok = pt.Lookup(c)
	require.True(t, ok)
	require.Equal(t, ConnID(4), conn)

	pt.Remove(a)
	_, ok = pt.Lookup(a)
	require.False(t, ok)
	require.Equal(t, 1, pt.Len())
	require.Equal(t, uint64(4), stats.Unroutable.Load())

	pt.Add(guidN(0xd), Local)
	conn, ok = pt.Lookup(guidN(0xd))
	require.True(t, ok)
	require.Equal(t, Local, conn)
}

func TestPushTableCountBound(t *testing.T) {
	clk := newFakeClock()
	pt := NewPushTable(10, 0, clk.Now)
	for i := range 25 {
		pt.Add(guidN(uint64(i)), ConnID(i))
	}
	require.Equal(t, 10, pt.Len())
	require.Equal(t, uint64(15), pt.Stats().Evicted.Load())
	_, ok := pt.Lookup(guidN(14))
	require.False(t, ok)
	_, ok = pt.Lookup(guidN(15))
	require.True(t, ok)
}

// TestTableConcurrent hammers one table from several goroutines (run with
// -race): each MUID is reported new exactly once, whichever goroutine wins.
func TestTableConcurrent(t *testing.T) {
	clk := newFakeClock()
	stats := new(Stats)
	tb := NewTable(1<<16, time.Hour, clk.Now, WithStats(stats), WithAlive(func(ConnID) bool { return true }))
	pt := NewPushTable(1024, time.Hour, clk.Now, WithStats(stats))
	const workers, muids = 8, 2000
	var news, lost atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range muids {
				g := guidN(uint64(i))
				switch tb.AddTTL(g, protocol.TypeQuery, ConnID(w+1), uint8(w%4)) {
				case New:
					news.Add(1)
				}
				if _, ok := tb.Lookup(g, protocol.TypeQuery); !ok {
					lost.Add(1)
				}
				pt.Add(guidN(uint64(i%100)), ConnID(w+1))
				_, _ = pt.Lookup(guidN(uint64(i % 100)))
				if i%500 == 0 {
					clk.Advance(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	require.Zero(t, lost.Load(), "a route recorded by one goroutine was missing")
	require.Equal(t, int64(muids), news.Load())
	require.Equal(t, uint64((workers-1)*muids), stats.Duplicates.Load())
	require.Equal(t, muids, tb.Len())
}

func TestVerdictString(t *testing.T) {
	require.Equal(t, "new", New.String())
	require.Equal(t, "duplicate", Duplicate.String())
	require.Equal(t, "duplicate-higher-ttl", HigherTTL.String())
}

func TestTableFullOfExpired(t *testing.T) {
	clk := newFakeClock()
	tb := NewTable(4, time.Minute, clk.Now)
	for i := range 4 {
		tb.Add(guidN(uint64(i)), protocol.TypeQuery, 1)
	}
	clk.Advance(2 * time.Minute)
	// guidN(0) is the expired tail itself: swept, then added afresh.
	require.Equal(t, New, tb.AddTTL(guidN(0), protocol.TypeQuery, 2, 1))
	require.Equal(t, 3, tb.Len()) // 0 and 1 swept, 0 added
	require.Zero(t, tb.Stats().Evicted.Load(), "only live routes count as evicted")
	conn, ok := tb.Lookup(guidN(0), protocol.TypeQuery)
	require.True(t, ok)
	require.Equal(t, ConnID(2), conn)
	_, ok = tb.Lookup(guidN(3), protocol.TypeQuery)
	require.False(t, ok)
}

// TestTableMemoryUnderChurn: a full default-size table that keeps taking
// new keys (a busy ultrapeer: 3.6 M queries through 256k routes) holds a
// bounded heap per route. Go's swiss-table maps leave tombstones behind
// deletes and grow over them (golang/go#70886), and a 17-byte key costs a
// 32-byte slot: the route table held 277 B per route after this load, the
// push table 222 B.
func TestTableMemoryUnderChurn(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("fills default-size tables 14 times (40 s under the race detector)")
	}
	const churn = 14
	perEntry := func(fill func(i uint64), size func() int) float64 {
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		for i := range uint64(churn * DefaultSize) {
			fill(i)
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		require.Equal(t, DefaultSize, size())
		return float64(m1.HeapInuse-m0.HeapInuse) / float64(size())
	}
	tb := NewTable(DefaultSize, time.Hour, time.Now)
	routes := perEntry(func(i uint64) { tb.Add(benchGUID(i), protocol.TypeQuery, ConnID(i%32+1)) }, tb.Len)
	runtime.KeepAlive(tb)
	tb = nil
	pt := NewPushTable(DefaultSize, time.Hour, time.Now)
	pushes := perEntry(func(i uint64) { pt.Add(benchGUID(i), ConnID(i%32+1)) }, pt.Len)
	runtime.KeepAlive(pt)
	t.Logf("after %dx churn: %.0f B per route, %.0f B per push route", churn, routes, pushes)
	require.Less(t, routes, 150.0, "heap per route")
	require.Less(t, pushes, 150.0, "heap per push route")
}

// TestTableGenerations: after compactAfter turnovers the table starts a
// new LRU generation and drains the old one; routes, TTLs and the eviction
// order are kept throughout, and the old generation is gone after one
// turnover.
func TestTableGenerations(t *testing.T) {
	clk := newFakeClock()
	const size = 8
	tb := NewTable(size, time.Hour, clk.Now)
	next := uint64(0)
	add := func() {
		tb.AddTTL(guidN(next), protocol.TypeQuery, ConnID(next+1), 2)
		next++
	}
	for range size + compactAfter*size - 1 {
		add()
	}
	require.Nil(t, tb.old, "one eviction short of a new generation")
	add()
	require.NotNil(t, tb.old, "a new generation started")
	require.Equal(t, size, tb.Len())

	// The oldest live route is used again: it moves to the new generation.
	oldest := next - size
	require.Equal(t, HigherTTL, tb.AddTTL(guidN(oldest), protocol.TypeQuery, 99, 3))
	require.Equal(t, size, tb.Len())
	conn, ok := tb.Lookup(guidN(oldest), protocol.TypeQuery)
	require.True(t, ok)
	require.Equal(t, ConnID(oldest+1), conn, "the route is the first copy's")
	require.Equal(t, Duplicate, tb.AddTTL(guidN(oldest), protocol.TypeQuery, 99, 3), "its TTL was kept")
	for i := oldest + 1; i < next; i++ {
		conn, ok := tb.Lookup(guidN(i), protocol.TypeQuery)
		require.True(t, ok, "route %d, in the old generation", i)
		require.Equal(t, ConnID(i+1), conn)
	}
	// Order kept across generations: new routes evict oldest+1,
	// oldest+2, ... from the old generation, then the re-forwarded one.
	for i := range uint64(size - 1) {
		add()
		require.Equal(t, size, tb.Len())
		_, ok := tb.Lookup(guidN(oldest+1+i), protocol.TypeQuery)
		require.False(t, ok, "evicted in order: %d", i)
		_, ok = tb.Lookup(guidN(oldest), protocol.TypeQuery)
		require.True(t, ok, "the re-forwarded route outlives older ones (%d)", i)
	}
	require.Nil(t, tb.old, "the old generation drained and was dropped")
	add()
	_, ok = tb.Lookup(guidN(oldest), protocol.TypeQuery)
	require.False(t, ok, "then it goes")
	require.Equal(t, uint64(next-size), tb.Stats().Evicted.Load(), "every route pushed out counts once")
}

// TestTableGenerationsExpire: an old generation also drains by age (a
// table that stopped taking routes).
func TestTableGenerationsExpire(t *testing.T) {
	clk := newFakeClock()
	const size = 4
	tb := NewTable(size, time.Minute, clk.Now)
	for i := range uint64(size + compactAfter*size) {
		tb.Add(guidN(i), protocol.TypeQuery, 1)
	}
	require.NotNil(t, tb.old)
	clk.Advance(2 * time.Minute)
	for i := range uint64(size) {
		tb.Add(guidN(1000+i), protocol.TypeQuery, 1) // each sweeps 2 expired
	}
	require.Nil(t, tb.old)
	require.Equal(t, size, tb.Len())
}
