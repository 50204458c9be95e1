package protocol

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Keyword canonicalisation as GTKG's utf8_canonize() (GNUTELLA.md 4.9):
// case fold, decompose, drop accents, map everything that is not a letter or
// digit to a separator, recompose. Both the index and the QRP tables use it,
// so that "Café-Naïve.MP3" is cafe, naive and mp3 on every side.

var folder = cases.Fold()

// Canonical returns s case-folded, accent-stripped and NFC-normalised, with
// every rune that is not a letter or digit replaced by a space.
func Canonical(s string) string {
	if isPlainLowerASCII(s) {
		return s
	}
	t := transform.Chain(norm.NFKD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
	out, _, err := transform.String(t, folder.String(norm.NFC.String(s)))
	if err != nil {
		out = strings.ToLower(s)
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return r
		}
		return ' '
	}, out)
}

// Keywords returns the canonical words of s, in order, repeats kept.
func Keywords(s string) []string {
	return AppendKeywords(nil, s)
}

// AppendKeywords appends the canonical words of s to dst.
func AppendKeywords(dst []string, s string) []string {
	return append(dst, strings.Fields(Canonical(s))...)
}

// isPlainLowerASCII reports whether s needs no folding at all: lower-case
// ASCII letters, digits and spaces only.
func isPlainLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf || !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == ' ') {
			return false
		}
	}
	return true
}
