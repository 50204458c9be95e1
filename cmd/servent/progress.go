package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/servent/servent/internal/termsafe"
	"github.com/servent/servent/servent/api"
)

// progressBar draws one download's progress on a terminal, redrawing one
// line; on anything else (a pipe, a log) it prints a line per 10% instead.
type progressBar struct {
	w       io.Writer
	tty     bool
	width   int // of the bar itself
	lastLen int // columns of the last line drawn
	lastPct int
	lastSt  string
	samples []sample // recent (time, bytes) to compute the rate
}

type sample struct {
	t    time.Time
	done uint64
}

func newProgressBar(w io.Writer) *progressBar {
	return &progressBar{w: w, tty: isTerminal(w), width: 24, lastPct: -1}
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// rate is bytes per second over the last few seconds of samples.
func (p *progressBar) rate(d api.Download, now time.Time) float64 {
	if d.RateBytesPerS > 0 {
		return float64(d.RateBytesPerS)
	}
	p.samples = append(p.samples, sample{now, d.Done})
	for len(p.samples) > 2 && now.Sub(p.samples[0].t) > 5*time.Second {
		p.samples = p.samples[1:]
	}
	first := p.samples[0]
	dt := now.Sub(first.t).Seconds()
	if dt <= 0 || d.Done < first.done {
		return 0
	}
	return float64(d.Done-first.done) / dt
}

// line is the text of the bar for d at now.
func (p *progressBar) line(d api.Download, now time.Time) string {
	pct := 0
	if d.Size > 0 {
		pct = int(d.Done * 100 / d.Size)
	}
	fill := pct * p.width / 100
	bar := strings.Repeat("=", fill)
	if fill < p.width {
		bar += ">" + strings.Repeat(" ", p.width-fill-1)
	}
	rate := p.rate(d, now)
	eta := "--"
	if rate > 0 && d.Size >= d.Done {
		eta = humanDuration(time.Duration(float64(d.Size-d.Done) / rate * float64(time.Second)))
	}
	state := ""
	if d.State != api.StateDownloading {
		state = "  " + safe(d.State)
	}
	return fmt.Sprintf("%s [%s] %3d%%  %s/%s  %s/s  ETA %s  %d/%d sources%s",
		truncate(safe(d.Name), 30), bar, pct, humanBytes(d.Done), humanBytes(d.Size),
		humanBytes(uint64(rate)), eta, d.ActiveSources, d.Sources, state)
}

// update shows d.
func (p *progressBar) update(d api.Download, now time.Time) {
	l := p.line(d, now)
	if p.tty {
		pad := ""
		w := termsafe.Width(l) // columns on screen, not bytes
		if n := p.lastLen - w; n > 0 {
			pad = strings.Repeat(" ", n)
		}
		fmt.Fprintf(p.w, "\r%s%s", l, pad)
		p.lastLen = w
		return
	}
	pct := 0
	if d.Size > 0 {
		pct = int(d.Done * 100 / d.Size)
	}
	if pct/10 != p.lastPct/10 || d.State != p.lastSt {
		fmt.Fprintln(p.w, l)
		p.lastPct, p.lastSt = pct, d.State
	}
}

// finish ends the redrawn line.
func (p *progressBar) finish() {
	if p.tty && p.lastLen > 0 {
		fmt.Fprintln(p.w)
		p.lastLen = 0
	}
}
