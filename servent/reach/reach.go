// Package reach holds what we know about our own reachability: the facts
// "TCP reachable", "UDP reachable, solicited" and "UDP reachable,
// unsolicited", each with its last proof, and the limiter that decides which
// connect-back requests we answer and when we ask ours again. Pure: time is
// an argument; the node serialises calls.
package reach

import (
	"net/netip"
	"time"
)

// Kind is one reachability fact.
type Kind int

const (
	TCP            Kind = iota // someone opened a TCP connection to our port
	UDPSolicited               // a datagram we asked for (connect-back ping) arrived
	UDPUnsolicited             // a datagram nobody asked for arrived: no NAT filtering
	numKinds
)

func (k Kind) String() string {
	switch k {
	case TCP:
		return "tcp"
	case UDPSolicited:
		return "udp_solicited"
	case UDPUnsolicited:
		return "udp_unsolicited"
	}
	return "unknown"
}

// Windows as gtk-gnutella's inet.c: a fact not proven again within its
// window expires (FW_INCOMING_WINDOW, FW_SOLICITED_WINDOW; unsolicited UDP
// is judged over FW_INCOMING_WINDOW too).
const (
	TCPWindow            = 30 * time.Minute
	UDPSolicitedWindow   = 30 * time.Minute
	UDPUnsolicitedWindow = 30 * time.Minute
)

func window(k Kind) time.Duration {
	switch k {
	case UDPSolicited:
		return UDPSolicitedWindow
	case UDPUnsolicited:
		return UDPUnsolicitedWindow
	}
	return TCPWindow
}

// Source says what proved a fact.
type Source string

const (
	SourceInbound     Source = "inbound"      // unsolicited inbound TCP or UDP
	SourceConnectBack Source = "connect_back" // the answer to our connect-back request
)

// Proof is the last evidence of one fact.
type Proof struct {
	At     time.Time
	From   netip.AddrPort
	Source Source
}

// Facts is the three facts. The zero value knows nothing.
type Facts struct {
	last [numKinds]Proof
}

// Prove records evidence of k; a solicited UDP datagram also proves that
// UDP reaches us at all, but not unsolicited reachability (NAT may have
// opened a hole for the peer we asked).
func (f *Facts) Prove(k Kind, from netip.AddrPort, src Source, now time.Time) {
	if k < 0 || k >= numKinds {
		return
	}
	f.last[k] = Proof{At: now, From: from, Source: src}
	if k == UDPUnsolicited {
		// Unsolicited implies solicited would get through as well.
		f.last[UDPSolicited] = f.last[k]
	}
}

// Last is the last proof of k (zero At: never proven).
func (f *Facts) Last(k Kind) Proof {
	if k < 0 || k >= numKinds {
		return Proof{}
	}
	return f.last[k]
}

// Reachable tells whether k was proven within its window before now.
func (f *Facts) Reachable(k Kind, now time.Time) bool {
	p := f.Last(k)
	return !p.At.IsZero() && now.Sub(p.At) < window(k)
}
