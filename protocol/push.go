package protocol

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PushLen is the size of the Push fixed part.
const PushLen = 26

// Decode reads a Push payload (GNUTELLA.md 4.4): servent GUID, index LE,
// requester IPv4 BE, port LE, optional GGEP. Less than 26 bytes wraps
// ErrTruncated; a malformed GGEP block is dropped and the Push kept.
func (m *Push) Decode(payload []byte) error {
	if len(payload) < PushLen {
		return fmt.Errorf("%w: push of %d bytes, want >= %d", ErrTruncated, len(payload), PushLen)
	}
	copy(m.ServentGUID[:], payload[:16])
	m.Index = binary.LittleEndian.Uint32(payload[16:20])
	m.IP = netip.AddrFrom4([4]byte(payload[20:24]))
	m.Port = binary.LittleEndian.Uint16(payload[24:26])
	m.GGEP = trailingGGEP(m.GGEP, payload[PushLen:])
	return nil
}

// Append appends the Push payload.
func (m *Push) Append(dst []byte) []byte {
	dst = append(dst, m.ServentGUID[:]...)
	dst = binary.LittleEndian.AppendUint32(dst, m.Index)
	dst = appendIPv4(dst, m.IP)
	dst = binary.LittleEndian.AppendUint16(dst, m.Port)
	return m.GGEP.Append(dst)
}
