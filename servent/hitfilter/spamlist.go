// Package hitfilter decides whether a search result is spam or comes from a
// hostile host, before it is counted or shown (issue 15). It holds the
// lists gtk-gnutella reads, in their formats: spam.txt (SHA-1s, name
// patterns, size ranges) and hostiles.txt (address ranges). No I/O beyond
// the io.Reader it is given.
package hitfilter

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/servent/servent/protocol"
)

// MaxLine is the longest line a list may hold, as gtk-gnutella's 1024-byte
// line buffer: a longer one means a corrupt or hand-mangled file, and
// reading stops there.
const MaxLine = 1024

// maxProblems bounds the problems a load reports (the counts stay exact).
const maxProblems = 20

// Problem is a line of a list that was not taken.
type Problem struct {
	Line int
	Why  string
}

func (p Problem) String() string { return fmt.Sprintf("line %d: %s", p.Line, p.Why) }

// Load is what reading a list gave: the entries taken and what was not.
type Load struct {
	Entries  int
	Damaged  int       // entries or lines skipped
	Problems []Problem // the first few, for the log
	Stopped  error     // reading ended early (a line too long, a read error)
}

func (l *Load) problem(line int, format string, args ...any) {
	l.Damaged++
	if len(l.Problems) < maxProblems {
		l.Problems = append(l.Problems, Problem{Line: line, Why: fmt.Sprintf(format, args...)})
	}
}

// nameRule is a NAME entry: a POSIX extended regular expression on the
// file name, within a size range.
type nameRule struct {
	re       *regexp.Regexp
	min, max uint64
}

// SpamList is gtk-gnutella's spam database. The zero value holds nothing.
type SpamList struct {
	sha1s map[protocol.SHA1]struct{}
	names []nameRule
}

// ParseSpamList reads gtk-gnutella's spam.txt format: entries of tagged
// lines ending with END,
//
//	# comment
//	SHA1 <32 base32 digits>
//	NAME <POSIX extended regular expression on the file name>
//	SIZE <bytes> or <min>-<max>       (with NAME)
//	ADDED <date>
//	END
//
// An entry needs SHA1 or NAME, and ADDED (gtk-gnutella's rules); a damaged
// entry is skipped and counted, unknown tags are ignored, a tag twice in
// one entry keeps the first. Patterns run on Go's linear-time engine, so a
// hostile pattern cannot stall a search.
func ParseSpamList(r io.Reader) (*SpamList, Load) {
	l := &SpamList{sha1s: map[protocol.SHA1]struct{}{}}
	var ld Load
	type entry struct {
		sha1             protocol.SHA1
		name             string
		min, max         uint64
		hasSHA1, hasName bool
		hasSize, added   bool
		damaged          bool
		seen             map[string]bool
	}
	e := entry{seen: map[string]bool{}}
	lineNo := 0
	eachLine(r, &ld, func(line string) {
		lineNo++
		if skippable(line) {
			return
		}
		tag, value, _ := strings.Cut(line, " ")
		switch tag {
		case "SHA1", "NAME", "SIZE", "ADDED", "END":
		default:
			return // unknown tags are ignored, as gtk-gnutella does
		}
		if tag != "END" && e.seen[tag] {
			ld.problem(lineNo, "%s twice in one entry", tag)
			return
		}
		e.seen[tag] = true
		switch tag {
		case "SHA1":
			s, err := protocol.ParseSHA1Base32(value)
			if err != nil {
				e.damaged = true
				ld.problem(lineNo, "bad SHA1 %q", clip(value))
				return
			}
			e.sha1, e.hasSHA1 = s, true
		case "NAME":
			if value == "" || !utf8.ValidString(value) {
				e.damaged = true
				ld.problem(lineNo, "NAME empty or not UTF-8")
				return
			}
			e.name, e.hasName = value, true
		case "SIZE":
			lo, hi, ok := parseSizeRange(value)
			if !ok {
				e.damaged = true
				ld.problem(lineNo, "bad SIZE %q", clip(value))
				return
			}
			e.min, e.max, e.hasSize = lo, hi, true
		case "ADDED":
			e.added = strings.TrimSpace(value) != ""
			if !e.added {
				e.damaged = true
				ld.problem(lineNo, "ADDED without a date")
			}
		case "END":
			ok := !e.damaged
			if !e.hasSHA1 && !e.hasName {
				ld.problem(lineNo, "entry without SHA1 or NAME")
				ok = false
			} else if !e.added && !e.damaged {
				ld.problem(lineNo, "entry without ADDED")
				ok = false
			}
			if ok && e.hasSHA1 {
				l.sha1s[e.sha1] = struct{}{}
				ld.Entries++
			}
			if ok && e.hasName {
				re, err := regexp.CompilePOSIX(e.name)
				switch {
				case err != nil:
					ld.problem(lineNo, "NAME pattern: %v", err)
				default:
					rule := nameRule{re: re, min: 0, max: math.MaxUint64}
					if e.hasSize {
						rule.min, rule.max = e.min, e.max
					}
					l.names = append(l.names, rule)
					ld.Entries++
				}
			}
			e = entry{seen: map[string]bool{}}
		}
	})
	if len(e.seen) > 0 {
		ld.problem(lineNo, "last entry has no END")
	}
	return l, ld
}

// parseSizeRange reads "N" or "MIN-MAX" in bytes.
func parseSizeRange(s string) (lo, hi uint64, ok bool) {
	a, b, isRange := strings.Cut(strings.TrimSpace(s), "-")
	lo, err := strconv.ParseUint(a, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if !isRange {
		return lo, lo, true
	}
	hi, err = strconv.ParseUint(b, 10, 64)
	if err != nil || hi < lo {
		return 0, 0, false
	}
	return lo, hi, true
}

// Len is the number of entries.
func (l *SpamList) Len() int {
	if l == nil {
		return 0
	}
	return len(l.sha1s) + len(l.names)
}

// SpamSHA1 reports whether a result with this SHA-1 is listed spam.
func (l *SpamList) SpamSHA1(s protocol.SHA1) bool {
	if l == nil || s.IsZero() {
		return false
	}
	_, ok := l.sha1s[s]
	return ok
}

// SpamName reports whether a file name of this size matches a NAME entry.
func (l *SpamList) SpamName(name string, size uint64) bool {
	if l == nil {
		return false
	}
	for _, r := range l.names {
		if size >= r.min && size <= r.max && r.re.MatchString(name) {
			return true
		}
	}
	return false
}

// eachLine calls fn with each line of r, without its line ending. A line
// over MaxLine bytes or a read error stops reading (ld.Stopped).
func eachLine(r io.Reader, ld *Load, fn func(string)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, MaxLine+2), MaxLine+2) // room for "\r\n"; a larger first buffer would raise the limit
	for sc.Scan() {
		fn(strings.TrimSuffix(sc.Text(), "\r"))
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			err = fmt.Errorf("a line is longer than %d bytes: the file is corrupt", MaxLine)
		}
		ld.Stopped = err
	}
}

// skippable is gtk-gnutella's file_line_is_skipable: empty, blank or a
// comment.
func skippable(line string) bool {
	t := strings.TrimLeft(line, " \t")
	return t == "" || t[0] == '#'
}

// clip shortens a value quoted in a problem.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
