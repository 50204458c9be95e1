package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unsafe"
)

// MaxHits is the maximum number of hits the requester wants (low byte of a
// marked flags word); 0 means no limit, as does an unmarked word.
func (f QueryFlags) MaxHits() int {
	if f&FlagMark == 0 {
		return 0
	}
	return int(f & FlagMaxHitsMask)
}

// Has reports whether flag bit is set in a marked flags word. GTKG reads a
// non-zero word without FlagMark as "marked, no flags", so Has is false for
// any bit of such a word.
func (f QueryFlags) Has(bit QueryFlags) bool { return f&FlagMark != 0 && f&bit == bit }

// urnOnlyCriteria is what GTKG puts in the criteria of a URN-only query.
const urnOnlyCriteria = `\`

// Decode reads a Query payload (GNUTELLA.md 4.5): the flags word
// (big-endian), the NUL-terminated criteria, then an extension block parsed
// leniently like GTKG's ext_parse(): 00 and 1C both separate extensions, C3
// starts a GGEP block, urn:sha1 / urn:bitprint text and GGEP H type 01/02 go
// to SHA1s (deduplicated, wire order), other "urn:" texts to URNs verbatim,
// other text extensions are skipped, and a malformed GGEP block is skipped up
// to the next separator (the Query is kept). Every GGEP extension read,
// including H, is kept in GGEP. A criteria of `\` (GTKG's URN-only query)
// decodes as "".
//
// Criteria and URNs are copies: Decode allocates one string for a non-empty
// criteria and one per other urn. GGEP data aliases payload. The slices
// already in m are reused. See DecodeShared for the allocation-free variant.
//
// Errors: fewer than 2 bytes or no NUL after the criteria.
func (m *Query) Decode(payload []byte) error { return m.decode(payload, false) }

// DecodeShared is Decode without copying: Criteria and URNs are strings
// that alias payload (made with unsafe.String). They are valid only while
// payload is unchanged, e.g. until the next Decoder.Next; a caller that keeps
// them must strings.Clone them first. With a reused Query it allocates
// nothing unless GGEP needs COBS or deflate undone. Meant for the routing hot
// path (QRP check, then forward the raw bytes).
func (m *Query) DecodeShared(payload []byte) error { return m.decode(payload, true) }

func (m *Query) decode(payload []byte, shared bool) error {
	if len(payload) < 2 {
		return fmt.Errorf("%w: query of %d bytes, want >= 2", ErrTruncated, len(payload))
	}
	m.Flags = QueryFlags(binary.BigEndian.Uint16(payload))
	rest := payload[2:]
	nul := indexNUL(rest)
	if nul < 0 {
		return fmt.Errorf("%w: query criteria not NUL-terminated", ErrMalformed)
	}
	crit := rest[:nul]
	switch {
	case len(crit) == 0 || string(crit) == urnOnlyCriteria:
		m.Criteria = ""
	case shared:
		m.Criteria = unsafe.String(&crit[0], len(crit))
	default:
		// Always a fresh copy: reusing an equal old string could keep one
		// that DecodeShared made, aliasing a buffer that changes later.
		m.Criteria = string(crit)
	}
	m.SHA1s = m.SHA1s[:0]
	clear(m.URNs)
	m.URNs = m.URNs[:0]
	clear(m.GGEP)
	m.GGEP = m.GGEP[:0]

	ext := rest[nul+1:]
	budget := MaxGGEPInflate // for all the GGEP blocks of the query
	for i := 0; i < len(ext); {
		c := ext[i]
		if c == 0 || c == extSep {
			i++
			continue
		}
		if c == ggepMagic {
			before := len(m.GGEP)
			g, n, err := parseGGEPBudget(m.GGEP, ext[i:], &budget)
			m.GGEP = g
			if err == nil {
				for k := before; k < len(m.GGEP); k++ {
					if s, ok := ggepHSHA1(&m.GGEP[k]); ok {
						m.addSHA1(s)
					}
				}
				i += n
				continue
			}
			// Bad block: skip it like an unknown text extension.
		}
		j := i + extEnd(ext[i:])
		text := ext[i:j]
		i = j
		if !hasURNPrefix(text) {
			continue // XML or unknown: skipped
		}
		var s SHA1
		if parseSHA1URNInto(&s, text) {
			m.addSHA1(s)
			continue
		}
		if shared {
			m.URNs = append(m.URNs, unsafe.String(&text[0], len(text)))
		} else {
			m.URNs = append(m.URNs, string(text))
		}
	}
	if len(m.GGEP) == 0 && cap(m.GGEP) == 0 {
		m.GGEP = nil
	}
	return nil
}

func (m *Query) addSHA1(s SHA1) {
	for _, have := range m.SHA1s {
		if have == s {
			return
		}
	}
	m.SHA1s = append(m.SHA1s, s)
}

// Append appends the Query payload GTKG style: flags big-endian, criteria
// (`\` when Criteria is empty and SHA1s is not), NUL, then the urn:sha1 texts,
// URNs and the GGEP block separated by 1C, with no trailing NUL.
func (m *Query) Append(dst []byte) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(m.Flags))
	if m.Criteria == "" && len(m.SHA1s) > 0 {
		dst = append(dst, urnOnlyCriteria...)
	} else {
		dst = append(dst, m.Criteria...)
	}
	dst = append(dst, 0)
	sep := false
	for _, s := range m.SHA1s {
		if sep {
			dst = append(dst, extSep)
		}
		dst = s.AppendURN(dst)
		sep = true
	}
	for _, u := range m.URNs {
		if sep {
			dst = append(dst, extSep)
		}
		dst = append(dst, u...)
		sep = true
	}
	if len(m.GGEP) > 0 {
		n := len(dst)
		if sep {
			dst = append(dst, extSep)
		}
		if d := m.GGEP.Append(dst); len(d) > len(dst) {
			dst = d
		} else {
			dst = dst[:n]
		}
	}
	return dst
}

// extSep (FS) separates HUGE extensions.
const extSep = 0x1C

// extEnd is the length of the text extension at the start of b: up to the
// next 00 or 1C (two vectorised scans beat one byte loop).
func extEnd(b []byte) int {
	n := len(b)
	if k := bytes.IndexByte(b, extSep); k >= 0 {
		n = k
	}
	if k := bytes.IndexByte(b[:n], 0); k >= 0 {
		n = k
	}
	return n
}

func indexNUL(b []byte) int { return bytes.IndexByte(b, 0) }

func hasPrefixFoldB(b []byte, prefix string) bool {
	if len(b) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// parseSHA1URNBytes is ParseSHA1URN on bytes, without allocating.
func parseSHA1URNBytes(b []byte) (SHA1, bool) {
	var out SHA1
	return out, parseSHA1URNInto(&out, b)
}

// Lower-cased prefixes as little-endian words: every byte of "urn:sha1"
// has bit 5 set in lower case, so OR-ing 0x20 into each input byte folds
// case without mapping any other byte onto them.
var (
	urnWord     = binary.LittleEndian.Uint32([]byte("urn:"))
	urnSHA1Word = binary.LittleEndian.Uint64([]byte("urn:sha1"))
)

// hasURNPrefix reports whether b starts with "urn:", any case.
func hasURNPrefix(b []byte) bool {
	return len(b) >= 4 && binary.LittleEndian.Uint32(b)|0x20202020 == urnWord
}

// parseSHA1URNInto decodes "urn:sha1:<32>" or "urn:bitprint:<32>.<39>"
// (prefix and digits in either case) into dst.
func parseSHA1URNInto(dst *SHA1, b []byte) bool {
	if len(b) == len(sha1URNPrefix)+sha1Base32Len && b[8] == ':' &&
		binary.LittleEndian.Uint64(b)|0x2020202020202020 == urnSHA1Word {
		return decodeSHA1Base32(dst, b[len(sha1URNPrefix):])
	}
	if hasPrefixFoldB(b, bitprintURNPrefix) {
		digits := b[len(bitprintURNPrefix):]
		if len(digits) > sha1Base32Len && digits[sha1Base32Len] == '.' {
			digits = digits[:sha1Base32Len]
		}
		return decodeSHA1Base32(dst, digits)
	}
	return false
}

// b32Value maps a base32 digit (RFC 4648, either case) to its value; 0xFF
// marks anything else.
var b32Value = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xFF
	}
	for i, c := range "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" {
		t[c] = byte(i)
		if c >= 'A' && c <= 'Z' {
			t[c+'a'-'A'] = byte(i)
		}
	}
	return t
}()

// decodeSHA1Base32 decodes exactly 32 base32 digits, either case, into
// dst: 4 groups of 8 digits = 40 bits = 5 bytes. encoding/base32 is 5x
// slower here. dst is left alone on error.
func decodeSHA1Base32(dst *SHA1, d []byte) bool {
	if len(d) != sha1Base32Len {
		return false
	}
	var out SHA1
	bad := byte(0)
	for g := 0; g < 4; g++ {
		v, b := b32Group((*[8]byte)(d[g*8:]))
		bad |= b
		o := (*[5]byte)(out[g*5:])
		o[0], o[1], o[2], o[3], o[4] = byte(v>>32), byte(v>>24), byte(v>>16), byte(v>>8), byte(v)
	}
	if bad&0x80 != 0 {
		return false
	}
	*dst = out
	return true
}

// b32Group decodes 8 base32 digits to 40 bits; bad has bit 7 set if one was
// not a digit.
func b32Group(p *[8]byte) (v uint64, bad byte) {
	a, b, c, e := b32Value[p[0]], b32Value[p[1]], b32Value[p[2]], b32Value[p[3]]
	f, h, i, j := b32Value[p[4]], b32Value[p[5]], b32Value[p[6]], b32Value[p[7]]
	// An invalid digit (FF) garbles v, but bad tells the caller to drop it.
	v = uint64(a)<<35 | uint64(b)<<30 | uint64(c)<<25 | uint64(e)<<20 |
		uint64(f)<<15 | uint64(h)<<10 | uint64(i)<<5 | uint64(j)
	return v, a | b | c | e | f | h | i | j
}

// ggepHSHA1 decodes a GGEP "H" extension: 01 + SHA-1, or 02 + SHA-1 +
// Tiger root (bitprint; the SHA-1 is kept).
func ggepHSHA1(e *Extension) (SHA1, bool) {
	if e.ID != "H" || len(e.Data) < 1+len(SHA1{}) {
		return SHA1{}, false
	}
	switch {
	case e.Data[0] == 0x01 && len(e.Data) == 21, e.Data[0] == 0x02 && len(e.Data) == 45:
		return SHA1(e.Data[1:21]), true
	}
	return SHA1{}, false
}
