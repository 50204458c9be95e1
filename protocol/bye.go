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

// Bye codes that say more than "this link ends" (GNUTELLA.md 4.3; GTKG
// nodes.c sends 201 "User manual removal", 202 "User going offline" and 203
// "Becoming an ultra node" / "Becoming a leaf node").
const (
	ByeShutdown     uint16 = 200 // the servent is shutting down
	ByeUserClosed   uint16 = 201 // its user dropped this link
	ByeGoingOffline uint16 = 202 // its user takes it off the network
	ByeRoleChange   uint16 = 203 // it switches between leaf and ultrapeer
)
