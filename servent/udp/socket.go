package udp

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
)

// Default budgets. Input: one source may send a burst of 100 datagrams
// and 50 a second after that (a GUESS or OOB answer is a few datagrams;
// a host-cache answer one); everyone together 4000 a second, about what
// one core decodes and handles with room to spare (BenchmarkSocket).
// Output: per destination a burst of 60 and 20 a second (the hits of one
// acknowledged OOB reply go to one address), 2000 a second in all.
var (
	DefaultInPerSource  = Rate{Every: 20 * time.Millisecond, Burst: 100}
	DefaultInGlobal     = Rate{Every: 250 * time.Microsecond, Burst: 2000}
	DefaultOutPerDest   = Rate{Every: 50 * time.Millisecond, Burst: 60}
	DefaultOutGlobal    = Rate{Every: 500 * time.Microsecond, Burst: 1000}
	errSocketClosed     = errors.New("udp: socket closed")
	errBadDestination   = errors.New("udp: destination not routable")
	maxDatagramReadSize = protocol.MaxDatagramLen + 1 // one more byte tells "too large"
)

// ErrBudget is returned by Send when the destination's or the global
// output budget is spent: the datagram is not sent.
var ErrBudget = errors.New("udp: send budget spent")

// Config configures a Socket.
type Config struct {
	Conn *net.UDPConn
	// Handle gets every datagram that passed the budgets and decoded. It
	// runs on the read goroutine and must not block; d.Payload is valid
	// only during the call.
	Handle func(from netip.AddrPort, d protocol.Datagram, now time.Time)
	// GuessServer says whether Queries are taken (an ultrapeer answering
	// GUESS); nil: never.
	GuessServer func() bool
	Now         func() time.Time
	Logger      *slog.Logger

	InPerSource, InGlobal Rate // zero: the defaults
	OutPerDest, OutGlobal Rate
}

// Stats are the socket's counters.
type Stats struct {
	Received, BytesIn uint64 // datagrams handled (passed budgets and decoding)
	Sent, BytesOut    uint64
	// Dropped on input, by reason.
	RateLimited, Truncated, Malformed, TooLarge, NotAccepted uint64
	// Not sent: over an output budget, or the write failed.
	SendBudget, SendErrors uint64
}

// Socket is the node's UDP endpoint.
type Socket struct {
	cfg     Config
	log     *slog.Logger
	in      *Limiter
	outMu   sync.Mutex
	out     *Limiter // guarded by outMu
	closed  atomic.Bool
	stats   struct{ received, bytesIn, sent, bytesOut, rate, trunc, malformed, large, notAcc, budget, sendErr atomic.Uint64 }
	readBuf []byte
}

// New makes a socket around cfg.Conn; Run reads it.
func New(cfg Config) *Socket {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	def := func(r *Rate, d Rate) {
		if *r == (Rate{}) {
			*r = d
		}
	}
	def(&cfg.InPerSource, DefaultInPerSource)
	def(&cfg.InGlobal, DefaultInGlobal)
	def(&cfg.OutPerDest, DefaultOutPerDest)
	def(&cfg.OutGlobal, DefaultOutGlobal)
	return &Socket{
		cfg: cfg, log: cfg.Logger,
		in:      NewLimiter(cfg.InPerSource, cfg.InGlobal),
		out:     NewLimiter(cfg.OutPerDest, cfg.OutGlobal),
		readBuf: make([]byte, maxDatagramReadSize),
	}
}

// LocalAddr is the bound address.
func (s *Socket) LocalAddr() netip.AddrPort {
	ap := s.cfg.Conn.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// Run reads datagrams until Close. It returns nil after Close.
func (s *Socket) Run() error {
	for {
		k, from, err := s.cfg.Conn.ReadFromUDPAddrPort(s.readBuf)
		if err != nil {
			if s.closed.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// ICMP errors (port unreachable from an earlier send) surface
			// here on Linux: not fatal for a connectionless socket.
			s.log.Debug("udp read", "err", err)
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		s.receive(from, s.readBuf[:k], s.cfg.Now())
	}
}

// receive runs the budgets, decodes and hands one datagram on.
func (s *Socket) receive(from netip.AddrPort, b []byte, now time.Time) {
	if !s.in.Allow(from.Addr(), now) {
		s.stats.rate.Add(1)
		return
	}
	guess := s.cfg.GuessServer != nil && s.cfg.GuessServer()
	d, err := protocol.DecodeDatagram(b, guess)
	if err != nil {
		switch {
		case errors.Is(err, protocol.ErrTruncated):
			s.stats.trunc.Add(1)
		case errors.Is(err, protocol.ErrTooLarge):
			s.stats.large.Add(1)
		case errors.Is(err, protocol.ErrNotOverUDP):
			s.stats.notAcc.Add(1)
		default:
			s.stats.malformed.Add(1)
		}
		s.log.Debug("udp datagram dropped", "from", from, "err", err)
		return
	}
	s.stats.received.Add(1)
	s.stats.bytesIn.Add(uint64(len(b)))
	if s.cfg.Handle != nil {
		s.cfg.Handle(from, d, now)
	}
}

// Send sends one datagram b to to, within the output budgets.
func (s *Socket) Send(to netip.AddrPort, b []byte) error {
	if s.closed.Load() {
		return errSocketClosed
	}
	if !to.IsValid() || to.Port() == 0 || to.Addr().IsUnspecified() || to.Addr().IsMulticast() {
		return fmt.Errorf("%w: %v", errBadDestination, to)
	}
	s.outMu.Lock()
	ok := s.out.Allow(to.Addr(), s.cfg.Now())
	s.outMu.Unlock()
	if !ok {
		s.stats.budget.Add(1)
		return ErrBudget
	}
	if _, err := s.cfg.Conn.WriteToUDPAddrPort(b, to); err != nil {
		s.stats.sendErr.Add(1)
		return fmt.Errorf("udp: send to %v: %w", to, err)
	}
	s.stats.sent.Add(1)
	s.stats.bytesOut.Add(uint64(len(b)))
	return nil
}

// Close closes the socket; Run returns.
func (s *Socket) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.cfg.Conn.Close()
}

// Stats returns the counters.
func (s *Socket) Stats() Stats {
	st := &s.stats
	return Stats{
		Received: st.received.Load(), BytesIn: st.bytesIn.Load(),
		Sent: st.sent.Load(), BytesOut: st.bytesOut.Load(),
		RateLimited: st.rate.Load(), Truncated: st.trunc.Load(), Malformed: st.malformed.Load(),
		TooLarge: st.large.Load(), NotAccepted: st.notAcc.Load(),
		SendBudget: st.budget.Load(), SendErrors: st.sendErr.Load(),
	}
}
