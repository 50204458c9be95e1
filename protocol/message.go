package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// MaxPayload is the largest payload accepted on reception for type t
// (GNUTELLA.md 3.2, GTKG's kick sizes). Unknown types get MaxOtherLen.
func MaxPayload(t PayloadType) uint32 {
	switch t {
	case TypeQuery:
		return MaxQueryLen
	case TypeQueryHit:
		return MaxQueryHitLen
	case TypeBye:
		return MaxByeLen
	}
	return MaxOtherLen
}

// Payload is anything that appends a descriptor payload.
type Payload interface {
	Append(dst []byte) []byte
}

// AppendMessage appends header h and payload p, with h.Length set to the
// payload's encoded size. A nil p gives an empty payload.
func AppendMessage(dst []byte, h Header, p Payload) []byte {
	start := len(dst)
	h.Length = 0
	dst = h.Append(dst)
	if p != nil {
		dst = p.Append(dst)
	}
	binary.LittleEndian.PutUint32(dst[start+19:start+23], uint32(len(dst)-start-HeaderLen))
	return dst
}

// Decoder reads descriptors from a byte stream (after the handshake and any
// inflation). It keeps one payload buffer that grows to the largest payload
// seen (at most MaxPayload of its type) and is reused.
type Decoder struct {
	r   io.Reader
	hdr [HeaderLen]byte
	buf []byte
}

// NewDecoder reads descriptors from r. Wrap r in a bufio.Reader: Next does
// two reads per descriptor.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: r} }

// Next reads one descriptor. The payload slice is valid until the next call.
// The length is checked against MaxPayload(type) before anything is
// allocated (error wraps ErrTooLarge; the header is returned for logging).
// Unknown payload types are returned like the others: the caller drops them.
// A stream ending cleanly between descriptors gives io.EOF; one ending inside
// a descriptor gives an error wrapping ErrTruncated and io.ErrUnexpectedEOF.
// After an error the stream is desynchronised: close the connection.
func (d *Decoder) Next() (Header, []byte, error) {
	if _, err := io.ReadFull(d.r, d.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return Header{}, nil, fmt.Errorf("%w: descriptor header: %w", ErrTruncated, err)
		}
		return Header{}, nil, err
	}
	var h Header
	if err := h.Decode(d.hdr[:]); err != nil {
		return h, nil, err
	}
	if limit := MaxPayload(h.Type); h.Length > limit {
		return h, nil, fmt.Errorf("%w: %v payload of %d bytes > %d", ErrTooLarge, h.Type, h.Length, limit)
	}
	n := int(h.Length)
	if cap(d.buf) < n {
		d.buf = make([]byte, n)
	}
	d.buf = d.buf[:n]
	if _, err := io.ReadFull(d.r, d.buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return h, nil, fmt.Errorf("%w: %v payload: %w", ErrTruncated, h.Type, err)
		}
		return h, nil, err
	}
	return h, d.buf, nil
}
