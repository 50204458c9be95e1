// Package natmap maps the Gnutella port on the home router, so peers can
// connect to us: UPnP IGD (WANIPConnection 1 and 2, WANPPPConnection 1,
// through github.com/huin/goupnp) or NAT-PMP (RFC 6886). It talks only to
// the default gateway and the SSDP multicast group, renews its leases,
// removes its mappings at shutdown and says what went wrong in words.
package natmap

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Modes of --nat.
const (
	ModeAuto   = "auto" // UPnP, then NAT-PMP
	ModeUPnP   = "upnp"
	ModeNATPMP = "natpmp"
	ModeOff    = "off"
)

// ValidMode reports whether m is a --nat value.
func ValidMode(m string) bool {
	switch m {
	case ModeAuto, ModeUPnP, ModeNATPMP, ModeOff:
		return true
	}
	return false
}

const (
	// UPnPLease and PMPLease are the leases we ask for: an hour for UPnP
	// (routers forget them if we die), two hours for NAT-PMP (RFC 6886's
	// recommendation). Both are renewed at half.
	UPnPLease = time.Hour
	PMPLease  = 2 * time.Hour
	// permanentRecheck: a permanent mapping (UPnP 725) is checked again
	// this often, in case the router rebooted.
	permanentRecheck = 30 * time.Minute
	minRetry         = 30 * time.Second
	maxRetry         = 30 * time.Minute
	// unmapTimeout bounds the removal of our mappings at shutdown.
	unmapTimeout = 5 * time.Second
	callTimeout  = 10 * time.Second
)

// Router is one gateway's port-mapping service.
type Router interface {
	Protocol() string // "upnp" or "natpmp"
	Name() string     // the gateway, in words
	ExternalIP(ctx context.Context) (netip.Addr, error)
	// Map maps internal to external (asked; the router may give another)
	// for lease (0: permanent); it returns the port and lease granted.
	Map(ctx context.Context, proto string, internal, external uint16, lease time.Duration) (uint16, time.Duration, error)
	Unmap(ctx context.Context, proto string, internal, external uint16) error
}

// State is the mapping as it stands.
type State struct {
	Protocol string         // "upnp" or "natpmp"; "" when nothing is mapped
	Router   string         // the gateway that answered
	External netip.AddrPort // our address and port on the Internet
	TCP, UDP bool           // which mappings are in place
	Err      string         // the last failure in words ("" when fine)
	At       time.Time      // when this state was reached
}

// NextRenew is when a lease granted at `at` must be renewed: at half of
// it, or permanentRecheck for a permanent one.
func NextRenew(at time.Time, granted time.Duration) time.Time {
	if granted <= 0 {
		return at.Add(permanentRecheck)
	}
	return at.Add(granted / 2)
}

// NextRetry is when to try again after the fails-th failure in a row:
// 30 s doubling up to 30 min.
func NextRetry(at time.Time, fails int) time.Time {
	d := minRetry
	for i := 1; i < fails && d < maxRetry; i++ {
		d *= 2
	}
	return at.Add(min(d, maxRetry))
}

// Config configures a Mapper.
type Config struct {
	Mode string
	Port uint16 // the Gnutella port, TCP and UDP
	// Gateway is the router; zero: the default gateway. SSDP is where
	// discovery goes (default SSDPGroup) and PMP the NAT-PMP address
	// (default Gateway:5351). Tests point both at fakes on loopback.
	Gateway netip.Addr
	SSDP    netip.AddrPort
	PMP     netip.AddrPort
	Now     func() time.Time
	// After waits; default time.After (tests fire renewals by hand).
	After    func(time.Duration) <-chan time.Time
	OnChange func(State) // called from the mapper's goroutine
	Logger   *slog.Logger
}

// Mapper keeps the Gnutella port mapped.
type Mapper struct {
	cfg    Config
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	state  State
	router Router
	mapped map[string]uint16 // proto -> external port in place
}

// Start begins mapping in the background; Close removes the mappings.
func Start(cfg Config) *Mapper {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.After == nil {
		cfg.After = time.After
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if !cfg.SSDP.IsValid() {
		cfg.SSDP = SSDPGroup
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Mapper{cfg: cfg, cancel: cancel, done: make(chan struct{}), mapped: map[string]uint16{}}
	go m.run(ctx)
	return m
}

// State is the mapping now.
func (m *Mapper) State() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// Close stops renewing and removes our mappings (within unmapTimeout).
func (m *Mapper) Close() error {
	m.cancel()
	<-m.done
	return nil
}

func (m *Mapper) run(ctx context.Context) {
	defer close(m.done)
	defer m.unmapAll()
	fails := 0
	for {
		granted, err := m.refresh(ctx)
		now := m.cfg.Now()
		var next time.Time
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			fails++
			m.cfg.Logger.Info("port mapping failed", "err", err)
			m.set(State{Err: err.Error(), At: now})
			next = NextRetry(now, fails)
		} else {
			fails = 0
			next = NextRenew(now, granted)
		}
		select {
		case <-ctx.Done():
			return
		case <-m.cfg.After(next.Sub(now)):
		}
	}
}

// refresh finds the router if needed, (re)maps TCP and UDP and reads the
// external address; it returns the shorter lease granted.
func (m *Mapper) refresh(ctx context.Context) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	m.mu.Lock()
	r := m.router
	m.mu.Unlock()
	if r == nil {
		var err error
		if r, err = m.find(ctx); err != nil {
			return 0, err
		}
		m.mu.Lock()
		m.router = r
		m.mu.Unlock()
	}
	lease := UPnPLease
	if r.Protocol() == ModeNATPMP {
		lease = PMPLease
	}
	st := State{Protocol: r.Protocol(), Router: r.Name()}
	granted := lease
	var ext uint16
	for _, proto := range []string{"TCP", "UDP"} {
		port, g, err := r.Map(ctx, proto, m.cfg.Port, m.cfg.Port, lease)
		if err != nil {
			m.forget()
			return 0, err
		}
		m.mu.Lock()
		m.mapped[proto] = port
		m.mu.Unlock()
		if proto == "TCP" {
			st.TCP, ext = true, port
		} else {
			st.UDP = true
		}
		granted = min(granted, g)
	}
	ip, err := r.ExternalIP(ctx)
	if err != nil {
		m.forget()
		return 0, err
	}
	st.External, st.At = netip.AddrPortFrom(ip, ext), m.cfg.Now()
	m.set(st)
	return granted, nil
}

// forget drops the router after a failure: the next try discovers again
// (it may have rebooted, or vanished).
func (m *Mapper) forget() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.router = nil
}

func (m *Mapper) set(st State) {
	m.mu.Lock()
	changed := st.Protocol != m.state.Protocol || st.External != m.state.External || st.Err != m.state.Err || st.TCP != m.state.TCP || st.UDP != m.state.UDP
	m.state = st
	m.mu.Unlock()
	if changed && m.cfg.OnChange != nil {
		m.cfg.OnChange(st)
	}
}

// find picks the router by mode.
func (m *Mapper) find(ctx context.Context) (Router, error) {
	gw := m.cfg.Gateway
	if !gw.IsValid() {
		var err error
		if gw, err = DefaultGateway(); err != nil {
			return nil, err
		}
	}
	local, err := localAddrFor(gw)
	if err != nil {
		return nil, err
	}
	var errs []error
	if m.cfg.Mode == ModeAuto || m.cfg.Mode == ModeUPnP {
		loc, err := discoverIGD(ctx, m.cfg.SSDP, gw)
		if err == nil {
			r, err := openIGD(ctx, loc, gw, local)
			if err == nil {
				return r, nil
			}
			errs = append(errs, err)
		} else {
			errs = append(errs, err)
		}
	}
	if m.cfg.Mode == ModeAuto || m.cfg.Mode == ModeNATPMP {
		pmp := m.cfg.PMP
		if !pmp.IsValid() {
			pmp = netip.AddrPortFrom(gw, PMPPort)
		}
		r := &pmpRouter{gateway: pmp}
		if _, err := r.ExternalIP(ctx); err != nil {
			errs = append(errs, err)
		} else {
			return r, nil
		}
	}
	if len(errs) == 0 {
		return nil, fmt.Errorf("port mapping: mode %q", m.cfg.Mode)
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return nil, errors.New(strings.Join(msgs, "; ")) // one line for status
}

// unmapAll removes what we mapped, within unmapTimeout.
func (m *Mapper) unmapAll() {
	m.mu.Lock()
	r, mapped := m.router, m.mapped
	m.mapped = map[string]uint16{}
	m.mu.Unlock()
	if r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), unmapTimeout)
	defer cancel()
	for _, proto := range []string{"TCP", "UDP"} {
		if ext, ok := mapped[proto]; ok {
			if err := r.Unmap(ctx, proto, m.cfg.Port, ext); err != nil {
				m.cfg.Logger.Info("port mapping not removed", "err", err)
			}
		}
	}
}
