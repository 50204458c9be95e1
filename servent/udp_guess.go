package servent

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/servent/servent/guess"
	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
)

const (
	// guessHitTTL: GUESS hits leave TTL 6 hops 0, GTKG's hops + 1 + 5 (15.2).
	guessHitTTL = 6
	// guessAckHosts bounds the IPP of an acknowledgement Pong.
	guessAckHosts = 10
	// guessRelays bounds the GUESS queries whose leaf hits we still send
	// back over UDP; guessRelayLife is how long one stays (GTKG keeps a
	// query's route ~ as long as a TCP route).
	guessRelays    = 1024
	guessRelayLife = 5 * time.Minute
	// guessAfter: a search with fewer than guessTarget results this long
	// after it went out over TCP continues over GUESS.
	guessAfter  = 20 * time.Second
	guessTarget = 50
	// guessHostsKept bounds the GUESS hosts learned from Pongs.
	guessHostsKept = 200
)

// guessSide is the node's GUESS state (issue 10 item 3); the decisions are
// in package guess. The zero value is ready: parts are made on first use.
type guessSide struct {
	missing, bad, answered atomic.Uint64 // GUESS queries by outcome

	mu     sync.Mutex
	keys   *guess.Keys                           // server: the keys we issue
	relay  *lru.Cache[protocol.GUID, guessRelay] // server: leaves' hits back to the searcher
	qkeys  *guess.KeyCache                       // client: keys ultrapeers gave us
	runs   map[protocol.GUID]*guessRun           // client: by the GUESS query's MUID
	hosts  []netip.AddrPort                      // client: GUESS hosts from Pongs with GUE, newest last
	timers map[*time.Timer]struct{}              // stopped at close
	closed bool
}

type guessRelay struct {
	to      netip.AddrPort
	expires time.Time
}

// guessRun is one of our searches continuing over GUESS.
type guessRun struct {
	search *Search
	s      *guess.Search
	guid   protocol.GUID
	q      protocol.Query // without QK
	timer  *time.Timer
}

// GUESSStatus counts the GUESS queries we served.
type GUESSStatus struct {
	Answered, MissingKey, BadKey uint64
}

func (n *Node) guessStatus() GUESSStatus {
	g := &n.udp.guess
	return GUESSStatus{Answered: g.answered.Load(), MissingKey: g.missing.Load(), BadKey: g.bad.Load()}
}

// init makes the parts on first use; g.mu held.
func (g *guessSide) init(now time.Time) {
	if g.keys != nil {
		return
	}
	g.keys = guess.NewKeys(now)
	g.relay, _ = lru.New[protocol.GUID, guessRelay](guessRelays) // size > 0: no error
	g.qkeys = guess.NewKeyCache(guess.DefaultKeyLife, guess.DefaultMaxKeys)
	g.runs = make(map[protocol.GUID]*guessRun)
	g.timers = make(map[*time.Timer]struct{})
}

func (g *guessSide) serverKeys(now time.Time) *guess.Keys {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.init(now)
	return g.keys
}

// guessServer says whether we take GUESS queries over UDP: ultrapeers
// only, as GTKG (settings_is_ultra() && enable_guess).
func (n *Node) guessServer() bool { return n.ultrapeer.Load() && n.udp.sock != nil }

// guessHeader is the X-Guess handshake header GTKG sends as an ultrapeer.
const guessHeader = "X-Guess"

// guessPeers lists the listening addresses of our ultrapeer peers that
// announced GUESS, except not.
func (n *Node) guessPeers(not netip.AddrPort, max int) []netip.AddrPort {
	var out []netip.AddrPort
	for _, c := range n.snap.Load().ups {
		if len(out) == max {
			break
		}
		if c.guess && c.listen.IsValid() && c.listen != not {
			out = append(out, c.listen)
		}
	}
	return out
}

// guessPong is a Pong describing us as a GUESS server, with key when
// non-nil (the answer to a QK ping, or a refused query).
func (n *Node) guessPong(key *guess.Key, hosts []netip.AddrPort) *protocol.Pong {
	p := n.udpOwnPong()
	if !p.GGEP.Has("GUE") {
		p.GGEP = append(p.GGEP, guess.GUEExtension())
	}
	if len(hosts) > 0 {
		p.GGEP = append(p.GGEP, protocol.Extension{ID: "IPP", Data: protocol.AppendIPP(nil, hosts)})
	}
	if key != nil {
		p.GGEP = append(p.GGEP, guess.KeyExtension(*key))
	}
	return p
}

// withGUE adds GGEP GUE to a Pong of ours when we serve GUESS, after VC
// as GTKG writes it.
func (n *Node) withGUE(g protocol.GGEP) protocol.GGEP {
	if !n.guessServer() {
		return g
	}
	return append(g, guess.GUEExtension())
}

// guessPing answers a UDP Ping asking for a query key (GGEP QK): our Pong
// with GUE and a key bound to the source IP and port, and with SCP the
// GUESS hosts we know (14.2). false: not a key request, or not a server.
func (n *Node) guessPing(from netip.AddrPort, d protocol.Datagram, now time.Time) bool {
	if !n.guessServer() {
		return false
	}
	var ping protocol.Ping
	if err := ping.Decode(d.Payload); err != nil {
		return false
	}
	req := protocol.ParsePingRequest(ping.GGEP)
	if !req.QueryKey {
		return false
	}
	key := n.udp.guess.serverKeys(now).Key(from, now)
	var hosts []netip.AddrPort
	if req.UHC {
		hosts = n.guessPeers(from, guessAckHosts)
	}
	n.sendUDP(from, protocol.Header{GUID: d.Header.GUID, Type: protocol.TypePong, TTL: 1}, n.guessPong(&key, hosts))
	return true
}

// udpQuery serves a GUESS Query: with a valid key, an acknowledgement
// Pong, our hits over UDP and the query to the leaves whose QRP table
// matches (their hits go back over UDP); without one, dropped and counted
// and a Pong with a fresh key sent so the client can retry (docs/udp.md 3).
func (n *Node) udpQuery(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	g := &n.udp.guess
	if !n.guessServer() {
		n.udp.unused.Add(1)
		return
	}
	var q protocol.Query
	if err := q.Decode(d.Payload); err != nil {
		g.bad.Add(1)
		return
	}
	dec := g.serverKeys(now).CheckQuery(q.GGEP, from, now)
	if dec.Verdict != guess.Answer {
		if dec.Verdict == guess.MissingKey {
			g.missing.Add(1)
		} else {
			g.bad.Add(1)
		}
		// Address, GUE and QK only: 50 bytes, less than GTKG's 52 to an
		// address that has not proved it is the sender.
		a := n.guessAddr()
		p := &protocol.Pong{IP: a.Addr(), Port: a.Port(), GGEP: protocol.GGEP{guess.GUEExtension(), guess.KeyExtension(dec.Key)}}
		hdr := protocol.Header{GUID: d.Header.GUID, Type: protocol.TypePong, TTL: 1, Hops: 1}
		n.sendUDP(from, hdr, p)
		return
	}
	if n.routes.AddTTL(d.Header.GUID, protocol.TypeQuery, routing.Local, 0) != routing.New {
		return // a duplicate: GTKG drops a resent MUID too
	}
	g.answered.Add(1)
	n.stats.core.QueriesHandled.Add(1)
	n.guessAck(from, d.Header.GUID, dec.MoreHosts)
	n.guessAnswer(from, d.Header.GUID, &q)
	n.guessToLeaves(from, d.Header.GUID, &q, now)
}

// guessAck sends the acknowledgement Pong: TTL 1 hops 1, naming another
// GUESS ultrapeer in its fixed part (ourselves when we know none), GUE,
// and IPP with more when the query asked (SCP).
func (n *Node) guessAck(to netip.AddrPort, guid protocol.GUID, more bool) {
	peers := n.guessPeers(to, guessAckHosts)
	// As GTKG's (U9): the fixed part and GUE only, files and kB zero.
	a := n.guessAddr()
	p := &protocol.Pong{IP: a.Addr(), Port: a.Port(), GGEP: protocol.GGEP{guess.GUEExtension()}}
	if len(peers) > 0 {
		p.IP, p.Port = peers[0].Addr(), peers[0].Port()
	}
	if more && len(peers) > 0 {
		p.GGEP = append(p.GGEP, protocol.Extension{ID: "IPP", Data: protocol.AppendIPP(nil, peers)})
	}
	n.sendUDP(to, protocol.Header{GUID: guid, Type: protocol.TypePong, TTL: 1, Hops: 1}, p)
}

// guessAnswer sends our own hits for q over UDP, TTL 6 hops 0.
func (n *Node) guessAnswer(to netip.AddrPort, guid protocol.GUID, q *protocol.Query) {
	if q.Criteria == "" && len(q.SHA1s) == 0 {
		return
	}
	if files, _ := n.lib.Stats(); files == 0 {
		return
	}
	hdr := protocol.Header{GUID: guid, Type: protocol.TypeQueryHit, TTL: guessHitTTL}
	n.ourHits(q, n.guessAddr(), func(hit *protocol.QueryHit) { n.sendUDP(to, hdr, hit) })
}

// guessAddr is the address our GUESS Pongs and hits give.
func (n *Node) guessAddr() netip.AddrPort {
	if a := n.advertised(); a.IsValid() {
		return a
	}
	return n.UDPAddr()
}

// guessToLeaves sends q to the leaves whose QRP table matches, QK and SCP
// stripped, hops 1 (it goes no further), and remembers to send their hits
// to the searcher over UDP.
func (n *Node) guessToLeaves(to netip.AddrPort, guid protocol.GUID, q *protocol.Query, now time.Time) {
	if len(n.snap.Load().leaves) == 0 {
		return
	}
	lq := *q
	lq.GGEP = nil
	for _, e := range q.GGEP {
		if e.ID != "QK" && e.ID != "SCP" { // I6 stays: the leaves answer it
			lq.GGEP = append(lq.GGEP, e)
		}
	}
	g := &n.udp.guess
	g.mu.Lock()
	g.init(now)
	g.relay.Add(guid, guessRelay{to: to, expires: now.Add(guessRelayLife)})
	g.mu.Unlock()
	acts := n.core.r.QueryLeaves(nil, guid, &lq, now)
	_ = n.act(nil, protocol.Header{}, nil, acts)
}

// guessRelayHit sends a leaf's hit for a GUESS query we served to the
// searcher over UDP; false: not a GUESS query's hit.
func (n *Node) guessRelayHit(h protocol.Header, payload []byte) bool {
	g := &n.udp.guess
	g.mu.Lock()
	var r guessRelay
	ok := false
	if g.relay != nil {
		r, ok = g.relay.Get(h.GUID)
	}
	g.mu.Unlock()
	if !ok || !n.cfg.Now().Before(r.expires) {
		return false
	}
	ttl, hops, ok := routing.RelayTTL(h)
	if !ok || len(payload) > protocol.MaxForwardHitLen {
		n.stats.core.HitsUnroutable.Add(1)
		return true
	}
	hh := h
	hh.TTL, hh.Hops, hh.Length = ttl, hops, uint32(len(payload))
	b := hh.Append(make([]byte, 0, protocol.HeaderLen+len(payload)))
	if n.sendUDPBytes(r.to, append(b, payload...)) {
		n.stats.core.HitsRouted.Add(1)
	}
	return true
}

// guessLater continues s over GUESS after guessAfter if TCP brought fewer
// than guessTarget results (GTKG runs GUESS for its own searches).
func (n *Node) guessLater(s *Search) {
	if n.udp.sock == nil {
		return
	}
	delay := guessAfter
	if n.hooks.guessAfter > 0 {
		delay = n.hooks.guessAfter
	}
	n.guessTimer(delay, func(t *time.Timer) {
		if s.Stopped() || len(s.Results()) >= guessTarget {
			return
		}
		n.startGuess(s, guessTarget-len(s.Results()))
	})
}

// guessTimer runs f after d unless the node closes first.
func (n *Node) guessTimer(d time.Duration, f func(*time.Timer)) *time.Timer {
	g := &n.udp.guess
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.init(n.cfg.Now())
	var t *time.Timer
	t = time.AfterFunc(d, func() {
		g.mu.Lock()
		_, live := g.timers[t]
		delete(g.timers, t)
		g.mu.Unlock()
		if live && !n.closing.Load() {
			f(t)
		}
	})
	g.timers[t] = struct{}{}
	return t
}

func (n *Node) closeGuess() {
	g := &n.udp.guess
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	for t := range g.timers {
		t.Stop()
	}
	clear(g.timers)
}

// guessHostPool is where a GUESS search starts: our ultrapeers that
// announced GUESS, then the GUESS hosts Pongs named, newest first.
func (n *Node) guessHostPool() []netip.AddrPort {
	hosts := n.guessPeers(netip.AddrPort{}, guessHostsKept)
	g := &n.udp.guess
	g.mu.Lock()
	defer g.mu.Unlock()
	for i := len(g.hosts) - 1; i >= 0; i-- {
		hosts = append(hosts, g.hosts[i])
	}
	return hosts
}

// startGuess runs s over GUESS with a fresh MUID (the TCP one is known to
// the ultrapeers the flood reached, which would drop it as a duplicate).
func (n *Node) startGuess(s *Search, target int) {
	now := n.cfg.Now()
	pool := n.guessHostPool()
	g := &n.udp.guess
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return
	}
	g.init(now)
	if len(g.runs) >= maxSearches {
		g.dropRun()
	}
	flags := protocol.FlagMark | protocol.FlagGGEPH
	if n.firewalled() {
		flags |= protocol.FlagFirewalled
	}
	r := &guessRun{
		search: s, guid: protocol.NewGUID(),
		q: protocol.Query{Flags: flags, Criteria: s.Criteria, SHA1s: s.sha1s},
		s: guess.NewSearch(guess.SearchConfig{Target: target}, g.qkeys, pool, n.UDPAddr()),
	}
	r.q.SetHitFamilies(n.hitFamilies())
	g.runs[r.guid] = r
	n.guessDo(r, r.s.Start(now))
}

// guessDo performs a run's actions and arms its timeout; g.mu held.
func (n *Node) guessDo(r *guessRun, acts []guess.Action) {
	g := &n.udp.guess
	for _, a := range acts {
		switch a.Kind {
		case guess.RequestKey:
			ping := &protocol.Ping{GGEP: protocol.PingRequest{QueryKey: true, UHC: true}.GGEP()}
			n.sendUDP(a.To, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}, ping)
		case guess.SendQuery:
			q := r.q
			q.GGEP = protocol.GGEP{{ID: "QK", Data: a.Key}, {ID: "SCP"}}
			n.sendUDP(a.To, protocol.Header{GUID: r.guid, Type: protocol.TypeQuery, TTL: 1}, &q)
		}
	}
	if r.timer != nil {
		r.timer.Stop()
		delete(g.timers, r.timer)
		r.timer = nil
	}
	if r.s.Done() || r.search.Stopped() {
		// The MUID stays so that late hits still reach the search.
		return
	}
	if next := r.s.NextDeadline(); !next.IsZero() && !g.closed {
		var t *time.Timer
		t = time.AfterFunc(max(next.Sub(n.cfg.Now()), 0), func() {
			g.mu.Lock()
			defer g.mu.Unlock()
			if _, live := g.timers[t]; !live || n.closing.Load() {
				return
			}
			delete(g.timers, t)
			r.timer = nil
			n.guessDo(r, r.s.Tick(n.cfg.Now()))
		})
		r.timer = t
		g.timers[t] = struct{}{}
	}
}

// guessPongIn takes a UDP Pong for our GUESS client: a key (answer to our
// QK ping, or a refusal of our query) or the acknowledgement of a query;
// any Pong with GUE adds its sender to the GUESS hosts. false: the Pong
// is left to the others (it still is when it only taught us a host).
func (n *Node) guessPongIn(from netip.AddrPort, d protocol.Datagram, now time.Time) bool {
	var p protocol.Pong
	if err := p.Decode(d.Payload); err != nil {
		return false
	}
	info, _ := protocol.ParsePongInfo(p.GGEP) // malformed keys are left out
	if info.GUESS == 0 {
		return false
	}
	g := &n.udp.guess
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return true
	}
	g.init(now)
	g.learnHost(from)
	used := false
	if len(info.QueryKey) > 0 {
		g.qkeys.Put(from, info.QueryKey, now)
		for _, r := range g.runs {
			if r.s.Asked(from) {
				n.guessDo(r, r.s.OnKey(from, info.QueryKey, now))
				used = true
			}
		}
		return used || d.Header.Hops > 0
	}
	r, ok := g.runs[d.Header.GUID]
	if !ok || !r.s.Asked(from) {
		return false
	}
	more := make([]netip.AddrPort, 0, 1+len(info.Hosts))
	if p.IP.IsValid() {
		more = append(more, netip.AddrPortFrom(p.IP, p.Port))
	}
	more = append(more, info.Hosts...)
	n.guessDo(r, r.s.OnAck(from, more, now))
	return true
}

// dropRun forgets a finished run, or any when none is; g.mu held.
func (g *guessSide) dropRun() {
	var any protocol.GUID
	for id, r := range g.runs {
		if r.s.Done() || r.search.Stopped() {
			delete(g.runs, id)
			return
		}
		any = id
	}
	if r := g.runs[any]; r != nil && r.timer != nil {
		r.timer.Stop()
		delete(g.timers, r.timer)
	}
	delete(g.runs, any)
}

// learnHost remembers a GUESS host (bounded; a known one moves to the end).
func (g *guessSide) learnHost(h netip.AddrPort) {
	for i, x := range g.hosts {
		if x == h {
			g.hosts = append(g.hosts[:i], g.hosts[i+1:]...)
			break
		}
	}
	if len(g.hosts) >= guessHostsKept {
		g.hosts = g.hosts[1:]
	}
	g.hosts = append(g.hosts, h)
}

// guessHit takes a QueryHit over UDP for one of our GUESS queries, from a
// host that search asked; false: not ours (left to OOB, which drops and
// counts unsolicited hits).
func (n *Node) guessHit(from netip.AddrPort, d protocol.Datagram, now time.Time) bool {
	g := &n.udp.guess
	g.mu.Lock()
	r, ok := g.runs[d.Header.GUID]
	if ok && !r.s.Asked(from) {
		ok = false
	}
	g.mu.Unlock()
	if !ok {
		return false
	}
	var hit protocol.QueryHit
	if err := hit.Decode(d.Payload); err != nil {
		return false
	}
	kept := n.takeHit(r.search, &hit)
	g.mu.Lock()
	n.guessDo(r, r.s.OnResults(kept, now))
	g.mu.Unlock()
	return true
}
