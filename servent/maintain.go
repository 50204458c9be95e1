package servent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/servent/servent/protocol"
)

const (
	maxParallelDials = 4
	hostSaveEvery    = time.Minute
	// A TTL>1 ping to our ultrapeers refreshes the pong cache. GTKG takes
	// one ping every 3 s from an ultrapeer but every 60 s from a leaf
	// (PING_REG_THROTTLE; it drops the others as "Message throttle").
	discoveryUP   = 30 * time.Second
	discoveryLeaf = 130 * time.Second
)

// maintainLoop keeps MaxPeers connections, sends keep-alives, closes idle
// peers and saves the host cache now and then.
func (n *Node) maintainLoop() {
	defer n.wg.Done()
	t := time.NewTicker(n.cfg.MaintainInterval)
	defer t.Stop()
	lastSave := n.cfg.Now()
	lastDiscovery := n.cfg.Now()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			now := n.cfg.Now()
			n.checkAlive(now)
			n.oobTick(now)
			n.askPushProxies()
			n.recheckReach(now)
			n.autoPromote(now)
			if n.ultrapeer.Load() {
				n.coreTick(now)
				n.refreshUpTable()
			}
			if now.Sub(lastSave) >= hostSaveEvery {
				lastSave = now
				if err := n.hosts.save(n.cfg.DataDir); err != nil {
					n.log.Warn("host cache not saved", "err", err)
				}
			}
			every := discoveryUP
			if !n.ultrapeer.Load() {
				every = discoveryLeaf
			}
			if now.Sub(lastDiscovery) >= every {
				lastDiscovery = now
				for _, c := range n.snap.Load().ups {
					n.sendPing(c, n.cfg.MaxTTL)
				}
			}
		case <-n.kick:
		}
		n.connectMore()
	}
}

// checkAlive pings quiet peers and drops silent ones (Bye 405).
func (n *Node) checkAlive(now time.Time) {
	for _, c := range n.snap.Load().byID {
		idle := now.Sub(time.Unix(0, c.lastRead.Load()))
		switch {
		case idle > n.cfg.IdleTimeout:
			c.bye(405, "Activity timeout")
		case idle > n.cfg.KeepAlive && c.pingOut.Load() == 0:
			c.pingOut.Store(now.UnixNano())
			n.sendPing(c, 1)
		}
	}
}

func (n *Node) sendPing(c *conn, ttl uint8) {
	g := protocol.NewGUID()
	if ttl > 1 {
		n.routes.Add(g, protocol.TypePing, 0)
	}
	c.send(protocol.AppendMessage(nil, protocol.Header{GUID: g, Type: protocol.TypePing, TTL: ttl}, nil), false)
}

// greet sends what a fresh connection expects (GNUTELLA.md 4.10): a Ping,
// Messages Supported, and our QRP table when we are a leaf.
func (n *Node) greet(c *conn) {
	n.sendPing(c, n.cfg.MaxTTL)
	if c.vendorOK {
		ms := protocol.MessagesSupported{Entries: []protocol.VendorEntry{
			{Vendor: protocol.VendorBEAR, Selector: protocol.SelHopsFlow, Version: 1},
			// Leaf-guided dynamic querying, as GTKG announces it.
			{Vendor: protocol.VendorBEAR, Selector: protocol.SelQueryStatusReq, Version: 1},
			{Vendor: protocol.VendorBEAR, Selector: protocol.SelQueryStatusResp, Version: 1},
			{Vendor: protocol.VendorLIME, Selector: protocol.SelPushProxyReq, Version: 1},
			{Vendor: protocol.VendorLIME, Selector: protocol.SelPushProxyReq, Version: 2},
		}}
		if n.udp.sock != nil {
			ms.Entries = append(ms.Entries, protocol.UDPMessagesSupported...)
		}
		v := ms.Vendor()
		// GTKG sends these with an all-zero GUID and TTL 1.
		c.send(protocol.AppendMessage(nil, protocol.Header{Type: protocol.TypeVendor, TTL: 1}, &v), true)
	}
	switch {
	case c.weLeaf && c.up:
		n.sendQRP(c)
	case !c.weLeaf && c.up && c.upQRP:
		t := n.upTableSent.Load()
		if t == nil {
			n.upTableDirty.Store(true)
			n.refreshUpTable()
		} else {
			sendTable(c, t)
		}
	}
}

// sendQRP sends our library's table as RESET + PATCHes.
func (n *Node) sendQRP(c *conn) { sendTable(c, n.ourQRP()) }

// libraryLoop resends our QRP table to our ultrapeers when the library
// or the partials we share change (as a leaf).
func (n *Node) libraryLoop() {
	defer n.wg.Done()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-n.lib.Changed():
		case <-n.transfer.partialsChanged:
		}
		if n.ultrapeer.Load() {
			n.upTableDirty.Store(true)
			continue
		}
		for _, c := range n.snap.Load().ups {
			n.sendQRP(c)
		}
	}
}

// connectMore dials user-named peers, then host cache entries, until
// MaxPeers ultrapeer links are up or being set up.
func (n *Node) connectMore() {
	if n.closing.Load() {
		return
	}
	now := n.cfg.Now()
	n.mu.Lock()
	need := n.maxPeers() - n.upUsed - n.dialsPending()
	budget := maxParallelDials - len(n.dialing)
	type target struct {
		key  string
		ap   netip.AddrPort
		user bool
	}
	var targets []target
	for _, p := range n.peerBook.due(now) {
		if len(targets) >= min(need, budget) {
			break
		}
		if n.dialing[p] {
			continue
		}
		ap, err := netip.ParseAddrPort(p)
		if err == nil {
			ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
			if _, busy := n.slots[ap.Addr()]; busy {
				continue
			}
		}
		if !n.peerBook.dialing(p) {
			continue // dropped since due
		}
		n.dialing[p] = true
		targets = append(targets, target{key: p, ap: ap, user: true})
	}
	want := min(need, budget) - len(targets)
	fixed := n.cfg.fixedPeers
	n.mu.Unlock()
	starved := false
	if want > 0 && !fixed {
		skip := func(a netip.AddrPort) bool {
			n.mu.Lock()
			defer n.mu.Unlock()
			_, busy := n.slots[a.Addr()]
			until, banned := n.bans[banKey(a.Addr())]
			return busy || n.dialing[a.String()] || (banned && now.Before(until)) || n.isSelf(a) || n.listening(a) || n.hostile(a.Addr())
		}
		found := n.hosts.candidates(want, skip)
		for _, ap := range found {
			n.mu.Lock()
			n.dialing[ap.String()] = true
			n.mu.Unlock()
			targets = append(targets, target{key: ap.String(), ap: ap})
		}
		starved = len(found) < want // too few hosts: ask a host cache
	}
	n.bootstrap(now, starved)
	for _, t := range targets {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.dial(t.key, t.ap, t.user, false)
		}()
	}
}

// listening reports whether a connected peer listens on a: a peer that
// dialled us from another source IP (its Listen-IP says where it listens)
// must not be dialled a second time.
func (n *Node) listening(a netip.AddrPort) bool {
	for _, c := range n.snap.Load().byID {
		if c.listen == a {
			return true
		}
	}
	return false
}

// dialsPending counts dials that hold no reservation yet. Called with mu.
func (n *Node) dialsPending() int {
	k := 0
	for key := range n.dialing {
		ap, err := netip.ParseAddrPort(key)
		if err != nil {
			k++
			continue
		}
		if _, ok := n.slots[ap.Addr().Unmap()]; !ok {
			k++
		}
	}
	return k
}

// dial connects to one peer and runs the connection until it ends. For a
// user-named peer (user) it records the outcome in words and its backoff.
func (n *Node) dial(key string, ap netip.AddrPort, user, force bool) {
	var (
		linked bool          // the handshake worked, or we were connected already
		why    string        // what went wrong, in words, for `servent peers`
		hold   time.Duration // the peer asked us to stay away this long
	)
	defer func() {
		// The backoff is set before the key leaves dialing, so that
		// connectMore never sees the peer idle with its old backoff.
		if user {
			n.peerBook.done(key, n.cfg.Now(), !linked, why, hold)
		}
		n.mu.Lock()
		delete(n.dialing, key)
		n.mu.Unlock()
		n.kickMaintain()
	}()
	if !ap.IsValid() {
		var err error
		if ap, err = n.resolvePeer(key); err != nil {
			why = err.Error()
			n.log.Debug("resolve peer", "peer", key, "err", err)
			return
		}
	}
	if user {
		n.peerBook.resolved(key, ap)
	}
	if n.isSelf(ap) {
		n.hosts.remove(ap)
		why = "that is this servent's own address"
		return
	}
	slot, code, reason := n.reserveForce(ap.Addr(), protocol.GUID{}, true, true, force)
	if code != 200 {
		linked = code == 409 // already connected: nothing to back off from
		if !linked {
			why = fmt.Sprintf("not dialled: %d %s", code, reason)
		}
		return
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.HandshakeTimeout)
	nc, err := n.dialTLS(ctx, "tcp", ap.String())
	cancel()
	if err != nil {
		n.release(slot)
		n.hosts.failed(ap)
		why = dialFailure(err)
		n.log.Debug("dial failed", "peer", ap, "err", err)
		return
	}
	stop := context.AfterFunc(n.ctx, func() { _ = nc.Close() })
	c, err := n.initiate(nc, ap, slot)
	if !stop() || err != nil {
		n.release(slot)
		_ = nc.Close()
		if err == nil {
			err = errors.New("node closing")
		}
		why, hold = n.refused(ap, err)
		if c != nil {
			c.close(errors.New("node closing"))
		}
		n.log.Debug("outbound handshake failed", "peer", ap, "err", err)
		return
	}
	linked = true
	if user {
		n.peerBook.connected(key)
	}
	err = n.run(c)
	var be *byeError
	if errors.As(err, &be) {
		why = be.Error()
		hold = byeParting(be.bye).hold
	}
}

// refused updates the host cache after a failed handshake with ap and
// says why in words, with how long the peer asked us to stay away.
func (n *Node) refused(ap netip.AddrPort, err error) (why string, hold time.Duration) {
	var he *handshakeError
	if !errors.As(err, &he) {
		n.hosts.failed(ap)
		return "handshake failed: " + err.Error(), 0
	}
	p := refusalParting(he)
	switch {
	case p != (parting{}):
		n.hosts.parted(ap, p, n.cfg.Now())
	case !he.ours && he.Code >= 400 && he.Code < 500:
		n.hosts.remove(ap) // refused for good (GTKG purges such hosts)
	default:
		n.hosts.failed(ap)
	}
	if !he.ours {
		hold = parseBannedFor(he)
	}
	why = he.Error()
	if he.leaf {
		why += " (it is a leaf)"
	}
	return why, max(hold, p.hold)
}

// noteParting tells the host cache how a link to a peer listening at
// c.listen ended, before the link's slot is freed: never redialled at once
// (GTKG's NODE_CONN_ATTEMPT_FREQ spacing), and a Bye that says it is going
// away keeps it away for long (byeParting).
func (n *Node) noteParting(c *conn, err error) {
	if !c.listen.IsValid() {
		return
	}
	now := n.cfg.Now()
	n.hosts.hold(c.listen, now.Add(backoff(1)))
	var be *byeError
	if errors.As(err, &be) {
		n.hosts.parted(c.listen, byeParting(be.bye), now)
	}
}

// dialFailure says in words why a dial failed.
func dialFailure(err error) string {
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return "no answer (timed out)"
	case errors.Is(err, syscall.EHOSTUNREACH):
		return "host unreachable"
	case errors.Is(err, syscall.ENETUNREACH):
		return "network unreachable"
	}
	return "dial failed: " + err.Error()
}

// resolvePeer turns a user-named HOST:PORT (an IPv4 or IPv6 address, "[::1]:6346",
// or a host name) into an address to dial; a name with both kinds of
// address gives the one pickFamily picks.
func (n *Node) resolvePeer(key string) (netip.AddrPort, error) {
	host, port, err := splitPeer(key)
	if err != nil {
		return netip.AddrPort{}, err
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip = ip.Unmap(); ip.Is6() && n.cfg.NoIPv6 {
			return netip.AddrPort{}, fmt.Errorf("%s is an IPv6 address and IPv6 is off", host)
		}
		return netip.AddrPortFrom(ip, port), nil
	}
	// RFC 6761 6.4: names under .invalid never resolve; say so at once.
	if h := strings.ToLower(strings.TrimSuffix(host, ".")); h == "invalid" || strings.HasSuffix(h, ".invalid") {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %s: no such host", host)
	}
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.HandshakeTimeout)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return netip.AddrPort{}, fmt.Errorf("cannot resolve %s: no such host", host)
		}
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %s: no address", host)
	}
	last, failed := n.peerBook.lastTry(key)
	ip, ok := pickFamily(ips, last.Addr(), failed, !n.cfg.NoIPv6)
	if !ok {
		return netip.AddrPort{}, fmt.Errorf("cannot resolve %s: no IPv4 address (IPv6 is off)", host)
	}
	return netip.AddrPortFrom(ip, port), nil
}

// pickFamily chooses among a name's addresses: the family that worked
// last time, the other one after a failure, IPv4 (the network's usual
// kind) the first time; IPv6 only when ipv6.
func pickFamily(ips []netip.Addr, last netip.Addr, lastFailed, ipv6 bool) (netip.Addr, bool) {
	want4 := true
	if last.IsValid() && ipv6 {
		want4 = last.Unmap().Is4() != lastFailed
	}
	var other netip.Addr
	for _, ip := range ips {
		ip = ip.Unmap()
		if ip.Is6() && !ipv6 {
			continue
		}
		if ip.Is4() == want4 {
			return ip, true
		}
		if !other.IsValid() {
			other = ip
		}
	}
	return other, other.IsValid()
}

// splitPeer checks a user-named HOST:PORT; IPv6 addresses go in brackets.
func splitPeer(key string) (string, uint16, error) {
	host, port, err := net.SplitHostPort(key)
	if err != nil {
		return "", 0, fmt.Errorf("peer %q: want HOST:PORT ([ADDR]:PORT for IPv6): %w", key, err)
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 || host == "" {
		return "", 0, fmt.Errorf("peer %q: want HOST:PORT with a port from 1 to 65535", key)
	}
	return host, uint16(p), nil
}

// bannedRe reads the duration of a GTKG ban refusal: "429 Banned for 5m 0s"
// (also "1h 2m", "30s").
var bannedRe = regexp.MustCompile(`(?i)banned for\s+((?:\d+[hms]\s*)+)`)

// parseBannedFor returns how long a 429 refusal asks us to stay away, or 0.
func parseBannedFor(he *handshakeError) time.Duration {
	if he.Code != 429 {
		return 0
	}
	m := bannedRe.FindStringSubmatch(he.Reason)
	if m == nil {
		return 5 * time.Minute // GTKG's default ban
	}
	d, err := time.ParseDuration(strings.ReplaceAll(m[1], " ", ""))
	if err != nil || d <= 0 {
		return 5 * time.Minute
	}
	return min(d, backoffMax)
}
