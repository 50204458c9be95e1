package protocol

import (
	"encoding/binary"
	"fmt"
)

// Decode reads a Bye payload (GNUTELLA.md 4.3): code LE, then the reason up
// to its NUL (a missing NUL is accepted: the reason runs to the end).
// Reason is a copy. Less than 2 bytes wraps ErrTruncated.
func (m *Bye) Decode(payload []byte) error {
	if len(payload) < 2 {
		return fmt.Errorf("%w: bye of %d bytes, want >= 2", ErrTruncated, len(payload))
	}
	m.Code = binary.LittleEndian.Uint16(payload)
	r := payload[2:]
	if i := indexNUL(r); i >= 0 {
		r = r[:i]
	}
	m.Reason = string(r)
	return nil
}

// Append appends code, reason and the terminating NUL. A NUL inside Reason
// would end it early on the wire; it is written as is.
func (m *Bye) Append(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, m.Code)
	dst = append(dst, m.Reason...)
	return append(dst, 0)
}
