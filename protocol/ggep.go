package protocol

import (
	"bytes"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"sync"
)

// GGEP 0.51 (GNUTELLA.md 5): magic C3, then extensions
// flags | id (1..15 bytes) | length (1..3 bytes, 6 bits each, BE) | data,
// the last one flagged LAST. There is no block length.
//
// A malformed block inside a descriptor does not make the descriptor
// invalid (GNUTELLA.md 5, GTKG logs "bad GGEP" and carries on): Ping.Decode,
// Pong.Decode and Push.Decode drop the trailing block; Query.Decode skips it
// up to the next extension separator and keeps parsing; QueryHit.Decode
// drops a bad block in a result's extension area or in the trailer. Only
// ParseGGEP itself reports the error. The vendor-message decoders here do
// not parse GGEP.

const (
	ggepMagic    = 0xC3
	ggepLast     = 0x80
	ggepCOBS     = 0x40
	ggepDeflate  = 0x20
	ggepReserved = 0x10
	ggepIDMask   = 0x0F

	// MaxGGEPLen is the largest data length a 3-byte GGEP length field holds
	// (GTKG refuses more).
	MaxGGEPLen = 262143
	// MaxGGEPInflate caps what deflated extensions of one block, and of all
	// the blocks of one Query or QueryHit, may inflate to, together; more is
	// an error wrapping ErrTooLarge (deflate bombs).
	MaxGGEPInflate = 64 << 10
	// maxGGEPEncode is the largest raw data Append writes: a descriptor
	// cannot carry more, and COBS or deflate of it still fits MaxGGEPLen.
	maxGGEPEncode = MaxPayloadLen
)

// Get returns the data of the first extension with the given id.
func (g GGEP) Get(id string) ([]byte, bool) {
	for i := range g {
		if g[i].ID == id {
			return g[i].Data, true
		}
	}
	return nil, false
}

// Has reports whether an extension with the given id is present.
func (g GGEP) Has(id string) bool {
	_, ok := g.Get(id)
	return ok
}

// ParseGGEP parses the GGEP block at the start of b and returns it with the
// number of bytes it used. COBS and deflate are undone (Extension.COBS and
// .Deflate record that they were applied); plain data aliases b; extensions
// with no data have nil Data. Errors wrap ErrTruncated (the block runs past
// b, including a missing LAST flag), ErrMalformed (bad magic, reserved flag
// bit, id length 0 or an id holding 00, a length byte with neither or both
// of CONT/LAST, a non-minimal or 4-byte length, bad COBS or zlib) or
// ErrTooLarge (inflated data over MaxGGEPInflate).
func ParseGGEP(b []byte) (GGEP, int, error) {
	return parseGGEP(nil, b)
}

// parseGGEP appends the extensions of the block at the start of b to dst.
// On error dst is returned cut back to its original length.
func parseGGEP(dst GGEP, b []byte) (GGEP, int, error) {
	budget := MaxGGEPInflate
	return parseGGEPBudget(dst, b, &budget)
}

// parseGGEPBudget is parseGGEP taking what deflated extensions inflate to
// from *budget, which a decoder shares between all the blocks of one
// descriptor (a QueryHit has one per result): a per-block cap alone lets a
// 30 KB hit inflate to 16 MB. Spent budget is not given back when the block
// turns out bad: the inflating was done.
func parseGGEPBudget(dst GGEP, b []byte, budget *int) (GGEP, int, error) {
	start := len(dst)
	fail := func(err error) (GGEP, int, error) {
		clear(dst[start:])
		return dst[:start], 0, err
	}
	if len(b) == 0 {
		return fail(fmt.Errorf("%w: ggep: empty", ErrTruncated))
	}
	if b[0] != ggepMagic {
		return fail(fmt.Errorf("%w: ggep: magic %#02x, want c3", ErrMalformed, b[0]))
	}
	if dst == nil {
		dst = make(GGEP, 0, 4) // most blocks hold 1 to 5 extensions
	}
	i := 1
	for {
		if i >= len(b) {
			return fail(fmt.Errorf("%w: ggep: block ends without LAST extension", ErrTruncated))
		}
		flags := b[i]
		i++
		if flags&ggepReserved != 0 {
			return fail(fmt.Errorf("%w: ggep: reserved flag bit set (%#02x)", ErrMalformed, flags))
		}
		idLen := int(flags & ggepIDMask)
		if idLen == 0 {
			return fail(fmt.Errorf("%w: ggep: id length 0", ErrMalformed))
		}
		if idLen > len(b)-i {
			return fail(fmt.Errorf("%w: ggep: id runs past the end", ErrTruncated))
		}
		id := b[i : i+idLen]
		if bytes.IndexByte(id, 0) >= 0 {
			return fail(fmt.Errorf("%w: ggep: id holds a 00 byte", ErrMalformed))
		}
		i += idLen
		n, used, err := parseGGEPLen(b[i:])
		if err != nil {
			return fail(fmt.Errorf("ggep %q: %w", id, err))
		}
		i += used
		if n > len(b)-i {
			return fail(fmt.Errorf("%w: ggep %q: data length %d runs past the end (%d left)", ErrTruncated, id, n, len(b)-i))
		}
		ext := Extension{ID: ggepID(id), COBS: flags&ggepCOBS != 0, Deflate: flags&ggepDeflate != 0}
		data := b[i : i+n]
		i += n
		if ext.COBS {
			if data, err = AppendCOBSDecode(make([]byte, 0, len(data)), data); err != nil {
				return fail(fmt.Errorf("ggep %q: %w", id, err))
			}
		}
		if ext.Deflate {
			if data, err = inflateCapped(data, *budget); err != nil {
				return fail(fmt.Errorf("ggep %q: %w", id, err))
			}
			*budget -= len(data)
		}
		if len(data) > 0 {
			ext.Data = data
		}
		dst = append(dst, ext)
		if flags&ggepLast != 0 {
			return dst, i, nil
		}
	}
}

// parseGGEPLen reads a GGEP data length: up to 3 bytes of CONT(80) or
// LAST(40) plus 6 value bits, big-endian, minimal.
func parseGGEPLen(b []byte) (n, used int, err error) {
	for used < 3 {
		if used >= len(b) {
			return 0, 0, fmt.Errorf("%w: ggep length runs past the end", ErrTruncated)
		}
		c := b[used]
		used++
		switch c & 0xC0 {
		case 0x00, 0xC0:
			return 0, 0, fmt.Errorf("%w: ggep length byte %#02x", ErrMalformed, c)
		case 0x80:
			if used == 1 && c == 0x80 {
				return 0, 0, fmt.Errorf("%w: ggep length not minimal", ErrMalformed)
			}
			n = n<<6 | int(c&0x3F)
		case 0x40:
			return n<<6 | int(c&0x3F), used, nil
		}
	}
	return 0, 0, fmt.Errorf("%w: ggep length longer than 3 bytes", ErrMalformed)
}

// appendGGEPLen appends n as a GGEP length field, as GTKG's
// ggep_stream_end() does.
func appendGGEPLen(dst []byte, n int) ([]byte, error) {
	switch {
	case n < 0 || n > MaxGGEPLen:
		return dst, fmt.Errorf("%w: ggep data length %d > %d", ErrTooLarge, n, MaxGGEPLen)
	case n < 1<<6:
		return append(dst, 0x40|byte(n)), nil
	case n < 1<<12:
		return append(dst, 0x80|byte(n>>6), 0x40|byte(n&0x3F)), nil
	default:
		return append(dst, 0x80|byte(n>>12), 0x80|byte(n>>6&0x3F), 0x40|byte(n&0x3F)), nil
	}
}

// validGGEPExt reports whether Append can write e.
func validGGEPExt(e *Extension) bool {
	return len(e.ID) >= 1 && len(e.ID) <= ggepIDMask && len(e.Data) <= maxGGEPEncode &&
		bytes.IndexByte([]byte(e.ID), 0) < 0
}

// Validate reports the first extension Append would leave out: an id that
// is empty, longer than 15 bytes or holds 00, or data over 65535 bytes.
func (g GGEP) Validate() error {
	for i := range g {
		if !validGGEPExt(&g[i]) {
			return fmt.Errorf("%w: ggep extension %d (%q, %d bytes) cannot be encoded", ErrMalformed, i, g[i].ID, len(g[i].Data))
		}
	}
	return nil
}

// Append appends g as one GGEP block: deflate where Extension.Deflate asks
// (zlib, best compression, as GTKG), then COBS where Extension.COBS asks.
// Extensions that Validate rejects are left out; an empty g (or one with
// only invalid extensions) appends nothing.
func (g GGEP) Append(dst []byte) []byte { return appendGGEP2(dst, nil, g, false) }

// appendGGEP2 appends one block holding the extensions of pre then g;
// forceCOBS COBS-encodes every extension whose wire data would hold a 00
// byte (mandatory inside QueryHit result records).
func appendGGEP2(dst []byte, pre, g GGEP, forceCOBS bool) []byte {
	start := len(dst)
	dst = append(dst, ggepMagic)
	lastFlags := -1
	for i := range len(pre) + len(g) {
		var e *Extension
		if i < len(pre) {
			e = &pre[i]
		} else {
			e = &g[i-len(pre)]
		}
		if !validGGEPExt(e) {
			continue
		}
		data := e.Data
		flags := byte(len(e.ID))
		if e.Deflate {
			data = deflateBest(data)
			flags |= ggepDeflate
		}
		if e.COBS || (forceCOBS && bytes.IndexByte(data, 0) >= 0) {
			data = AppendCOBS(make([]byte, 0, len(data)+len(data)/254+1), data)
			flags |= ggepCOBS
		}
		lastFlags = len(dst)
		dst = append(dst, flags)
		dst = append(dst, e.ID...)
		dst, _ = appendGGEPLen(dst, len(data)) // <= 65535+overhead: cannot fail
		dst = append(dst, data...)
	}
	if lastFlags < 0 {
		return dst[:start]
	}
	dst[lastFlags] |= ggepLast
	return dst
}

// ggepID turns a wire id into a string without allocating for the ids
// servent meets often.
func ggepID(b []byte) string {
	switch string(b) {
	case "H":
		return "H"
	case "LF":
		return "LF"
	case "DU":
		return "DU"
	case "UP":
		return "UP"
	case "VC":
		return "VC"
	case "GUE":
		return "GUE"
	case "LOC":
		return "LOC"
	case "IPP":
		return "IPP"
	case "6":
		return "6"
	case "TLS":
		return "TLS"
	case "DHT":
		return "DHT"
	case "SCP":
		return "SCP"
	case "SO":
		return "SO"
	case "M":
		return "M"
	case "PR":
		return "PR"
	case "WH":
		return "WH"
	case "NP":
		return "NP"
	case "ALT":
		return "ALT"
	case "CT":
		return "CT"
	case "PRU":
		return "PRU"
	case "TT":
		return "TT"
	case "BH":
		return "BH"
	case "PUSH":
		return "PUSH"
	case "PUSH6":
		return "PUSH6"
	case "HNAME":
		return "HNAME"
	case "GTKGV":
		return "GTKGV"
	case "Z":
		return "Z"
	case "QK":
		return "QK"
	case "u":
		return "u"
	case "IP":
		return "IP"
	case "IPP6":
		return "IPP6"
	case "I6":
		return "I6"
	case "IPP_TLS":
		return "IPP_TLS"
	case "DHTIPP":
		return "DHTIPP"
	}
	return string(b)
}

// AppendVLInt appends v as a GGEP "vlint": little-endian with trailing zero
// bytes dropped (0 is no bytes at all), as DU, LF, CT and M use.
func AppendVLInt(dst []byte, v uint64) []byte {
	for v != 0 {
		dst = append(dst, byte(v))
		v >>= 8
	}
	return dst
}

// ParseVLInt reads a vlint of 0 to 8 bytes.
func ParseVLInt(b []byte) (uint64, error) {
	if len(b) > 8 {
		return 0, fmt.Errorf("%w: vlint of %d bytes", ErrTooLarge, len(b))
	}
	var v uint64
	for i := len(b) - 1; i >= 0; i-- {
		v = v<<8 | uint64(b[i])
	}
	return v, nil
}

var (
	zlibWriters sync.Pool // *zlib.Writer at BestCompression
	zlibReaders sync.Pool // io.ReadCloser implementing zlib.Resetter
)

// deflateBest returns src zlib-compressed at level 9 (what GTKG's GGEP
// writer uses).
func deflateBest(src []byte) []byte {
	var buf bytes.Buffer
	zw, _ := zlibWriters.Get().(*zlib.Writer)
	if zw == nil {
		zw, _ = zlib.NewWriterLevel(&buf, zlib.BestCompression)
	} else {
		zw.Reset(&buf)
	}
	_, _ = zw.Write(src) // bytes.Buffer does not fail
	_ = zw.Close()
	zlibWriters.Put(zw)
	return buf.Bytes()
}

// inflateCapped inflates the zlib stream src, failing with ErrTooLarge when
// the output would exceed limit bytes and with ErrMalformed on a corrupt or
// unfinished stream.
func inflateCapped(src []byte, limit int) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	br := bytes.NewReader(src)
	var zr io.ReadCloser
	if r, _ := zlibReaders.Get().(io.ReadCloser); r != nil {
		if err := r.(zlib.Resetter).Reset(br, nil); err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
		}
		zr = r
	} else {
		r, err := zlib.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
		}
		zr = r
	}
	defer zlibReaders.Put(zr)
	out := make([]byte, 0, min(4*len(src)+64, limit+1))
	for {
		if len(out) == cap(out) {
			if len(out) > limit {
				return nil, fmt.Errorf("%w: ggep inflates past %d bytes", ErrTooLarge, limit)
			}
			out = append(out, 0)[:len(out)] // grow
			if cap(out) > limit+1 {
				out = out[: len(out) : limit+1]
			}
		}
		n, err := zr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if len(out) > limit {
			return nil, fmt.Errorf("%w: ggep inflates past %d bytes", ErrTooLarge, limit)
		}
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%w: zlib: %v", ErrMalformed, err)
		}
	}
}
