package hitfilter

import (
	"cmp"
	"io"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Hostiles is gtk-gnutella's hostile address list: hosts we never dial,
// whose connections we refuse and whose hits we drop. The zero value holds
// nothing.
type Hostiles struct {
	v4 []span4        // sorted, merged
	v6 []netip.Prefix // few in practice: a linear scan
}

type span4 struct{ lo, hi uint32 }

// ParseHostiles reads gtk-gnutella's hostiles.txt format: one address or
// range a line, `#` comments and blank lines skipped, trailing blanks
// ignored. A range is ADDR/BITS or, for IPv4, ADDR/NETMASK; IPv6 is taken
// too. Host bits set in a range are cleared (198.51.100.7/24 is the /24),
// as gtk-gnutella reads it.
func ParseHostiles(r io.Reader) (*Hostiles, Load) {
	h := &Hostiles{}
	var ld Load
	lineNo := 0
	eachLine(r, &ld, func(line string) {
		lineNo++
		fields := strings.Fields(line)
		if skippable(line) || len(fields) == 0 { // blank in any Unicode sense
			return
		}
		field := fields[0]
		p, ok := parseRange(field)
		if !ok {
			ld.problem(lineNo, "not an address or range: %q", clip(field))
			return
		}
		ld.Entries++
		if p.Addr().Is4() {
			a := p.Addr().As4()
			lo := uint32(a[0])<<24 | uint32(a[1])<<16 | uint32(a[2])<<8 | uint32(a[3])
			hi := lo | uint32(uint64(1)<<(32-p.Bits())-1)
			h.v4 = append(h.v4, span4{lo, hi})
			return
		}
		h.v6 = append(h.v6, p)
	})
	h.v4 = mergeSpans(h.v4)
	return h, ld
}

// parseRange reads ADDR, ADDR/BITS or IPv4 ADDR/NETMASK as a masked prefix.
func parseRange(s string) (netip.Prefix, bool) {
	addr, mask, hasMask := strings.Cut(s, "/")
	a, err := netip.ParseAddr(addr)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	bits := a.BitLen()
	if hasMask {
		if m, err := netip.ParseAddr(mask); err == nil && m.Is4() && a.Is4() {
			bits = netmaskBits(m.As4())
		} else {
			bits = -1
			if n, err := strconv.Atoi(mask); err == nil && len(mask) <= 3 && mask[0] != '+' {
				bits = n
			}
		}
	}
	p, err := a.Prefix(bits)
	if err != nil {
		return netip.Prefix{}, false
	}
	return p, true
}

// netmaskBits is the prefix length of a contiguous netmask, -1 otherwise.
func netmaskBits(m [4]byte) int {
	v := uint32(m[0])<<24 | uint32(m[1])<<16 | uint32(m[2])<<8 | uint32(m[3])
	n := 0
	for n < 32 && v&(1<<(31-n)) != 0 {
		n++
	}
	if v<<n != 0 { // ones after a zero
		return -1
	}
	return n
}

func mergeSpans(s []span4) []span4 {
	slices.SortFunc(s, func(a, b span4) int { return cmp.Compare(a.lo, b.lo) })
	out := s[:0]
	for _, x := range s {
		if n := len(out); n > 0 && (x.lo <= out[n-1].hi || x.lo == out[n-1].hi+1 && out[n-1].hi != ^uint32(0)) {
			out[n-1].hi = max(out[n-1].hi, x.hi)
			continue
		}
		out = append(out, x)
	}
	return slices.Clip(out)
}

// Len is the number of ranges kept (IPv4 ranges merged).
func (h *Hostiles) Len() int {
	if h == nil {
		return 0
	}
	return len(h.v4) + len(h.v6)
}

// Hostile reports whether a is in a listed range.
func (h *Hostiles) Hostile(a netip.Addr) bool {
	if h == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	if a.Is4() {
		b := a.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		i, _ := slices.BinarySearchFunc(h.v4, v, func(s span4, v uint32) int {
			switch {
			case s.hi < v:
				return -1
			case s.lo > v:
				return 1
			}
			return 0
		})
		return i < len(h.v4) && h.v4[i].lo <= v && v <= h.v4[i].hi
	}
	for _, p := range h.v6 {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
