package servent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/servent/servent/servent/admit"
	"github.com/servent/servent/servent/reach"
	"github.com/servent/servent/servent/tlsid"
	"github.com/servent/servent/servent/transfer"
)

// acceptLoop accepts until the listener closes, backing off on temporary
// errors as net/http does.
func (n *Node) acceptLoop(ln net.Listener) {
	defer n.wg.Done()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if n.closing.Load() || errors.Is(err, net.ErrClosed) {
				return
			}
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			n.log.Warn("accept", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-n.ctx.Done():
				return
			}
		}
		delay = 0
		remote := addrPortOf(nc.RemoteAddr())
		id, ok := n.admitSocket(nc, remote.Addr())
		if !ok {
			_ = nc.Close()
			continue
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer n.releaseSocket(id)
			n.serveInbound(nc, remote, id)
		}()
	}
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// InboundStats counts what became of inbound sockets.
type InboundStats struct {
	Open, Handshaking int    // held now; of which not past their handshake
	Admitted          uint64 // let in, including those that evicted another
	Evicted           uint64 // half-open sockets closed to make room
	RefusedNetCap     uint64 // their /24 or /64 held MaxConnsPerNet sockets
	RefusedFull       uint64 // every slot held an established connection
	RefusedBanned     uint64
	RefusedHandshake  uint64 // Gnet handshakes we answered with an error code
	HandshakeTimeouts uint64 // closed by the first-byte or handshake deadline
	TLS               uint64 // came over TLS (Gnet, HTTP, GIV)
}

func (n *Node) inboundStats() InboundStats {
	n.mu.Lock()
	ts := n.sockets.Stats()
	st := InboundStats{Open: n.sockets.Len(), Handshaking: n.sockets.Pending()}
	n.mu.Unlock()
	st.Admitted, st.Evicted, st.RefusedNetCap, st.RefusedFull = ts.Admitted, ts.Evicted, ts.RefusedNetCap, ts.RefusedFull
	st.RefusedBanned, st.RefusedHandshake = n.stats.refusedBanned.Load(), n.stats.refused.Load()
	st.HandshakeTimeouts = n.stats.hsTimeouts.Load()
	st.TLS = n.stats.tlsInbound.Load()
	return st
}

// admitSocket applies the ban list and the socket table (servent/admit):
// caps per address group and in total, evicting the oldest half-open
// socket when full. false: close nc.
func (n *Node) admitSocket(nc net.Conn, ip netip.Addr) (admit.ID, bool) {
	now := n.cfg.Now()
	n.mu.Lock()
	if until, ok := n.bans[banKey(ip)]; ok && now.Before(until) || n.hostile(ip) {
		n.mu.Unlock()
		n.stats.refusedBanned.Add(1)
		return 0, false
	}
	d, id, victim := n.sockets.Admit(ip, now, nc)
	var summary []any
	if d != admit.Accept {
		summary = n.admitLog.due(now, n.sockets.Stats())
	}
	n.mu.Unlock()
	if d == admit.Evict {
		_ = victim.Close() // its goroutine sees the error and releases nothing
	}
	if summary != nil {
		// One line per admitLogEvery at most: a flood of sockets must
		// not become a flood of log lines.
		n.log.Warn("inbound sockets under pressure: evicting half-open sockets, refusing some", summary...)
	}
	return id, d.Admitted()
}

// established marks id past its handshake: it can no longer be evicted.
// false: it was evicted meanwhile (its socket is closed).
func (n *Node) established(id admit.ID) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.sockets.MarkEstablished(id)
}

func (n *Node) releaseSocket(id admit.ID) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sockets.Release(id)
}

const admitLogEvery = 10 * time.Second

// logGate lets a summary of evictions and refusals through once per
// admitLogEvery.
type logGate struct {
	last time.Time
	seen admit.Stats // at the last line
}

func (g *logGate) due(now time.Time, s admit.Stats) []any {
	if !g.last.IsZero() && now.Sub(g.last) < admitLogEvery {
		return nil
	}
	prev := g.seen
	g.last, g.seen = now, s
	return []any{"evicted", s.Evicted - prev.Evicted, "refused_net_cap", s.RefusedNetCap - prev.RefusedNetCap,
		"refused_full", s.RefusedFull - prev.RefusedFull}
}

// countTimeout counts a handshake that ended on its deadline.
func (n *Node) countTimeout(err error) {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		n.stats.hsTimeouts.Add(1)
	}
}

// serveInbound peeks at the first bytes and hands the connection to the
// Gnet handshake, HTTP or GIV (GNUTELLA.md 1). Peek 4 bytes first so a
// short HTTP request line never stalls waiting for 17. The first bytes
// must come within FirstByteTimeout, and the whole handshake (Gnet
// handshake, HTTP request head, GIV line) within HandshakeTimeout of the
// accept: one deadline, set here and never extended, so trickled bytes
// buy no time.
func (n *Node) serveInbound(nc net.Conn, remote netip.AddrPort, id admit.ID) {
	stop := context.AfterFunc(n.ctx, func() { _ = nc.Close() })
	defer stop()
	now := n.cfg.Now()
	deadline := now.Add(n.cfg.HandshakeTimeout)
	first := now.Add(n.cfg.FirstByteTimeout)
	if first.After(deadline) {
		first = deadline
	}
	_ = nc.SetDeadline(first)
	br := bufio.NewReaderSize(nc, 16<<10)
	head, err := br.Peek(4)
	if err != nil && bytes.HasPrefix(head, []byte("\n\n")) && !n.cfg.Firewalled {
		// A peer answering our BEAR/7 connect-back: "\n\n" and close.
		n.reach.prove(reach.TCP, addrPortOf(nc.RemoteAddr()), reach.SourceConnectBack, n.cfg.Now())
	}
	if err != nil {
		n.countTimeout(err)
		_ = nc.Close()
		return
	}
	_ = nc.SetDeadline(deadline)
	if tlsid.IsClientHello(head) {
		if n.tls.server == nil {
			_ = nc.Close() // TLS refused: gtk-gnutella closes too
			return
		}
		// TLS on the same port (issue 16): the handshake under the same
		// deadline, then the first bytes inside it decide as outside.
		tc, tbr, err := n.startTLS(nc, br, true)
		if err != nil {
			n.countTimeout(err)
			n.log.Debug("inbound TLS handshake failed", "peer", remote, "err", err)
			_ = nc.Close()
			return
		}
		nc, br = tc, tbr
		if head, err = br.Peek(4); err != nil {
			n.countTimeout(err)
			_ = nc.Close()
			return
		}
	}
	switch string(head) {
	case "GET ", "HEAD", "GIV ", "GNUT", "QUEU":
		// Someone reached our listening socket: what an auto node needs
		// to see before it may become an ultrapeer.
		if !n.cfg.Firewalled {
			n.reach.prove(reach.TCP, addrPortOf(nc.RemoteAddr()), reach.SourceInbound, n.cfg.Now())
		}
	}
	switch {
	case bytes.Equal(head, []byte("GET ")) || bytes.Equal(head, []byte("HEAD")):
		if n.cfg.Firewalled {
			_ = nc.Close()
			return
		}
		if err := bufferHTTPHead(br); err != nil || !n.established(id) {
			n.countTimeout(err)
			_ = nc.Close()
			return
		}
		_ = nc.SetDeadline(time.Time{})
		n.serveHTTP(nc, br)
	case bytes.Equal(head, []byte("GIV ")):
		line, err := transfer.ReadGIVLine(br)
		if err != nil || !n.established(id) {
			n.countTimeout(err)
			_ = nc.Close()
			return
		}
		_ = nc.SetDeadline(time.Time{})
		n.serveGIV(nc, br, line)
	case bytes.Equal(head, []byte("QUEU")):
		// An uploader that queued us calls back (PARQ's QUEUE, 21.4).
		line, err := transfer.ReadQUEUELine(br)
		if err != nil || !n.established(id) {
			n.countTimeout(err)
			_ = nc.Close()
			return
		}
		_ = nc.SetDeadline(time.Time{})
		n.transfer.manager.HandleQUEUE(nc, br, line)
	case bytes.Equal(head, []byte("GNUT")):
		const connect = "GNUTELLA CONNECT/0.6"
		b, err := br.Peek(len(connect))
		if err != nil || string(b) != connect || n.cfg.Firewalled {
			// 0.4 and unknown versions: close without a word, as GTKG.
			n.countTimeout(err)
			_ = nc.Close()
			return
		}
		c, err := n.accept(nc, br, remote)
		if err != nil {
			n.countTimeout(err)
			n.log.Debug("inbound handshake failed", "peer", remote, "err", err)
			_ = nc.Close()
			return
		}
		if !n.established(id) {
			c.close(errors.New("evicted during handshake"))
			return
		}
		n.run(c)
	default:
		_ = nc.Close()
	}
}

// bufferHTTPHead reads until br holds a whole request head (through its
// blank line), so that it arrives under the handshake deadline; a head
// larger than br's buffer is left for the HTTP side to refuse (413).
func bufferHTTPHead(br *bufio.Reader) error {
	from := 0
	for {
		b, _ := br.Peek(br.Buffered())
		if bytes.Contains(b[from:], []byte("\n\r\n")) || bytes.Contains(b[from:], []byte("\n\n")) {
			return nil
		}
		if len(b) >= br.Size() {
			return nil
		}
		from = max(len(b)-2, 0)
		if _, err := br.Peek(len(b) + 1); err != nil {
			return fmt.Errorf("http request head: %w", err)
		}
	}
}

// run starts the writer and runs the reader of an established connection
// in the calling goroutine until the connection ends, and returns why.
func (n *Node) run(c *conn) error {
	// A connection set up while Close was already saying Bye to the others
	// still ends with the node.
	stop := context.AfterFunc(n.ctx, func() { c.close(errors.New("node closed")) })
	defer stop()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		c.writeLoop()
	}()
	n.greet(c)
	err := c.readLoop()
	if c.byeMsg.Load() != nil {
		// Let the writer flush the Bye (bounded by its 2 s write deadline).
		select {
		case <-c.writerOut:
		case <-time.After(3 * time.Second):
		}
	}
	n.noteParting(c, err) // before close frees the slot for a redial
	c.close(err)
	<-c.writerOut
	return err
}
