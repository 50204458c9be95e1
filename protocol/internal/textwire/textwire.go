// Package textwire holds the small readers and writers of text that comes
// from the network, shared by the protocol packages (handshake lines,
// magnets, the HTTP extension headers): gtk-gnutella's forms of hex, %XX
// escapes, dotted quads and digit strings, and a bounded quoting of a
// peer's bytes for an error line.
package textwire

import (
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"
)

// IsDigits reports whether s is one or more ASCII decimal digits.
func IsDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// HasPrefixFold is strings.HasPrefix ignoring case.
func HasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// QuoteShort quotes s for an error line: at most about 64 bytes of quoted
// text, whatever s holds (an invalid byte quotes as 4).
func QuoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		if q := strconv.Quote(s); len(q) <= max+2 {
			return q
		}
	}
	n := min(len(s), max)
	for {
		for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		if q := strconv.Quote(s[:n]); len(q) <= max+2 {
			return q + "..."
		}
		n = n * 3 / 4
	}
}

// ParseIPv4 reads a whole dotted quad; like gtkg's string_to_ip_strict it
// takes leading zeros as decimal ("010" is 10).
func ParseIPv4(s string) (netip.Addr, bool) {
	var b [4]byte
	for i := range 4 {
		n, v := 0, 0
		for n < len(s) && n < 3 && s[n] >= '0' && s[n] <= '9' {
			v = v*10 + int(s[n]-'0')
			n++
		}
		if n == 0 || v > 255 {
			return netip.Addr{}, false
		}
		b[i] = byte(v)
		s = s[n:]
		if i < 3 {
			if s == "" || s[0] != '.' {
				return netip.Addr{}, false
			}
			s = s[1:]
		}
	}
	return netip.AddrFrom4(b), s == ""
}

// Unhex is the value of the hex digit c (either case).
func Unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// DecodeHex fills dst from s, exactly 2*len(dst) hex digits (either case).
// On false dst may be partly written.
func DecodeHex(dst []byte, s string) bool {
	if len(s) != 2*len(dst) {
		return false
	}
	for i := range dst {
		h, ok1 := Unhex(s[2*i])
		l, ok2 := Unhex(s[2*i+1])
		if !ok1 || !ok2 {
			return false
		}
		dst[i] = h<<4 | l
	}
	return true
}

// Unescape decodes %XX escapes as gtkg's url_unescape, and with plus first
// reads '+' as a space (its plus_to_space): %00, a bad or cut escape make
// the whole value unreadable. A value with nothing to decode is returned
// as is.
func Unescape(s string, plus bool) (string, bool) {
	if strings.IndexByte(s, '%') < 0 && (!plus || strings.IndexByte(s, '+') < 0) {
		return s, true
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '+' && plus:
			c = ' '
		case c == '%':
			if i+2 >= len(s) {
				return "", false
			}
			h, ok1 := Unhex(s[i+1])
			l, ok2 := Unhex(s[i+2])
			if !ok1 || !ok2 || h == 0 && l == 0 {
				return "", false
			}
			c = h<<4 | l
			i += 2
		}
		b = append(b, c)
	}
	return string(b), true
}
