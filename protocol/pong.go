package protocol

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// PongLen is the size of the Pong fixed part.
const PongLen = 14

// Decode reads a Pong payload (GNUTELLA.md 4.2): port LE, IPv4 BE, files
// LE, KB LE, then an optional GGEP block. Less than 14 bytes wraps
// ErrTruncated. A malformed GGEP block is dropped and the Pong kept.
func (m *Pong) Decode(payload []byte) error {
	if len(payload) < PongLen {
		return fmt.Errorf("%w: pong of %d bytes, want >= %d", ErrTruncated, len(payload), PongLen)
	}
	m.Port = binary.LittleEndian.Uint16(payload[0:2])
	m.IP = netip.AddrFrom4([4]byte(payload[2:6]))
	m.Files = binary.LittleEndian.Uint32(payload[6:10])
	m.KB = binary.LittleEndian.Uint32(payload[10:14])
	m.GGEP = trailingGGEP(m.GGEP, payload[PongLen:])
	return nil
}

// Append appends the Pong payload. A missing or IPv6 IP is written as
// 0.0.0.0 (IPv6 belongs in GGEP "6").
func (m *Pong) Append(dst []byte) []byte {
	dst = binary.LittleEndian.AppendUint16(dst, m.Port)
	dst = appendIPv4(dst, m.IP)
	dst = binary.LittleEndian.AppendUint32(dst, m.Files)
	dst = binary.LittleEndian.AppendUint32(dst, m.KB)
	return m.GGEP.Append(dst)
}

// appendIPv4 appends ip in network order; anything but IPv4 (or an
// IPv4-mapped IPv6 address) becomes 0.0.0.0.
func appendIPv4(dst []byte, ip netip.Addr) []byte {
	ip = ip.Unmap()
	if !ip.Is4() {
		return append(dst, 0, 0, 0, 0)
	}
	a := ip.As4()
	return append(dst, a[:]...)
}
