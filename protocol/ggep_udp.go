package protocol

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
)

// GGEP extensions of UDP Pings and Pongs (GNUTELLA-UDP.md 13-15), read once
// into typed values. Ping.Decode and Pong.Decode keep the raw block;
// ParsePingRequest and ParsePongInfo interpret it.

// SCPFlags is the optional flag byte of GGEP SCP (a UHC ping).
type SCPFlags uint8

// SCP flag bits. GTKG ignores them when it picks hosts (14.1).
const (
	SCPUltrapeers SCPFlags = 0x01 // wants ultrapeers (else hosts with leaf slots)
	SCPTLS        SCPFlags = 0x02 // the sender supports TLS
	SCPIPv6       SCPFlags = 0x04 // send IPv6 hosts too (IPP6)
	SCPNoIPv4     SCPFlags = 0x08 // no IPv4 hosts
)

// GUESSVersion is the GUESS version byte GTKG writes: 0.2 (high nibble
// major, low nibble minor).
const GUESSVersion = 0x02

// MaxQueryKeyLen bounds a GUESS query key; GTKG issues and accepts only 4
// bytes (QueryKeyLen), LimeWire used 4..16.
const (
	QueryKeyLen    = 4
	MaxQueryKeyLen = 16
)

// PingRequest is what a UDP Ping asks for (13, "Ping GGEP keys").
type PingRequest struct {
	UHC        bool     // SCP: a host-cache ping, answer with IPP
	SCP        SCPFlags // SCP's flag byte (0 when empty)
	QueryKey   bool     // QK (empty): a GUESS query key request
	GUESSHosts bool     // GUE, empty or an introduction: IPP lists GUESS hosts (14.2)
	// GUESSIntro is the sender's GUESS port from a 3-byte GUE (version +
	// port LE): "I am a GUESS ultrapeer at this IP and port". 0: none.
	GUESSIntro uint16
	EchoIP     bool // IP (empty): echo my address as seen by you
	DHTHosts   bool // DHTIPP: DHT hosts (servent answers none)
}

// ParsePingRequest reads the request keys of a Ping's GGEP block; unknown
// keys and malformed optional bytes are ignored, as GTKG's ping_type() does.
func ParsePingRequest(g GGEP) PingRequest {
	var r PingRequest
	for i := range g {
		e := &g[i]
		switch e.ID {
		case "SCP":
			r.UHC = true
			if len(e.Data) > 0 {
				r.SCP = SCPFlags(e.Data[0])
			}
		case "QK":
			r.QueryKey = true
		case "GUE":
			r.GUESSHosts = true
			if len(e.Data) >= 3 {
				r.GUESSIntro = binary.LittleEndian.Uint16(e.Data[1:3])
			}
		case "IP":
			r.EchoIP = true
		case "DHTIPP":
			r.DHTHosts = true
		}
	}
	return r
}

// GGEP returns the Ping GGEP block asking for r, keys in the order GTKG's
// own pings use (QK, SCP as in 31's query-key pings; GUE last). The
// introduction GUE carries GUESSVersion and the port.
func (r PingRequest) GGEP() GGEP {
	var g GGEP
	if r.QueryKey {
		g = append(g, Extension{ID: "QK"})
	}
	if r.UHC {
		e := Extension{ID: "SCP"}
		if r.SCP != 0 {
			e.Data = []byte{byte(r.SCP)}
		}
		g = append(g, e)
	}
	if r.GUESSIntro != 0 {
		g = append(g, Extension{ID: "GUE", Data: binary.LittleEndian.AppendUint16([]byte{GUESSVersion}, r.GUESSIntro)})
	} else if r.GUESSHosts {
		g = append(g, Extension{ID: "GUE"})
	}
	if r.EchoIP {
		g = append(g, Extension{ID: "IP"})
	}
	if r.DHTHosts {
		g = append(g, Extension{ID: "DHTIPP", Data: []byte{byte(r.SCP)}})
	}
	return g
}

// PongInfo is the GGEP block of a Pong, typed (13, "Pong GGEP keys").
// Slices alias the GGEP data except the host lists, which are fresh.
type PongInfo struct {
	IPv6          netip.Addr // "6": the sender's IPv6 address
	HasVC         bool
	Vendor        [4]byte // VC: vendor code
	VendorVersion uint8   // VC: version byte (GTKG: 0x83)
	GUESS         uint8   // GUE: GUESS version (GUESSVersion); 0 = no GUESS
	// Ultrapeer is set by UP: version byte, then free leaf and ultrapeer
	// slots.
	Ultrapeer     bool
	UPVersion     uint8
	FreeLeafSlots uint8
	FreeUPSlots   uint8
	Locale        []byte // LOC: "ll" or "ll_CC", raw (network text: make it safe before showing it)
	HasDU         bool
	DailyUptime   uint32 // DU: average daily uptime, seconds
	TLS           bool   // TLS
	HasDHT        bool
	DHT           [3]byte // DHT: major, minor, mode
	// Hosts are IPP (IPv4 BE + port LE each): host-cache or GUESS hosts.
	Hosts    []netip.AddrPort
	HostsTLS []byte           // IPP_TLS: bitmap, bit 7 of byte 0 = Hosts[0] speaks TLS
	Hosts6   []netip.AddrPort // IPP6: IPv6 hosts (16 + port LE each)
	DHTHosts []netip.AddrPort // DHTIPP
	Echoed   netip.AddrPort   // IP: our address as the sender sees it
	QueryKey []byte           // QK: a GUESS query key
}

// HostTLS reports whether IPP_TLS marks Hosts[i] as speaking TLS.
func (p *PongInfo) HostTLS(i int) bool {
	return i >= 0 && i/8 < len(p.HostsTLS) && p.HostsTLS[i/8]&(0x80>>(i%8)) != 0
}

// ParsePongInfo reads the Pong keys of g. Unknown keys are ignored; a known
// key with malformed data is left out of the result and reported (wrapping
// ErrMalformed) while the other keys are still read: callers may keep the
// Pong and ignore the error.
func ParsePongInfo(g GGEP) (PongInfo, error) {
	var p PongInfo
	var errs []error
	bad := func(id string, n int) {
		errs = append(errs, fmt.Errorf("%w: pong ggep %s of %d bytes", ErrMalformed, id, n))
	}
	for i := range g {
		e := &g[i]
		d := e.Data
		switch e.ID {
		case "6":
			if len(d) != 16 {
				bad(e.ID, len(d))
				continue
			}
			p.IPv6 = netip.AddrFrom16([16]byte(d))
		case "VC":
			if len(d) < 5 {
				bad(e.ID, len(d))
				continue
			}
			p.HasVC, p.Vendor, p.VendorVersion = true, [4]byte(d[:4]), d[4]
		case "GUE":
			if len(d) < 1 {
				bad(e.ID, len(d))
				continue
			}
			p.GUESS = d[0]
		case "UP":
			if len(d) < 3 {
				bad(e.ID, len(d))
				continue
			}
			p.Ultrapeer, p.UPVersion, p.FreeLeafSlots, p.FreeUPSlots = true, d[0], d[1], d[2]
		case "LOC":
			p.Locale = d
		case "DU":
			v, err := ParseVLInt(d)
			if err != nil || v > 0xFFFFFFFF {
				bad(e.ID, len(d))
				continue
			}
			p.HasDU, p.DailyUptime = true, uint32(v)
		case "TLS":
			p.TLS = true
		case "DHT":
			if len(d) < 3 {
				bad(e.ID, len(d))
				continue
			}
			p.HasDHT, p.DHT = true, [3]byte(d[:3])
		case "IPP":
			setParsed(&p.Hosts, &errs)(ParseIPP(d))
		case "IPP_TLS":
			p.HostsTLS = d
		case "IPP6":
			setParsed(&p.Hosts6, &errs)(ParseIPP6(d))
		case "DHTIPP":
			setParsed(&p.DHTHosts, &errs)(ParseIPP(d))
		case "IP":
			setParsed(&p.Echoed, &errs)(parseEchoedAddr(d))
		case "QK":
			if len(d) == 0 || len(d) > MaxQueryKeyLen {
				bad(e.ID, len(d))
				continue
			}
			p.QueryKey = d
		}
	}
	return p, errors.Join(errs...)
}

// AppendGGEP appends p's keys to g in the order GTKG's build_pong_msg()
// writes them: 6, VC, GUE, UP, LOC, DU, TLS, DHT, IPP, IPP_TLS, IPP6,
// DHTIPP, IP, QK. Absent keys are left out; IPP6 is deflated as GTKG does.
func (p *PongInfo) AppendGGEP(g GGEP) GGEP {
	if e, ok := IPv6Extension(p.IPv6); ok {
		g = append(g, e)
	}
	if p.HasVC {
		g = append(g, Extension{ID: "VC", Data: append(p.Vendor[:4:4], p.VendorVersion)})
	}
	if p.GUESS != 0 {
		g = append(g, Extension{ID: "GUE", Data: []byte{p.GUESS}})
	}
	if p.Ultrapeer {
		g = append(g, Extension{ID: "UP", Data: []byte{p.UPVersion, p.FreeLeafSlots, p.FreeUPSlots}})
	}
	if len(p.Locale) > 0 {
		g = append(g, Extension{ID: "LOC", Data: p.Locale})
	}
	if p.HasDU {
		g = append(g, Extension{ID: "DU", Data: AppendVLInt(nil, uint64(p.DailyUptime))})
	}
	if p.TLS {
		g = append(g, Extension{ID: "TLS"})
	}
	if p.HasDHT {
		g = append(g, Extension{ID: "DHT", Data: p.DHT[:]})
	}
	if len(p.Hosts) > 0 {
		g = append(g, Extension{ID: "IPP", Data: AppendIPP(nil, p.Hosts)})
		if len(p.HostsTLS) > 0 {
			g = append(g, Extension{ID: "IPP_TLS", Data: p.HostsTLS})
		}
	}
	if len(p.Hosts6) > 0 {
		g = append(g, Extension{ID: "IPP6", Data: AppendIPP6(nil, p.Hosts6), Deflate: true})
	}
	if len(p.DHTHosts) > 0 {
		g = append(g, Extension{ID: "DHTIPP", Data: AppendIPP(nil, p.DHTHosts)})
	}
	if p.Echoed.IsValid() {
		g = append(g, Extension{ID: "IP", Data: appendEchoedAddr(nil, p.Echoed)})
	}
	if len(p.QueryKey) > 0 {
		g = append(g, Extension{ID: "QK", Data: p.QueryKey})
	}
	return g
}

// Packed host lists: IPP entries are IPv4 (BE) + port (LE), 6 bytes;
// IPP6 entries IPv6 + port (LE), 18 bytes (14.1).
const (
	ippLen  = 6
	ipp6Len = 18
)

// ParseIPP reads a packed IPv4 host list. A length that is not a multiple
// of 6 wraps ErrMalformed; the count is bounded by len(b)/6, so the
// allocation is at most what the wire carried.
func ParseIPP(b []byte) ([]netip.AddrPort, error) {
	if len(b)%ippLen != 0 {
		return nil, fmt.Errorf("%w: ipp of %d bytes is not a multiple of %d", ErrMalformed, len(b), ippLen)
	}
	if len(b) == 0 {
		return nil, nil
	}
	hosts := make([]netip.AddrPort, len(b)/ippLen)
	for i := range hosts {
		e := b[i*ippLen:]
		hosts[i] = netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[:4])), binary.LittleEndian.Uint16(e[4:6]))
	}
	return hosts, nil
}

// AppendIPP appends hosts as IPP entries; hosts that are not IPv4 (or
// IPv4-mapped) are left out.
func AppendIPP(dst []byte, hosts []netip.AddrPort) []byte {
	for _, h := range hosts {
		a := h.Addr().Unmap()
		if !a.Is4() {
			continue
		}
		b := a.As4()
		dst = append(dst, b[:]...)
		dst = binary.LittleEndian.AppendUint16(dst, h.Port())
	}
	return dst
}

// ParseIPP6 reads a packed IPv6 host list (18 bytes an entry).
func ParseIPP6(b []byte) ([]netip.AddrPort, error) {
	if len(b)%ipp6Len != 0 {
		return nil, fmt.Errorf("%w: ipp6 of %d bytes is not a multiple of %d", ErrMalformed, len(b), ipp6Len)
	}
	if len(b) == 0 {
		return nil, nil
	}
	hosts := make([]netip.AddrPort, len(b)/ipp6Len)
	for i := range hosts {
		e := b[i*ipp6Len:]
		hosts[i] = netip.AddrPortFrom(netip.AddrFrom16([16]byte(e[:16])), binary.LittleEndian.Uint16(e[16:18]))
	}
	return hosts, nil
}

// AppendIPP6 appends hosts as IPP6 entries; IPv4 hosts are left out (they
// go in IPP).
func AppendIPP6(dst []byte, hosts []netip.AddrPort) []byte {
	for _, h := range hosts {
		a := h.Addr()
		if !a.Is6() || a.Is4In6() {
			continue
		}
		b := a.As16()
		dst = append(dst, b[:]...)
		dst = binary.LittleEndian.AppendUint16(dst, h.Port())
	}
	return dst
}

// parseEchoedAddr reads a Pong IP key: IPv4 BE + port LE (6 bytes) or
// IPv6 + port LE (18).
func parseEchoedAddr(b []byte) (netip.AddrPort, error) {
	switch len(b) {
	case ippLen:
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[:4])), binary.LittleEndian.Uint16(b[4:])), nil
	case ipp6Len:
		return netip.AddrPortFrom(netip.AddrFrom16([16]byte(b[:16])), binary.LittleEndian.Uint16(b[16:])), nil
	}
	return netip.AddrPort{}, fmt.Errorf("%w: pong ggep IP of %d bytes, want 6 or 18", ErrMalformed, len(b))
}

func appendEchoedAddr(dst []byte, a netip.AddrPort) []byte {
	if ip := a.Addr().Unmap(); ip.Is4() {
		return AppendIPP(dst, []netip.AddrPort{netip.AddrPortFrom(ip, a.Port())})
	}
	return AppendIPP6(dst, []netip.AddrPort{a})
}

// setParsed returns a setter for a parser's (value, error): the value goes
// to *dst, an error to errs and *dst is left as it was.
func setParsed[T any](dst *T, errs *[]error) func(T, error) {
	return func(v T, err error) {
		if err != nil {
			*errs = append(*errs, err)
			return
		}
		*dst = v
	}
}
