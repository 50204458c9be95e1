package termsafe

import (
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

func TestString(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "free software song.ogg", "free software song.ogg"},
		{"accents and CJK stay", "Café Crème 日本語.mp3", "Café Crème 日本語.mp3"},
		{"emoji stay", "party 🎉.mp3", "party 🎉.mp3"},
		{"clear screen", "\x1b[2J\x1b[Hfake", `\x1b[2J\x1b[Hfake`},
		{"OSC title", "\x1b]0;title\x07song.mp3", `\x1b]0;title\x07song.mp3`},
		{"line breaks", "two\r\nlines\t.mp3", `two\r\nlines\t.mp3`},
		{"NUL and DEL", "a\x00b\x7f", `a\x00b\x7f`},
		{"C1 CSI and NEL", "a\u009b2Jb\u0085", `a\u009b2Jb\u0085`},
		{"right-to-left override", "\u202e3pm.exe", `\u202e3pm.exe`},
		{"every bidi control", "\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
			`\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c`},
		{"invisible format", "a\u200bb\ufeffc\u2028d\u3164e\U000e0041", `a\u200bb\ufeffc\u2028d\u3164e\U000e0041`},
		{"invalid UTF-8", "a\xffb\xc3", `a\xffb\xc3`},
	} {
		got := String(tc.in)
		require.Equal(t, tc.want, got, tc.name)
		require.Equal(t, got, String(got), "%s: escaping is idempotent", tc.name)
	}
}

func TestStringNoAllocWhenClean(t *testing.T) {
	s := "a perfectly ordinary name 日本.mp3"
	require.Zero(t, testing.AllocsPerRun(100, func() { _ = String(s) }))
}

func TestWidth(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"Café", 4},
		{"Cafe\u0301", 4}, // combining acute accent takes no column
		{"日本語", 6},
		{"ｆｕｌｌ", 8}, // fullwidth Latin
		{"🎉", 2},
		{"한국어", 6},
		{"\x1b", 0},
	} {
		require.Equal(t, tc.want, Width(tc.in), "%q", tc.in)
	}
}

func TestTruncate(t *testing.T) {
	require.Equal(t, "short", Truncate("short", 10))
	require.Equal(t, "exactly10!", Truncate("exactly10!", 10))
	require.Equal(t, "a longer …", Truncate("a longer name", 10))
	// A wide rune that does not fit whole is left out, not split.
	require.Equal(t, "日本…", Truncate("日本語の歌", 6))
	require.Equal(t, "日本語の歌", Truncate("日本語の歌", 10))
	require.Equal(t, "a日…", Truncate("a日本語", 5))
	require.Equal(t, "a…", Truncate("a日本語", 3))
	// Combining marks stay with their letter.
	require.Equal(t, "e\u0301e\u0301…", Truncate("e\u0301e\u0301e\u0301e\u0301", 3))
	require.Equal(t, "…", Truncate("abc", 1))
	require.Equal(t, "", Truncate("abc", 0))
}

func TestPadRight(t *testing.T) {
	require.Equal(t, "ab   |", PadRight("ab", 5)+"|")
	require.Equal(t, "日本 |", PadRight("日本", 5)+"|")
	require.Equal(t, "toolong|", PadRight("toolong", 3)+"|")
}

// unsafeRune reports whether r is something a terminal acts on or hides.
// It is written independently of String's own test, from the list in the
// package comment.
func unsafeRune(r rune) bool {
	switch {
	case r < 0x20, r == 0x7f, r >= 0x80 && r < 0xa0:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	case r == 0x2028, r == 0x2029:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

func FuzzString(f *testing.F) {
	for _, s := range []string{
		"", "plain.mp3", "\x1b[2J\x1b[Hfake", "\x1b]0;title\x07", "a\r\nb", "\u202e3pm.exe",
		"日本語の歌.mp3", "🎉", "\xff\xfe", "e\u0301", `\x1b literal`, "\u009b31m",
	} {
		f.Add(s, 10)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		out := String(s)
		if !utf8.ValidString(out) {
			t.Fatalf("String(%q) = %q: invalid UTF-8", s, out)
		}
		for _, r := range out {
			if unsafeRune(r) {
				t.Fatalf("String(%q) = %q keeps %U", s, out, r)
			}
		}
		if again := String(out); again != out {
			t.Fatalf("String not idempotent: %q -> %q", out, again)
		}
		if w := Width(s); w < 0 {
			t.Fatalf("Width(%q) = %d", s, w)
		}
		w := Width(out)
		if w < 0 || w < utf8.RuneCountInString(out)-countZeroWidth(out) { // every visible rune takes a column or two
			t.Fatalf("Width(%q) = %d", out, w)
		}
		n = n % 200
		cut := Truncate(out, n)
		if !utf8.ValidString(cut) || Width(cut) > max(n, 0) {
			t.Fatalf("Truncate(%q, %d) = %q (width %d)", out, n, cut, Width(cut))
		}
		if Width(out) <= n && cut != out {
			t.Fatalf("Truncate(%q, %d) cut a string that fits: %q", out, n, cut)
		}
	})
}

func countZeroWidth(s string) int {
	n := 0
	for _, r := range s {
		if runeWidth(r) == 0 {
			n++
		}
	}
	return n
}

// BenchmarkString: a clean name (the common case, no allocation) and a
// hostile one.
func BenchmarkString(b *testing.B) {
	for _, bc := range []struct{ name, in string }{
		{"clean", "Free Software Song - 日本語の歌 (live).ogg"},
		{"hostile", "\x1b]0;title\x07\x1b[2J\u202e3pm.exe\r\n"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(bc.in)))
			for b.Loop() {
				_ = String(bc.in)
			}
		})
	}
}

func BenchmarkWidth(b *testing.B) {
	s := "Free Software Song - 日本語の歌 (live) 🎉.ogg"
	b.ReportAllocs()
	b.SetBytes(int64(len(s)))
	for b.Loop() {
		_ = Width(s)
	}
}
