package main

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/servent/servent/internal/termsafe"
)

// humanBytes is n in binary units: "0 B", "512 B", "1.5 KiB", "3.2 GiB".
func humanBytes(n uint64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	const units = "KMGTPE"
	v := float64(n) / 1024
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f %ciB", v, units[i])
	}
	return fmt.Sprintf("%.1f %ciB", v, units[i])
}

// humanDuration is d rounded for people: "45s", "12m03s", "3h07m", "2d04h".
func humanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	return fmt.Sprintf("%dd%02dh", s/86400, s%86400/3600)
}

// safe is s made safe to print on a terminal: control characters, escape
// sequences and bidi controls become visible escapes (see internal/termsafe).
// Every string that came from the network, or from the servent through the
// API, goes through it before it reaches the user; --json output does not.
func safe(s string) string { return termsafe.String(s) }

// maxNameWidth bounds the terminal columns of a name or user agent from the
// network in a table: hits carry names of kilobytes (--json has them whole).
const maxNameWidth = 80

// truncate shortens s to at most n terminal columns, marking the cut with
// "…" (CJK and emoji take two columns).
func truncate(s string, n int) string { return termsafe.Truncate(s, n) }

// padRight pads s with spaces to n terminal columns (fmt pads by bytes).
func padRight(s string, n int) string { return termsafe.PadRight(s, n) }

// writeTable prints rows of tab-separated cells as aligned columns, two
// spaces apart, the last cell of a row unpadded. Every cell is made safe
// here, so no row can smuggle a control character onto the terminal, and
// columns are measured in terminal columns, not bytes or runes.
func writeTable(w io.Writer, rows []string) error {
	cells := make([][]string, len(rows))
	var widths []int
	for i, row := range rows {
		cells[i] = strings.Split(row, "\t")
		for j, c := range cells[i] {
			c = safe(c)
			cells[i][j] = c
			if j == len(cells[i])-1 {
				break // the last cell is not padded, so does not widen its column
			}
			if j == len(widths) {
				widths = append(widths, 0)
			}
			widths[j] = max(widths[j], termsafe.Width(c))
		}
	}
	var b strings.Builder
	for _, row := range cells {
		for j, c := range row {
			if j == len(row)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(padRight(c, widths[j]+2))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// splitHostPort is net.SplitHostPort that also checks the port is a number.
func splitHostPort(s string) (host, port string, err error) {
	host, port, err = net.SplitHostPort(s)
	if err != nil {
		return "", "", err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("bad port %q", port)
	}
	return host, port, nil
}
