package protocol

import "net/netip"

// This file fixes the exported shape of the descriptor payloads so that the
// codec, the routing tables and the node can be written side by side. The
// codecs live in one file per message (header.go, ping.go, pong.go, ...).
//
// Every payload type P has:
//
//	func (m *P) Decode(payload []byte) error   // payload = exactly the bytes after the header
//	func (m *P) Append(dst []byte) []byte      // appends the payload only (no header)
//
// and AppendMessage(dst, hdr, msg) writes header + payload with the right
// length. Decode reuses the slices already in m where it can, so a caller
// that keeps one value per connection decodes without allocating.

// PayloadType is byte 16 of the descriptor header.
type PayloadType uint8

// Payload types (GNUTELLA.md 3.1).
const (
	TypePing      PayloadType = 0x00
	TypePong      PayloadType = 0x01
	TypeBye       PayloadType = 0x02
	TypeQRP       PayloadType = 0x30
	TypeVendor    PayloadType = 0x31
	TypeStdVendor PayloadType = 0x32
	TypePush      PayloadType = 0x40
	TypeQuery     PayloadType = 0x80
	TypeQueryHit  PayloadType = 0x81
	HeaderLen                 = 23
	MaxPayloadLen             = 0xFFFF // GTKG kicks anything larger (3.2)
)

// Receive limits per payload type (GNUTELLA.md 3.2).
const (
	MaxQueryLen        = 1024
	MaxQueryHitLen     = 65535
	MaxByeLen          = 4096
	MaxOtherLen        = 40960
	MaxForwardQueryLen = 256
	MaxForwardHitLen   = 16384
)

// Header is the 23-byte descriptor header.
type Header struct {
	GUID   GUID
	Type   PayloadType
	TTL    uint8
	Hops   uint8
	Length uint32 // payload length, little-endian on the wire
}

// Ping is a Ping payload: empty or one GGEP block.
type Ping struct {
	GGEP GGEP
}

// Pong answers a Ping.
type Pong struct {
	Port  uint16
	IP    netip.Addr // IPv4; big-endian on the wire
	Files uint32
	KB    uint32
	GGEP  GGEP
}

// Bye tells a neighbour why we close.
type Bye struct {
	Code   uint16
	Reason string
}

// Push asks a firewalled servent to connect back.
type Push struct {
	ServentGUID GUID // the firewalled server's servent GUID
	Index       uint32
	IP          netip.Addr // the requester, who waits for GIV
	Port        uint16
	GGEP        GGEP
}

// QueryFlags is the big-endian flags word that starts a Query (4.5.1).
type QueryFlags uint16

// Query flag bits; they mean something only with FlagMark set.
const (
	FlagMark        QueryFlags = 0x8000 // "new format": always set it, GTKG drops a zero word
	FlagFirewalled  QueryFlags = 0x4000
	FlagXML         QueryFlags = 0x2000
	FlagLeafGuided  QueryFlags = 0x1000
	FlagGGEPH       QueryFlags = 0x0800
	FlagOOB         QueryFlags = 0x0400
	FlagFWToFW      QueryFlags = 0x0200
	FlagSRUDP       QueryFlags = 0x0100
	FlagMaxHitsMask QueryFlags = 0x00FF
)

// Query is a keyword and/or urn search.
type Query struct {
	Flags    QueryFlags
	Criteria string // keywords; "\\" from GTKG means "no keywords" and decodes as ""
	SHA1s    []SHA1 // urn:sha1 from text extensions or GGEP H
	URNs     []string
	GGEP     GGEP // the query's GGEP block, if any, minus nothing
}

// Result is one file in a QueryHit.
type Result struct {
	Index uint32
	Size  uint64 // > 2^32-1 travels as 0xFFFFFFFF plus GGEP LF
	Name  string
	SHA1  SHA1     // zero when the result carried none
	TTH   TTH      // Tiger tree root: GGEP TT, H type 02, or a bitprint/tree urn; zero when none
	URNs  []string // other urns, kept as text
	GGEP  GGEP     // per-result GGEP minus H and LF, which are decoded above
}

// QueryHit carries results back to the searcher.
type QueryHit struct {
	Port        uint16
	IP          netip.Addr
	Speed       uint32
	Results     []Result
	Vendor      [4]byte
	Push        bool // responder is firewalled: download by Push
	Busy        bool
	Uploaded    bool
	Measured    bool // speed was measured
	GGEP        GGEP // trailer private area (BH, PUSH, ...)
	ServentGUID GUID
}

// Vendor is a vendor message (0x31 and 0x32 share the framing).
type Vendor struct {
	Vendor   [4]byte
	Selector uint16
	Version  uint16
	Data     []byte
}

// Extension is one GGEP extension, its data decoded (COBS and deflate
// undone). COBS and Deflate ask the encoder to apply them.
type Extension struct {
	ID      string
	Data    []byte
	COBS    bool
	Deflate bool
}

// GGEP is a GGEP block: the extensions in wire order.
type GGEP []Extension

// SHA1 is a raw 20-byte SHA-1 digest; urn:sha1 is its base32 form.
type SHA1 [20]byte
