package sharedir

import (
	"context"
	"crypto/sha1"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/servent/servent/protocol"
)

const (
	benchFiles    = 4
	benchFileSize = 64 << 20
)

// hashFolder writes benchFiles files of benchFileSize random bytes and
// returns the folder and one file's content (for the in-memory baseline).
func hashFolder(b *testing.B) (string, []byte) {
	b.Helper()
	dir := b.TempDir()
	data := make([]byte, benchFileSize)
	r := rand.NewChaCha8([32]byte{1})
	r.Read(data)
	for i := range benchFiles {
		data[0] = byte(i) // distinct files, same cost
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("big%d.bin", i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir, data
}

// scanAndHash hashes the folder through a fresh library (no cache).
func scanAndHash(b *testing.B, dir string, workers int) {
	l, err := Open(Config{Dir: dir, HashWorkers: workers, RescanInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := l.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := l.WaitHashed(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	if f := l.Files(); len(f) != benchFiles || f[0].SHA1.IsZero() {
		b.Fatalf("not hashed: %+v", f)
	}
}

func hashMemory(data []byte) {
	for range benchFiles {
		_ = sha1.Sum(data)
	}
}

// BenchmarkHashFolder compares the scanner (one worker: the same single
// core as the baseline) with crypto/sha1 over the same bytes in memory.
// "ratio" runs both in each iteration so that machine load hits both alike.
func BenchmarkHashFolder(b *testing.B) {
	dir, data := hashFolder(b)
	total := int64(benchFiles * benchFileSize)
	b.Run("scanner-1worker", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(total)
		for b.Loop() {
			scanAndHash(b, dir, 1)
		}
	})
	b.Run("scanner-2workers", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(total)
		for b.Loop() {
			scanAndHash(b, dir, 2)
		}
	})
	b.Run("sha1-memory", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(total)
		for b.Loop() {
			hashMemory(data)
		}
	})
	ratio := func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(2 * total)
		var scan, mem, scanCPU, memCPU time.Duration
		for b.Loop() {
			t0, c0 := time.Now(), cpuTime()
			scanAndHash(b, dir, 1)
			t1, c1 := time.Now(), cpuTime()
			hashMemory(data)
			mem += time.Since(t1)
			memCPU += time.Duration(cpuTime() - c1)
			scan += t1.Sub(t0)
			scanCPU += time.Duration(c1 - c0)
		}
		b.ReportMetric(float64(mem)/float64(scan), "wall-ratio")
		// CPU time spent per byte, less sensitive to other load.
		b.ReportMetric(float64(memCPU)/float64(scanCPU), "cpu-ratio")
		b.ReportMetric(float64(total)*float64(b.N)/scan.Seconds()/1e6, "scanner-MB/s")
		b.ReportMetric(float64(total)*float64(b.N)/mem.Seconds()/1e6, "memory-MB/s")
	}
	b.Run("ratio", ratio)
	b.Run("ratio-readpath", func(b *testing.B) {
		defer func(m int64) { mmapMin = m }(mmapMin)
		mmapMin = 1 << 62
		ratio(b)
	})
}

// treeFileSize is the file of BenchmarkHashTree.
const treeFileSize = 64 << 20

// hashOne hashes the one file of dir through a fresh library with one
// worker, with its Tiger tree or (noTree) SHA-1 alone, and returns the
// time from Start to the end of the hashing. The benchmark timer runs
// only then: Open and Close are not counted.
func hashOne(b *testing.B, dir string, noTree bool) time.Duration {
	b.StopTimer()
	l, err := Open(Config{Dir: dir, HashWorkers: 1, RescanInterval: -1, noTree: noTree})
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	t0 := time.Now()
	if err := l.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := l.WaitHashed(context.Background()); err != nil {
		b.Fatal(err)
	}
	d := time.Since(t0)
	b.StopTimer()
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	if f := l.Files(); len(f) != 1 || f[0].SHA1.IsZero() || f[0].TTH.IsZero() != noTree {
		b.Fatalf("not hashed as asked (noTree %v): %+v", noTree, f)
	}
	return d
}

// BenchmarkHashTree compares hashing a 64 MiB file (page cache warm, one
// worker) with SHA-1 alone (the noTree knob: the same code without the
// tree) and with SHA-1 and the Tiger tree in the same read pass, on the
// memory-mapping path and on the read path. "ratio" runs both in each
// iteration and reports their speeds and sha1+tth over sha1 (aim: >= 0.5).
func BenchmarkHashTree(b *testing.B) {
	dir := b.TempDir()
	data := make([]byte, treeFileSize)
	rand.NewChaCha8([32]byte{2}).Read(data)
	if err := os.WriteFile(filepath.Join(dir, "big.bin"), data, 0o644); err != nil {
		b.Fatal(err)
	}
	data = nil
	for _, path := range []string{"mmap", "read"} {
		run := func(name string, f func(b *testing.B)) {
			b.Run(path+"/"+name, func(b *testing.B) {
				if path == "read" {
					defer func(m int64) { mmapMin = m }(mmapMin)
					mmapMin = 1 << 62
				}
				hashOne(b, dir, true) // warm the page cache
				b.ResetTimer()
				f(b)
			})
		}
		run("sha1", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(treeFileSize)
			for b.Loop() {
				hashOne(b, dir, true)
			}
		})
		run("sha1+tth", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(treeFileSize)
			for b.Loop() {
				hashOne(b, dir, false)
			}
		})
		run("ratio", func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(2 * treeFileSize)
			var alone, both time.Duration
			for b.Loop() {
				alone += hashOne(b, dir, true)
				both += hashOne(b, dir, false)
			}
			mb := float64(treeFileSize) * float64(b.N) / 1e6
			b.ReportMetric(mb/alone.Seconds(), "sha1-MB/s")
			b.ReportMetric(mb/both.Seconds(), "sha1+tth-MB/s")
			b.ReportMetric(alone.Seconds()/both.Seconds(), "ratio")
		})
	}
}

const benchNames = 100_000

// syntheticFiles makes n file names from a Zipf-distributed vocabulary:
// "Artist Words - Title Words (Year).ext" under one folder per artist.
func syntheticFiles(n int) ([]found, []string) {
	r := rand.New(rand.NewPCG(7, 11))
	syl := []string{"ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "ze", "da", "ri", "mo", "lu", "pe", "xa", "gor", "len", "tis", "bar", "fin"}
	vocab := make([]string, 20000)
	for i := range vocab {
		var sb strings.Builder
		for range 2 + r.IntN(3) {
			sb.WriteString(syl[r.IntN(len(syl))])
		}
		w := sb.String()
		if i%3 == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		vocab[i] = w
	}
	z := rand.NewZipf(r, 1.1, 4, uint64(len(vocab)-1))
	exts := []string{"mp3", "ogg", "flac", "avi", "mkv", "jpg", "pdf", "txt"}
	files := make([]found, n)
	for i := range files {
		var sb strings.Builder
		sb.WriteString("/srv/share/")
		artist := vocab[z.Uint64()] + " " + vocab[z.Uint64()]
		sb.WriteString(artist)
		sb.WriteByte('/')
		start := sb.Len() - len(artist) - 1
		nameAt := sb.Len()
		sb.WriteString(artist)
		sb.WriteString(" - ")
		for j := range 1 + r.IntN(4) {
			if j > 0 {
				sb.WriteByte(' ')
			}
			sb.WriteString(vocab[z.Uint64()])
		}
		fmt.Fprintf(&sb, " (%d).%s", 1950+r.IntN(75), exts[r.IntN(len(exts))])
		p := sb.String()
		files[i] = found{path: p, rel: p[start:], name: p[nameAt:], size: int64(1 + r.IntN(1<<30)), mtime: int64(i)}
	}
	return files, vocab
}

func benchLibrary() *Library {
	l := &Library{
		byRel: map[string]*entry{}, nextIndex: 1, bySHA1: map[protocol.SHA1]*entry{},
		work: make(chan struct{}, 1), dirty: make(chan struct{}, 1), changed: make(chan struct{}, 1),
		log: slog.New(slog.DiscardHandler), cfg: Config{MaxResults: DefaultMaxResults},
	}
	l.snap.Store(emptySnapshot)
	return l
}

// buildLibrary indexes files as a scan would, then gives every file a
// hash as the workers would.
func buildLibrary(files []found) *Library {
	l := benchLibrary()
	l.scanMu.Lock()
	l.apply(files)
	l.scanMu.Unlock()
	l.qmu.Lock()
	l.queue, l.idle = nil, nil
	l.qmu.Unlock()
	l.mu.Lock()
	for _, e := range l.snap.Load().files {
		e.sha1 = sha1.Sum([]byte(e.path))
		e.hashed = true
		e.urnCode = urnCode(e.sha1)
		e.queued = false
		l.linkSHA1(e)
	}
	l.mu.Unlock()
	return l
}

// BenchmarkIndexBuild indexes 100,000 synthetic names and reports the heap
// kept per file beyond the path string (which holds the name).
func BenchmarkIndexBuild(b *testing.B) {
	files, _ := syntheticFiles(benchNames)
	var pathBytes int
	for _, f := range files {
		pathBytes += len(f.path)
	}
	b.ReportAllocs()
	b.SetBytes(int64(pathBytes))
	var kept *Library
	var before, after runtime.MemStats
	var build, buildCPU time.Duration
	for b.Loop() {
		kept = nil
		runtime.GC()
		runtime.ReadMemStats(&before)
		t0, c0 := time.Now(), cpuTime()
		kept = buildLibrary(files)
		build += time.Since(t0)
		buildCPU += time.Duration(cpuTime() - c0)
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	runtime.KeepAlive(kept)
	b.ReportMetric(float64(build.Milliseconds())/float64(b.N), "build-ms")
	b.ReportMetric(float64(buildCPU.Milliseconds())/float64(b.N), "build-cpu-ms")
	b.ReportMetric(float64(int64(after.HeapAlloc)-int64(before.HeapAlloc))/benchNames, "B/file")
	b.ReportMetric(float64(pathBytes)/benchNames, "path-B/file")
	s := kept.snap.Load()
	b.ReportMetric(float64(len(s.words)), "words")
}

// BenchmarkSearch matches 1-, 2- and 3-word queries (and prefixes) on the
// 100,000-file index.
func BenchmarkSearch(b *testing.B) {
	files, vocab := syntheticFiles(benchNames)
	l := buildLibrary(files)
	lower := func(i int) string { return strings.ToLower(vocab[i]) }
	// Pick query words from real names so that the queries match.
	f := l.snap.Load().files[12345]
	ws := strings.Fields(f.canon)
	queries := []struct{ name, q string }{
		{"1word-common", lower(4)},
		{"1word-rare", ws[1]},
		{"2words", ws[0] + " " + ws[1]},
		{"3words", ws[0] + " " + ws[1] + " " + ws[len(ws)-1]},
		{"3words-common", lower(4) + " " + lower(5) + " " + lower(6)},
		{"prefix-2chars", ws[0][:2] + " " + ws[1]},
		{"urn", ""},
	}
	sum := f.sha1
	for _, q := range queries {
		b.Run(q.name, func(b *testing.B) {
			var sums []protocol.SHA1
			if q.q == "" {
				sums = []protocol.SHA1{sum}
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(q.q) + 20*len(sums))) // query bytes matched
			n := 0
			cpu0 := cpuTime()
			for b.Loop() {
				n = len(l.Search(q.q, sums, 0))
			}
			// CPU time is less sensitive than wall time to a loaded machine.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(n), "hits")
			if q.q != "" {
				b.ReportMetric(float64(drivingPostings(l.snap.Load(), q.q)), "candidates")
			}
		})
	}
}

// BenchmarkQRPBuild computes the QRP table of the 100,000-file index.
func BenchmarkQRPBuild(b *testing.B) {
	files, _ := syntheticFiles(benchNames)
	l := buildLibrary(files)
	var wordBytes int64
	for _, w := range l.snap.Load().words {
		wordBytes += int64(len(w))
	}
	b.ReportAllocs()
	b.SetBytes(wordBytes) // distinct words hashed with their prefixes
	var t *protocol.QRPTable
	for b.Loop() {
		t = l.buildQRP()
	}
	b.ReportMetric(float64(t.Bits()), "bits")
}

// cpuTime is the process's user+system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// drivingPostings is the number of postings match walks for query q at
// most: the smallest total over its words' prefix ranges.
func drivingPostings(s *snapshot, q string) uint32 {
	best := ^uint32(0)
	for _, w := range protocol.Keywords(q) {
		lo, hi := s.prefixRange(w)
		best = min(best, s.postOff[hi]-s.postOff[lo])
	}
	return best
}
