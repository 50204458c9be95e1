// Package bwlimit caps bandwidth per class of traffic (uploads,
// downloads, Gnutella in, Gnutella out) with token buckets from
// golang.org/x/time/rate whose rate changes at run time, and measures what
// each class really uses, for `servent status` (issue 14 item 3).
package bwlimit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Class is a kind of traffic with its own cap.
type Class int

const (
	Upload Class = iota
	Download
	GnetIn
	GnetOut
	NumClasses
)

var classNames = [NumClasses]string{"upload", "download", "gnet-in", "gnet-out"}

func (c Class) String() string {
	if c >= 0 && c < NumClasses {
		return classNames[c]
	}
	return "class?"
}

// ClassNamed is the class of a name ("upload", "gnet-in"...).
func ClassNamed(name string) (Class, bool) {
	for c, n := range classNames {
		if n == name {
			return Class(c), true
		}
	}
	return 0, false
}

// Classes lists every class.
func Classes() []Class { return []Class{Upload, Download, GnetIn, GnetOut} }

// piece bounds one wait: at the lowest cap (1 KiB/s) a wait lasts at most
// a second, so a new cap is felt within a second.
const (
	minCap   = 1024
	maxPiece = 64 << 10
)

// Limiter caps one class. The zero value is unlimited. Safe for concurrent
// use.
type Limiter struct {
	lim atomic.Pointer[rate.Limiter] // nil: unlimited
	cap atomic.Int64
	m   meter
}

// Set changes the cap to bytesPerSec (0: unlimited); waits already under
// way finish at the old rate (a piece of at most a second).
func (l *Limiter) Set(bytesPerSec int64) {
	if bytesPerSec <= 0 {
		l.cap.Store(0)
		l.lim.Store(nil)
		return
	}
	bytesPerSec = max(bytesPerSec, minCap)
	l.cap.Store(bytesPerSec)
	burst := int(min(max(bytesPerSec/10, minCap), maxPiece))
	if old := l.lim.Load(); old != nil {
		old.SetLimit(rate.Limit(bytesPerSec))
		old.SetBurst(burst)
		return
	}
	l.lim.Store(rate.NewLimiter(rate.Limit(bytesPerSec), burst))
}

// Cap is the cap in bytes/s, 0 when unlimited.
func (l *Limiter) Cap() int64 { return l.cap.Load() }

// Unlimited reports whether no cap applies (uploads then use sendfile).
func (l *Limiter) Unlimited() bool { return l == nil || l.lim.Load() == nil }

// WaitN blocks until n bytes may pass, and counts them.
func (l *Limiter) WaitN(ctx context.Context, n int) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		lim := l.lim.Load()
		if lim == nil {
			l.m.add(n)
			return nil
		}
		p := min(n, lim.Burst())
		if err := lim.WaitN(ctx, p); err != nil {
			return err
		}
		l.m.add(p)
		n -= p
	}
	return nil
}

// Count counts n bytes that passed without waiting (an uncapped path).
func (l *Limiter) Count(n int) {
	if l != nil {
		l.m.add(n)
	}
}

// Piece is how many bytes to read or write at once under the cap: one
// wait's worth (all of max when unlimited).
func (l *Limiter) Piece(max int) int {
	if l == nil {
		return max
	}
	if lim := l.lim.Load(); lim != nil {
		return min(max, lim.Burst())
	}
	return max
}

// Rate is the bytes/s of the class over the last few seconds.
func (l *Limiter) Rate() float64 { return l.m.rate(time.Now()) }

// Total is every byte counted.
func (l *Limiter) Total() uint64 { return l.m.total.Load() }

// Reader caps reads from r (each read waits for what it got).
func (l *Limiter) Reader(ctx context.Context, r io.Reader) io.Reader {
	return &reader{ctx: ctx, r: r, l: l}
}

type reader struct {
	ctx context.Context
	r   io.Reader
	l   *Limiter
}

func (r *reader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p[:r.l.Piece(len(p))])
	if n > 0 {
		if werr := r.l.WaitN(r.ctx, n); werr != nil && err == nil {
			err = werr
		}
	}
	return n, err
}

// Writer caps writes to w.
func (l *Limiter) Writer(ctx context.Context, w io.Writer) io.Writer {
	return &writer{ctx: ctx, w: w, l: l}
}

type writer struct {
	ctx context.Context
	w   io.Writer
	l   *Limiter
}

func (w *writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		k := w.l.Piece(len(p))
		if err := w.l.WaitN(w.ctx, k); err != nil {
			return written, err
		}
		n, err := w.w.Write(p[:k])
		written += n
		p = p[n:]
		if err != nil {
			return written, err
		}
	}
	return written, nil
}

// meter keeps per-second byte counts of the last few seconds.
type meter struct {
	total atomic.Uint64
	mu    sync.Mutex
	sec   [window + 1]int64 // by unix second modulo
	at    [window + 1]int64 // the second each slot holds
}

const window = 5 // seconds averaged by Rate

func (m *meter) add(n int) {
	m.total.Add(uint64(n))
	s := time.Now().Unix()
	i := s % int64(len(m.sec))
	m.mu.Lock()
	if m.at[i] != s {
		m.at[i], m.sec[i] = s, 0
	}
	m.sec[i] += int64(n)
	m.mu.Unlock()
}

// rate averages the last window whole seconds.
func (m *meter) rate(now time.Time) float64 {
	s := now.Unix()
	m.mu.Lock()
	defer m.mu.Unlock()
	var sum int64
	for k := int64(1); k <= window; k++ {
		i := (s - k) % int64(len(m.sec))
		if m.at[i] == s-k {
			sum += m.sec[i]
		}
	}
	return float64(sum) / window
}

// Set is one limiter per class.
type Set struct{ l [NumClasses]Limiter }

// Get is the limiter of class c.
func (s *Set) Get(c Class) *Limiter { return &s.l[c] }

// ParseRate reads a cap: a number of KiB/s ("64"), or with a unit ("100k",
// "100KiB", "1.5M", "2MiB/s", "500B"); "0", "off" or "none": unlimited.
// Units are binary (k = 1024 bytes).
func ParseRate(s string) (int64, error) {
	v := strings.ToLower(strings.TrimSpace(s))
	switch v {
	case "0", "off", "none", "unlimited", "":
		return 0, nil
	}
	v = strings.TrimSuffix(strings.TrimSuffix(v, "/s"), "ps")
	mult := float64(1024) // a bare number is KiB/s
	for _, u := range []struct {
		suffix string
		mult   float64
	}{{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"kb", 1 << 10}, {"mb", 1 << 20}, {"gb", 1 << 30},
		{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1}} {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 {
		return 0, fmt.Errorf("bandwidth %q: want a number of KiB/s, or with a unit (100k, 1.5MiB), or off", s)
	}
	b := f * mult
	if b > 1<<40 {
		return 0, errors.New("bandwidth " + strconv.Quote(s) + ": over 1 TiB/s")
	}
	if b > 0 && b < minCap {
		return 0, fmt.Errorf("bandwidth %q: at least 1 KiB/s (or off)", s)
	}
	return int64(b), nil
}

// Format writes a cap for people: "unlimited", "512 KiB/s", "1.5 MiB/s".
func Format(bytesPerSec float64) string {
	switch {
	case bytesPerSec >= 1<<20:
		return strconv.FormatFloat(bytesPerSec/(1<<20), 'f', 1, 64) + " MiB/s"
	case bytesPerSec >= 1<<10:
		return strconv.FormatFloat(bytesPerSec/(1<<10), 'f', 1, 64) + " KiB/s"
	}
	return strconv.FormatFloat(bytesPerSec, 'f', 0, 64) + " B/s"
}
