// Package termsafe makes text that came from the network safe to print on a
// terminal, and measures it in terminal columns for tables.
//
// A file name or user agent from a peer can hold bytes a terminal acts on:
// escape sequences that clear the screen, move the cursor or set the window
// title, line breaks that forge output lines, and bidi controls that show
// "\u202e3pm.exe" as "exe.mp3". String replaces each of them with a visible,
// Go-like escape, so the user sees that something odd is in the name:
//
//   - C0 controls and DEL: \t, \n, \r, else \xNN (ESC is \x1b, so an escape
//     sequence prints as the harmless text \x1b[2J)
//   - C1 controls (U+0080..U+009F): \u0085
//   - bidi controls (U+202A..U+202E, U+2066..U+2069, U+200E, U+200F, U+061C),
//     every other format character (Unicode category Cf: zero-width spaces
//     and joiners, BOM, soft hyphen, tags), line and paragraph separators,
//     and the invisible fillers Unicode lists as default-ignorable: \u202e,
//     \U000e0041
//   - bytes that are not UTF-8: \xNN
//
// Everything else, accents, CJK, emoji, passes unchanged.
package termsafe

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/width"
)

// String is s with everything a terminal would act on, or not show,
// replaced by a visible escape (see the package comment). It returns s
// itself, without allocating, when nothing needs escaping; it is idempotent.
func String(s string) string {
	i := firstUnsafe(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for len(s[i:]) > 0 {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			writeEscape(&b, `\x`, rune(s[i]), 2)
		case !needsEscape(r):
			b.WriteString(s[i : i+size])
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r < 0x80:
			writeEscape(&b, `\x`, r, 2)
		case r <= 0xffff:
			writeEscape(&b, `\u`, r, 4)
		default:
			writeEscape(&b, `\U`, r, 8)
		}
		i += size
	}
	return b.String()
}

// writeEscape writes prefix and r in digits lower-case hex digits.
func writeEscape(b *strings.Builder, prefix string, r rune, digits int) {
	const hex = "0123456789abcdef"
	b.WriteString(prefix)
	for shift := 4 * (digits - 1); shift >= 0; shift -= 4 {
		b.WriteByte(hex[(r>>shift)&0xf])
	}
}

// firstUnsafe is the byte offset of the first rune String must escape, or
// -1.
func firstUnsafe(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf { // ASCII fast path
			if c < 0x20 || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || needsEscape(r) {
			return i
		}
		i += size
	}
	return -1
}

// needsEscape reports whether a terminal acts on r or shows nothing for it.
func needsEscape(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r < 0xa0:
		return false
	}
	// Cf holds every bidi control (U+202A..U+202E, U+2066..U+2069, U+200E,
	// U+200F, U+061C) and the other invisible format characters.
	return unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point)
}

// Width is the number of terminal columns s takes: 2 for East Asian wide
// and fullwidth runes (CJK, most emoji), 0 for combining marks and for what
// String escapes, 1 for the rest. Give it String's output to measure what
// will be printed.
func Width(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

func runeWidth(r rune) int {
	switch {
	case r == utf8.RuneError:
		return 1 // shown as U+FFFD
	case r < 0x20 || r == 0x7f:
		return 0
	case r < 0x300:
		return 1 // Latin: skip the table look-ups
	case needsEscape(r), unicode.In(r, unicode.Mn, unicode.Me),
		r >= 0x1160 && r <= 0x11ff: // Hangul medial vowels and final consonants join the syllable before
		return 0
	}
	switch width.LookupRune(r).Kind() {
	case width.EastAsianWide, width.EastAsianFullwidth:
		return 2
	}
	return 1
}

// ellipsis marks where Truncate cut.
const ellipsis = "…"

// Truncate shortens s to at most w columns, ending it with "…" when it cut.
// It never splits a rune, nor a letter from its combining marks.
func Truncate(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if Width(s) <= w {
		return s
	}
	budget, used := w-Width(ellipsis), 0
	end := 0
	for end < len(s) {
		r, size := utf8.DecodeRuneInString(s[end:])
		rw := runeWidth(r)
		if used+rw > budget {
			break
		}
		used += rw
		end += size
	}
	return s[:end] + ellipsis
}

// PadRight pads s with spaces to w columns; a wider s is returned as is.
func PadRight(s string, w int) string {
	if n := w - Width(s); n > 0 {
		return s + strings.Repeat(" ", n)
	}
	return s
}
