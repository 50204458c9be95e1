package servent

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/servent/servent/servent/transfer"
)

// acceptLoop accepts until the listener closes, backing off on temporary
// errors as net/http does.
func (n *Node) acceptLoop() {
	defer n.wg.Done()
	var delay time.Duration
	for {
		nc, err := n.ln.Accept()
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
		if !n.admitRaw(remote.Addr()) {
			_ = nc.Close()
			continue
		}
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			defer n.releaseRaw(remote.Addr())
			n.serveInbound(nc, remote)
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

// admitRaw applies the per-IP and total socket caps and the ban list.
func (n *Node) admitRaw(ip netip.Addr) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if until, ok := n.bans[ip]; ok && n.cfg.Now().Before(until) {
		return false
	}
	if n.rawTotal >= n.cfg.MaxConns || n.raw[ip] >= n.cfg.MaxConnsPerIP {
		n.stats.refused.Add(1)
		return false
	}
	n.raw[ip]++
	n.rawTotal++
	return true
}

func (n *Node) releaseRaw(ip netip.Addr) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.rawTotal--
	if n.raw[ip]--; n.raw[ip] <= 0 {
		delete(n.raw, ip)
	}
}

// serveInbound peeks at the first bytes and hands the connection to the
// Gnet handshake, HTTP or GIV (GNUTELLA.md 1). Peek 4 bytes first so a
// short HTTP request line never stalls waiting for 17.
func (n *Node) serveInbound(nc net.Conn, remote netip.AddrPort) {
	stop := context.AfterFunc(n.ctx, func() { _ = nc.Close() })
	defer stop()
	_ = nc.SetReadDeadline(n.cfg.Now().Add(n.cfg.HandshakeTimeout))
	br := bufio.NewReaderSize(nc, 16<<10)
	head, err := br.Peek(4)
	if err != nil {
		_ = nc.Close()
		return
	}
	switch string(head) {
	case "GET ", "HEAD", "GIV ", "GNUT":
		// Someone reached our listening socket: what an auto node needs
		// to see before it may become an ultrapeer.
		if !n.cfg.Firewalled {
			n.inbound.Store(true)
		}
	}
	switch {
	case bytes.Equal(head, []byte("GET ")) || bytes.Equal(head, []byte("HEAD")):
		_ = nc.SetReadDeadline(time.Time{})
		if n.cfg.Firewalled {
			_ = nc.Close()
			return
		}
		n.serveHTTP(nc, br)
	case bytes.Equal(head, []byte("GIV ")):
		line, err := transfer.ReadGIVLine(br)
		if err != nil {
			_ = nc.Close()
			return
		}
		_ = nc.SetReadDeadline(time.Time{})
		n.serveGIV(nc, br, line)
	case bytes.Equal(head, []byte("GNUT")):
		const connect = "GNUTELLA CONNECT/0.6"
		b, err := br.Peek(len(connect))
		if err != nil || string(b) != connect || n.cfg.Firewalled {
			// 0.4 and unknown versions: close without a word, as GTKG.
			_ = nc.Close()
			return
		}
		c, err := n.accept(nc, br, remote)
		if err != nil {
			n.log.Debug("inbound handshake failed", "peer", remote, "err", err)
			_ = nc.Close()
			return
		}
		n.run(c)
	default:
		_ = nc.Close()
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
