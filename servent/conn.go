package servent

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/gnet"
)

// PeerInfo describes one Gnutella connection.
type PeerInfo struct {
	Addr       netip.AddrPort
	Mode       string // "leaf" or "ultrapeer": the peer's role
	UserAgent  string
	Outbound   bool
	Since      time.Time
	BytesIn    uint64
	BytesOut   uint64
	MsgsIn     uint64
	MsgsOut    uint64
	Compressed bool
	TLS        bool   // the link runs over TLS
	Family     string // "ipv4" or "ipv6"
}

// conn is one established Gnutella connection. The reader goroutine owns
// the fields marked "reader"; everything else is set before the goroutines
// start and read-only after, or atomic.
type conn struct {
	n        *Node
	id       routing.ConnID
	nc       net.Conn      // counting wrapper around the socket
	tls      bool          // the socket runs TLS
	br       *bufio.Reader // handshake reader; may hold the first descriptors
	addr     netip.AddrPort
	listen   netip.AddrPort // the peer's listening address, when known
	outbound bool
	up       bool // the peer is an ultrapeer
	agent    string
	guid     protocol.GUID
	since    time.Time

	deflateIn, deflateOut bool
	byeOK                 bool                           // peer understands Bye
	vendorOK              bool                           // peer announced Vendor-Message
	maxTTL                uint8                          // peer's X-Max-TTL
	upQRP                 bool                           // peer announced X-Ultrapeer-Query-Routing
	weLeaf                bool                           // we handshook as a leaf (the role cannot change on a live link)
	upNotNeeded           bool                           // the ultrapeer said X-Ultrapeer-Needed: False
	guess                 bool                           // the ultrapeer announced X-Guess: a GUESS server
	proxy                 proxyLink                      // this ultrapeer as our push proxy (pushproxy.go)
	connectBack           struct{ tcp, udp atomic.Bool } // connect-backs the peer offers (udp_reach.go)

	slot *reservation

	q   *sendQueue
	qrt atomic.Pointer[routing.QueryRouteTable]

	lastRead atomic.Int64 // unix nanoseconds
	pingOut  atomic.Int64 // when our unanswered keep-alive ping left; 0 = none
	bytesIn  atomic.Uint64
	bytesOut atomic.Uint64
	msgsIn   atomic.Uint64
	msgsOut  atomic.Uint64

	byeMsg    atomic.Pointer[[]byte] // a Bye the writer sends last
	closeOnce sync.Once
	closed    chan struct{} // closed when the connection is torn down
	writerOut chan struct{} // closed when the writer goroutine returned

	// reader-owned state
	acts     gnet.Actions // what the core decided about the last descriptor
	query    protocol.Query
	hit      protocol.QueryHit
	closeErr error
}

// countingConn counts raw bytes for the stats.
type countingConn struct {
	net.Conn
	c *conn
}

func (cc countingConn) Read(p []byte) (int, error) {
	n, err := cc.Conn.Read(p)
	cc.c.bytesIn.Add(uint64(n))
	return n, err
}

func (cc countingConn) Write(p []byte) (int, error) {
	n, err := cc.Conn.Write(p)
	cc.c.bytesOut.Add(uint64(n))
	return n, err
}

func (c *conn) info() PeerInfo {
	mode := "leaf"
	if c.up {
		mode = "ultrapeer"
	}
	a := c.addr
	if c.listen.IsValid() {
		a = c.listen
	}
	return PeerInfo{
		Addr: a, Mode: mode, UserAgent: c.agent, Outbound: c.outbound, Since: c.since,
		BytesIn: c.bytesIn.Load(), BytesOut: c.bytesOut.Load(),
		MsgsIn: c.msgsIn.Load(), MsgsOut: c.msgsOut.Load(),
		Compressed: c.deflateIn || c.deflateOut,
		TLS:        c.tls,
		Family:     family(c.addr.Addr()),
	}
}

// send queues an encoded descriptor. A peer that lets undroppable messages
// pile up is not reading: it is closed with Bye 502.
func (c *conn) send(b []byte, keep bool) bool {
	ok, overflow := c.q.enqueue(newOutMsg(b, keep))
	if overflow {
		c.n.stats.queueOverflows.Add(1)
		c.bye(502, "Send queue full") // never blocks
	}
	return ok
}

// bye sends a Bye (when the peer understands it) and closes once it is
// written, or at once.
func (c *conn) bye(code uint16, reason string) {
	if !c.byeOK {
		c.close(errors.New(reason))
		return
	}
	b := protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeBye, TTL: 1},
		&protocol.Bye{Code: code, Reason: reason})
	if !c.byeMsg.CompareAndSwap(nil, &b) {
		return
	}
	c.q.close() // discard what is pending; the writer sends the Bye and closes
	// The writer may be stuck on a peer that does not read: bound the wait.
	_ = c.nc.SetWriteDeadline(c.n.cfg.Now().Add(2 * time.Second))
}

// close tears the connection down once; safe from any goroutine.
func (c *conn) close(err error) {
	c.closeOnce.Do(func() {
		close(c.closed)
		c.q.close()
		_ = c.nc.Close()
		c.n.removeConn(c, err)
	})
}

// byeGrace is how long the peer has to close its side after our Bye.
const byeGrace = 2 * time.Second

// finish half-closes the link after our Bye and gives the peer byeGrace to
// close its side, as GTKG's node_shutdown_mode() does (BYE_GRACE_DELAY):
// closing at once with the peer's data unread resets the link, and the
// reset can end the link on the peer's side (its writer fails and closes)
// before its reader has read the Bye. False: the socket cannot half-close;
// close it now.
func (c *conn) finish() bool {
	cw, ok := c.nc.(countingConn).Conn.(interface{ CloseWrite() error })
	if !ok || cw.CloseWrite() != nil {
		return false
	}
	return c.nc.SetReadDeadline(time.Now().Add(byeGrace)) == nil
}

// writeLoop drains the send queue into a buffered (and maybe deflating)
// writer, flushing whenever the queue runs empty.
func (c *conn) writeLoop() {
	defer close(c.writerOut)
	bw := bufio.NewWriterSize(c.n.limits.Get(bwlimit.GnetOut).Writer(c.n.ctx, c.nc), 32<<10)
	var w io.Writer = bw
	var dw *protocol.DeflateWriter
	if c.deflateOut {
		dw = protocol.NewDeflateWriter(bw)
		w = dw
	}
	flush := func() error {
		if dw != nil {
			if err := dw.Flush(); err != nil {
				return err
			}
		}
		return bw.Flush()
	}
	batch := make([]outMsg, 0, 128)
	for {
		select {
		case <-c.q.wake:
		case <-c.closed:
			return
		}
		wrote := false
		for {
			batch = c.q.popBatch(batch[:0], 64<<10)
			if len(batch) == 0 {
				break
			}
			if c.byeMsg.Load() == nil {
				_ = c.nc.SetWriteDeadline(c.n.cfg.Now().Add(c.n.cfg.WriteTimeout))
			}
			for i := range batch {
				if _, err := w.Write(batch[i].b); err != nil {
					c.close(err)
					return
				}
				if len(batch[i].b) > 16 {
					c.n.stats.outByType[batch[i].b[16]].Add(1)
				}
			}
			c.msgsOut.Add(uint64(len(batch)))
			c.n.stats.msgsOut.Add(uint64(len(batch)))
			clear(batch)
			wrote = true
		}
		if b := c.byeMsg.Load(); b != nil {
			if _, err := w.Write(*b); err == nil && flush() == nil && c.finish() {
				return // the reader reads on to the peer's close; run closes
			}
			c.close(errors.New("sent bye"))
			return
		}
		if wrote {
			if err := flush(); err != nil {
				c.close(err)
				return
			}
		}
	}
}
