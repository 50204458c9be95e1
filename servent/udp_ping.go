package servent

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/uhc"
)

// udpPing answers a UDP Ping (GNUTELLA-UDP.md 13, 14) as gtk-gnutella's
// pcache_udp_ping_received(): one Pong per source IP per minute, TTL 1
// hops 0, our own Pong; with GGEP SCP, and when we act as a host cache,
// plus IPP: up to 30 ultrapeers, never us or the requester.
func (n *Node) udpPing(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	if d.Header.GUID == n.guid {
		// The answer to our UDP connect-back request (17.2): proof that
		// unsolicited UDP reaches us, never answered.
		return
	}
	if n.guessPing(from, d, now) {
		return
	}
	cs := n.udp.caches
	if n.banned(from.Addr()) { // GTKG answers no bad node either
		cs.stats.pingsBanned.Add(1)
		return
	}
	if !cs.limiter.Allow(from.Addr(), now) {
		cs.stats.pingsThrottled.Add(1)
		return
	}
	var ping protocol.Ping
	_ = ping.Decode(d.Payload) // never fails: a bad GGEP block is a plain ping
	req := protocol.ParsePingRequest(ping.GGEP)
	pong, hosts := n.udpAnswer(from, req, now)
	h := protocol.Header{GUID: d.Header.GUID, Type: protocol.TypePong, TTL: 1}
	if n.sendUDPBytes(from, protocol.AppendDatagram(nil, h, pong, d.CanInflate)) {
		cs.stats.pingsAnswered.Add(1)
		if hosts > 0 {
			cs.stats.uhcAnswers.Add(1)
		}
	}
}

// udpAnswer is our Pong to a UDP Ping asking req from from, and how many
// hosts its IPP lists.
func (n *Node) udpAnswer(from netip.AddrPort, req protocol.PingRequest, now time.Time) (*protocol.Pong, int) {
	p, info := n.udpPongParts(now)
	if req.UHC && n.servesCaches() {
		// IPv4 hosts in IPP unless the pinger has no IPv4; IPv6 ones in
		// IPP6 when it asks for them (SCP flags 04 and 08, gtk-gnutella's
		// pcache.c).
		six := req.SCP&protocol.SCPIPv6 != 0 && !n.cfg.NoIPv6
		for _, h := range n.uhcHosts(from, six) {
			if h.Addr().Is4() && req.SCP&protocol.SCPNoIPv4 == 0 {
				info.Hosts = append(info.Hosts, h)
			} else if h.Addr().Is6() {
				info.Hosts6 = append(info.Hosts6, h)
			}
		}
	}
	if req.EchoIP {
		info.Echoed = from
	}
	p.GGEP = info.AppendGGEP(p.GGEP)
	return p, len(info.Hosts) + len(info.Hosts6)
}

// udpOwnPong describes us to a UDP peer.
func (n *Node) udpOwnPong() *protocol.Pong {
	p, info := n.udpPongParts(n.cfg.Now())
	p.GGEP = info.AppendGGEP(p.GGEP)
	return p
}

// udpPongParts is our Pong's fixed part and GGEP keys, as GTKG's
// send_personal_info(): VC, UP when an ultrapeer, DU.
func (n *Node) udpPongParts(now time.Time) (*protocol.Pong, protocol.PongInfo) {
	a := n.advertised()
	if !a.IsValid() {
		a = n.UDPAddr()
	}
	files, kb := n.lib.Stats()
	p := &protocol.Pong{Port: a.Port(), IP: a.Addr(), Files: uint32(files), KB: uint32(min(kb, 1<<32-1))}
	info := protocol.PongInfo{HasVC: true, Vendor: [4]byte{'S', 'R', 'V', 'T'}, VendorVersion: ourVersion}
	if n.ultrapeer.Load() {
		leaves, ups := n.freeSlots()
		info.Ultrapeer, info.UPVersion = true, 2
		info.FreeLeafSlots, info.FreeUPSlots = uint8(min(leaves, 255)), uint8(min(ups, 255))
	}
	// DU: our uptime, capped at a day as GTKG caps its daily average.
	if n.guessServer() {
		info.GUESS = protocol.GUESSVersion
	}
	info.HasDU, info.DailyUptime = true, uint32(min(max(now.Sub(n.started), 0), 24*time.Hour)/time.Second)
	info.TLS = n.tls.server != nil
	if a.Addr().Is6() { // IPv6-Ready: no IPv4 of ours, the address in "6"
		p.IP, info.IPv6 = protocol.IPv4None, a.Addr()
	} else {
		info.IPv6 = n.advertised6()
	}
	return p, info
}

// uhcHosts picks the IPP hosts of a host-cache answer to requester.
func (n *Node) uhcHosts(requester netip.AddrPort, ipv6 bool) []netip.AddrPort {
	var neighbours []netip.AddrPort
	for _, c := range n.snap.Load().ups {
		if c.listen.IsValid() {
			neighbours = append(neighbours, c.listen)
		}
	}
	return uhc.Pick(uhc.PickInput{
		Cached:     n.hosts.freshUltrapeers(2 * uhc.MaxHosts),
		Neighbours: neighbours,
		Requester:  requester,
		IPv6:       ipv6,
		Self:       []netip.AddrPort{n.addr, n.advertised(), n.UDPAddr()},
	})
}

// maxIPPTaken bounds the hosts read from one answer: a host cache lists
// 30 (PCACHE_UHC_MAX_IP); the Pong's size alone would allow 10000, each
// a host-cache insertion on the UDP read goroutine.
const maxIPPTaken = 100

// udpPong takes a UDP Pong. Only the answer to one of our host-cache
// pings (its MUID, from the address pinged) is read: its sender and its
// IPP hosts go to the host cache. Others are counted and dropped, as
// GTKG ignores unsolicited pongs (an IPP from anyone could fill our cache
// with anything).
func (n *Node) udpPong(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	if n.guessPongIn(from, d, now) {
		return
	}
	cs := n.udp.caches
	name, ok := n.hosts.caches.Pong(from, d.Header.GUID, now)
	if !ok {
		cs.stats.pongsUnsolicited.Add(1)
		return
	}
	cs.stats.pongsTaken.Add(1)
	var p protocol.Pong
	if err := p.Decode(d.Payload); err != nil {
		return
	}
	info, err := protocol.ParsePongInfo(p.GGEP) // a bad key is left out, the others read
	if err != nil {
		n.log.Debug("uhc pong", "from", from, "err", err)
	}
	// The cache is a Gnutella host itself: its Pong names its listening
	// address, else the datagram's source is the best we know.
	self := p.Addr()
	if self.Addr() != from.Addr().Unmap() {
		self = from
	}
	n.hosts.add(self, info.Ultrapeer)
	n.learnHosts(info.Hosts[:min(len(info.Hosts), maxIPPTaken)])
	n.learnHosts(info.Hosts6[:min(len(info.Hosts6), maxIPPTaken)])
	n.log.Debug("host cache answered", "cache", name, "hosts", len(info.Hosts))
}
