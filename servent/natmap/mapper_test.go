package natmap

import (
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/servent/servent/servent/natmap/nattest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// harness runs a Mapper whose waits the test fires by hand: each wait the
// mapper starts is handed to the test with its duration.
type harness struct {
	m      *Mapper
	states chan State
	waits  chan wait
}

type wait struct {
	d    time.Duration
	fire chan time.Time
}

func startMapper(t *testing.T, cfg Config) *harness {
	t.Helper()
	h := &harness{states: make(chan State, 16), waits: make(chan wait, 16)}
	cfg.Port = 6346
	cfg.OnChange = func(s State) { h.states <- s }
	cfg.After = func(d time.Duration) <-chan time.Time {
		w := wait{d: d, fire: make(chan time.Time, 1)}
		h.waits <- w
		return w.fire
	}
	h.m = Start(cfg)
	return h
}

func (h *harness) nextWait(t *testing.T) wait {
	t.Helper()
	select {
	case w := <-h.waits:
		return w
	case <-time.After(10 * time.Second):
		t.Fatal("the mapper started no wait")
	}
	return wait{}
}

// TestUPnPMapRenewRemove: discovery through SSDP on the fake's address,
// TCP and UDP mapped for an hour, the external address learnt, a renewal
// at half the lease, and both mappings removed at Close.
func TestUPnPMapRenewRemove(t *testing.T) {
	igd := nattest.StartIGD(t)
	h := startMapper(t, Config{Mode: ModeUPnP, Gateway: igd.IP, SSDP: igd.SSDP})
	st := <-h.states
	assert.Equal(t, State{Protocol: "upnp", Router: igd.IP.String() + " WANIPConnection:1", External: netip.MustParseAddrPort("203.0.113.5:6346"),
		TCP: true, UDP: true, At: st.At}, st)
	w := h.nextWait(t)
	assert.Equal(t, UPnPLease/2, w.d, "renewed at half the lease")
	assert.Equal(t, []string{"AddPortMapping TCP 6346 lease 3600", "AddPortMapping UDP 6346 lease 3600", "GetExternalIPAddress"}, igd.Actions())

	w.fire <- time.Now()
	h.nextWait(t)
	assert.Len(t, igd.Actions(), 6, "renewed: both mappings again")
	require.NoError(t, h.m.Close())
	assert.Equal(t, []string{"DeletePortMapping TCP 6346", "DeletePortMapping UDP 6346"}, igd.Actions()[6:])
}

// TestUPnPRefused: a router that refuses says why, in words, and the
// mapper tries again later (30 s first).
func TestUPnPRefused(t *testing.T) {
	for code, words := range map[int]string{718: "718 ConflictInMappingEntry", 606: "606 Action not authorized"} {
		igd := nattest.StartIGD(t)
		igd.SetRefuse("AddPortMapping", code, false)
		h := startMapper(t, Config{Mode: ModeUPnP, Gateway: igd.IP, SSDP: igd.SSDP})
		st := <-h.states
		assert.Contains(t, st.Err, "upnp: router "+igd.IP.String()+" refused TCP port 6346: "+words)
		assert.Empty(t, st.Protocol)
		assert.Equal(t, minRetry, h.nextWait(t).d)
		require.NoError(t, h.m.Close())
		assert.Equal(t, []string{"AddPortMapping TCP 6346 lease 3600"}, igd.Actions(), "nothing to remove")
	}
}

// TestUPnPPermanentOnly: a router that takes only permanent leases (725)
// gets one, checked again every 30 min and removed at Close.
func TestUPnPPermanentOnly(t *testing.T) {
	igd := nattest.StartIGD(t)
	igd.SetRefuse("", 0, true)
	h := startMapper(t, Config{Mode: ModeUPnP, Gateway: igd.IP, SSDP: igd.SSDP})
	st := <-h.states
	assert.True(t, st.TCP && st.UDP, st.Err)
	assert.Equal(t, permanentRecheck, h.nextWait(t).d)
	assert.Contains(t, igd.Actions(), "AddPortMapping TCP 6346 lease 0")
	require.NoError(t, h.m.Close())
	assert.Contains(t, igd.Actions(), "DeletePortMapping UDP 6346")
}

// TestUPnPRouterVanishes: at renewal the router is gone: the mapping is
// reported lost with the reason and retried.
func TestUPnPRouterVanishes(t *testing.T) {
	igd := nattest.StartIGD(t)
	h := startMapper(t, Config{Mode: ModeUPnP, Gateway: igd.IP, SSDP: igd.SSDP})
	require.True(t, (<-h.states).TCP)
	w := h.nextWait(t)
	igd.Vanish()
	w.fire <- time.Now()
	st := <-h.states
	assert.False(t, st.TCP)
	assert.Contains(t, st.Err, "upnp: router "+igd.IP.String())
	assert.Equal(t, minRetry, h.nextWait(t).d)
	require.NoError(t, h.m.Close())
}

// TestNATPMPMapRenewRemove: the same over NAT-PMP: 2 h leases renewed at
// half, removed with lifetime 0.
func TestNATPMPMapRenewRemove(t *testing.T) {
	pmp := nattest.StartPMP(t)
	h := startMapper(t, Config{Mode: ModeNATPMP, Gateway: pmp.Addr.Addr(), PMP: pmp.Addr})
	st := <-h.states
	assert.Equal(t, State{Protocol: "natpmp", Router: pmp.Addr.Addr().String(), External: netip.MustParseAddrPort("203.0.113.7:6346"),
		TCP: true, UDP: true, At: st.At}, st)
	w := h.nextWait(t)
	assert.Equal(t, PMPLease/2, w.d)
	w.fire <- time.Now()
	h.nextWait(t)
	require.NoError(t, h.m.Close())
	assert.Equal(t, []string{"external",
		"map op 2 6346->6346 life 7200", "map op 1 6346->6346 life 7200", "external",
		"map op 2 6346->6346 life 7200", "map op 1 6346->6346 life 7200", "external",
		"map op 2 6346->0 life 0", "map op 1 6346->0 life 0"}, pmp.Requests())
}

func TestNATPMPRefused(t *testing.T) {
	pmp := nattest.StartPMP(t)
	pmp.SetResult(2)
	h := startMapper(t, Config{Mode: ModeNATPMP, Gateway: pmp.Addr.Addr(), PMP: pmp.Addr})
	st := <-h.states
	assert.Equal(t, "nat-pmp: router "+pmp.Addr.Addr().String()+" refused TCP port 6346: 2 not authorized (the router has NAT-PMP mapping turned off)", st.Err)
	assert.Equal(t, minRetry, h.nextWait(t).d)
	require.NoError(t, h.m.Close())
}

// TestAutoFallsBackToNATPMP: no IGD answers discovery: NAT-PMP is used.
func TestAutoFallsBackToNATPMP(t *testing.T) {
	igd := nattest.StartIGD(t)
	igd.Vanish()
	pmp := nattest.StartPMP(t)
	h := startMapper(t, Config{Mode: ModeAuto, Gateway: pmp.Addr.Addr(), SSDP: igd.SSDP, PMP: pmp.Addr})
	st := <-h.states
	assert.Equal(t, "natpmp", st.Protocol)
	require.NoError(t, h.m.Close())
}

func TestNextRenewRetry(t *testing.T) {
	t0 := time.Unix(0, 0)
	assert.Equal(t, t0.Add(30*time.Minute), NextRenew(t0, time.Hour))
	assert.Equal(t, t0.Add(permanentRecheck), NextRenew(t0, 0))
	assert.Equal(t, t0.Add(30*time.Second), NextRetry(t0, 1))
	assert.Equal(t, t0.Add(2*time.Minute), NextRetry(t0, 3))
	assert.Equal(t, t0.Add(maxRetry), NextRetry(t0, 100))
}

func TestParseRoutes(t *testing.T) {
	routes := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t0000A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n" +
		"eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
	gw, err := parseRoutes([]byte(routes))
	require.NoError(t, err)
	assert.Equal(t, netip.MustParseAddr("192.168.1.1"), gw)
	_, err = parseRoutes([]byte(routes[:100]))
	assert.ErrorIs(t, err, ErrNoGateway)
}
