package protocol

import (
	"encoding/binary"
	"fmt"
	"net/netip"
)

// Out-of-band query hits (GNUTELLA-UDP.md 16) and UDP connect-back (17.2).

// Selectors of the UDP-side vendor messages.
const (
	SelOOBReplyAck    = 11 // VendorLIME: LIME/11 "OOB Reply Ack", the claim
	SelOOBReplyNumber = 12 // VendorLIME: LIME/12 "ReplyNumber", hits held
	SelOOBProxyVeto   = 13 // VendorLIME: LIME/13, a leaf vetoes OOB proxying
	SelUDPConnectBack = 7  // VendorGTKG: GTKG/7 "UDP Connect Back"
)

// MaxOOBTokenLen bounds the OOB v3 token (GGEP SO) of a LIME/11, as GTKG's
// MAX_OOB_TOKEN_SIZE.
const MaxOOBTokenLen = 16

// OOBAddr returns the return address an OOB query carries in its MUID
// (16.1, guid_query_oob_muid()): bytes 0-3 the IPv4 address (BE), bytes
// 13-14 the UDP port (LE).
func OOBAddr(muid GUID) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte(muid[:4])), binary.LittleEndian.Uint16(muid[13:15]))
}

// WithOOBAddr returns muid with addr written where OOBAddr reads it, the
// other bytes kept (this is also how an OOB proxy rewrites a leaf's MUID,
// 16.7). An address that is not IPv4 leaves muid unchanged and false: OOB
// return addresses are IPv4 only.
func WithOOBAddr(muid GUID, addr netip.AddrPort) (GUID, bool) {
	ip := addr.Addr().Unmap()
	if !ip.Is4() {
		return muid, false
	}
	a := ip.As4()
	copy(muid[:4], a[:])
	binary.LittleEndian.PutUint16(muid[13:15], addr.Port())
	return muid, true
}

// OOBReplyNumber is LIME/12 (16.3): the server holds Hits results for the
// query whose MUID is the descriptor GUID. Sent by UDP to OOBAddr(MUID).
type OOBReplyNumber struct {
	Version uint16 // 1, 2, or 3 when the query had GGEP SO (secure OOB)
	Hits    uint8  // 1..255
	// CanReceiveUnsolicited is flags bit 0 (v2, v3): the server can receive
	// unsolicited UDP.
	CanReceiveUnsolicited bool
}

// DecodeOOBReplyNumber reads the data of LIME/12 of the given version. A
// hit count of 0 is ErrMalformed (GTKG ignores such a message); a missing
// byte ErrTruncated; extra bytes are ignored.
func DecodeOOBReplyNumber(version uint16, data []byte) (OOBReplyNumber, error) {
	want := 1
	if version >= 2 {
		want = 2
	}
	if len(data) < want {
		return OOBReplyNumber{}, fmt.Errorf("%w: LIME/12 v%d of %d bytes, want %d", ErrTruncated, version, len(data), want)
	}
	r := OOBReplyNumber{Version: version, Hits: data[0]}
	if r.Hits == 0 {
		return OOBReplyNumber{}, fmt.Errorf("%w: LIME/12 announces 0 hits", ErrMalformed)
	}
	if want == 2 {
		r.CanReceiveUnsolicited = data[1]&0x01 != 0
	}
	return r, nil
}

// Vendor builds LIME/12 (version 0 is written as 2).
func (r OOBReplyNumber) Vendor() Vendor {
	v := r.Version
	if v == 0 {
		v = 2
	}
	data := []byte{r.Hits}
	if v >= 2 {
		var f byte
		if r.CanReceiveUnsolicited {
			f = 0x01
		}
		data = append(data, f)
	}
	return Vendor{Vendor: VendorLIME, Selector: SelOOBReplyNumber, Version: v, Data: data}
}

// OOBWantAll is the LIME/11 Wanted value that claims every hit.
const OOBWantAll = 0xFF

// OOBReplyAck is LIME/11 (16.4): the querier claims Wanted hits of the
// query whose MUID is the descriptor GUID. In v3 Token (GGEP SO, 1..16
// bytes) must come back in the hits' trailer.
type OOBReplyAck struct {
	Version uint16 // 2 or 3
	Wanted  uint8  // OOBWantAll = all
	Token   []byte // v3 only; aliases the decoded data
}

// DecodeOOBReplyAck reads the data of LIME/11 of the given version. As
// GTKG's handle_oob_reply_ack(), v3 takes the token from a GGEP SO after the
// count when there are more bytes; a v3 ack without one has a nil Token.
// A malformed GGEP block or an SO of 0 or more than 16 bytes is
// ErrMalformed.
func DecodeOOBReplyAck(version uint16, data []byte) (OOBReplyAck, error) {
	if len(data) < 1 {
		return OOBReplyAck{}, fmt.Errorf("%w: LIME/11 without data", ErrTruncated)
	}
	a := OOBReplyAck{Version: version, Wanted: data[0]}
	if version < 3 || len(data) == 1 {
		return a, nil
	}
	g, _, err := parseGGEP(make(GGEP, 0, 1), data[1:])
	if err != nil {
		return OOBReplyAck{}, fmt.Errorf("LIME/11 v%d: %w", version, err)
	}
	if tok, ok := g.Get("SO"); ok {
		if len(tok) == 0 || len(tok) > MaxOOBTokenLen {
			return OOBReplyAck{}, fmt.Errorf("%w: LIME/11 token of %d bytes, want 1..%d", ErrMalformed, len(tok), MaxOOBTokenLen)
		}
		a.Token = tok
	}
	return a, nil
}

// Vendor builds LIME/11: v3 with the token when there is one, else v2
// (GTKG's vmsg_send_oob_reply_ack() chooses the same way).
func (a OOBReplyAck) Vendor() Vendor {
	data := []byte{a.Wanted}
	v := uint16(2)
	if len(a.Token) > 0 {
		v = 3
		data = GGEP{{ID: "SO", Data: a.Token}}.Append(data)
	}
	return Vendor{Vendor: VendorLIME, Selector: SelOOBReplyAck, Version: v, Data: data}
}

// UDPConnectBack is GTKG/7 (17.2): send a UDP Ping with MUID GUID to the
// TCP peer's IP at Port. v1 carries the GUID in the data; v2 uses the
// message's MUID (GNUTELLA.md 4.8 had them the other way round: the bytes
// and handle_udp_connect_back() win).
type UDPConnectBack struct {
	Version uint16
	Port    uint16
	GUID    GUID // the MUID of the Ping to send back
}

// DecodeUDPConnectBack reads the data of GTKG/7 of the given version; muid
// is the descriptor's GUID, used as GUID by v2. Port 0 is ErrMalformed.
func DecodeUDPConnectBack(version uint16, muid GUID, data []byte) (UDPConnectBack, error) {
	want := 2
	if version < 2 {
		want = 2 + 16
	}
	if len(data) < want {
		return UDPConnectBack{}, fmt.Errorf("%w: GTKG/7 v%d of %d bytes, want %d", ErrTruncated, version, len(data), want)
	}
	c := UDPConnectBack{Version: version, Port: binary.LittleEndian.Uint16(data), GUID: muid}
	if c.Port == 0 {
		return UDPConnectBack{}, fmt.Errorf("%w: GTKG/7 to port 0", ErrMalformed)
	}
	if version < 2 {
		c.GUID = GUID(data[2:18])
	}
	return c, nil
}

// Vendor builds GTKG/7 (version 0 is written as 2); the caller sends a v2
// message with GUID as its MUID.
func (c UDPConnectBack) Vendor() Vendor {
	v := c.Version
	if v == 0 {
		v = 2
	}
	data := binary.LittleEndian.AppendUint16(make([]byte, 0, 18), c.Port)
	if v < 2 {
		data = append(data, c.GUID[:]...)
	}
	return Vendor{Vendor: VendorGTKG, Selector: SelUDPConnectBack, Version: v, Data: data}
}

// UDPMessagesSupported are the Messages Supported entries servent adds once
// its UDP side runs (18): connect-back and OOB. LIME/13 is added only by an
// ultrapeer that proxies OOB, so it is not here.
var UDPMessagesSupported = []VendorEntry{
	{VendorBEAR, SelTCPConnectBack, 1},
	{VendorGTKG, SelUDPConnectBack, 1},
	{VendorGTKG, SelUDPConnectBack, 2},
	{VendorLIME, SelOOBReplyAck, 2},
	{VendorLIME, SelOOBReplyAck, 3},
	{VendorLIME, SelOOBReplyNumber, 2},
	{VendorLIME, SelOOBReplyNumber, 3},
}
