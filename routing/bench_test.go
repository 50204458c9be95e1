package routing

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/servent/servent/protocol"
)

func benchGUID(i uint64) protocol.GUID {
	var g protocol.GUID
	binary.LittleEndian.PutUint64(g[:8], i*0x9E3779B97F4A7C15) // spread like random MUIDs
	binary.LittleEndian.PutUint64(g[8:], i)
	return g
}

// BenchmarkTableAddNew: every Add is a new MUID; once the table is full
// each one evicts the oldest. The small table fits in cache, the default
// one does not.
func BenchmarkTableAddNew(b *testing.B) {
	for _, size := range []int{4096, DefaultSize} {
		b.Run(fmt.Sprintf("size=%d", size), func(b *testing.B) {
			tb := NewTable(size, time.Hour, time.Now)
			b.ReportAllocs()
			b.SetBytes(17) // one (MUID, type) key
			var i uint64
			cpu := startCPU()
			for b.Loop() {
				tb.Add(benchGUID(i), protocol.TypeQuery, 1)
				i++
			}
			cpu.report(b)
		})
	}
}

// BenchmarkTableAddDup: every Add is a duplicate (the flood case).
func BenchmarkTableAddDup(b *testing.B) {
	tb := NewTable(DefaultSize, time.Hour, time.Now)
	const n = 4096
	for i := range uint64(n) {
		tb.Add(benchGUID(i), protocol.TypeQuery, 1)
	}
	b.ReportAllocs()
	b.SetBytes(17)
	var i uint64
	cpu := startCPU()
	for b.Loop() {
		tb.AddTTL(benchGUID(i%n), protocol.TypeQuery, 2, 0)
		i++
	}
	cpu.report(b)
}

func BenchmarkTableLookup(b *testing.B) {
	tb := NewTable(DefaultSize, time.Hour, time.Now, WithAlive(func(ConnID) bool { return true }))
	const n = 1 << 16
	for i := range uint64(n) {
		tb.Add(benchGUID(i), protocol.TypeQuery, ConnID(i+1))
	}
	b.ReportAllocs()
	b.SetBytes(17)
	var i uint64
	cpu := startCPU()
	for b.Loop() {
		if _, ok := tb.Lookup(benchGUID(i%n), protocol.TypeQuery); !ok {
			b.Fatal("no route")
		}
		i++
	}
	cpu.report(b)
}

// BenchmarkTableAddParallel: new MUIDs from every P at once (lock
// contention on the single mutex).
func BenchmarkTableAddParallel(b *testing.B) {
	tb := NewTable(DefaultSize, time.Hour, time.Now)
	b.ReportAllocs()
	b.SetBytes(17)
	var seq uint64
	cpu := startCPU()
	b.RunParallel(func(pb *testing.PB) {
		var i uint64
		base := seqNext(&seq) << 40
		for pb.Next() {
			tb.Add(benchGUID(base|i), protocol.TypeQuery, 1)
			i++
		}
	})
	cpu.report(b)
}

func BenchmarkPushTable(b *testing.B) {
	pt := NewPushTable(DefaultSize, time.Hour, time.Now)
	const n = 1 << 12
	b.ReportAllocs()
	b.SetBytes(16)
	var i uint64
	cpu := startCPU()
	for b.Loop() {
		g := benchGUID(i % n)
		pt.Add(g, 1)
		pt.Lookup(g)
		i++
	}
	cpu.report(b)
}

// BenchmarkTableMemory fills a DefaultSize table (256k entries) per
// iteration and reports the heap held per entry (B/entry).
func BenchmarkTableMemory(b *testing.B) {
	fill := func() *Table {
		tb := NewTable(DefaultSize, time.Hour, time.Now)
		for i := range uint64(DefaultSize) {
			tb.Add(benchGUID(i), protocol.TypeQuery, ConnID(i))
		}
		return tb
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	tb := fill()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	perEntry := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(tb.Len())
	runtime.KeepAlive(tb)
	b.ReportAllocs()
	for b.Loop() {
		fill()
	}
	b.ReportMetric(perEntry, "B/entry")
}

func BenchmarkPushTableMemory(b *testing.B) {
	fill := func() *PushTable {
		pt := NewPushTable(DefaultSize, time.Hour, time.Now)
		for i := range uint64(DefaultSize) {
			pt.Add(benchGUID(i), ConnID(i))
		}
		return pt
	}
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	pt := fill()
	runtime.GC()
	runtime.ReadMemStats(&m1)
	perEntry := float64(m1.HeapAlloc-m0.HeapAlloc) / float64(pt.Len())
	runtime.KeepAlive(pt)
	b.ReportAllocs()
	for b.Loop() {
		fill()
	}
	b.ReportMetric(perEntry, "B/entry")
}

func BenchmarkMayMatch(b *testing.B) {
	// A leaf-sized table: 2^16 slots, a few hundred words.
	t := protocol.NewQRPTable(16)
	for _, w := range []string{"alpha", "beta", "gamma", "metallica", "metal", "one", "mp3", "live"} {
		t.AddWord(w)
	}
	r := NewQueryRouteTable(t)
	hello, _ := protocol.ParseSHA1URN("urn:sha1:EJMWGY5T3ZALA34YD64F3ARRF2GA5VIR")
	for _, bc := range []struct {
		name string
		q    *protocol.Query
	}{
		{"1word", query("metallica")},
		{"2words", query("metallica one")},
		{"3words", query("metallica one live")},
		{"3words-mixedcase", query("Metallica - One (Live).MP3")},
		{"3words-miss", query("omega sigma tau")},
		{"2words-nonascii", query("Métallica Øne")},
		{"urn", query("", hello)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.q.Criteria)))
			cpu := startCPU()
			for b.Loop() {
				r.MayMatch(bc.q)
			}
			cpu.report(b)
		})
	}
}

// BenchmarkMatch32Leaves: an ultrapeer hashes a query once and tests it
// against 32 leaf tables.
func BenchmarkMatch32Leaves(b *testing.B) {
	var leaves []*QueryRouteTable
	for i := range 32 {
		t := protocol.NewQRPTable(16)
		for j := range 300 {
			t.AddWord(string(rune('a'+i%26)) + "word" + string(rune('a'+j%26)) + string(rune('a'+j/26)))
		}
		leaves = append(leaves, NewQueryRouteTable(t))
	}
	q := query("metallica one live")
	b.ReportAllocs()
	var h QueryHashes
	cpu := startCPU()
	for b.Loop() {
		h.Reset(q)
		for _, l := range leaves {
			l.Match(&h)
		}
	}
	cpu.report(b)
}

// BenchmarkMerge: last-hop QRP table from ours (2^16) and 32 leaf tables
// of mixed sizes, at 2^16.
func BenchmarkMerge(b *testing.B) {
	var in []*protocol.QRPTable
	for i := range 33 {
		bits := uint(14 + i%4*2) // 14, 16, 18, 20
		t := protocol.NewQRPTable(bits)
		for j := range 500 {
			t.AddWord(string(rune('a'+i%26)) + "w" + string(rune('a'+j%26)) + string(rune('a'+j/26)))
		}
		in = append(in, t)
	}
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		Merge(16, in...)
	}
	cpu.report(b)
}

// cpuMeter reports process CPU time (user+system, GC included) per
// operation as "cpu-ns/op": on a shared, overloaded machine wall time per
// op also counts the time the benchmark waited for a core.
type cpuMeter struct{ start time.Duration }

func startCPU() cpuMeter { return cpuMeter{processCPU()} }

func (m cpuMeter) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-m.start)/float64(b.N), "cpu-ns/op")
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
