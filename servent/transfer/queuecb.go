package transfer

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// The QUEUE callback of PARQ (GNUTELLA-TRANSFERS.md 21.4, gtk-gnutella's
// parq_upload_send_queue and parq_download_queue_ack): an uploader whose
// line has a place for a downloader that is not connected connects to
// the downloader's X-Node address and sends "QUEUE <ID> <ip>:<port>\r\n";
// the downloader answers on that connection with its request for the
// place. It saves the downloader its Retry-After wait when a slot frees,
// and revives a place whose holder forgot to come back.

// maxQueueLine bounds "QUEUE <32 hex> <ip>:<port>".
const maxQueueLine = 256

// callbackInterval is how often RunCallbacks looks for lapsed places
// when no slot frees meanwhile.
const callbackInterval = 5 * time.Second

// callbackGrace is how long a freed slot must stay free before the first
// in line is called.
const callbackGrace = time.Second

// maxCallbacks bounds the QUEUE connections in flight.
const maxCallbacks = 8

// AppendQUEUE appends the QUEUE line for the place id, naming self (our
// listening address, where the downloader may find us again).
func AppendQUEUE(dst []byte, id string, self netip.AddrPort) []byte {
	dst = append(dst, "QUEUE "...)
	dst = append(dst, id...)
	dst = append(dst, ' ')
	dst = self.AppendTo(dst)
	return append(dst, "\r\n"...)
}

// ReadQUEUELine reads the QUEUE line (CRLF or LF). The node calls it
// after peeking "QUEU" and passes the line to Manager.HandleQUEUE.
func ReadQUEUELine(br *bufio.Reader) (string, error) {
	lr := &lineReader{br: br, budget: maxQueueLine + 2}
	line, err := lr.line()
	if err != nil {
		return "", fmt.Errorf("queue: %w", err)
	}
	return line, nil
}

// ParseQUEUE reads "QUEUE <ID> <ip>:<port>": the ID (32 hex digits, as
// X-Queued's) and the uploader's address, which may be missing (gtk-
// gnutella then goes on with the ID alone).
func ParseQUEUE(line string) (id string, from netip.AddrPort, err error) {
	rest, ok := strings.CutPrefix(line, "QUEUE ")
	if !ok {
		return "", from, fmt.Errorf("%w: not a QUEUE line: %.40q", ErrMalformed, line)
	}
	idText, addr, _ := strings.Cut(strings.TrimSpace(rest), " ")
	q, err := ParseXQueued("ID=" + idText)
	if err != nil {
		return "", from, fmt.Errorf("%w: QUEUE %v", ErrMalformed, err)
	}
	if ap, err := netip.ParseAddrPort(strings.TrimSpace(addr)); err == nil && ap.Port() != 0 {
		from = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	}
	return q.ID, from, nil
}

// xNode is the requester's callback address: X-Node, or the X-Listen-IP
// of PARQ 1.0.
func xNode(h headers) netip.AddrPort {
	v := h.Get("X-Node")
	if v == "" {
		v = h.Get("X-Listen-IP")
	}
	ap, err := netip.ParseAddrPort(strings.TrimSpace(v))
	if err != nil {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

// RunCallbacks makes the QUEUE callbacks until ctx ends: when a slot
// frees, to the first in line that left its X-Node, and to lapsed
// places. A call's connection is then served like any other (the
// downloader's request comes on it). Needs CallbackDial and ListenAddr.
func (u *Uploader) RunCallbacks(ctx context.Context) {
	if u.cfg.CallbackDial == nil || u.cfg.ListenAddr == nil {
		return
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	sem := make(chan struct{}, maxCallbacks)
	t := time.NewTicker(callbackInterval)
	defer t.Stop()
	grace := time.NewTimer(time.Hour)
	grace.Stop()
	defer grace.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-u.slotFreed:
			// A keep-alive client frees its slot between two requests and
			// takes it back at once: call only if it stays free.
			grace.Reset(callbackGrace)
			continue
		case <-grace.C:
		case <-t.C:
		}
		for _, call := range u.queue.calls(u.SlotFree(), u.canTakeSlot, u.cfg.Now()) {
			select {
			case sem <- struct{}{}:
			default:
				u.queue.callDone(call.id, u.cfg.Now()) // too many out: counts as not answered
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				u.call(ctx, call)
			}()
		}
	}
}

// call connects to a place's holder, sends QUEUE and serves what comes.
func (u *Uploader) call(ctx context.Context, call queueCall) {
	defer func() { u.queue.callDone(call.id, u.cfg.Now()) }()
	dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	conn, err := u.cfg.CallbackDial(dctx, "tcp", call.addr.String())
	cancel()
	if err != nil {
		u.log.Debug("parq: QUEUE callback: connect failed", "addr", call.addr, "err", err)
		return
	}
	_ = conn.SetWriteDeadline(time.Now().Add(u.cfg.StallTimeout))
	if _, err := conn.Write(AppendQUEUE(nil, call.id, u.cfg.ListenAddr())); err != nil {
		conn.Close()
		return
	}
	_ = conn.SetWriteDeadline(time.Time{})
	u.callsSent.Add(1)
	u.ServeConn(ctx, conn, bufio.NewReader(conn))
}

// Callbacks counts the QUEUE callbacks sent and those answered with a
// request for the place.
func (u *Uploader) Callbacks() (sent, answered uint64) {
	return u.callsSent.Load(), u.callsAnswered.Load()
}

// SlotFree reports whether an upload slot is free.
func (u *Uploader) SlotFree() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.active < u.cfg.MaxUploads
}

// HandleQUEUE takes a QUEUE callback's connection: the download queued at
// that place sends its request on it at once. Nobody waiting: closed.
func (m *Manager) HandleQUEUE(conn net.Conn, br *bufio.Reader, line string) {
	id, _, err := ParseQUEUE(line)
	if err != nil || m.log == nil {
		conn.Close()
		return
	}
	m.mu.Lock()
	ds := make([]*download, 0, len(m.downloads))
	for _, d := range m.downloads {
		ds = append(ds, d)
	}
	m.mu.Unlock()
	for _, d := range ds {
		if d.takeCallback(id, givConn{conn, br}) {
			return
		}
	}
	m.log.Debug("parq: QUEUE for no place of ours", "peer", conn.RemoteAddr(), "id", id)
	conn.Close()
}

// takeCallback gives a QUEUE connection to the source that holds place
// id, if it waits; its worker starts now and uses it.
func (d *download) takeCallback(id string, g givConn) bool {
	d.mu.Lock()
	var found *srcState
	for _, s := range d.sources {
		if s.queue.ID == id && !s.running && !s.dead && s.callback == nil {
			found = s
			break
		}
	}
	cb := &g
	if found != nil {
		found.callback = cb
		found.nextTry = time.Now()
		found.idle = false
	}
	d.mu.Unlock()
	if found == nil {
		return false
	}
	// Not taken in time (no chunk left, the download ended): closed.
	time.AfterFunc(callbackHold, func() {
		d.mu.Lock()
		stale := found.callback == cb
		if stale {
			found.callback = nil
		}
		d.mu.Unlock()
		if stale {
			cb.conn.Close()
		}
	})
	d.poke()
	return true
}

// callbackHold is how long a QUEUE connection waits for its worker.
const callbackHold = 10 * time.Second

// heldCallback takes the QUEUE connection waiting for s, if any.
func (d *download) heldCallback(s *srcState) *givConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	g := s.callback
	s.callback = nil
	return g
}
