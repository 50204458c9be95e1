package servent

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/udp"
)

// udpSide is everything the node keeps for UDP (issue 10). Each concern
// keeps its state in its own package and one field here.
type udpSide struct {
	sock   *udp.Socket // nil: no UDP (Config.NoUDP, or the bind failed)
	err    error       // why there is no UDP socket
	unused atomic.Uint64
	caches *cacheSide // UDP pings answered, host caches asked (udp_ping.go, bootstrap.go)
	guess  guessSide  // GUESS server and client (udp_guess.go)
	oob    lazyOOB    // out-of-band hits (udp_oob.go)
}

// UDPStatus is the UDP socket's state and counters.
type UDPStatus struct {
	Enabled bool
	Addr    string
	Error   string // why UDP is off
	udp.Stats
	// Unhandled counts datagrams that decoded but that nothing here
	// processes (a vendor message we do not know, a Push not for us).
	Unhandled uint64
	GUESS     GUESSStatus // GUESS queries served and refused
}

// startUDP binds UDP on the TCP listener's address and port (GTKG serves
// both on one port: peers learn one address for us). A failure leaves the
// node on TCP only, said in Status.
func (n *Node) startUDP() {
	if n.cfg.NoUDP {
		n.udp.err = errors.New("disabled")
		return
	}
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(n.addr))
	if err != nil {
		n.udp.err = fmt.Errorf("udp listen %v: %w", n.addr, err)
		n.log.Warn("no UDP: running on TCP only", "err", err)
		return
	}
	n.udp.sock = udp.New(udp.Config{
		Conn: conn, Handle: n.handleDatagram, Now: n.cfg.Now, Logger: n.log,
		GuessServer: n.guessServer,
	})
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		_ = n.udp.sock.Run()
	}()
}

func (n *Node) closeUDP() {
	if n.udp.sock != nil {
		_ = n.udp.sock.Close()
		n.closeGuess()
	}
}

// UDPAddr is the bound UDP address, or the zero value without UDP.
func (n *Node) UDPAddr() netip.AddrPort {
	if n.udp.sock == nil {
		return netip.AddrPort{}
	}
	return n.udp.sock.LocalAddr()
}

func (n *Node) udpStatus() UDPStatus {
	st := UDPStatus{Unhandled: n.udp.unused.Load(), GUESS: n.guessStatus()}
	if n.udp.sock == nil {
		if n.udp.err != nil {
			st.Error = n.udp.err.Error()
		}
		return st
	}
	st.Enabled, st.Addr, st.Stats = true, n.udp.sock.LocalAddr().String(), n.udp.sock.Stats()
	return st
}

// sendUDP sends one descriptor to to within the socket's output budgets.
func (n *Node) sendUDP(to netip.AddrPort, h protocol.Header, p protocol.Payload) bool {
	if n.udp.sock == nil {
		return false
	}
	return n.sendUDPBytes(to, protocol.AppendDatagram(nil, h, p, false))
}

// sendUDPBytes sends an encoded datagram.
func (n *Node) sendUDPBytes(to netip.AddrPort, b []byte) bool {
	if n.udp.sock == nil {
		return false
	}
	n.reach.sentUDP(to.Addr(), n.cfg.Now())
	if err := n.udp.sock.Send(to, b); err != nil {
		n.log.Debug("udp not sent", "to", to, "err", err)
		return false
	}
	return true
}

// handleDatagram dispatches one decoded datagram; it runs on the UDP read
// goroutine and must not block.
func (n *Node) handleDatagram(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	if n.closing.Load() {
		return
	}
	if n.reachPing(from, d, now) {
		return
	}
	n.reach.gotUDP(from, now)
	switch d.Header.Type {
	case protocol.TypePing:
		n.udpPing(from, d, now)
	case protocol.TypePong:
		n.udpPong(from, d, now)
	case protocol.TypeQuery:
		n.udpQuery(from, d, now)
	case protocol.TypeQueryHit:
		n.udpHit(from, d, now)
	case protocol.TypePush:
		n.udpPush(from, d)
	case protocol.TypeVendor, protocol.TypeStdVendor:
		n.udpVendor(from, d, now)
	default:
		n.udp.unused.Add(1)
	}
}

// udpVendor hands a vendor datagram to the concern that knows it.
func (n *Node) udpVendor(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	var v protocol.Vendor
	if err := v.Decode(d.Payload); err != nil {
		n.udp.unused.Add(1)
		return
	}
	if n.oobVendor(from, d.Header, &v, now) || n.reachVendor(from, d.Header, &v, now) {
		return
	}
	n.udp.unused.Add(1)
}

// udpPush takes a Push for us sent straight over UDP (GTKG sends Pushes
// to a servent's push proxies and, lacking any, to its UDP address).
func (n *Node) udpPush(from netip.AddrPort, d protocol.Datagram) {
	var p protocol.Push
	if err := p.Decode(d.Payload); err != nil || p.ServentGUID != n.guid || p.Index == 0x7FFFFFFD {
		n.udp.unused.Add(1)
		return
	}
	n.pushed(p.Index, netip.AddrPortFrom(p.IP, p.Port))
}
