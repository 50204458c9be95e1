package reach

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// State is what we conclude about one transport.
type State string

const (
	Reachable  State = "reachable"
	Firewalled State = "firewalled"
	Unknown    State = "unknown"
)

const (
	// FirewalledAfter is how long after start (or an address change) we
	// wait for an inbound connection before a failed connect-back makes us
	// firewalled. gtk-gnutella assumes firewalled at once; we say
	// "unknown" for this long instead, so a reachable node does not
	// advertise pushes it does not need while its first connect-back is on
	// its way, and an unreachable one is told within minutes.
	FirewalledAfter = 5 * time.Minute
	// AskTimeout is how long a connect-back may take; after it an ask with
	// no proof since counts as unanswered.
	AskTimeout = time.Minute
	maxAsks    = 8 // remembered per kind
)

// Asks remembers our connect-back requests, to count those unanswered.
type Asks struct {
	at [numKinds][]time.Time
}

// Asked records a connect-back request of kind k sent at now.
func (a *Asks) Asked(k Kind, now time.Time) {
	if k < 0 || k >= numKinds {
		return
	}
	s := append(a.at[k], now)
	if len(s) > maxAsks {
		s = s[len(s)-maxAsks:]
	}
	a.at[k] = s
}

// Unanswered counts the asks of kind k older than AskTimeout with no
// proof of k since they were sent.
func (a *Asks) Unanswered(k Kind, f *Facts, now time.Time) int {
	if k < 0 || k >= numKinds {
		return 0
	}
	proved := f.Last(k).At
	n := 0
	for _, t := range a.at[k] {
		if now.Sub(t) >= AskTimeout && !proved.After(t) {
			n++
		}
	}
	return n
}

// Inputs is everything the verdict is drawn from.
type Inputs struct {
	Facts   Facts
	Asks    Asks
	Since   time.Time // start, or the last change of our address or mapping
	Mapping Mapping
	Port    uint16 // the port to forward, for the advice
}

// Verdict is what we conclude, in words for the user.
type Verdict struct {
	TCP, UDP State
	Reason   string // why, e.g. "inbound TCP connection from 1.2.3.4:5000 at 12:03:04"
	Advice   string // what the user can do; empty when nothing is needed
}

// States is the verdict without its words, for the hot path (every hit
// we send asks whether we are firewalled): no allocation.
func States(in *Inputs, now time.Time) (tcp, udp State) {
	up := now.Sub(in.Since)
	switch {
	case in.Facts.Reachable(TCP, now):
		tcp = Reachable
	case up >= FirewalledAfter && in.Asks.Unanswered(TCP, &in.Facts, now) > 0:
		tcp = Firewalled
	default:
		tcp = Unknown
	}
	switch {
	case in.Facts.Reachable(UDPUnsolicited, now) || in.Facts.Reachable(UDPSolicited, now):
		udp = Reachable
	case up >= FirewalledAfter && in.Asks.Unanswered(UDPSolicited, &in.Facts, now) > 0:
		udp = Firewalled
	default:
		udp = Unknown
	}
	return tcp, udp
}

// Decide draws the verdict at now. TCP: a proof within its window makes
// us reachable; after FirewalledAfter with no proof and at least one
// connect-back unanswered we are firewalled; otherwise unknown. UDP the
// same with the UDP facts (solicited or unsolicited).
func Decide(in Inputs, now time.Time) Verdict {
	var v Verdict
	var why []string
	up := now.Sub(in.Since)
	tcpFailed := in.Asks.Unanswered(TCP, &in.Facts, now)
	v.TCP, v.UDP = States(&in, now)
	switch v.TCP {
	case Reachable:
		why = append(why, "TCP: "+describe(in.Facts.Last(TCP), "inbound TCP connection", "TCP connect-back"))
	case Firewalled:
		why = append(why, fmt.Sprintf("TCP: no inbound connection in %s and %s unanswered", minutes(up), plural(tcpFailed, "connect-back request")))
	default:
		why = append(why, fmt.Sprintf("TCP: no inbound connection yet (%s up, %s unanswered)", minutes(up), plural(tcpFailed, "connect-back request")))
	}
	udpFailed := in.Asks.Unanswered(UDPSolicited, &in.Facts, now)
	switch {
	case in.Facts.Reachable(UDPUnsolicited, now):
		why = append(why, "UDP: "+describe(in.Facts.Last(UDPUnsolicited), "unsolicited datagram", "UDP connect-back"))
	case v.UDP == Reachable:
		why = append(why, "UDP: "+describe(in.Facts.Last(UDPSolicited), "datagram", "UDP connect-back"))
	case v.UDP == Firewalled:
		why = append(why, fmt.Sprintf("UDP: %s unanswered", plural(udpFailed, "connect-back request")))
	default:
		why = append(why, "UDP: no datagram from a host we did not ask yet")
	}
	m := in.Mapping
	switch {
	case m.Err != "":
		why = append(why, fmt.Sprintf("port mapping failed: %s", m.Err))
	case m.Protocol != "" && m.External.IsValid():
		why = append(why, fmt.Sprintf("port %s mapped on router %s (%s)", m.External, m.Router, m.ProtocolName()))
	case m.Protocol != "":
		why = append(why, fmt.Sprintf("port mapped on router %s (%s)", m.Router, m.ProtocolName()))
	}
	v.Reason = strings.Join(why, "; ")
	if v.TCP == Firewalled || v.UDP == Firewalled {
		port := strconv.Itoa(int(in.Port))
		switch {
		case strings.Contains(m.Err, "refused"):
			v.Advice = "the router refused the mapping: forward TCP and UDP port " + port + " to this machine by hand in the router's settings"
		case m.Protocol != "":
			v.Advice = "the router mapped the port but nothing came in: check the firewall of this machine for TCP and UDP port " + port
		default:
			v.Advice = "forward TCP and UDP port " + port + " to this machine on your router, or enable UPnP or NAT-PMP on it"
		}
		if v.TCP == Firewalled {
			v.Advice += "; meanwhile others download from you through your push proxies"
		}
	}
	return v
}

func describe(p Proof, inbound, connectBack string) string {
	what := inbound
	if p.Source == SourceConnectBack {
		what = connectBack
	}
	return fmt.Sprintf("%s from %s at %s", what, p.From, p.At.Format("15:04:05"))
}

func minutes(d time.Duration) string {
	if d < time.Minute {
		return "under a minute"
	}
	return plural(int(d/time.Minute), "min")
}

func plural(n int, unit string) string {
	if n == 1 || unit == "min" {
		return strconv.Itoa(n) + " " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}
