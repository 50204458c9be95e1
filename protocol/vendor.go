package protocol

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// VendorHeaderLen is the vendor message framing: vendor, selector, version.
const VendorHeaderLen = 8

// Vendor codes of the vendor messages servent knows (GNUTELLA.md 4.8).
var (
	VendorNull = [4]byte{}                   // standard messages (Messages/Features Supported)
	VendorBEAR = [4]byte{'B', 'E', 'A', 'R'} // BearShare
	VendorLIME = [4]byte{'L', 'I', 'M', 'E'} // LimeWire
	VendorGTKG = [4]byte{'G', 'T', 'K', 'G'} // gtk-gnutella
	VendorSRVT = [4]byte{'S', 'R', 'V', 'T'} // servent itself
)

// Selectors of the vendor messages servent knows.
const (
	SelMessagesSupported = 0  // VendorNull
	SelFeaturesSupported = 10 // VendorNull
	SelHopsFlow          = 4  // VendorBEAR
	SelTCPConnectBack    = 7  // VendorBEAR
	SelQueryStatusReq    = 11 // VendorBEAR
	SelQueryStatusResp   = 12 // VendorBEAR
	SelPushProxyReq      = 21 // VendorLIME
	SelPushProxyAck      = 22 // VendorLIME
)

// Decode reads the vendor message framing (GNUTELLA.md 4.8): vendor code,
// selector LE, version LE, then Data, which aliases payload. Less than 8
// bytes wraps ErrTruncated.
func (m *Vendor) Decode(payload []byte) error {
	if len(payload) < VendorHeaderLen {
		return fmt.Errorf("%w: vendor message of %d bytes, want >= %d", ErrTruncated, len(payload), VendorHeaderLen)
	}
	m.Vendor = [4]byte(payload[:4])
	m.Selector = binary.LittleEndian.Uint16(payload[4:6])
	m.Version = binary.LittleEndian.Uint16(payload[6:8])
	m.Data = payload[VendorHeaderLen:]
	if len(m.Data) == 0 {
		m.Data = nil
	}
	return nil
}

// Append appends the framing and Data.
func (m *Vendor) Append(dst []byte) []byte {
	dst = append(dst, m.Vendor[:]...)
	dst = binary.LittleEndian.AppendUint16(dst, m.Selector)
	dst = binary.LittleEndian.AppendUint16(dst, m.Version)
	return append(dst, m.Data...)
}

// Is reports whether m is the message (vendor, selector), any version.
func (m *Vendor) Is(vendor [4]byte, selector uint16) bool {
	return m.Vendor == vendor && m.Selector == selector
}

// VendorEntry is one (vendor, selector, version) of Messages Supported.
type VendorEntry struct {
	Vendor   [4]byte
	Selector uint16
	Version  uint16
}

// MessagesSupported is 00000000/0 v0: the vendor messages a peer understands.
type MessagesSupported struct {
	Entries []VendorEntry
}

// maxVendorEntries bounds the count of Messages/Features Supported: more than
// a 40960-byte vendor message can hold is refused before allocating.
const maxVendorEntries = (MaxOtherLen - VendorHeaderLen - 2) / 6

// DecodeMessagesSupported reads the data of a Messages Supported message:
// count (2 LE), then count x (vendor 4, selector 2 LE, version 2 LE). A count
// larger than the data holds wraps ErrTruncated; bytes after the entries are
// ignored.
func DecodeMessagesSupported(data []byte) (MessagesSupported, error) {
	if len(data) < 2 {
		return MessagesSupported{}, fmt.Errorf("%w: messages supported of %d bytes", ErrTruncated, len(data))
	}
	n := int(binary.LittleEndian.Uint16(data))
	if n > (len(data)-2)/8 || n > maxVendorEntries {
		return MessagesSupported{}, fmt.Errorf("%w: messages supported announces %d entries, data holds %d", ErrTruncated, n, (len(data)-2)/8)
	}
	m := MessagesSupported{Entries: make([]VendorEntry, n)}
	for i := range m.Entries {
		b := data[2+8*i:]
		m.Entries[i] = VendorEntry{
			Vendor:   [4]byte(b[:4]),
			Selector: binary.LittleEndian.Uint16(b[4:6]),
			Version:  binary.LittleEndian.Uint16(b[6:8]),
		}
	}
	return m, nil
}

// Supports returns the highest version of (vendor, selector) listed, or
// false.
func (m MessagesSupported) Supports(vendor [4]byte, selector uint16) (uint16, bool) {
	var v uint16
	ok := false
	for _, e := range m.Entries {
		if e.Vendor == vendor && e.Selector == selector && (!ok || e.Version > v) {
			v, ok = e.Version, true
		}
	}
	return v, ok
}

// Vendor builds the message (vendor message type 0x31, version 0). At most
// 65535 entries are written.
func (m MessagesSupported) Vendor() Vendor {
	n := min(len(m.Entries), 0xFFFF)
	data := make([]byte, 0, 2+8*n)
	data = binary.LittleEndian.AppendUint16(data, uint16(n))
	for _, e := range m.Entries[:n] {
		data = append(data, e.Vendor[:]...)
		data = binary.LittleEndian.AppendUint16(data, e.Selector)
		data = binary.LittleEndian.AppendUint16(data, e.Version)
	}
	return Vendor{Vendor: VendorNull, Selector: SelMessagesSupported, Data: data}
}

// FeatureEntry is one feature of Features Supported: a 4-byte name such as
// "HSEP", "TLS!" and its version.
type FeatureEntry struct {
	Name    [4]byte
	Version uint16
}

// FeaturesSupported is 00000000/10 v0: count (2 LE), count x (name 4,
// version 2 LE).
type FeaturesSupported struct {
	Features []FeatureEntry
}

// DecodeFeaturesSupported reads the data of a Features Supported message.
// A count larger than the data holds wraps ErrTruncated.
func DecodeFeaturesSupported(data []byte) (FeaturesSupported, error) {
	if len(data) < 2 {
		return FeaturesSupported{}, fmt.Errorf("%w: features supported of %d bytes", ErrTruncated, len(data))
	}
	n := int(binary.LittleEndian.Uint16(data))
	if n > (len(data)-2)/6 || n > maxVendorEntries {
		return FeaturesSupported{}, fmt.Errorf("%w: features supported announces %d entries, data holds %d", ErrTruncated, n, (len(data)-2)/6)
	}
	f := FeaturesSupported{Features: make([]FeatureEntry, n)}
	for i := range f.Features {
		b := data[2+6*i:]
		f.Features[i] = FeatureEntry{Name: [4]byte(b[:4]), Version: binary.LittleEndian.Uint16(b[4:6])}
	}
	return f, nil
}

// Vendor builds the message (version 0).
func (f FeaturesSupported) Vendor() Vendor {
	n := min(len(f.Features), 0xFFFF)
	data := make([]byte, 0, 2+6*n)
	data = binary.LittleEndian.AppendUint16(data, uint16(n))
	for _, e := range f.Features[:n] {
		data = append(data, e.Name[:]...)
		data = binary.LittleEndian.AppendUint16(data, e.Version)
	}
	return Vendor{Vendor: VendorNull, Selector: SelFeaturesSupported, Data: data}
}

// HopsFlow is BEAR/4 v1: send me only queries with hops < MaxHops (0: none).
type HopsFlow struct {
	MaxHops uint8
}

// DecodeHopsFlow reads the 1-byte data of BEAR/4 (extra bytes ignored).
func DecodeHopsFlow(data []byte) (HopsFlow, error) {
	if len(data) < 1 {
		return HopsFlow{}, fmt.Errorf("%w: hops flow without data", ErrTruncated)
	}
	return HopsFlow{MaxHops: data[0]}, nil
}

// Vendor builds BEAR/4 v1.
func (h HopsFlow) Vendor() Vendor {
	return Vendor{Vendor: VendorBEAR, Selector: SelHopsFlow, Version: 1, Data: []byte{h.MaxHops}}
}

// TCPConnectBack is BEAR/7 v1: connect to my Port (firewall test).
type TCPConnectBack struct {
	Port uint16
}

// DecodeTCPConnectBack reads the 2-byte LE port of BEAR/7.
func DecodeTCPConnectBack(data []byte) (TCPConnectBack, error) {
	if len(data) < 2 {
		return TCPConnectBack{}, fmt.Errorf("%w: tcp connect back of %d bytes", ErrTruncated, len(data))
	}
	return TCPConnectBack{Port: binary.LittleEndian.Uint16(data)}, nil
}

// Vendor builds BEAR/7 v1.
func (c TCPConnectBack) Vendor() Vendor {
	return Vendor{Vendor: VendorBEAR, Selector: SelTCPConnectBack, Version: 1,
		Data: binary.LittleEndian.AppendUint16(nil, c.Port)}
}

// QueryStatusRequest is BEAR/11 v1 (empty data). The descriptor GUID is the
// query's MUID.
type QueryStatusRequest struct{}

// Vendor builds BEAR/11 v1.
func (QueryStatusRequest) Vendor() Vendor {
	return Vendor{Vendor: VendorBEAR, Selector: SelQueryStatusReq, Version: 1}
}

// QueryStatusStop is the Hits value that asks the ultrapeer to stop the query.
const QueryStatusStop = 0xFFFF

// QueryStatusResponse is BEAR/12 v1: hits kept so far for the query whose
// MUID is the descriptor GUID; QueryStatusStop stops it.
type QueryStatusResponse struct {
	Hits uint16
}

// DecodeQueryStatusResponse reads the 2-byte LE hit count of BEAR/12.
func DecodeQueryStatusResponse(data []byte) (QueryStatusResponse, error) {
	if len(data) < 2 {
		return QueryStatusResponse{}, fmt.Errorf("%w: query status response of %d bytes", ErrTruncated, len(data))
	}
	return QueryStatusResponse{Hits: binary.LittleEndian.Uint16(data)}, nil
}

// Vendor builds BEAR/12 v1.
func (q QueryStatusResponse) Vendor() Vendor {
	return Vendor{Vendor: VendorBEAR, Selector: SelQueryStatusResp, Version: 1,
		Data: binary.LittleEndian.AppendUint16(nil, q.Hits)}
}

// PushProxyRequest is LIME/21 (empty data); the descriptor GUID is the
// requesting leaf's servent GUID.
type PushProxyRequest struct{}

// Vendor builds LIME/21 v2 (GTKG lists v1 and v2; both are empty).
func (PushProxyRequest) Vendor() Vendor {
	return Vendor{Vendor: VendorLIME, Selector: SelPushProxyReq, Version: 2}
}

// PushProxyAck is LIME/22: the ultrapeer accepts to be the leaf's push proxy
// at Addr. v2 data = IPv4 BE + port LE; v1 = port only (Addr then has an
// invalid IP). The descriptor GUID is the leaf's servent GUID.
type PushProxyAck struct {
	Addr netip.AddrPort
}

// DecodePushProxyAck reads the data of LIME/22 of the given version.
func DecodePushProxyAck(version uint16, data []byte) (PushProxyAck, error) {
	if version < 2 {
		if len(data) < 2 {
			return PushProxyAck{}, fmt.Errorf("%w: push proxy ack v%d of %d bytes", ErrTruncated, version, len(data))
		}
		return PushProxyAck{Addr: netip.AddrPortFrom(netip.Addr{}, binary.LittleEndian.Uint16(data))}, nil
	}
	if len(data) < 6 {
		return PushProxyAck{}, fmt.Errorf("%w: push proxy ack v%d of %d bytes", ErrTruncated, version, len(data))
	}
	return PushProxyAck{Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte(data[:4])), binary.LittleEndian.Uint16(data[4:6]))}, nil
}

// Vendor builds LIME/22 v2.
func (p PushProxyAck) Vendor() Vendor {
	data := appendIPv4(make([]byte, 0, 6), p.Addr.Addr())
	data = binary.LittleEndian.AppendUint16(data, p.Addr.Port())
	return Vendor{Vendor: VendorLIME, Selector: SelPushProxyAck, Version: 2, Data: data}
}
