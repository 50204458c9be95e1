package servent

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/httphdr"
)

// handshakeError is a refusal: our code and reason, or the peer's.
type handshakeError struct {
	Code   int
	Reason string
	ours   bool
	leaf   bool // it says the peer is a leaf (protocol.Handshake.RefusedAsLeaf)
}

func (e *handshakeError) Error() string {
	who := "peer"
	if e.ours {
		who = "we"
	}
	return fmt.Sprintf("handshake refused (%s): %d %s", who, e.Code, e.Reason)
}

// peerHello is what we learnt about a peer from its header blocks.
type peerHello struct {
	up         bool
	agent      string
	guid       protocol.GUID
	listen     netip.AddrPort
	deflateIn  bool // the peer compresses what it sends us
	deflateOut bool // we compress what we send (the peer accepts deflate)
	byeOK      bool
	vendorOK   bool
	maxTTL     uint8
	degree     int  // X-Degree, 0 if none
	extProbes  bool // X-Ext-Probes, or a gtk-gnutella (nodes.c)
	upQRP      bool
	weLeaf     bool // our role in this handshake was leaf
	// upNotNeeded: an ultrapeer said "X-Ultrapeer-Needed: False" (GTKG's
	// hint that it has enough ultrapeers): an auto node then stays leaf.
	upNotNeeded bool
	guess       bool // X-Guess: the ultrapeer serves GUESS queries
	tls         bool // X-Features tls: it accepts TLS on its port
	// ipv6: X-Features IP/6.x, it takes IPv6 addresses; ipv6Only: IP/6.4,
	// it has no IPv4 (gtk-gnutella's IPv6-Ready).
	ipv6, ipv6Only bool
	// listens are the listening addresses it named, one per family at
	// most; listen is the first, or the one of the connection's family.
	listens []netip.AddrPort
}

// listenFrom picks, among the addresses the peer said it listens on, the
// one of remote's family (gtk-gnutella says "Node: v4, [v6]").
func (p *peerHello) listenFrom(remote netip.Addr) {
	for _, a := range p.listens {
		if a.Addr().Is4() == remote.Unmap().Is4() {
			p.listen = a
			return
		}
	}
}

// ourHeaders is the header set we send in step 1 and step 2 (GNUTELLA.md
// 2.3 and the GTKG requirements: X-Ultrapeer always; X-Degree and
// X-Dynamic-Querying as ultrapeer or a GTKG leaf refuses us). up is our role
// for this handshake, read once so one handshake never mixes roles.
func (n *Node) ourHeaders(remote netip.Addr, up bool) protocol.Headers {
	var h protocol.Headers
	h.Add("User-Agent", n.cfg.UserAgent)
	h.Add("X-Ultrapeer", boolHeader(up))
	h.Add("X-Query-Routing", "0.1")
	if up {
		h.Add("X-Ultrapeer-Query-Routing", "0.1")
		h.Add("X-Degree", strconv.Itoa(max(n.cfg.MaxPeers, 32)))
		h.Add("X-Max-TTL", strconv.Itoa(int(n.cfg.MaxTTL)))
		h.Add("X-Ext-Probes", "0.1") // we re-forward a query that comes again with a higher TTL
		if n.udp.sock != nil {
			h.Add(guessHeader, "0.2") // GTKG: as an ultrapeer serving GUESS
		}
	}
	h.Add("X-Dynamic-Querying", "0.1")
	h.Add("Accept-Encoding", "deflate")
	if a := n.listenFor(remote); a.IsValid() && !n.firewalled() {
		h.Add("Listen-IP", a.String())
	}
	if remote.IsValid() {
		h.Add("Remote-IP", remote.String())
	}
	h.Add("GUID", n.guid.String())
	h.Add("Pong-Caching", "0.1")
	h.Add("GGEP", "0.5")
	h.Add("Vendor-Message", "0.2")
	h.Add("Bye-Packet", "0.1")
	h.Add("X-Requeries", "False")
	var features []string
	if n.tls.server != nil {
		features = append(features, "tls/1.0") // as gtk-gnutella says it
	}
	if f := n.ipFeature(); f != "" {
		features = append(features, f)
	}
	if len(features) > 0 {
		h.Add("X-Features", strings.Join(features, ", "))
	}
	return h
}

// ipFeature is our X-Features IP/6.x, as gtk-gnutella's IPv6-Ready says
// it in handshakes and HTTP: IP/6.0 on both families, IP/6.4 without
// IPv4, nothing on IPv4 only.
func (n *Node) ipFeature() string {
	switch n.hitFamilies() {
	case protocol.HitsIPv6Too:
		return "IP/6.0"
	case protocol.HitsIPv6Only:
		return "IP/6.4"
	}
	return ""
}

// listenFor is the address we tell a peer at remote to reach us at: our
// address in its IP family when we have one, else the advertised one.
func (n *Node) listenFor(remote netip.Addr) netip.AddrPort {
	if a := n.self.V6(); remote.Unmap().Is6() && a.IsValid() {
		return a
	}
	return n.advertised()
}

// parseHello reads the capabilities out of a peer's header block.
func (n *Node) parseHello(h protocol.Headers) peerHello {
	p := peerHello{
		up:       h.Bool("X-Ultrapeer"),
		agent:    h.Get("User-Agent"),
		byeOK:    h.Has("Bye-Packet"),
		vendorOK: h.Has("Vendor-Message"),
		upQRP:    h.Has("X-Ultrapeer-Query-Routing"),
	}
	p.guess = p.up && h.Has(guessHeader)
	p.tls = httphdr.HasFeature(h.Get("X-Features"), "tls")
	if major, minor, ok := httphdr.Feature(h.Get("X-Features"), "IP"); ok && major == 6 {
		p.ipv6, p.ipv6Only = true, minor == 4
	}
	p.upNotNeeded = p.up && h.Has("X-Ultrapeer-Needed") && !h.Bool("X-Ultrapeer-Needed")
	if g, err := protocol.ParseGUID(strings.TrimSpace(h.Get("GUID"))); err == nil {
		p.guid = g
	}
	for _, name := range []string{"Listen-IP", "X-Listen-IP", "Node", "X-Node", "X-My-Address"} {
		if v := h.Get(name); v != "" {
			// gtk-gnutella lists both of its addresses: "Node: a:p, [b]:p".
			if hosts := protocol.ParseTryHosts(v); len(hosts) > 0 {
				p.listen, p.listens = hosts[0], hosts[:min(len(hosts), 2)]
				break
			}
		}
	}
	if v, err := strconv.Atoi(strings.TrimSpace(h.Get("X-Max-TTL"))); err == nil && v > 0 && v < 16 {
		p.maxTTL = uint8(v)
	}
	p.extProbes = h.Has("X-Ext-Probes") || strings.HasPrefix(p.agent, "gtk-gnutella/")
	if v, err := strconv.Atoi(strings.TrimSpace(h.Get("X-Degree"))); err == nil && v > 0 && v <= 1000 {
		p.degree = v
	}
	p.deflateOut = hasToken(h.Get("Accept-Encoding"), "deflate")
	p.deflateIn = hasToken(h.Get("Content-Encoding"), "deflate")
	return p
}

func hasToken(v, tok string) bool {
	for f := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(f), tok) {
			return true
		}
	}
	return false
}

// harvest feeds X-Try-Ultrapeers / X-Try hosts of any response to the host
// cache, and learns our address from Remote-IP.
func (n *Node) harvest(h protocol.Headers) {
	for _, ap := range protocol.ParseTryHosts(h.Get("X-Try-Ultrapeers")) {
		n.hosts.add(ap, true)
	}
	for _, ap := range protocol.ParseTryHosts(h.Get("X-Try")) {
		n.hosts.add(ap, false)
	}
	if ip, err := netip.ParseAddr(strings.TrimSpace(h.Get("Remote-IP"))); err == nil {
		n.learnRemoteIP(ip.Unmap())
	}
}

func writeHandshake(c net.Conn, hs *protocol.Handshake) error {
	_, err := c.Write(hs.Append(make([]byte, 0, 1024)))
	return err
}

// refuse answers a request with an error block (GTKG send_error(): always
// User-Agent and Remote-IP, X-Ultrapeer except 4xx, X-Try-Ultrapeers on
// 503, in the families hello says it takes).
func (n *Node) refuse(c net.Conn, remote netip.Addr, hello peerHello, code int, reason string) {
	resp := &protocol.Handshake{Code: code, Reason: reason}
	resp.Headers.Add("User-Agent", n.cfg.UserAgent)
	if remote.IsValid() {
		resp.Headers.Add("Remote-IP", remote.String())
	}
	if code < 400 || code >= 500 {
		resp.Headers.Add("X-Ultrapeer", boolHeader(n.ultrapeer.Load()))
	}
	if code == 503 || code == 409 {
		if try := n.tryHosts(hello); try != "" {
			resp.Headers.Add("X-Try-Ultrapeers", try)
		}
	}
	_ = writeHandshake(c, resp)
}

// tryHosts is our X-Try-Ultrapeers for a peer that said hello: IPv6 hosts
// only to one that takes them (X-Features IP/6), IPv4 ones only to one
// that has IPv4, as gtk-gnutella filters them.
func (n *Node) tryHosts(hello peerHello) string {
	return protocol.FormatTryHosts(n.hosts.tryHosts(hostCacheFresh, func(a netip.AddrPort) bool {
		if a.Addr().Is4() {
			return hello.ipv6Only
		}
		return !hello.ipv6
	}))
}

// accept runs the acceptor side once "GNUTELLA CONNECT/" was peeked, under
// the deadline serveInbound fixed at accept time. It returns the
// established connection or an error (the socket is then closed by the
// caller).
func (n *Node) accept(nc net.Conn, br *bufio.Reader, remote netip.AddrPort) (*conn, error) {
	req, err := protocol.ReadHandshake(br)
	if err != nil {
		if errors.Is(err, protocol.ErrTooLarge) {
			n.refuse(nc, remote.Addr(), peerHello{}, 413, "Header too large")
		}
		return nil, fmt.Errorf("read request: %w", err)
	}
	if !req.Connect {
		return nil, errors.New("not a connect request")
	}
	hello := n.parseHello(req.Headers)
	hello.listenFrom(remote.Addr())
	n.harvest(req.Headers)
	if hello.tls {
		for _, a := range hello.listens {
			n.tls.learn(a)
		}
	}
	ip := remote.Addr()
	up := n.ultrapeer.Load()
	hello.weLeaf = !up

	code, reason := 200, "OK"
	var slot *reservation
	switch {
	case n.closing.Load():
		code, reason = 503, "Servent Shutdown"
	case req.Headers.Has("Accept") && !strings.Contains(req.Headers.Get("Accept"), "application/x-gnutella-packets"):
		code, reason = 406, "Protocol Not Acceptable"
	case !req.Headers.Has("X-Ultrapeer"):
		code, reason = 403, "Normal nodes refused"
	case hello.guid == n.guid:
		code, reason = 409, "Connected to self"
	case hello.listen.IsValid() && n.listening(hello.listen):
		// Already connected to the host listening there, which dials
		// from another source address (GnutellaBun does).
		code, reason = 409, "Already connected"
	default:
		slot, code, reason = n.reserve(ip, hello.guid, hello.up, false)
	}
	if code != 200 {
		n.stats.refused.Add(1)
		n.refuse(nc, ip, hello, code, reason)
		return nil, &handshakeError{Code: code, Reason: reason, ours: true}
	}
	ok := false
	defer func() {
		if !ok {
			n.release(slot)
		}
	}()

	resp := &protocol.Handshake{Code: 200, Reason: "OK", Headers: n.ourHeaders(ip, up)}
	if up {
		resp.Headers.Add("X-Ultrapeer-Needed", boolHeader(n.upSlotsFree()))
	}
	if req.Headers.Has("Accept") {
		resp.Headers.Add("Content-Type", "application/x-gnutella-packets")
	}
	if try := n.tryHosts(hello); try != "" {
		resp.Headers.Add("X-Try-Ultrapeers", try)
	}
	if hello.deflateOut {
		resp.Headers.Add("Content-Encoding", "deflate")
	}
	// A dialler may offer to turn the plain link into TLS (Upgrade:
	// TLS/1.0, gtk-gnutella's way): we agree, and switch once its ack says
	// Connection: Upgrade.
	upgrade := n.tls.server != nil && !isTLS(nc) && hasToken(req.Headers.Get("Upgrade"), "TLS/1.0") &&
		upgradesTLS(hello.agent)
	if upgrade {
		resp.Headers.Add("Upgrade", "TLS/1.0")
		resp.Headers.Add("Connection", "Upgrade")
	}
	if err := writeHandshake(nc, resp); err != nil {
		return nil, fmt.Errorf("write response: %w", err)
	}
	ack, err := protocol.ReadHandshake(br)
	if err != nil {
		return nil, fmt.Errorf("read ack: %w", err)
	}
	if ack.Connect || ack.Code != 200 {
		return nil, &handshakeError{Code: ack.Code, Reason: ack.Reason}
	}
	if upgrade && hasToken(ack.Headers.Get("Connection"), "upgrade") {
		if nc, br, err = n.startTLS(nc, br, true); err != nil {
			return nil, fmt.Errorf("tls upgrade: %w", err)
		}
	}
	hello.deflateIn = hasToken(ack.Headers.Get("Content-Encoding"), "deflate")
	_ = nc.SetDeadline(time.Time{})
	ok = true
	return n.newConn(nc, br, remote, false, hello, slot), nil
}

// initiate runs the initiator side on a fresh outgoing socket.
func (n *Node) initiate(nc net.Conn, remote netip.AddrPort, slot *reservation) (*conn, error) {
	_ = nc.SetDeadline(n.cfg.Now().Add(n.cfg.HandshakeTimeout))
	up := n.ultrapeer.Load()
	req := &protocol.Handshake{Connect: true, Headers: n.ourHeaders(remote.Addr(), up)}
	// On a plain link we offer gtk-gnutella's in-band switch to TLS
	// (--tls prefer); it happens when the answer agrees.
	offer := n.tls.mode == TLSPrefer && n.tls.server != nil && !isTLS(nc)
	if offer {
		req.Headers.Add("Upgrade", "TLS/1.0")
	}
	if err := writeHandshake(nc, req); err != nil {
		return nil, fmt.Errorf("write request: %w", err)
	}
	br := bufio.NewReaderSize(nc, 16<<10)
	resp, err := protocol.ReadHandshake(br)
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if resp.Connect {
		return nil, errors.New("peer answered with a connect request")
	}
	n.harvest(resp.Headers)
	if resp.Code != 200 {
		return nil, &handshakeError{Code: resp.Code, Reason: resp.Reason, leaf: resp.RefusedAsLeaf()}
	}
	hello := n.parseHello(resp.Headers)
	hello.weLeaf = !up
	// Judge the acceptor: a leaf takes only ultrapeers; an ultrapeer takes
	// an ultrapeer, or a leaf that accepted us as its ultrapeer.
	code, reason := 200, "OK"
	peerLeaf := false
	switch {
	case !resp.Headers.Has("X-Ultrapeer"):
		code, reason = 403, "Normal nodes refused"
	case !up && !hello.up:
		code, reason = 403, "Leaf to leaf refused"
		peerLeaf = true
	case hello.guid == n.guid:
		code, reason = 409, "Connected to self"
	case !n.setSlotGUID(slot, hello.guid):
		code, reason = 409, "Already connected to this GUID"
	case !n.fixSlot(slot, hello.up):
		code, reason = 503, "Too many connections"
	}
	ack := &protocol.Handshake{Code: code, Reason: reason}
	if code == 200 && hello.deflateOut {
		ack.Headers.Add("Content-Encoding", "deflate")
	}
	switchTLS := code == 200 && offer && hasToken(resp.Headers.Get("Upgrade"), "TLS/1.0") &&
		hasToken(resp.Headers.Get("Connection"), "upgrade") && upgradesTLS(hello.agent)
	if switchTLS {
		ack.Headers.Add("Connection", "Upgrade")
	}
	if err := writeHandshake(nc, ack); err != nil {
		return nil, fmt.Errorf("write ack: %w", err)
	}
	if code != 200 {
		return nil, &handshakeError{Code: code, Reason: reason, ours: true, leaf: peerLeaf}
	}
	if switchTLS {
		if nc, br, err = n.startTLS(nc, br, false); err != nil {
			return nil, fmt.Errorf("tls upgrade: %w", err)
		}
	}
	hello.listen = remote // we dialled its listening address
	if hello.tls {
		n.tls.learn(remote) // the next dial to it starts TLS
	}
	_ = nc.SetDeadline(time.Time{})
	return n.newConn(nc, br, remote, true, hello, slot), nil
}

// upgradesTLS says whether a switch to TLS within the handshake works with
// the servent agent. Not with gtk-gnutella 1.2.3, in the lab, either way:
// a peer that answers its TLS handshake as fast as we do makes it finish
// within one call, which it takes for a failure ("synchronous TLS upgrade
// deemed impossible"), and it drops the link. It learns that we speak TLS
// from our handshake, pongs and hits, and dials TLS from the first byte
// the next time, as we do.
func upgradesTLS(agent string) bool { return !strings.HasPrefix(agent, "gtk-gnutella/") }

// boolHeader spells booleans as GTKG does.
func boolHeader(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
