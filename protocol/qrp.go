package protocol

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
)

// QRP (GNUTELLA.md 4.9, GTKG gtkg:src/core/qrp.c).
const (
	QRPVariantReset = 0
	QRPVariantPatch = 1

	QRPResetLen     = 6        // RESET payload is exactly this long
	QRPPatchHdrLen  = 5        // PATCH bytes before the data
	MaxQRPBits      = 21       // GTKG MAX_TABLE_BITS
	MaxQRPTableLen  = 1 << 21  // slots
	QRPInfinity     = 2        // what GTKG sends (LOCAL_INFINITY)
	qrpPatchChunk   = 512      // GTKG QRT_PATCH_LEN
	qrpMaxSeqSize   = 255      // GTKG QRT_MAX_SEQSIZE
	qrpInflateBlock = 4096     // inflate buffer (GTKG QRT_RECEIVE_BUFSIZE)
	qrpZlibSlack    = 1024     // zlib header, trailer, stored-block overhead
	qrpZlibExpand   = 8        // allow compressed = raw + raw/8 (fixed-Huffman worst case)
	qrpLevel9Max    = 32 << 10 // raw patch bytes deflated at level 9 (2^16 slots)
)

// QRP errors; each wraps ErrMalformed or ErrTooLarge.
var (
	// ErrQRPNoReset: a PATCH arrived and no table exists to patch (GTKG and
	// GnutellaBun answer BYE 413 "No QRP RESET received before PATCH").
	ErrQRPNoReset = fmt.Errorf("%w: no QRP RESET received before PATCH", ErrMalformed)
	// ErrQRPSequence: seq_no out of order, seq_size or entry bits changed
	// within a sequence.
	ErrQRPSequence = fmt.Errorf("%w: bad QRP patch sequence", ErrMalformed)
	// ErrQRPIncomplete: the last PATCH arrived and the patch did not cover
	// every slot ("Incomplete 4-bit QRP patch").
	ErrQRPIncomplete = fmt.Errorf("%w: incomplete QRP patch", ErrMalformed)
)

// QRPReset is the RESET variant: a new, empty table of TableLen slots.
type QRPReset struct {
	TableLen uint32
	Infinity uint8
}

// Decode parses a RESET payload: exactly 6 bytes, variant 0, a table length
// that is a power of two no larger than MaxQRPTableLen, infinity >= 1.
func (m *QRPReset) Decode(payload []byte) error {
	if len(payload) < QRPResetLen {
		return fmt.Errorf("%w: QRP RESET of %d bytes", ErrTruncated, len(payload))
	}
	if len(payload) > QRPResetLen || payload[0] != QRPVariantReset {
		return fmt.Errorf("%w: QRP RESET of %d bytes, variant %d", ErrMalformed, len(payload), payload[0])
	}
	n := binary.LittleEndian.Uint32(payload[1:])
	if n == 0 || n&(n-1) != 0 {
		return fmt.Errorf("%w: QRP table length %d is not a power of two", ErrMalformed, n)
	}
	if n > MaxQRPTableLen {
		return fmt.Errorf("%w: QRP table length %d > %d", ErrTooLarge, n, MaxQRPTableLen)
	}
	if payload[5] < 1 {
		return fmt.Errorf("%w: QRP infinity 0", ErrMalformed)
	}
	m.TableLen, m.Infinity = n, payload[5]
	return nil
}

// Append appends the 6-byte RESET payload.
func (m *QRPReset) Append(dst []byte) []byte {
	dst = append(dst, QRPVariantReset)
	dst = binary.LittleEndian.AppendUint32(dst, m.TableLen)
	return append(dst, m.Infinity)
}

// Bits is log2(TableLen).
func (m *QRPReset) Bits() uint { return uint(bits.TrailingZeros32(m.TableLen)) }

// QRPPatch is the PATCH variant: one chunk of the (compressed) patch array.
type QRPPatch struct {
	SeqNo, SeqSize uint8
	Compressor     uint8 // 0 none, 1 zlib
	EntryBits      uint8 // 1, 2, 4 or 8
	Data           []byte
}

// Decode parses a PATCH payload. Data aliases payload. At least one data
// byte is required (GTKG drops shorter ones).
func (m *QRPPatch) Decode(payload []byte) error {
	if len(payload) <= QRPPatchHdrLen {
		return fmt.Errorf("%w: QRP PATCH of %d bytes", ErrTruncated, len(payload))
	}
	if payload[0] != QRPVariantPatch {
		return fmt.Errorf("%w: QRP PATCH variant %d", ErrMalformed, payload[0])
	}
	seqNo, seqSize, comp, eb := payload[1], payload[2], payload[3], payload[4]
	switch {
	case seqNo == 0 || seqSize == 0 || seqNo > seqSize:
		return fmt.Errorf("%w: QRP PATCH seq %d/%d", ErrMalformed, seqNo, seqSize)
	case comp > 1:
		return fmt.Errorf("%w: QRP PATCH compressor %d", ErrMalformed, comp)
	case eb != 1 && eb != 2 && eb != 4 && eb != 8:
		return fmt.Errorf("%w: QRP PATCH entry bits %d", ErrMalformed, eb)
	}
	m.SeqNo, m.SeqSize, m.Compressor, m.EntryBits = seqNo, seqSize, comp, eb
	m.Data = payload[QRPPatchHdrLen:]
	return nil
}

// Append appends the PATCH payload.
func (m *QRPPatch) Append(dst []byte) []byte {
	dst = append(dst, QRPVariantPatch, m.SeqNo, m.SeqSize, m.Compressor, m.EntryBits)
	return append(dst, m.Data...)
}

// DecodeQRP decodes a QRP (0x30) payload: exactly one of reset and patch is
// non-nil when err is nil. A patch's Data aliases payload.
func DecodeQRP(payload []byte) (reset *QRPReset, patch *QRPPatch, err error) {
	if len(payload) == 0 {
		return nil, nil, fmt.Errorf("%w: empty QRP payload", ErrTruncated)
	}
	switch payload[0] {
	case QRPVariantReset:
		reset = new(QRPReset)
		if err := reset.Decode(payload); err != nil {
			return nil, nil, err
		}
		return reset, nil, nil
	case QRPVariantPatch:
		patch = new(QRPPatch)
		if err := patch.Decode(payload); err != nil {
			return nil, nil, err
		}
		return nil, patch, nil
	}
	return nil, nil, fmt.Errorf("%w: QRP variant %d", ErrMalformed, payload[0])
}

// QRPTable is a query routing table reduced to what GTKG keeps of it: one
// presence bit per slot (a slot is present when its value < infinity).
// Slot i is bit 7-(i%8) of byte i/8, GTKG's RT_SLOT_READ layout. A table
// handed out by QRPReceiver is never modified afterwards.
type QRPTable struct {
	bits  uint
	arena []byte
}

// NewQRPTable returns an empty table of 2^bits slots. It panics if bits >
// MaxQRPBits.
func NewQRPTable(bits uint) *QRPTable {
	if bits > MaxQRPBits {
		panic(fmt.Sprintf("protocol: QRP table of %d bits, max %d", bits, MaxQRPBits))
	}
	return &QRPTable{bits: bits, arena: make([]byte, (1<<bits+7)/8)}
}

// Bits is log2 of the slot count; words hash to QRPHash(w, Bits()).
func (t *QRPTable) Bits() uint { return t.bits }

// Len is the number of slots, 2^Bits().
func (t *QRPTable) Len() int { return 1 << t.bits }

// Set marks slot present. Slots beyond Len() are ignored.
func (t *QRPTable) Set(slot uint32) {
	if slot < uint32(t.Len()) {
		t.arena[slot>>3] |= 0x80 >> (slot & 7)
	}
}

// Clear marks slot absent.
func (t *QRPTable) Clear(slot uint32) {
	if slot < uint32(t.Len()) {
		t.arena[slot>>3] &^= 0x80 >> (slot & 7)
	}
}

// Present reports whether slot is present.
func (t *QRPTable) Present(slot uint32) bool {
	return slot < uint32(t.Len()) && t.arena[slot>>3]&(0x80>>(slot&7)) != 0
}

// AddWord marks the slot of w (already canonical, see Keywords).
func (t *QRPTable) AddWord(w string) { t.Set(t.slot(QRPHashCode(w))) }

// HasWord reports whether w's slot is present, w hashed at the table's own
// size.
func (t *QRPTable) HasWord(w string) bool { return t.Present(t.slot(QRPHashCode(w))) }

// HasHashCode is HasWord for a precomputed QRPHashCode: one hash serves
// tables of every size.
func (t *QRPTable) HasHashCode(code uint32) bool { return t.Present(t.slot(code)) }

// AddHashCode marks a hashed keyword or urn (QRPURNCode) present.
func (t *QRPTable) AddHashCode(code uint32) { t.Set(t.slot(code)) }

func (t *QRPTable) slot(code uint32) uint32 {
	if t.bits == 0 {
		return 0
	}
	return code >> (32 - t.bits)
}

// Count is the number of present slots.
func (t *QRPTable) Count() int {
	n := 0
	for _, b := range t.arena {
		n += bits.OnesCount8(b)
	}
	return n
}

// Equal reports whether both tables have the same size and slots.
func (t *QRPTable) Equal(o *QRPTable) bool {
	if t == nil || o == nil {
		return t == o
	}
	return t.bits == o.bits && bytes.Equal(t.arena, o.arena)
}

// Clone returns an independent copy.
func (t *QRPTable) Clone() *QRPTable {
	return &QRPTable{bits: t.bits, arena: bytes.Clone(t.arena)}
}

// Resize returns a copy with 2^bits slots. A word's slot at b bits is the
// top b bits of its hashcode, so growing copies slot s into s<<d ..
// (s+1)<<d-1 and shrinking ORs each group of 2^d slots: every word present
// before is present after (shrinking may add false positives). It panics if
// bits > MaxQRPBits.
func (t *QRPTable) Resize(nbits uint) *QRPTable {
	if nbits == t.bits {
		return t.Clone()
	}
	out := NewQRPTable(nbits)
	for i, b := range t.arena {
		for b != 0 {
			j := uint(bits.LeadingZeros8(b)) // bit index from the MSB
			b &^= 0x80 >> j
			s := uint32(i)<<3 | uint32(j)
			if nbits < t.bits {
				out.Set(s >> (t.bits - nbits))
				continue
			}
			d := nbits - t.bits
			out.setRange(s<<d, (s+1)<<d)
		}
	}
	return out
}

// setRange marks slots lo..hi-1.
func (t *QRPTable) setRange(lo, hi uint32) {
	for s := lo; s < hi; {
		if s&7 == 0 && hi-s >= 8 {
			t.arena[s>>3] = 0xFF
			s += 8
			continue
		}
		t.Set(s)
		s++
	}
}

// Or adds every present slot of o, resized to t's size first if needed
// (the merge an ultrapeer does over its leaves' tables).
func (t *QRPTable) Or(o *QRPTable) {
	if o.bits != t.bits {
		o = o.Resize(t.bits)
	}
	for i, b := range o.arena {
		t.arena[i] |= b
	}
}

// Messages encodes the table as GTKG does for a table sent from scratch
// (qrt_diff_4 against nothing, qrt_compressed): a RESET, then a 4-bit patch
// array (two slots a byte, the first in the high nibble; -1 = 0xF where
// present, 0 elsewhere), zlib-deflated once (level 9, level 6 above 2^16
// slots) when compress is set and that makes it smaller, cut into chunks of max(512, len/255+1) bytes
// (at most 255). infinity 0 means QRPInfinity. All patches' Data share one
// buffer.
func (t *QRPTable) Messages(infinity uint8, compress bool) (QRPReset, []QRPPatch) {
	if infinity == 0 {
		infinity = QRPInfinity
	}
	reset := QRPReset{TableLen: uint32(t.Len()), Infinity: infinity}
	entryBits := uint8(4)
	var raw []byte
	if t.bits == 0 { // one slot does not fill a 4-bit byte: use 8 bits
		entryBits = 8
		raw = []byte{0}
		if t.Present(0) {
			raw[0] = 0xFF
		}
	} else {
		raw = make([]byte, t.Len()/2)
		for i, b := range t.arena {
			if b == 0 {
				continue
			}
			for k := 0; k < 4 && 4*i+k < len(raw); k++ {
				raw[4*i+k] = expand4[(b>>(6-2*k))&3]
			}
		}
	}
	data, comp := raw, uint8(0)
	if compress {
		if z := deflateQRP(raw); len(z) < len(raw) {
			data, comp = z, 1
		}
	}
	chunk := max(qrpPatchChunk, len(data)/qrpMaxSeqSize+1)
	n := (len(data) + chunk - 1) / chunk
	patches := make([]QRPPatch, 0, n)
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		patches = append(patches, QRPPatch{
			SeqNo: uint8(len(patches) + 1), SeqSize: uint8(n),
			Compressor: comp, EntryBits: entryBits, Data: data[off:end:end],
		})
	}
	return reset, patches
}

// expand4 maps two presence bits (first slot high) to one 4-bit-entry byte.
var expand4 = [4]byte{0x00, 0x0F, 0xF0, 0xFF}

// GTKG deflates patches at level 9. Go's level 9 is slow on the long zero
// runs of a sparse table (about 1 s for 2^21 slots, against 20 ms at level
// 6 for a 25% larger output), so tables over 2^16 slots use level 6.
var qrpDeflaters = [2]sync.Pool{
	{New: func() any { w, _ := zlib.NewWriterLevel(nil, zlib.BestCompression); return w }},
	{New: func() any { w, _ := zlib.NewWriterLevel(nil, zlib.DefaultCompression); return w }},
}

func deflateQRP(raw []byte) []byte {
	pool := &qrpDeflaters[0]
	if len(raw) > qrpLevel9Max {
		pool = &qrpDeflaters[1]
	}
	var buf bytes.Buffer
	buf.Grow(len(raw)/8 + 64)
	w := pool.Get().(*zlib.Writer)
	w.Reset(&buf)
	_, _ = w.Write(raw) // bytes.Buffer never fails
	_ = w.Close()
	w.Reset(nil)
	pool.Put(w)
	return buf.Bytes()
}

// Patch-entry lookup tables: for entry size e and a patch byte b, the
// presence bits (MSB = first slot of the byte) that b sets and clears. As
// GTKG qrt_apply_patch*: a negative entry makes the slot present, a
// positive one absent, 0 leaves it; 1-bit entries flip (handled apart).
var qrpSet, qrpClr [9][256]uint8

func init() {
	for _, e := range []uint{2, 4, 8} {
		per := 8 / e
		for b := range 256 {
			var set, clr uint8
			for k := range per {
				v := (uint(b) >> (8 - e*(k+1))) & (1<<e - 1)
				bit := uint8(1) << (per - 1 - k)
				switch {
				case v&(1<<(e-1)) != 0:
					set |= bit
				case v != 0:
					clr |= bit
				}
			}
			qrpSet[e][b], qrpClr[e][b] = set, clr
		}
	}
}

// QRPReceiver rebuilds a peer's table from its RESET and PATCH messages
// (GTKG qrt_receive_next). A PATCH sequence without a RESET patches the
// last complete table (incremental update). The table being built is
// private; Handle returns it only when the last PATCH of its sequence
// arrived, so the caller keeps routing with the previous one until then.
// After an error the sequence in progress is dropped (GTKG sends BYE 413).
// Not safe for concurrent use.
type QRPReceiver struct {
	table    *QRPTable // last complete table
	infinity uint8

	work      *QRPTable // table being patched; nil between sequences
	next      uint8     // seq_no expected next
	seqSize   uint8
	comp      uint8
	entryBits uint8
	slot      uint32 // next slot the patch array reaches
	zdata     []byte // compressed chunks so far
	zr        io.ReadCloser
	zsrc      bytes.Reader
	buf       []byte
}

// Table is the last complete table, nil before the first one.
func (r *QRPReceiver) Table() *QRPTable { return r.table }

// Infinity is the infinity of the last RESET.
func (r *QRPReceiver) Infinity() uint8 { return r.infinity }

// HandlePayload decodes a QRP payload and hands it to Handle.
func (r *QRPReceiver) HandlePayload(payload []byte) (*QRPTable, error) {
	reset, patch, err := DecodeQRP(payload)
	if err != nil {
		return nil, err
	}
	return r.Handle(reset, patch)
}

// Handle applies one message (exactly one of reset and patch non-nil). It
// returns the new table when patch was the last of its sequence, else nil.
// Errors match ErrQRPNoReset, ErrQRPSequence, ErrQRPIncomplete,
// ErrMalformed or ErrTooLarge; the peer should then be closed.
func (r *QRPReceiver) Handle(reset *QRPReset, patch *QRPPatch) (*QRPTable, error) {
	if reset != nil {
		n := reset.TableLen
		if n == 0 || n&(n-1) != 0 || reset.Infinity < 1 {
			r.abort()
			return nil, fmt.Errorf("%w: QRP RESET length %d infinity %d", ErrMalformed, n, reset.Infinity)
		}
		if n > MaxQRPTableLen {
			r.abort()
			return nil, fmt.Errorf("%w: QRP RESET length %d > %d", ErrTooLarge, n, MaxQRPTableLen)
		}
		r.abort()
		r.work = NewQRPTable(reset.Bits())
		r.infinity = reset.Infinity
		return nil, nil
	}
	if patch == nil {
		return nil, nil
	}
	t, err := r.handlePatch(patch)
	if err != nil {
		r.abort()
	}
	return t, err
}

func (r *QRPReceiver) abort() {
	r.work, r.next, r.slot = nil, 0, 0
	r.zdata = r.zdata[:0]
	if cap(r.zdata) > qrpKeepZData {
		// Tables change rarely: do not hold a large sequence's buffer
		// (up to ~2.3 MB for 2^21 8-bit slots) for the life of the link.
		r.zdata = nil
	}
}

// qrpKeepZData is the compressed-sequence buffer a receiver keeps between
// sequences.
const qrpKeepZData = 64 << 10

func (r *QRPReceiver) handlePatch(p *QRPPatch) (*QRPTable, error) {
	if r.next == 0 { // first PATCH of a sequence
		if r.work == nil {
			if r.table == nil {
				return nil, ErrQRPNoReset
			}
			r.work = r.table.Clone()
		}
		if p.SeqNo != 1 {
			return nil, fmt.Errorf("%w: seq_no %d, expected 1", ErrQRPSequence, p.SeqNo)
		}
		if p.SeqSize == 0 || p.Compressor > 1 {
			return nil, fmt.Errorf("%w: QRP PATCH seq_size %d compressor %d", ErrMalformed, p.SeqSize, p.Compressor)
		}
		switch p.EntryBits {
		case 1, 2, 4, 8:
		default:
			return nil, fmt.Errorf("%w: QRP PATCH entry bits %d", ErrMalformed, p.EntryBits)
		}
		r.next, r.seqSize, r.comp, r.entryBits, r.slot = 1, p.SeqSize, p.Compressor, p.EntryBits, 0
		r.zdata = r.zdata[:0]
	}
	switch {
	case p.SeqNo != r.next:
		return nil, fmt.Errorf("%w: seq_no %d, expected %d", ErrQRPSequence, p.SeqNo, r.next)
	case p.SeqSize != r.seqSize:
		return nil, fmt.Errorf("%w: seq_size changed from %d to %d", ErrQRPSequence, r.seqSize, p.SeqSize)
	case p.EntryBits != r.entryBits || p.Compressor != r.comp:
		return nil, fmt.Errorf("%w: entry bits/compressor changed within a sequence", ErrQRPSequence)
	}
	need := r.patchLen()
	if r.comp == 0 {
		if err := r.apply(p.Data); err != nil {
			return nil, err
		}
	} else {
		// The zlib stream spans the chunks; it is inflated when complete.
		// A valid stream is at most a little larger than the array it holds.
		if len(r.zdata)+len(p.Data) > need+need/qrpZlibExpand+qrpZlibSlack {
			return nil, fmt.Errorf("%w: compressed QRP patch over %d bytes for %d slots", ErrTooLarge, len(r.zdata)+len(p.Data), r.work.Len())
		}
		r.zdata = append(r.zdata, p.Data...)
	}
	if p.SeqNo < r.seqSize {
		r.next++
		return nil, nil
	}
	if r.comp == 1 {
		if err := r.inflate(need); err != nil {
			return nil, err
		}
	}
	if r.slot != uint32(r.work.Len()) {
		return nil, fmt.Errorf("%w: %d-bit patch covered %d/%d slots", ErrQRPIncomplete, r.entryBits, r.slot, r.work.Len())
	}
	r.table = r.work
	r.abort()
	return r.table, nil
}

// patchLen is the byte length of a patch array covering the whole table.
func (r *QRPReceiver) patchLen() int {
	return (r.work.Len()*int(r.entryBits) + 7) / 8
}

// inflate decompresses the whole sequence into at most need bytes.
func (r *QRPReceiver) inflate(need int) error {
	r.zsrc.Reset(r.zdata)
	var err error
	if r.zr == nil {
		r.zr, err = zlib.NewReader(&r.zsrc)
	} else {
		err = r.zr.(zlib.Resetter).Reset(&r.zsrc, nil)
	}
	if err != nil {
		return fmt.Errorf("%w: QRP patch zlib header: %v", ErrMalformed, err)
	}
	if r.buf == nil {
		r.buf = make([]byte, qrpInflateBlock)
	}
	got := 0
	for {
		n, err := r.zr.Read(r.buf)
		if n > 0 {
			got += n
			if got > need {
				return fmt.Errorf("%w: QRP patch inflates past %d bytes for %d slots", ErrTooLarge, need, r.work.Len())
			}
			if aerr := r.apply(r.buf[:n]); aerr != nil {
				return aerr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if got == need && errors.Is(err, io.ErrUnexpectedEOF) {
				return nil // GTKG too accepts a stream cut after its data
			}
			return fmt.Errorf("%w: QRP patch inflate: %v", ErrMalformed, err)
		}
	}
}

// apply adds patch-array bytes at r.slot. Each byte covers 8/entryBits
// whole slots, so r.slot stays a multiple of that.
func (r *QRPReceiver) apply(data []byte) error {
	t := r.work
	e := uint32(r.entryBits)
	per := 8 / e
	if uint64(r.slot)+uint64(len(data))*uint64(per) > uint64(t.Len()) {
		return fmt.Errorf("%w: %d-bit QRP patch overflows a table of %d slots", ErrTooLarge, e, t.Len())
	}
	arena := t.arena
	slot := r.slot
	switch e {
	case 1: // a set bit flips presence, MSB first
		i := slot >> 3
		for k, b := range data {
			arena[i+uint32(k)] ^= b
		}
	case 8:
		for _, b := range data {
			if b != 0 {
				m := uint8(0x80) >> (slot & 7)
				if b&0x80 != 0 {
					arena[slot>>3] |= m
				} else {
					arena[slot>>3] &^= m
				}
			}
			slot++
		}
		r.slot = slot
		return nil
	default:
		set, clr := &qrpSet[e], &qrpClr[e]
		for _, b := range data {
			if b != 0 {
				shift := 8 - per - (slot & 7)
				a := &arena[slot>>3]
				*a = *a&^(clr[b]<<shift) | set[b]<<shift
			}
			slot += per
		}
		r.slot = slot
		return nil
	}
	r.slot += uint32(len(data)) * per
	return nil
}
