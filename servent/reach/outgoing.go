package reach

import (
	"net/netip"
	"time"
)

// UDPWindow is how long a NAT keeps a hole open after we send to a host
// (gtk-gnutella's FW_UDP_WINDOW): a datagram from a host we sent to within
// it may have been let in by that hole, so it proves nothing unsolicited.
const UDPWindow = 2 * time.Minute

const maxOutgoing = 4096 // bounded memory; when full the oldest half goes

// Outgoing remembers to which IPs we sent datagrams lately. The zero value
// is ready.
type Outgoing struct {
	sent map[netip.Addr]time.Time
}

// Sent notes a datagram to ip at now.
func (o *Outgoing) Sent(ip netip.Addr, now time.Time) {
	if o.sent == nil {
		o.sent = make(map[netip.Addr]time.Time)
	}
	if len(o.sent) >= maxOutgoing {
		for a, t := range o.sent {
			if now.Sub(t) >= UDPWindow || now.Before(t) {
				delete(o.sent, a)
			}
		}
		// Still full: we send to that many hosts, so no datagram can be
		// judged unsolicited anyway; forget at random (map order).
		for a := range o.sent {
			if len(o.sent) < maxOutgoing/2 {
				break
			}
			delete(o.sent, a)
		}
	}
	o.sent[ip.Unmap()] = now
}

// Unsolicited tells whether a datagram from ip at now came without our
// having sent to ip within UDPWindow.
func (o *Outgoing) Unsolicited(ip netip.Addr, now time.Time) bool {
	t, ok := o.sent[ip.Unmap()]
	return !ok || now.Sub(t) >= UDPWindow
}
