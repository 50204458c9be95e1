// Package httphdr reads and writes the Gnutella HTTP extension headers of
// the download mesh (X-Alt, X-Nalt, X-Falt and the old alternate-location
// forms), of partial file sharing (X-Available-Ranges, X-Available) and of
// node addresses (X-Node), in the forms gtk-gnutella sends and accepts.
//
// These values come from peers: every parser takes at most MaxValueLen
// bytes and returns a bounded result, skipping the items it cannot read
// rather than failing the whole header, as gtk-gnutella does. Policy (which
// addresses are routable, which sources to trust) is the caller's.
package httphdr

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/servent/servent/protocol/internal/textwire"
)

// Bounds.
const (
	MaxValueLen = 16 << 10 // longest header value a parser reads
	MaxItems    = 256      // most entries a list parser returns (gtkg dmesh MAX_ENTRIES)
	MaxProxies  = 8        // most push proxies kept per X-Falt entry (gtkg sends 4)

	// GnutellaPort is the port of an X-Alt entry that names none.
	GnutellaPort = 6346
)

var (
	// ErrTooLong: the value is longer than MaxValueLen.
	ErrTooLong = errors.New("httphdr: header value too long")
	// ErrMalformed: the value cannot be read at all.
	ErrMalformed = errors.New("httphdr: malformed header value")
)

func checkLen(header, v string) error {
	if len(v) > MaxValueLen {
		return fmt.Errorf("%w: %s value of %d bytes, limit %d", ErrTooLong, header, len(v), MaxValueLen)
	}
	return nil
}

func limitOf(limit int) int {
	if limit <= 0 || limit > MaxItems {
		return MaxItems
	}
	return limit
}

// trimSpace drops the blanks HTTP allows around list items (and those
// left by folded header lines).
func trimSpace(s string) string {
	for s != "" && isSpace(s[0]) {
		s = s[1:]
	}
	for s != "" && isSpace(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

// parseIP reads a whole IPv4 or bare IPv6 address (no zone); an
// IPv4-mapped IPv6 address reads as IPv4.
func parseIP(s string) (netip.Addr, bool) {
	if a, ok := textwire.ParseIPv4(s); ok {
		return a, true
	}
	if strings.IndexByte(s, ':') < 0 {
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" || !a.Is6() {
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

// parsePort reads 1..65535 in decimal (leading zeros allowed, as gtkg's
// parse_uint16).
func parsePort(s string) (uint16, bool) {
	if s == "" {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		if n = n*10 + int(s[i]-'0'); n > 65535 {
			return 0, false
		}
	}
	return uint16(n), n != 0
}

// parseAddrPort reads "ip:port" or "[ipv6]:port"; with defPort != 0 the
// port may be left out ("ip", "[ipv6]", or a bare "ipv6").
func parseAddrPort(s string, defPort uint16) (netip.AddrPort, bool) {
	var host, port string
	switch {
	case s != "" && s[0] == '[':
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.AddrPort{}, false
		}
		host, port = s[1:end], s[end+1:]
		if strings.IndexByte(host, ':') < 0 {
			return netip.AddrPort{}, false // "[1.2.3.4]"
		}
		if port != "" {
			if port[0] != ':' {
				return netip.AddrPort{}, false
			}
			port = port[1:]
		}
	case strings.Count(s, ":") > 1:
		host = s // a bare IPv6 address: no port can follow it
	default:
		host, port, _ = strings.Cut(s, ":")
		if len(host) != len(s) && port == "" {
			return netip.AddrPort{}, false // "1.2.3.4:"
		}
	}
	a, ok := parseIP(host)
	if !ok || a.IsUnspecified() {
		return netip.AddrPort{}, false
	}
	p := defPort
	if port != "" {
		if p, ok = parsePort(port); !ok {
			return netip.AddrPort{}, false
		}
	}
	if p == 0 {
		return netip.AddrPort{}, false
	}
	return netip.AddrPortFrom(a, p), true
}

// appendAddrPort writes "ip:port", "[ipv6]:port".
func appendAddrPort(dst []byte, ap netip.AddrPort) []byte {
	return ap.AppendTo(dst)
}

// hexBitmap is a "tls=" / "pptls=" value: hex digits, the most significant
// bit of the first digit for entry 0 (LimeWire's BitNumbers; gtkg sends
// "tls=8" for a single TLS entry).
type hexBitmap string

func (h hexBitmap) valid() bool {
	if len(h) == 0 {
		return false
	}
	for i := 0; i < len(h); i++ {
		if _, ok := textwire.Unhex(h[i]); !ok {
			return false
		}
	}
	return true
}

func (h hexBitmap) bit(i int) bool {
	if i < 0 || i/4 >= len(h) {
		return false
	}
	v, _ := textwire.Unhex(h[i/4])
	return v>>(3-i%4)&1 != 0
}

// appendHexBitmap writes the entries for which set(i) is true, in as few
// hex digits as hold the last set entry (upper case, as LimeWire).
func appendHexBitmap(dst []byte, n int, set func(int) bool) []byte {
	last := -1
	for i := range n {
		if set(i) {
			last = i
		}
	}
	for d := 0; d <= last/4; d++ {
		var v byte
		for j := range 4 {
			if i := d*4 + j; i <= last && set(i) {
				v |= 8 >> j
			}
		}
		dst = append(dst, "0123456789ABCDEF"[v])
	}
	return dst
}

// splitItems calls fn for each non-empty, trimmed item of s separated by
// any byte of seps (one or two bytes); fn returns false to stop.
func splitItems(s, seps string, fn func(item string) bool) {
	a, b := seps[0], seps[len(seps)-1]
	start := 0
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] != a && s[i] != b {
			continue
		}
		if item := trimSpace(s[start:i]); item != "" && !fn(item) {
			return
		}
		start = i + 1
	}
}
