package bwlimit

import (
	"context"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pipe is a loopback TCP connection.
func pipe(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	b := <-accepted
	require.NotNil(t, b)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestCapsOverTenSeconds: a capped writer and a capped reader over
// loopback TCP each move their cap within 5% over 10 s.
func TestCapsOverTenSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("10 s of real time")
	}
	const capB = 300 << 10
	for _, side := range []string{"writer", "reader"} {
		t.Run(side, func(t *testing.T) {
			t.Parallel()
			a, b := pipe(t)
			var l Limiter
			l.Set(capB)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var got atomic.Int64
			done := make(chan struct{})
			go func() {
				defer close(done)
				buf := make([]byte, 32<<10)
				var r io.Reader = b
				if side == "reader" {
					r = l.Reader(ctx, b)
				}
				for {
					n, err := r.Read(buf)
					got.Add(int64(n))
					if err != nil {
						return
					}
				}
			}()
			var w io.Writer = a
			if side == "writer" {
				w = l.Writer(ctx, a)
			}
			buf := make([]byte, 16<<10)
			start := time.Now()
			for time.Since(start) < 10*time.Second {
				if _, err := w.Write(buf); err != nil {
					break
				}
			}
			n := got.Load()
			elapsed := time.Since(start).Seconds()
			a.Close()
			cancel()
			<-done
			rate := float64(n) / elapsed
			assert.InEpsilon(t, float64(capB), rate, 0.05, "%.0f B/s over %.1f s", rate, elapsed)
			assert.InEpsilon(t, float64(capB), l.Rate(), 0.10, "the meter agrees")
		})
	}
}

// TestChangeAtRunTime: a new cap is in force within a second.
func TestChangeAtRunTime(t *testing.T) {
	if testing.Short() {
		t.Skip("real time")
	}
	var l Limiter
	l.Set(64 << 10)
	ctx := context.Background()
	var moved atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			n := l.Piece(16 << 10)
			_ = l.WaitN(ctx, n)
			moved.Add(int64(n))
		}
	}()
	time.Sleep(time.Second) // the slow rate runs a while
	l.Set(1 << 20)
	changed := time.Now()
	time.Sleep(time.Second) // the wait that started at the old rate ends
	from, at := moved.Load(), time.Now()
	time.Sleep(2 * time.Second)
	rate := float64(moved.Load()-from) / time.Since(at).Seconds()
	close(stop)
	<-done
	assert.InEpsilon(t, float64(1<<20), rate, 0.10, "within a second of %v", changed)
	l.Set(0)
	assert.True(t, l.Unlimited())
	assert.NoError(t, l.WaitN(ctx, 1<<30), "unlimited: no wait")
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{
		"64": 64 << 10, "100k": 100 << 10, "100KiB": 100 << 10, "100 KiB/s": 100 << 10, "1.5M": 3 << 19, "2MiB/s": 2 << 20,
		"2048B": 2048, "off": 0, "0": 0, "none": 0, "1g": 1 << 30, "10kbps": 10 << 10,
	} {
		got, err := ParseRate(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, in := range []string{"fast", "-5", "12q", "100B", "NaN", "1e30", "inf"} {
		_, err := ParseRate(in)
		assert.Error(t, err, in)
	}
	assert.Equal(t, "1.5 MiB/s", Format(3<<19))
	assert.Equal(t, "100.0 KiB/s", Format(100<<10))
}

func FuzzParseRate(f *testing.F) {
	for _, s := range []string{"64", "100k", "1.5MiB/s", "off", "", "-1", "1e400", "0x10", "  7 kb "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseRate(s)
		if err != nil {
			return
		}
		require.True(t, v == 0 || (v >= minCap && v <= 1<<40), "%q -> %d", s, v)
	})
}
