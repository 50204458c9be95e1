package reach

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestDecide(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	peer := netip.MustParseAddrPort("1.2.3.4:5000")
	inputs := func(build func(in *Inputs)) Inputs {
		in := Inputs{Since: t0, Port: 6346}
		build(&in)
		return in
	}
	for _, c := range []struct {
		name     string
		in       Inputs
		at       time.Duration
		tcp, udp State
		reason   []string
		advice   string
	}{
		{name: "fresh start", in: inputs(func(*Inputs) {}), at: time.Minute, tcp: Unknown, udp: Unknown,
			reason: []string{"TCP: no inbound connection yet (1 min up, 0 connect-back requests unanswered)"}},
		{name: "inbound TCP", in: inputs(func(in *Inputs) { in.Facts.Prove(TCP, peer, SourceInbound, t0.Add(3*time.Minute)) }),
			at: 4 * time.Minute, tcp: Reachable, udp: Unknown, reason: []string{"TCP: inbound TCP connection from 1.2.3.4:5000 at 12:03:00"}},
		{name: "connect-back answered", in: inputs(func(in *Inputs) {
			in.Asks.Asked(TCP, t0)
			in.Facts.Prove(TCP, peer, SourceConnectBack, t0.Add(time.Second))
			in.Facts.Prove(UDPSolicited, peer, SourceConnectBack, t0.Add(time.Second))
		}), at: 10 * time.Minute, tcp: Reachable, udp: Reachable, reason: []string{"TCP: TCP connect-back from", "UDP: UDP connect-back from"}},
		{name: "asks unanswered, too early", in: inputs(func(in *Inputs) { in.Asks.Asked(TCP, t0) }),
			at: 4 * time.Minute, tcp: Unknown, udp: Unknown, reason: []string{"1 connect-back request unanswered"}},
		{name: "firewalled", in: inputs(func(in *Inputs) {
			in.Asks.Asked(TCP, t0)
			in.Asks.Asked(TCP, t0.Add(2*time.Minute))
			in.Asks.Asked(UDPSolicited, t0)
		}), at: 12 * time.Minute, tcp: Firewalled, udp: Firewalled,
			reason: []string{"TCP: no inbound connection in 12 min and 2 connect-back requests unanswered", "UDP: 1 connect-back request unanswered"},
			advice: "forward TCP and UDP port 6346 to this machine on your router, or enable UPnP or NAT-PMP on it; meanwhile others download from you through your push proxies"},
		{name: "proof expired, asked again, no answer", in: inputs(func(in *Inputs) {
			in.Facts.Prove(TCP, peer, SourceInbound, t0)
			in.Asks.Asked(TCP, t0.Add(40*time.Minute))
		}), at: 45 * time.Minute, tcp: Firewalled, udp: Unknown},
		{name: "router refused", in: inputs(func(in *Inputs) {
			in.Asks.Asked(TCP, t0)
			in.Mapping = Mapping{Protocol: "upnp", Router: "192.168.1.1", Err: "router 192.168.1.1 (UPnP) refused: 718 ConflictInMappingEntry"}
		}), at: 6 * time.Minute, tcp: Firewalled, udp: Unknown,
			reason: []string{"port mapping failed: router 192.168.1.1 (UPnP) refused: 718 ConflictInMappingEntry"},
			advice: "the router refused the mapping: forward TCP and UDP port 6346 to this machine by hand"},
		{name: "mapped", in: inputs(func(in *Inputs) {
			in.Mapping = Mapping{Protocol: "natpmp", Router: "192.168.1.1", External: netip.MustParseAddrPort("203.0.113.5:6346"), TCP: true, UDP: true}
		}), at: time.Minute, tcp: Unknown, udp: Unknown, reason: []string{"port 203.0.113.5:6346 mapped on router 192.168.1.1 (NAT-PMP)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			v := Decide(c.in, t0.Add(c.at))
			assert.Equal(t, c.tcp, v.TCP)
			assert.Equal(t, c.udp, v.UDP)
			for _, r := range c.reason {
				assert.Contains(t, v.Reason, r)
			}
			if c.advice != "" {
				assert.Contains(t, v.Advice, c.advice)
			}
			if v.TCP != Firewalled && v.UDP != Firewalled {
				assert.Empty(t, v.Advice)
			}
		})
	}
}

func TestAsksBounded(t *testing.T) {
	var a Asks
	var f Facts
	t0 := time.Unix(0, 0)
	for i := range 100 {
		a.Asked(TCP, t0.Add(time.Duration(i)*time.Second))
	}
	assert.Equal(t, maxAsks, a.Unanswered(TCP, &f, t0.Add(time.Hour)))
	f.Prove(TCP, netip.MustParseAddrPort("1.2.3.4:1"), SourceConnectBack, t0.Add(95*time.Second))
	assert.Equal(t, 5, a.Unanswered(TCP, &f, t0.Add(time.Hour)), "those sent at or after the proof")
	a.Asked(Kind(-1), t0)
	assert.Zero(t, a.Unanswered(Kind(7), &f, t0))
}

// TestStatesAgreesWithDecide: the wordless verdict is Decide's.
func TestStatesAgreesWithDecide(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	peer := netip.MustParseAddrPort("1.2.3.4:5000")
	var in Inputs
	in.Since = t0
	in.Asks.Asked(TCP, t0)
	in.Asks.Asked(UDPSolicited, t0)
	for i, at := range []time.Duration{0, time.Minute, 6 * time.Minute, 40 * time.Minute} {
		if i == 3 {
			in.Facts.Prove(UDPUnsolicited, peer, SourceInbound, t0.Add(39*time.Minute))
		}
		v := Decide(in, t0.Add(at))
		tcp, udp := States(&in, t0.Add(at))
		assert.Equal(t, v.TCP, tcp, at)
		assert.Equal(t, v.UDP, udp, at)
	}
}

// BenchmarkStates is what every hit we send pays to know whether to set
// the push flag; BenchmarkDecide the words status shows.
func BenchmarkStates(b *testing.B) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	in := Inputs{Since: t0}
	for i := range maxAsks {
		in.Asks.Asked(TCP, t0.Add(time.Duration(i)*time.Minute))
	}
	now := t0.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if tcp, _ := States(&in, now); tcp != Firewalled {
			b.Fatal(tcp)
		}
	}
}

func BenchmarkDecide(b *testing.B) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	in := Inputs{Since: t0, Port: 6346}
	for i := range maxAsks {
		in.Asks.Asked(TCP, t0.Add(time.Duration(i)*time.Minute))
	}
	now := t0.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		if v := Decide(in, now); v.TCP != Firewalled {
			b.Fatal(v.TCP)
		}
	}
}
