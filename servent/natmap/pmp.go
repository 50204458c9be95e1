package natmap

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"
)

// NAT-PMP (RFC 6886). github.com/jackpal/go-nat-pmp would do, but it
// hard-codes the gateway port 5351 behind an unexported caller, so a fake
// gateway on a kernel-chosen loopback port could not be used in tests;
// the protocol is two 12-byte requests, written out here.

// PMPPort is the NAT-PMP port on the gateway.
const PMPPort = 5351

const (
	pmpOpExternal = 0
	pmpOpMapUDP   = 1
	pmpOpMapTCP   = 2
	pmpReply      = 128
	// pmpTries: RFC 6886 starts at 250 ms and doubles up to 9 times (64 s);
	// we stop after 4 (3.75 s in all) so startup is not held a minute by
	// a router that does not speak NAT-PMP.
	pmpTries     = 4
	pmpFirstWait = 250 * time.Millisecond
)

// pmpResult words NAT-PMP's result codes (RFC 6886 3.5).
func pmpResult(code uint16) string {
	switch code {
	case 1:
		return "1 unsupported version"
	case 2:
		return "2 not authorized (the router has NAT-PMP mapping turned off)"
	case 3:
		return "3 network failure (the router has no external address yet)"
	case 4:
		return "4 out of resources (the router's mapping table is full)"
	case 5:
		return "5 unsupported opcode"
	}
	return fmt.Sprintf("%d unknown result", code)
}

// pmpAnswer is a decoded NAT-PMP response.
type pmpAnswer struct {
	Op       byte
	Result   uint16
	Epoch    uint32
	External netip.Addr // op 0
	Internal uint16     // ops 1, 2
	Mapped   uint16
	Lifetime uint32
}

// decodePMP reads a NAT-PMP response to op.
func decodePMP(b []byte, op byte) (pmpAnswer, error) {
	if len(b) < 8 {
		return pmpAnswer{}, fmt.Errorf("nat-pmp: answer of %d bytes", len(b))
	}
	if b[0] != 0 {
		return pmpAnswer{}, fmt.Errorf("nat-pmp: version %d", b[0])
	}
	a := pmpAnswer{Op: b[1], Result: binary.BigEndian.Uint16(b[2:]), Epoch: binary.BigEndian.Uint32(b[4:])}
	if a.Op != pmpReply+op {
		return pmpAnswer{}, fmt.Errorf("nat-pmp: answer to op %d, asked %d", int(a.Op)-pmpReply, op)
	}
	if a.Result != 0 {
		return a, nil // the rest may be absent
	}
	switch op {
	case pmpOpExternal:
		if len(b) < 12 {
			return pmpAnswer{}, fmt.Errorf("nat-pmp: address answer of %d bytes", len(b))
		}
		a.External = netip.AddrFrom4([4]byte(b[8:12]))
	default:
		if len(b) < 16 {
			return pmpAnswer{}, fmt.Errorf("nat-pmp: mapping answer of %d bytes", len(b))
		}
		a.Internal = binary.BigEndian.Uint16(b[8:])
		a.Mapped = binary.BigEndian.Uint16(b[10:])
		a.Lifetime = binary.BigEndian.Uint32(b[12:])
	}
	return a, nil
}

// pmpMapRequest is the request to map internal (to ext, suggested) for
// lifetime seconds; lifetime 0 removes the mapping.
func pmpMapRequest(op byte, internal, ext uint16, lifetime uint32) []byte {
	b := make([]byte, 12)
	b[1] = op
	binary.BigEndian.PutUint16(b[4:], internal)
	binary.BigEndian.PutUint16(b[6:], ext)
	binary.BigEndian.PutUint32(b[8:], lifetime)
	return b
}

// pmpRouter maps ports with NAT-PMP on one gateway.
type pmpRouter struct {
	gateway netip.AddrPort
}

func (r *pmpRouter) Protocol() string { return "natpmp" }
func (r *pmpRouter) Name() string     { return r.gateway.Addr().String() }

// call sends req and waits for the answer to op, retrying as RFC 6886
// asks (bounded, pmpTries).
func (r *pmpRouter) call(ctx context.Context, req []byte, op byte) (pmpAnswer, error) {
	var d net.Dialer
	nc, err := d.DialContext(ctx, "udp", r.gateway.String())
	if err != nil {
		return pmpAnswer{}, fmt.Errorf("nat-pmp: %w", err)
	}
	defer nc.Close()
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Now()) })
	defer stop()
	buf := make([]byte, 32)
	wait := pmpFirstWait
	for range pmpTries {
		if _, err := nc.Write(req); err != nil {
			return pmpAnswer{}, fmt.Errorf("nat-pmp: %w", err)
		}
		_ = nc.SetReadDeadline(time.Now().Add(wait))
		for {
			k, err := nc.Read(buf)
			if err != nil {
				if ctx.Err() != nil {
					return pmpAnswer{}, ctx.Err()
				}
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					break
				}
				return pmpAnswer{}, fmt.Errorf("nat-pmp: %w", err) // e.g. ICMP port unreachable
			}
			if a, err := decodePMP(buf[:k], op); err == nil {
				return a, nil
			}
		}
		wait *= 2
	}
	return pmpAnswer{}, fmt.Errorf("nat-pmp: no answer from %s", r.gateway)
}

func (r *pmpRouter) ExternalIP(ctx context.Context) (netip.Addr, error) {
	a, err := r.call(ctx, []byte{0, pmpOpExternal}, pmpOpExternal)
	if err != nil {
		return netip.Addr{}, err
	}
	if a.Result != 0 {
		return netip.Addr{}, fmt.Errorf("nat-pmp: router %s refused: %s", r.Name(), pmpResult(a.Result))
	}
	return a.External, nil
}

func pmpOp(proto string) byte {
	if proto == "UDP" {
		return pmpOpMapUDP
	}
	return pmpOpMapTCP
}

func (r *pmpRouter) Map(ctx context.Context, proto string, internal, external uint16, lease time.Duration) (uint16, time.Duration, error) {
	op := pmpOp(proto)
	a, err := r.call(ctx, pmpMapRequest(op, internal, external, uint32(lease/time.Second)), op)
	if err != nil {
		return 0, 0, err
	}
	if a.Result != 0 {
		return 0, 0, fmt.Errorf("nat-pmp: router %s refused %s port %d: %s", r.Name(), proto, internal, pmpResult(a.Result))
	}
	return a.Mapped, time.Duration(a.Lifetime) * time.Second, nil
}

func (r *pmpRouter) Unmap(ctx context.Context, proto string, internal, _ uint16) error {
	op := pmpOp(proto)
	a, err := r.call(ctx, pmpMapRequest(op, internal, 0, 0), op)
	if err != nil {
		return err
	}
	if a.Result != 0 {
		return fmt.Errorf("nat-pmp: router %s refused to remove %s port %d: %s", r.Name(), proto, internal, pmpResult(a.Result))
	}
	return nil
}
