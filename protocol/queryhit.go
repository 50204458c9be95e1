package protocol

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"unsafe"
)

const (
	// QueryHitHeaderLen is the fixed QueryHit header: N, port, IPv4, speed.
	QueryHitHeaderLen = 11
	// minResultLen is the smallest result record: index, size, two NULs.
	minResultLen = 10
	// sizeLF is the 32-bit size field of a result whose real size is in
	// GGEP "LF".
	sizeLF = 0xFFFFFFFF

	// Open-data flag bits (GNUTELLA.md 4.6).
	qhdPush     = 0x01
	qhdBusy     = 0x04
	qhdUploaded = 0x08
	qhdSpeed    = 0x10
	qhdGGEP     = 0x20
	// qhdEnable is byte A as GTKG writes it: busy, uploaded and GGEP valid.
	qhdEnable = qhdBusy | qhdUploaded | qhdGGEP
)

// Decode reads a QueryHit payload (GNUTELLA.md 4.6).
//
// Results are parsed first, N times (index, size, NUL-terminated name,
// NUL-terminated extension area parsed like a Query's: text urn:sha1 or
// GGEP H gives SHA1, GGEP LF gives Size, other urns go to URNs, the other
// GGEP extensions to GGEP); the trailer is what remains before the last 16
// bytes (servent GUID). Trailer: vendor code, open-data size (any size that
// fits: GTKG 2, LimeWire 4, NapShare 1), flag bytes A and B with GTKG's rule
// status = A & B (push flag = bit 0 of A, valid when bit 0 of B; with a
// 1-byte open data, bit 0 of that byte), then a private-area GGEP block. A
// trailer shorter than 4 bytes (none at all, as very old servents did) is
// accepted and leaves Vendor zero.
//
// Malformed GGEP blocks in results or the trailer are dropped and the hit
// kept. Errors: less than 27 bytes, N = 0 (GTKG drops those), N larger than
// the payload can hold (checked before anything is allocated), a record
// without its NULs, open data running past the trailer.
//
// Names and URNs are substrings of one string copied from the payload (one
// allocation for the whole hit, the size of the names and urns); GGEP data aliases payload; the Results slice
// and each result's slices are reused.
func (m *QueryHit) Decode(payload []byte) error { return m.decode(payload, false) }

// DecodeShared is Decode with Names and URNs aliasing payload (unsafe.String):
// valid only while payload is unchanged; strings.Clone what you keep.
func (m *QueryHit) DecodeShared(payload []byte) error { return m.decode(payload, true) }

func (m *QueryHit) decode(payload []byte, shared bool) error {
	if len(payload) < QueryHitHeaderLen+len(GUID{}) {
		return fmt.Errorf("%w: queryhit of %d bytes, want >= %d", ErrTruncated, len(payload), QueryHitHeaderLen+len(GUID{}))
	}
	n := int(payload[0])
	if n == 0 {
		return fmt.Errorf("%w: queryhit with 0 results", ErrMalformed)
	}
	end := len(payload) - len(GUID{})
	if n*minResultLen > end-QueryHitHeaderLen {
		return fmt.Errorf("%w: queryhit announces %d results, payload holds at most %d", ErrTruncated, n, (end-QueryHitHeaderLen)/minResultLen)
	}
	m.Port = binary.LittleEndian.Uint16(payload[1:3])
	m.IP = netip.AddrFrom4([4]byte(payload[3:7]))
	m.Speed = binary.LittleEndian.Uint32(payload[7:11])
	copy(m.ServentGUID[:], payload[end:])

	// Names and urns first alias payload; Decode then copies them all into
	// one string (one allocation per hit).
	region := payload[QueryHitHeaderLen:end]
	str := unsafe.String(&region[0], len(region))

	if cap(m.Results) >= n {
		m.Results = m.Results[:n]
	} else {
		m.Results = append(m.Results[:cap(m.Results)], make([]Result, n-cap(m.Results))...)
	}
	pos := QueryHitHeaderLen
	budget := MaxGGEPInflate // for all the GGEP blocks of the hit
	for k := range m.Results {
		r := &m.Results[k]
		if end-pos < minResultLen {
			return fmt.Errorf("%w: queryhit result %d of %d", ErrTruncated, k+1, n)
		}
		r.Index = binary.LittleEndian.Uint32(payload[pos:])
		r.Size = uint64(binary.LittleEndian.Uint32(payload[pos+4:]))
		pos += 8
		nameLen := indexNUL(payload[pos:end])
		if nameLen < 0 {
			return fmt.Errorf("%w: queryhit result %d: name not NUL-terminated", ErrMalformed, k+1)
		}
		r.Name = str[pos-QueryHitHeaderLen : pos-QueryHitHeaderLen+nameLen]
		pos += nameLen + 1
		extLen := indexNUL(payload[pos:end])
		if extLen < 0 {
			return fmt.Errorf("%w: queryhit result %d: extensions not NUL-terminated", ErrMalformed, k+1)
		}
		r.decodeExt(payload[pos:pos+extLen], str, pos-QueryHitHeaderLen, &budget)
		pos += extLen + 1
	}
	if !shared {
		m.copyStrings()
	}
	return m.decodeTrailer(payload[pos:end], &budget)
}

// copyStrings replaces the names and urns, which alias the payload, by
// substrings of one fresh string.
func (m *QueryHit) copyStrings() {
	total := 0
	for k := range m.Results {
		r := &m.Results[k]
		total += len(r.Name)
		for _, u := range r.URNs {
			total += len(u)
		}
	}
	var sb strings.Builder
	sb.Grow(total)
	for k := range m.Results {
		r := &m.Results[k]
		sb.WriteString(r.Name)
		for _, u := range r.URNs {
			sb.WriteString(u)
		}
	}
	all := sb.String()
	off := 0
	take := func(n int) string {
		s := all[off : off+n]
		off += n
		return s
	}
	for k := range m.Results {
		r := &m.Results[k]
		r.Name = take(len(r.Name))
		for i, u := range r.URNs {
			r.URNs[i] = take(len(u))
		}
	}
}

// decodeExt parses a result's extension area ext, which starts at offset
// off in str (the hit's shared string). Inflated GGEP data comes out of
// *budget.
func (r *Result) decodeExt(ext []byte, str string, off int, budget *int) {
	r.SHA1, r.TTH = SHA1{}, TTH{}
	clear(r.URNs)
	r.URNs = r.URNs[:0]
	clear(r.GGEP)
	r.GGEP = r.GGEP[:0]
	for i := 0; i < len(ext); {
		c := ext[i]
		if c == extSep { // 00 cannot occur: ext ends at the first one
			i++
			continue
		}
		if c == ggepMagic {
			if g, n, err := parseGGEPBudget(r.GGEP, ext[i:], budget); err == nil {
				r.GGEP = g
				i += n
				continue
			}
		}
		j := len(ext) // no 00 inside: only 1C ends a text extension
		if k := bytes.IndexByte(ext[i:], extSep); k >= 0 {
			j = i + k
		}
		text := ext[i:j]
		t0 := i
		i = j
		if !hasURNPrefix(text) {
			continue
		}
		if r.TTH.IsZero() && (hasPrefixFoldB(text, bitprintURNPrefix) || hasPrefixFoldB(text, "urn:tree:") || hasPrefixFoldB(text, ttrootURNPrefix)) {
			if t, err := ParseTTHURN(string(text)); err == nil {
				r.TTH = t
				if !hasPrefixFoldB(text, bitprintURNPrefix) {
					continue // a bitprint goes on to give the SHA-1
				}
			}
		}
		if r.SHA1.IsZero() {
			if parseSHA1URNInto(&r.SHA1, text) {
				continue
			}
		} else if s, ok := parseSHA1URNBytes(text); ok && s == r.SHA1 {
			continue
		}
		r.URNs = append(r.URNs, str[off+t0:off+j])
	}
	// H and LF are decoded into SHA1 and Size, and leave GGEP.
	kept := r.GGEP[:0]
	for k := range r.GGEP {
		e := r.GGEP[k]
		switch e.ID {
		case "H":
			if s, ok := ggepHSHA1(&e); ok && (r.SHA1.IsZero() || r.SHA1 == s) {
				r.SHA1 = s
				if len(e.Data) == 45 && r.TTH.IsZero() {
					r.TTH = TTH(e.Data[21:45])
				}
				continue
			}
		case "TT": // gtk-gnutella's root (GNUTELLA-TRANSFERS.md 23.2)
			if len(e.Data) == len(TTH{}) {
				r.TTH = TTH(e.Data)
				continue
			}
		case "LF":
			if v, err := ParseVLInt(e.Data); err == nil && len(e.Data) > 0 {
				r.Size = v
				continue
			}
		}
		kept = append(kept, e)
	}
	clear(r.GGEP[len(kept):])
	r.GGEP = kept
	if len(r.GGEP) == 0 && cap(r.GGEP) == 0 {
		r.GGEP = nil
	}
}

func (m *QueryHit) decodeTrailer(t []byte, budget *int) error {
	m.Vendor = [4]byte{}
	m.Push, m.Busy, m.Uploaded, m.Measured = false, false, false, false
	clear(m.GGEP)
	m.GGEP = m.GGEP[:0]
	defer func() {
		if len(m.GGEP) == 0 && cap(m.GGEP) == 0 {
			m.GGEP = nil
		}
	}()
	if len(t) < 4 {
		return nil // no trailer (or a stub of one): nothing known
	}
	m.Vendor = [4]byte(t[:4])
	if len(t) == 4 {
		return nil
	}
	size := int(t[4])
	if 5+size > len(t) {
		return fmt.Errorf("%w: queryhit open data of %d bytes, trailer has %d", ErrTruncated, size, len(t)-5)
	}
	switch {
	case size >= 2:
		a, b := t[5], t[6]
		status := a & b
		m.Push = b&qhdPush != 0 && a&qhdPush != 0
		m.Busy = status&qhdBusy != 0
		m.Uploaded = status&qhdUploaded != 0
		m.Measured = status&qhdSpeed != 0
	case size == 1:
		m.Push = t[5]&qhdPush != 0
	}
	m.GGEP = trailingGGEPBudget(m.GGEP, t[5+size:], budget)
	return nil
}

// Append appends the QueryHit payload: at most 255 results (N is one byte;
// the rest are left out), each with its SHA1 as text urn:sha1 (universally
// understood, 4.7), its URNs, then a GGEP block holding LF (when Size >=
// 2^32-1; the size field is then FFFFFFFF) and the result's GGEP, COBS-encoded
// wherever the data holds a 00 (the record is NUL-delimited). Trailer: Vendor,
// open-data size 2, A = 2C (+01 firewalled, +10 measured), B = 01 (+04 busy,
// +08 uploaded, +10 measured, +20 GGEP), the GGEP block, the servent GUID.
// A missing or IPv6 IP is written as 0.0.0.0.
func (m *QueryHit) Append(dst []byte) []byte {
	results := m.Results
	if len(results) > 255 {
		results = results[:255]
	}
	dst = append(dst, byte(len(results)))
	dst = binary.LittleEndian.AppendUint16(dst, m.Port)
	dst = appendIPv4(dst, m.IP)
	dst = binary.LittleEndian.AppendUint32(dst, m.Speed)
	for k := range results {
		dst = results[k].append(dst)
	}
	dst = append(dst, m.Vendor[:]...)
	a, b := byte(qhdEnable), byte(qhdPush)
	if m.Push {
		a |= qhdPush
	}
	if m.Busy {
		b |= qhdBusy
	}
	if m.Uploaded {
		b |= qhdUploaded
	}
	if m.Measured {
		a |= qhdSpeed
		b |= qhdSpeed
	}
	dst = append(dst, 2, a, b)
	bAt := len(dst) - 1
	n := len(dst)
	if dst = m.GGEP.Append(dst); len(dst) > n {
		dst[bAt] |= qhdGGEP
	}
	return append(dst, m.ServentGUID[:]...)
}

func (r *Result) append(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint32(dst, r.Index)
	if r.Size >= sizeLF {
		dst = binary.LittleEndian.AppendUint32(dst, sizeLF)
	} else {
		dst = binary.LittleEndian.AppendUint32(dst, uint32(r.Size))
	}
	dst = append(dst, r.Name...)
	dst = append(dst, 0)
	sep := false
	if !r.SHA1.IsZero() {
		dst = r.SHA1.AppendURN(dst)
		sep = true
	}
	for _, u := range r.URNs {
		if sep {
			dst = append(dst, extSep)
		}
		dst = append(dst, u...)
		sep = true
	}
	if r.Size >= sizeLF || len(r.GGEP) > 0 || !r.TTH.IsZero() {
		n := len(dst)
		if sep {
			dst = append(dst, extSep)
		}
		var lfBuf [8]byte
		var ours [2]Extension
		lf := GGEP(ours[:0])
		if r.Size >= sizeLF {
			lf = append(lf, Extension{ID: "LF", Data: AppendVLInt(lfBuf[:0], r.Size)})
		}
		if !r.TTH.IsZero() {
			lf = append(lf, Extension{ID: "TT", Data: r.TTH[:]})
		}
		if d := appendGGEP2(dst, lf, r.GGEP, true); len(d) > len(dst) {
			dst = d
		} else {
			dst = dst[:n]
		}
	}
	return append(dst, 0)
}
