package protocol

import (
	"encoding/binary"
	"fmt"
)

// ParseHeader decodes the 23-byte descriptor header at the start of b
// (GNUTELLA.md 3). A length above MaxPayloadLen (65535) is an error wrapping
// ErrTooLarge: GTKG kicks such peers and a servent must close the link, as
// the stream cannot be resynchronised. The header is returned even then so
// the caller can log it. The per-type limit is MaxPayload's business.
func ParseHeader(b []byte) (h Header, err error) {
	err = h.Decode(b)
	return h, err
}

// Decode is ParseHeader into h. On hot paths it is the cheaper form: a
// returned Header travels through memory (arrays are never
// register-assigned), and reading its fields back right after the callee
// wrote them byte by byte stalls store forwarding.
func (h *Header) Decode(b []byte) error {
	if len(b) < HeaderLen {
		return errShortHeader(len(b))
	}
	h.GUID = GUID(b[:16])
	h.Type, h.TTL, h.Hops = PayloadType(b[16]), b[17], b[18]
	h.Length = binary.LittleEndian.Uint32(b[19:23])
	if h.Length > MaxPayloadLen {
		return errLengthTooLarge(h.Length)
	}
	return nil
}

// The error constructors stay out of line to keep the slow path small.

//go:noinline
func errShortHeader(n int) error {
	return fmt.Errorf("%w: header has %d bytes, want %d", ErrTruncated, n, HeaderLen)
}

//go:noinline
func errLengthTooLarge(n uint32) error {
	return fmt.Errorf("%w: payload length %#x > %d", ErrTooLarge, n, MaxPayloadLen)
}

// Append appends the 23-byte header; Length is written as given.
func (h Header) Append(dst []byte) []byte {
	dst = append(dst, h.GUID[:]...)
	dst = append(dst, byte(h.Type), h.TTL, h.Hops)
	return binary.LittleEndian.AppendUint32(dst, h.Length)
}

// String names the payload type for logs.
func (t PayloadType) String() string {
	switch t {
	case TypePing:
		return "Ping"
	case TypePong:
		return "Pong"
	case TypeBye:
		return "Bye"
	case TypeQRP:
		return "QRP"
	case TypeVendor:
		return "Vendor"
	case TypeStdVendor:
		return "StdVendor"
	case TypePush:
		return "Push"
	case TypeQuery:
		return "Query"
	case TypeQueryHit:
		return "QueryHit"
	}
	return fmt.Sprintf("Type(%#02x)", uint8(t))
}
