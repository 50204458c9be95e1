package httphdr

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/servent/servent/protocol/internal/textwire"
)

// MaxRanges is the most ranges ParseAvailableRanges and NewRanges keep.
const MaxRanges = 256

// Range is an inclusive byte range, as HTTP writes it.
type Range struct {
	First, Last int64
}

// Len is the number of bytes in r.
func (r Range) Len() int64 { return r.Last - r.First + 1 }

// Ranges is a set of byte ranges of a file: sorted, disjoint and not
// touching (adjacent ranges are merged), within [0, size).
type Ranges []Range

// NewRanges makes a Ranges of rs for a file of size bytes: ranges are
// clipped to the file, empty or reversed ones dropped, the rest sorted and
// merged; past MaxRanges the lowest are kept. rs is reordered in place.
func NewRanges(size int64, rs ...Range) Ranges {
	kept := rs[:0]
	for _, r := range rs {
		if r.First < 0 || r.First >= size {
			continue
		}
		r.Last = min(r.Last, size-1)
		if r.Last < r.First {
			continue
		}
		kept = append(kept, r)
	}
	slices.SortFunc(kept, func(a, b Range) int {
		switch {
		case a.First < b.First:
			return -1
		case a.First > b.First:
			return 1
		}
		return 0
	})
	out := kept[:0]
	for _, r := range kept {
		if n := len(out); n > 0 && r.First <= out[n-1].Last+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	if len(out) > MaxRanges {
		out = out[:MaxRanges]
	}
	if len(out) == 0 {
		return nil
	}
	return slices.Clip(Ranges(out))
}

// ParseAvailableRanges reads an X-Available-Ranges value (PFSP) for a file
// of size bytes, as gtkg's http_range_parser does for a reply: the unit
// "bytes" followed by a blank (gtkg also takes '='), then "first-last"
// items separated by ',' with any blanks ("bytes 0-1048575" in interop 62,
// ", " between items in gtkg's fileinfo.c). A last byte past the end is
// clipped to it, "first-" runs to the end; an item starting at or past the
// end, a suffix "-n" (not valid in a reply), a reversed or unreadable item
// is skipped. A "bytes" unit at the start of a later item is skipped too, so
// several X-Available-Ranges headers joined with ',' read as one. "bytes"
// alone (LimeWire: a partial file with nothing to share yet) is an empty set.
//
// Errors: ErrTooLong; ErrMalformed for a size outside 1..2^63-1 or a value
// not in bytes.
func ParseAvailableRanges(value string, size int64) (Ranges, error) {
	if err := checkLen("X-Available-Ranges", value); err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, fmt.Errorf("%w: X-Available-Ranges for a file of %d bytes", ErrMalformed, size)
	}
	v := trimSpace(value)
	if !textwire.HasPrefixFold(v, "bytes") || len(v) > 5 && !isSpace(v[5]) && v[5] != '=' {
		return nil, fmt.Errorf("%w: X-Available-Ranges %s: not in bytes", ErrMalformed, textwire.QuoteShort(value))
	}
	rs := make([]Range, 0, min(1+strings.Count(v, ","), MaxValueLen/4))
	splitItems(v, ",", func(item string) bool {
		if textwire.HasPrefixFold(item, "bytes") {
			item = trimSpace(item[len("bytes"):])
		}
		item = trimSpace(strings.TrimPrefix(item, "="))
		first, last, ok := strings.Cut(item, "-")
		if !ok {
			return true
		}
		r := Range{Last: size - 1}
		if r.First, ok = parseOffset(trimSpace(first)); !ok {
			return true // also "-n", a suffix range
		}
		if last = trimSpace(last); last != "" {
			if r.Last, ok = parseOffset(last); !ok {
				return true
			}
		}
		rs = append(rs, r)
		return true
	})
	return NewRanges(size, rs...), nil
}

// parseOffset reads a byte offset in decimal, at most 2^63-1.
func parseOffset(s string) (int64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// AppendAvailableRanges writes rs as gtkg writes X-Available-Ranges:
// "bytes 0-1048575, 2097152-3145727". It writes nothing for an empty set:
// send no header then (a 2xx without one means "the whole file").
func AppendAvailableRanges(dst []byte, rs Ranges) []byte {
	for i, r := range rs {
		if i == 0 {
			dst = append(dst, "bytes "...)
		} else {
			dst = append(dst, ", "...)
		}
		dst = strconv.AppendInt(dst, r.First, 10)
		dst = append(dst, '-')
		dst = strconv.AppendInt(dst, r.Last, 10)
	}
	return dst
}

// FormatAvailableRanges is AppendAvailableRanges as a string.
func FormatAvailableRanges(rs Ranges) string { return string(AppendAvailableRanges(nil, rs)) }

// Total is the number of bytes in the set.
func (rs Ranges) Total() int64 {
	var n int64
	for _, r := range rs {
		n += r.Len()
	}
	return n
}

// find is the index of the first range ending at or after off.
func (rs Ranges) find(off int64) int {
	i, _ := slices.BinarySearchFunc(rs, off, func(r Range, off int64) int {
		if r.Last < off {
			return -1
		}
		return 1
	})
	return i
}

// Contains reports whether every byte of first..last is in the set.
func (rs Ranges) Contains(first, last int64) bool {
	if first > last {
		return false
	}
	i := rs.find(first)
	return i < len(rs) && rs[i].First <= first && last <= rs[i].Last
}

// Next is the first run of held bytes at or after off: the range holding
// off, cut to start there, or the next range. It is what a downloader
// missing bytes from off on should ask this source for.
func (rs Ranges) Next(off int64) (Range, bool) {
	i := rs.find(off)
	if i == len(rs) {
		return Range{}, false
	}
	r := rs[i]
	r.First = max(r.First, off)
	return r, true
}

// Largest is the longest run of held bytes at or after off (ranges cut to
// start at off), the lowest of equal ones.
func (rs Ranges) Largest(off int64) (Range, bool) {
	var best Range
	found := false
	for _, r := range rs[rs.find(off):] {
		r.First = max(r.First, off)
		if !found || r.Len() > best.Len() {
			best, found = r, true
		}
	}
	return best, found
}

// ParseAvailable reads an X-Available value, "bytes <n>": how many bytes a
// server holding a partial file has (gtkg sends it on 503s, and with a
// truncated X-Available-Ranges).
func ParseAvailable(value string) (int64, error) {
	if err := checkLen("X-Available", value); err != nil {
		return 0, err
	}
	v := trimSpace(value)
	if textwire.HasPrefixFold(v, "bytes") {
		if rest := v[len("bytes"):]; rest != "" && isSpace(rest[0]) {
			if n, ok := parseOffset(trimSpace(rest)); ok {
				return n, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: X-Available %s: want \"bytes <n>\"", ErrMalformed, textwire.QuoteShort(value))
}

// AppendAvailable writes "bytes <n>".
func AppendAvailable(dst []byte, n int64) []byte {
	return strconv.AppendInt(append(dst, "bytes "...), n, 10)
}
