package servent

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/reach"
	"github.com/servent/servent/servent/uhc"
)

// Bootstrapping from the host caches the user named (--uhc, --gwc; saved
// in caches.txt beside hosts.txt). The decisions are uhc.Client's; this
// file resolves, sends and fetches. There is no built-in list: with no
// cache named, nothing is asked.

// gwcTimeout bounds one GWebCache request (GHC_TIMEOUT).
const gwcTimeout = 20 * time.Second

// cacheSide is the node's host-cache state: answering UDP pings, and the
// counters of both sides. The client itself lives with the host cache
// (hostCache.caches), which saves it.
type cacheSide struct {
	limiter *uhc.Limiter
	web     *http.Client
	stats   struct {
		pingsAnswered, pingsThrottled, uhcAnswers atomic.Uint64
		pingsBanned                               atomic.Uint64
		probes, pongsTaken, pongsUnsolicited      atomic.Uint64
		hostsLearnt                               atomic.Uint64
	}
}

func newCacheSide() *cacheSide {
	return &cacheSide{
		limiter: uhc.NewLimiter(uhc.PingWindow, 0),
		web:     uhc.GWCHTTPClient(gwcTimeout),
	}
}

// namedCaches lists the caches of the configuration.
func (c *Config) namedCaches() []uhc.Cache {
	var out []uhc.Cache
	for _, s := range c.UHC {
		out = append(out, uhc.Cache{Kind: uhc.UDP, Name: s})
	}
	for _, s := range c.GWC {
		out = append(out, uhc.Cache{Kind: uhc.Web, Name: s})
	}
	return out
}

// checkCaches reports a UHC or GWC entry that cannot name a cache.
func (c *Config) checkCaches() error {
	for _, k := range c.namedCaches() {
		if err := uhc.CheckName(k.Kind, k.Name); err != nil {
			return fmt.Errorf("servent: %w", err)
		}
	}
	return nil
}

// bootstrap asks the next host cache due when the node has too few hosts
// to dial (starved), and tells the web caches our address now and then
// when we act as a host cache: called by each connection maintenance step.
func (n *Node) bootstrap(now time.Time, starved bool) {
	cl := n.hosts.caches
	if n.closing.Load() {
		return
	}
	if name, ok := cl.NextUpdate(now, n.servesCaches() && n.advertised().Addr().Is4()); ok {
		n.async(func() {
			if err := n.updateCache(name); err != nil {
				n.log.Debug("gwc update", "cache", name, "err", err)
			}
		})
	}
	p, ok := cl.Next(now, starved)
	if !ok {
		return
	}
	n.udp.caches.stats.probes.Add(1)
	n.async(func() {
		var err error
		switch p.Kind {
		case uhc.UDP:
			err = n.pingCache(p)
		case uhc.Web:
			err = n.fetchCache(p)
		}
		if err != nil {
			cl.Failed(p.Name, n.cfg.Now())
			n.log.Debug("host cache not asked", "cache", p.Name, "err", err)
		}
	})
}

// async runs f on its own goroutine, waited for by Close: resolving and
// fetching block, and must not hold up the maintenance loop.
func (n *Node) async(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// pingCache resolves a UDP host cache and sends it a UHC Ping.
func (n *Node) pingCache(p uhc.Probe) error {
	to, err := n.resolvePeer(p.Name)
	if err != nil {
		return err
	}
	ping := &protocol.Ping{GGEP: n.uhcPingGGEP()}
	h := protocol.Header{GUID: p.MUID, Type: protocol.TypePing, TTL: 1}
	n.hosts.caches.Sent(p, to, n.cfg.Now()) // before sending: the Pong may beat us back
	if !n.sendUDP(to, h, ping) {
		return errors.New("udp ping not sent")
	}
	return nil
}

// uhcPingGGEP is the GGEP of our UHC Ping, as GTKG's build_ping_msg():
// SCP with its flag byte (01, ultrapeers wanted, when we are one; else
// hosts with leaf slots; 02 we speak TLS; 04 IPv6 hosts too), then VC so
// the cache knows our vendor.
func (n *Node) uhcPingGGEP() protocol.GGEP {
	var flags protocol.SCPFlags
	if n.ultrapeer.Load() {
		flags = protocol.SCPUltrapeers
	}
	if n.tls.server != nil {
		flags |= protocol.SCPTLS
	}
	if !n.cfg.NoIPv6 {
		flags |= protocol.SCPIPv6 // gtk-gnutella's settings_running_ipv6()
	}
	return protocol.GGEP{
		{ID: "SCP", Data: []byte{byte(flags)}},
		{ID: "VC", Data: []byte{'S', 'R', 'V', 'T', ourVersion}},
	}
}

// fetchCache asks a GWebCache for hosts.
func (n *Node) fetchCache(p uhc.Probe) error {
	ctx, cancel := context.WithTimeout(n.ctx, gwcTimeout)
	defer cancel()
	version := ourVersionString(n.cfg.UserAgent)
	u, err := uhc.GWCGetURL(p.Name, version)
	if err != nil {
		return err
	}
	a, err := uhc.FetchGWC(ctx, n.udp.caches.web, u, n.cfg.UserAgent)
	n.learnHosts(a.Hosts)
	if err != nil {
		return err
	}
	n.hosts.caches.Answered(p.Name, n.cfg.Now())
	return nil
}

// updateCache tells a GWebCache our address (the update form).
func (n *Node) updateCache(name string) error {
	ctx, cancel := context.WithTimeout(n.ctx, gwcTimeout)
	defer cancel()
	u, err := uhc.GWCUpdateURL(name, n.advertised(), ourVersionString(n.cfg.UserAgent))
	if err != nil {
		return err
	}
	_, err = uhc.FetchGWC(ctx, n.udp.caches.web, u, n.cfg.UserAgent)
	return err
}

// learnHosts adds hosts a cache gave us to the host cache, as ultrapeers
// (GTKG's hcache_add_caught(HOST_ULTRA, ...)), and wakes the dialler.
func (n *Node) learnHosts(hosts []netip.AddrPort) {
	if len(hosts) == 0 {
		return
	}
	before := n.hosts.len()
	for _, h := range hosts {
		n.hosts.add(h, true)
	}
	if k := n.hosts.len() - before; k > 0 {
		n.udp.caches.stats.hostsLearnt.Add(uint64(k))
	}
	n.kickMaintain()
}

// servesCaches says whether we act as a host cache: only as an ultrapeer
// others can reach (TCP reachability proven, and we were not told we are
// firewalled), as the issue asks.
func (n *Node) servesCaches() bool {
	return n.ultrapeer.Load() && !n.firewalled() && n.reach.reachable(reach.TCP, n.cfg.Now())
}

// ourVersionString is the version in a User-Agent "servent/0.1.0".
func ourVersionString(ua string) string {
	if _, v, ok := strings.Cut(ua, "/"); ok && v != "" {
		v, _, _ = strings.Cut(v, " ")
		return v
	}
	return "0"
}

// HostCacheStatus is what the node did as and with host caches.
type HostCacheStatus struct {
	// As a UDP host cache: Pings answered, refused within the per-IP
	// minute, refused from banned addresses; answers that listed hosts.
	PingsAnswered, PingsThrottled, PingsBanned, UHCAnswers uint64
	// As a client: requests made, Pongs that answered ours, Pongs that
	// answered nothing of ours (dropped), new hosts learnt.
	Probes, PongsTaken, PongsUnsolicited, HostsLearnt uint64
	// Caches are the named caches, in asking order.
	Caches []uhc.Cache
}

// HostCaches reports the host-cache counters and the named caches.
func (n *Node) HostCaches() HostCacheStatus {
	s := &n.udp.caches.stats
	return HostCacheStatus{
		PingsAnswered: s.pingsAnswered.Load(), PingsThrottled: s.pingsThrottled.Load(),
		PingsBanned: s.pingsBanned.Load(), UHCAnswers: s.uhcAnswers.Load(),
		Probes: s.probes.Load(), PongsTaken: s.pongsTaken.Load(),
		PongsUnsolicited: s.pongsUnsolicited.Load(), HostsLearnt: s.hostsLearnt.Load(),
		Caches: n.hosts.caches.Caches(),
	}
}
