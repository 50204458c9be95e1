package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Gnutella over UDP (GNUTELLA-UDP.md 12): one descriptor per datagram, no
// framing beyond the 23-byte header. The TTL byte carries two marks of
// gtk-gnutella's "UDP compression" (gtkg:src/if/core/gnutella.h).
const (
	// UDPDeflated (TTL bit 7) says the payload is a zlib stream and the
	// length field its compressed size.
	UDPDeflated = 0x80
	// UDPCanInflate (TTL bit 3) on a request says "you may deflate replies".
	UDPCanInflate = 0x08

	// MaxDatagramLen is the largest datagram a descriptor can fill.
	MaxDatagramLen = HeaderLen + MaxPayloadLen

	// sizeMarked is GTKG's GTA_SIZE_MARKED: a length word with bit 31 set
	// keeps flags in bits 16-30; with no flag set the size is still valid.
	sizeMarked = 0x80000000
)

// ErrNotOverUDP marks a well-formed descriptor of a type gtk-gnutella does
// not process over UDP (Bye, QRP, a Query to a non-GUESS node, unknown
// types): drop it and count it.
var ErrNotOverUDP = errors.New("protocol: descriptor type not accepted over UDP")

// Datagram is one descriptor received over UDP, parsed once.
type Datagram struct {
	// Header has TTL without the UDP marks and Length = len(Payload).
	Header Header
	// Payload aliases the datagram unless it arrived deflated; then it is a
	// fresh inflated copy.
	Payload []byte
	// Deflated: the payload arrived deflated (TTL bit 7).
	Deflated bool
	// CanInflate: the sender accepts deflated replies (TTL bit 3).
	CanInflate bool
}

// UDPAccepts reports whether a descriptor of type t is processed from UDP,
// as gtk-gnutella's udp_is_valid_gnet_split() decides: Ping, Pong, vendor
// messages, Push and QueryHit always; Query only by a GUESS server (an
// ultrapeer answering GUESS). GTKG also takes RUDP (0x41) and DHT (0x44)
// datagrams, which servent does not implement: they are refused here.
func UDPAccepts(t PayloadType, guessServer bool) bool {
	switch t {
	case TypePing, TypePong, TypeVendor, TypeStdVendor, TypePush, TypeQueryHit:
		return true
	case TypeQuery:
		return guessServer
	}
	return false
}

// DecodeDatagram parses one UDP datagram b (GNUTELLA-UDP.md 12.1, 12.2).
// The checks run before anything is allocated, in GTKG's order:
//   - fewer than 23 bytes: ErrTruncated;
//   - a length word over 0xFFFF that is not bit-31 marked, or marked with
//     flags: ErrMalformed (GTKG shuns the source; servent only drops, since
//     UDP sources are trivially spoofed);
//   - 23 + length != len(b): ErrMalformed ("size mismatch");
//   - a type UDPAccepts refuses: ErrNotOverUDP;
//   - a payload over MaxPayload(type), before or after inflating:
//     ErrTooLarge.
//
// A deflated payload (TTL bit 7) is inflated; a corrupt stream is
// ErrMalformed. On error the Header is filled when 23 bytes were there, for
// logs and counters.
func DecodeDatagram(b []byte, guessServer bool) (Datagram, error) {
	var d Datagram
	if len(b) < HeaderLen {
		return d, fmt.Errorf("%w: datagram of %d bytes, want >= %d", ErrTruncated, len(b), HeaderLen)
	}
	h := &d.Header
	h.GUID = GUID(b[:16])
	h.Type, h.Hops = PayloadType(b[16]), b[18]
	ttl := b[17]
	raw := binary.LittleEndian.Uint32(b[19:23])
	size := raw & MaxPayloadLen
	if raw != size {
		if raw&sizeMarked == 0 {
			return d, fmt.Errorf("%w: datagram length word %#x over 64 KiB without the bit-31 mark", ErrMalformed, raw)
		}
		if raw&^(sizeMarked|MaxPayloadLen) != 0 {
			return d, fmt.Errorf("%w: datagram length word %#x carries unknown flags", ErrMalformed, raw)
		}
	}
	h.Length = size
	if HeaderLen+int(size) != len(b) {
		return d, fmt.Errorf("%w: datagram of %d bytes announces a %d-byte payload", ErrMalformed, len(b), size)
	}
	if !UDPAccepts(h.Type, guessServer) {
		return d, fmt.Errorf("%w: %v", ErrNotOverUDP, h.Type)
	}
	limit := MaxPayload(h.Type)
	if size > limit {
		return d, fmt.Errorf("%w: %v datagram payload of %d bytes > %d", ErrTooLarge, h.Type, size, limit)
	}
	d.Deflated = ttl&UDPDeflated != 0
	d.CanInflate = ttl&UDPCanInflate != 0
	h.TTL = ttl &^ (UDPDeflated | UDPCanInflate)
	d.Payload = b[HeaderLen:]
	if d.Deflated {
		p, err := inflateCapped(d.Payload, int(limit))
		if err != nil {
			return d, fmt.Errorf("%v datagram: %w", h.Type, err)
		}
		d.Payload = p
		h.Length = uint32(len(p))
	}
	if len(d.Payload) == 0 {
		d.Payload = nil
	}
	return d, nil
}

// AppendDatagram appends header h and payload p as one datagram. With
// deflate (the request had UDPCanInflate, 12.2) the payload is
// zlib-compressed and the TTL marked UDPDeflated when that makes the
// datagram smaller, as GTKG does; otherwise it is written plain. h.TTL may
// carry UDPCanInflate (a request saying we inflate replies), never
// UDPDeflated.
func AppendDatagram(dst []byte, h Header, p Payload, deflate bool) []byte {
	start := len(dst)
	dst = AppendMessage(dst, h, p)
	if !deflate || len(dst)-start <= HeaderLen {
		return dst
	}
	z := deflateBest(dst[start+HeaderLen:])
	if len(z) >= len(dst)-start-HeaderLen {
		return dst
	}
	dst = append(dst[:start+HeaderLen], z...)
	dst[start+17] |= UDPDeflated
	binary.LittleEndian.PutUint32(dst[start+19:start+23], uint32(len(z)))
	return dst
}
