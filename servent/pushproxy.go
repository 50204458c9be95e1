package servent

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/pushproxy"
)

// maxProxyRequest bounds the head of a push-proxy request we read.
const maxProxyRequest = 8 << 10

// servePushProxy answers an HTTP push-proxy request (GNUTELLA-TRANSFERS.md
// 25.2): the Push goes to our leaf of that GUID (202), on through the push
// routes (203), or is ours to answer (202); else 410. The connection is
// closed after the status, as gtk-gnutella does.
func (n *Node) servePushProxy(nc net.Conn, br *bufio.Reader) {
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(n.cfg.HandshakeTimeout))
	req, err := http.ReadRequest(bufio.NewReader(io.LimitReader(br, maxProxyRequest)))
	if err != nil {
		_ = pushproxy.WriteAnswer(nc, pushproxy.NotUnderstood, n.cfg.UserAgent)
		return
	}
	from := addrPortOf(nc.RemoteAddr()).Addr()
	r, refused := pushproxy.Parse(req.Method, req.RequestURI, req.Header.Get("X-Node"), from)
	answer := refused
	if answer == nil {
		a := n.relayProxiedPush(r)
		answer = &a
	}
	n.log.Debug("push proxy", "from", from, "code", answer.Code, "reason", answer.Reason)
	_ = pushproxy.WriteAnswer(nc, *answer, n.cfg.UserAgent)
}

// relayProxiedPush sends the Push r asks for and says how.
func (n *Node) relayProxiedPush(r pushproxy.Request) pushproxy.Answer {
	if r.GUID == n.guid {
		n.pushed(r.Index, r.Node)
		return pushproxy.FoundUs
	}
	p := &protocol.Push{ServentGUID: r.GUID, Index: r.Index}
	if r.TLS {
		p.GGEP = protocol.GGEP{{ID: "TLS"}}
	}
	p.SetAddr(r.Node, netip.Addr{})
	// TTL max-1 and hops 1, as gtk-gnutella relays it (capture 57): the
	// Push looks as if it came from a neighbour, which it stands for.
	h := protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePush, TTL: max(n.cfg.MaxTTL, 2) - 1, Hops: 1}
	b := protocol.AppendMessage(nil, h, p)
	s := n.snap.Load()
	for _, c := range s.leaves {
		if c.guid == r.GUID && c.send(b, true) {
			return pushproxy.Sent
		}
	}
	if id, ok := n.pushes.Lookup(r.GUID); ok && id != routing.Local {
		if c := s.byID[id]; c != nil && c.send(b, true) {
			return pushproxy.SentVia(1)
		}
	}
	return pushproxy.NoRoute(r.GUID)
}

// isPushProxyRequest tells from the request line whether an HTTP
// connection is for the push proxy rather than the uploader. It peeks
// only as far as it must: the end of the line or enough bytes to tell.
func isPushProxyRequest(br *bufio.Reader) bool {
	const enough = len("HEAD /gnutella/push")
	line, _ := br.Peek(br.Buffered())
	for len(line) < enough && !bytes.ContainsRune(line, '\n') {
		var err error
		if line, err = br.Peek(len(line) + 1); err != nil {
			break
		}
	}
	for _, m := range []string{"GET ", "HEAD "} {
		if target, ok := bytes.CutPrefix(line, []byte(m)); ok {
			return pushproxy.IsPath(string(target))
		}
	}
	return false
}

// proxyLink is an ultrapeer link seen as our push proxy: whether it takes
// LIME/21, whether we asked, and the address it acked (LIME/22).
type proxyLink struct {
	supported atomic.Bool
	asked     atomic.Bool
	addr      atomic.Pointer[netip.AddrPort]
}

// askPushProxy notes whether the ultrapeer c takes LIME/21 and asks it
// when we are firewalled (gtk-gnutella asks on connection as a leaf).
func (n *Node) askPushProxy(c *conn, ms protocol.MessagesSupported) {
	if !c.up || n.ultrapeer.Load() {
		return
	}
	for _, e := range ms.Entries {
		if e.Vendor == protocol.VendorLIME && e.Selector == protocol.SelPushProxyReq {
			c.proxy.supported.Store(true)
			break
		}
	}
	n.askPushProxyOn(c)
}

// askPushProxies asks the ultrapeers not asked yet, once we turn
// firewalled (on the maintenance tick).
func (n *Node) askPushProxies() {
	if n.ultrapeer.Load() || !n.firewalled() {
		return
	}
	for _, c := range n.snap.Load().ups {
		n.askPushProxyOn(c)
	}
}

func (n *Node) askPushProxyOn(c *conn) {
	if !c.proxy.supported.Load() || !n.firewalled() || c.proxy.asked.Swap(true) {
		return
	}
	// The MUID is our servent GUID: the proxy routes pushes for it to us.
	req := protocol.PushProxyRequest{}.Vendor()
	c.send(protocol.AppendMessage(nil, protocol.Header{GUID: n.guid, Type: protocol.TypeVendor, TTL: 1}, &req), true)
}

// pushProxyAcked records the ultrapeer c as our push proxy (LIME/22 with
// our servent GUID); a v1 ack, or one with no address, means the address
// we know it by, with the port it gives.
func (n *Node) pushProxyAcked(c *conn, h protocol.Header, v *protocol.Vendor) {
	if h.GUID != n.guid {
		return
	}
	ack, err := protocol.DecodePushProxyAck(v.Version, v.Data)
	if err != nil {
		c.bad("push proxy ack")
		return
	}
	a := ack.Addr
	if !a.Addr().IsValid() || a.Addr().IsUnspecified() {
		a = netip.AddrPortFrom(c.addr.Addr(), a.Port())
	}
	if a.Port() == 0 {
		a = c.listen
	}
	if !a.IsValid() || a.Port() == 0 {
		return
	}
	c.proxy.addr.Store(&a)
}
