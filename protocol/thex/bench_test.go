package thex

import (
	"bytes"
	"crypto/sha1"
	"io"
	"sync"
	"testing"
	"time"

	"github.com/servent/servent/protocol/tiger"
)

// The goal (GNUTELLA-TRANSFERS.md 23, the sharing code's file hasher):
// SHA-1 and the tree of a file in one read pass at no less than half the
// speed of SHA-1 alone. The FileHash benchmarks report that ratio as the
// metric "x-sha1" (their MB/s over SHA-1 alone's, measured in the same
// process just before).

const benchChunk = 1 << 20

func BenchmarkTiger1MiB(b *testing.B) {
	data := pattern(benchChunk)
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	for b.Loop() {
		tiger.Sum(data)
	}
}

func BenchmarkTree1MiB(b *testing.B) {
	data := pattern(benchChunk)
	h := New()
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	for b.Loop() {
		h.Reset()
		h.Write(data)
		h.Root()
	}
}

func BenchmarkSHA1_1MiB(b *testing.B) {
	data := pattern(benchChunk)
	h := sha1.New()
	b.SetBytes(benchChunk)
	b.ReportAllocs()
	for b.Loop() {
		h.Reset()
		h.Write(data)
		h.Sum(nil)
	}
}

// benchFile is the "file" of the FileHash benchmarks: 32 MiB read from
// memory in 1 MiB chunks, as a file hasher reads from the page cache.
var benchFile = sync.OnceValue(func() []byte { return pattern(32 << 20) })

// sha1Speed is SHA-1 alone over benchFile, in bytes per second: the best
// of a few passes, the way the benchmark loop would see it.
var sha1Speed = sync.OnceValue(func() float64 {
	best := time.Duration(1 << 62)
	for range 5 {
		start := time.Now()
		hashSHA1Only(benchFile(), make([]byte, benchChunk))
		best = min(best, time.Since(start))
	}
	return float64(len(benchFile())) / best.Seconds()
})

func hashSHA1Only(file, buf []byte) [20]byte {
	h := sha1.New()
	r := bytes.NewReader(file)
	for {
		n, err := io.ReadFull(r, buf)
		h.Write(buf[:n])
		if err != nil {
			break
		}
	}
	var s [20]byte
	h.Sum(s[:0])
	return s
}

// hashSequential feeds each chunk to SHA-1 and then to the tree.
func hashSequential(file, buf []byte, tth *Hasher) ([20]byte, Hash) {
	h := sha1.New()
	tth.Reset()
	r := bytes.NewReader(file)
	for {
		n, err := io.ReadFull(r, buf)
		h.Write(buf[:n])
		tth.Write(buf[:n])
		if err != nil {
			break
		}
	}
	var s [20]byte
	h.Sum(s[:0])
	return s, tth.Root()
}

// hashTwoGoroutines reads and runs SHA-1 in the caller while a second
// goroutine runs the tree; chunks go round between them through two
// channels (three buffers, so that neither side waits on a buffer).
func hashTwoGoroutines(file []byte, bufs [][]byte, tth *Hasher) ([20]byte, Hash) {
	h := sha1.New()
	tth.Reset()
	free := make(chan []byte, len(bufs))
	full := make(chan []byte, len(bufs))
	for _, b := range bufs {
		free <- b
	}
	done := make(chan Hash)
	go func() {
		for b := range full {
			tth.Write(b)
			free <- b[:cap(b)]
		}
		done <- tth.Root()
	}()
	r := bytes.NewReader(file)
	for {
		buf := <-free
		n, err := io.ReadFull(r, buf)
		h.Write(buf[:n])
		full <- buf[:n]
		if err != nil {
			break
		}
	}
	close(full)
	root := <-done
	var s [20]byte
	h.Sum(s[:0])
	return s, root
}

func BenchmarkFileHash(b *testing.B) {
	file := benchFile()
	wantSHA, wantRoot := sha1.Sum(file), Sum(file)
	run := func(b *testing.B, f func() ([20]byte, Hash)) {
		speed := sha1Speed()
		b.SetBytes(int64(len(file)))
		b.ReportAllocs()
		b.ResetTimer()
		for b.Loop() {
			s, r := f()
			if s != wantSHA || r != wantRoot {
				b.Fatal("wrong digest")
			}
		}
		b.ReportMetric(float64(len(file))*float64(b.N)/b.Elapsed().Seconds()/speed, "x-sha1")
	}
	buf := make([]byte, benchChunk)
	tth := New()
	b.Run("sha1-only", func(b *testing.B) {
		run(b, func() ([20]byte, Hash) { return hashSHA1Only(file, buf), wantRoot })
	})
	b.Run("sequential", func(b *testing.B) {
		run(b, func() ([20]byte, Hash) { return hashSequential(file, buf, tth) })
	})
	bufs := [][]byte{make([]byte, benchChunk), make([]byte, benchChunk), make([]byte, benchChunk)}
	b.Run("goroutine", func(b *testing.B) {
		run(b, func() ([20]byte, Hash) { return hashTwoGoroutines(file, bufs, tth) })
	})
	// The tree's goroutine spreads each chunk's leaves over two more
	// (SetWorkers(2)): both cores share the tree while SHA-1 waits.
	b.Run("goroutine-2workers", func(b *testing.B) {
		par := New()
		par.SetWorkers(2)
		run(b, func() ([20]byte, Hash) { return hashTwoGoroutines(file, bufs, par) })
	})
	b.Run("sequential-2workers", func(b *testing.B) {
		par := New()
		par.SetWorkers(2)
		run(b, func() ([20]byte, Hash) { return hashSequential(file, buf, par) })
	})
}
