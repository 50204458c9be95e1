package servent

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/servent/servent/internal/atomicfile"
	"github.com/servent/servent/internal/lines"
	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/gnet"
	"github.com/servent/servent/servent/uhc"
)

// HostInfo is one entry of the host cache.
type HostInfo struct {
	Addr      netip.AddrPort
	Ultrapeer bool
	LastSeen  time.Time
	Failures  int
}

const (
	hostCacheMax = 2000
	hostFile     = "hosts.txt"
	// GTKG bans an IP that opens more than 2 Gnet connections in 60 s
	// (ban.c: 429 "Banned for 5m"), so retries to one address start at
	// 30-60 s: never more than two tries a minute.
	backoffBase    = 60 * time.Second
	backoffMax     = 30 * time.Minute
	hostCacheFresh = 10 // X-Try-Ultrapeers entries we hand out
)

type hostEntry struct {
	HostInfo
	nextTry   time.Time
	leafUntil time.Time // it said it is a leaf: no ultrapeer dial before this
}

// Holds after a peer's parting word, modelled on gtk-gnutella: hcache.c
// keeps a host that answered 503 (HCACHE_BUSY) or proved unstable out of
// the connect candidates until HOSTCACHE_EXPIRY (30 min), and nodes.c
// node_add() skips any host it tried in the last NODE_CONN_ATTEMPT_FREQ
// (5 min), so a servent that said Bye is not redialled at once.
const (
	goneHold = 30 * time.Minute // it said it is going away, or refused us as a leaf
	// leafFor is how long a host that refused us as a leaf stays one in
	// our eyes, whatever pongs and X-Try-Ultrapeers claim: an auto
	// servent may become an ultrapeer, but only after hours of uptime.
	leafFor = 6 * time.Hour
)

// parting is what a peer's last word (its Bye, or its refusal of our
// handshake) tells us about dialling it again. The zero value: nothing
// beyond the ordinary backoff.
type parting struct {
	hold time.Duration // stay away at least this long
	leaf bool          // it is a leaf: never dial it as an ultrapeer
}

// byeParting reads a Bye. Going away (200 shutdown, 202 going offline) and
// 201 "its user dropped us" mean do not come back soon; a 4xx says it
// judged us misbehaving, and GTKG bans what comes back too fast. 405
// (inactivity) and 5xx (its own trouble) get the ordinary backoff.
func byeParting(b protocol.Bye) parting {
	switch {
	case b.Code == protocol.ByeShutdown, b.Code == protocol.ByeUserClosed, b.Code == protocol.ByeGoingOffline:
		return parting{hold: goneHold}
	case b.Code >= 400 && b.Code < 500 && b.Code != 405:
		return parting{hold: goneHold}
	}
	return parting{}
}

// refusalParting reads a refusal of our handshake: a leaf ("Shielded leaf
// node", X-Ultrapeer: False) goes to the back for long, as GTKG's
// analyse_status() puts a 503 in HCACHE_BUSY; other codes keep the
// handling of dial (4xx purged, 429 ban honoured, else backoff).
func refusalParting(he *handshakeError) parting {
	if he.leaf {
		return parting{hold: goneHold, leaf: true}
	}
	return parting{}
}

// hostCache holds addresses learnt from pongs, X-Try-Ultrapeers and peers'
// Listen-IP, with a per-address backoff so a failing host is never retried
// in a tight loop. Safe for concurrent use.
type hostCache struct {
	mu    sync.Mutex
	hosts map[netip.AddrPort]*hostEntry // guarded by mu
	now   func() time.Time
	self  func(netip.AddrPort) bool // our own addresses, never cached
	ipv6  bool                      // IPv6 hosts are kept (set before use)
	// caches are the host caches the user named, saved beside the hosts
	// (uhc.CachesFile); nil: none kept.
	caches *uhc.Client
}

func newHostCache(now func() time.Time) *hostCache {
	return &hostCache{hosts: make(map[netip.AddrPort]*hostEntry), now: now}
}

// add records a host seen now. ultrapeer upgrades an entry, never downgrades.
func (c *hostCache) add(a netip.AddrPort, ultrapeer bool) {
	a, ok := c.cacheable(a)
	if !ok {
		return
	}
	now := c.now()
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entryLocked(a)
	e.LastSeen = now
	e.Ultrapeer = e.Ultrapeer || (ultrapeer && !now.Before(e.leafUntil))
}

// parted applies what a peer said on leaving (see parting) at now: the
// host is not a candidate before now+hold, it sorts after the hosts that
// never failed and is no longer handed out in X-Try-Ultrapeers; a leaf
// loses its ultrapeer mark. A host not cached yet is added, so a pong
// naming it later does not make it a fresh candidate.
func (c *hostCache) parted(a netip.AddrPort, p parting, now time.Time) {
	a, ok := c.cacheable(a)
	if p == (parting{}) || !ok {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entryLocked(a)
	if e.LastSeen.IsZero() {
		e.LastSeen = now
	}
	e.Failures = max(e.Failures, 1)
	if until := now.Add(p.hold); until.After(e.nextTry) {
		e.nextTry = until
	}
	if p.leaf {
		e.Ultrapeer = false
		e.leafUntil = now.Add(leafFor)
	}
}

// cacheable normalises a and says whether it may enter the cache.
func (c *hostCache) cacheable(a netip.AddrPort) (netip.AddrPort, bool) {
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	return a, gnet.UsableHost(a, c.ipv6) && (c.self == nil || !c.self(a))
}

// entryLocked returns a's entry, made if new (evicting the worst entry
// when the cache is full). Called with mu.
func (c *hostCache) entryLocked(a netip.AddrPort) *hostEntry {
	e, ok := c.hosts[a]
	if !ok {
		if len(c.hosts) >= hostCacheMax {
			c.evictLocked()
		}
		e = &hostEntry{HostInfo: HostInfo{Addr: a}}
		c.hosts[a] = e
	}
	return e
}

// evictLocked drops the entry with the most failures, then the oldest.
func (c *hostCache) evictLocked() {
	var worst *hostEntry
	for _, e := range c.hosts {
		if worst == nil || e.Failures > worst.Failures ||
			(e.Failures == worst.Failures && e.LastSeen.Before(worst.LastSeen)) {
			worst = e
		}
	}
	if worst != nil {
		delete(c.hosts, worst.Addr)
	}
}

// failed records a failed connection attempt and schedules the next try
// with exponential backoff plus jitter.
func (c *hostCache) failed(a netip.AddrPort) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.hosts[a]
	if !ok {
		return
	}
	e.Failures++
	e.nextTry = c.now().Add(backoff(e.Failures))
}

// succeeded resets the backoff of a host we connected to.
func (c *hostCache) succeeded(a netip.AddrPort, ultrapeer bool) {
	c.add(a, ultrapeer)
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.hosts[a]; ok {
		e.Failures = 0
		e.nextTry = time.Time{}
		if ultrapeer { // it answered as an ultrapeer: no longer a leaf
			e.leafUntil = time.Time{}
			e.Ultrapeer = true
		}
	}
}

// hold keeps a host from being tried before until, without counting a
// failure (a link we dropped ourselves).
func (c *hostCache) hold(a netip.AddrPort, until time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.hosts[a]; ok && until.After(e.nextTry) {
		e.nextTry = until
	}
}

// remove forgets a host (it refused us for good, or is ourselves).
func (c *hostCache) remove(a netip.AddrPort) {
	c.mu.Lock()
	delete(c.hosts, a)
	c.mu.Unlock()
}

func backoff(failures int) time.Duration {
	d := backoffBase
	for i := 1; i < failures && d < backoffMax; i++ {
		d *= 2
	}
	d = min(d, backoffMax)
	return d/2 + rand.N(d/2+1) // jitter so peers do not retry in step
}

// candidates returns up to n hosts due for a try, ultrapeers first, most
// recently seen first, skipping those skip says no to.
func (c *hostCache) candidates(n int, skip func(netip.AddrPort) bool) []netip.AddrPort {
	now := c.now()
	c.mu.Lock()
	list := make([]HostInfo, 0, len(c.hosts))
	for _, e := range c.hosts {
		if !e.nextTry.After(now) && !e.leafUntil.After(now) {
			list = append(list, e.HostInfo)
		}
	}
	c.mu.Unlock()
	slices.SortFunc(list, func(a, b HostInfo) int {
		if a.Ultrapeer != b.Ultrapeer {
			if a.Ultrapeer {
				return -1
			}
			return 1
		}
		if a.Failures != b.Failures {
			return a.Failures - b.Failures
		}
		return b.LastSeen.Compare(a.LastSeen)
	})
	out := make([]netip.AddrPort, 0, n)
	for _, e := range list {
		if len(out) == n {
			break
		}
		if skip != nil && skip(e.Addr) {
			continue
		}
		out = append(out, e.Addr)
	}
	return out
}

// tryHosts returns up to n ultrapeers for X-Try-Ultrapeers.
func (c *hostCache) tryHosts(n int, skip func(netip.AddrPort) bool) []netip.AddrPort {
	c.mu.Lock()
	list := make([]HostInfo, 0, len(c.hosts))
	for _, e := range c.hosts {
		if e.Ultrapeer && e.Failures == 0 {
			list = append(list, e.HostInfo) // a copy: sorted outside the lock
		}
	}
	c.mu.Unlock()
	slices.SortFunc(list, func(a, b HostInfo) int { return b.LastSeen.Compare(a.LastSeen) })
	out := make([]netip.AddrPort, 0, n)
	for _, e := range list {
		if len(out) == n {
			break
		}
		if skip != nil && skip(e.Addr) {
			continue
		}
		out = append(out, e.Addr)
	}
	return out
}

// freshUltrapeers returns up to k ultrapeers that never failed, most
// recently seen first, as tryHosts(k, nil) does but without copying and
// sorting the whole cache: a UDP host-cache answer runs it for anyone
// who pings (BenchmarkUHCAnswer: 560 us and 150 KB an answer with the
// full sort of 2000 hosts).
func (c *hostCache) freshUltrapeers(k int) []netip.AddrPort {
	type seen struct {
		addr netip.AddrPort
		at   time.Time
	}
	best := make([]seen, 0, k)
	c.mu.Lock()
	for _, e := range c.hosts {
		if !e.Ultrapeer || e.Failures != 0 || k == 0 {
			continue
		}
		if len(best) == k && !e.LastSeen.After(best[k-1].at) {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, e.LastSeen, func(s seen, t time.Time) int { return t.Compare(s.at) })
		if len(best) == k {
			best = best[:k-1]
		}
		best = slices.Insert(best, i, seen{e.Addr, e.LastSeen})
	}
	c.mu.Unlock()
	out := make([]netip.AddrPort, len(best))
	for i, s := range best {
		out[i] = s.addr
	}
	return out
}

func (c *hostCache) list() []HostInfo {
	c.mu.Lock()
	out := make([]HostInfo, 0, len(c.hosts))
	for _, e := range c.hosts {
		out = append(out, e.HostInfo)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b HostInfo) int { return b.LastSeen.Compare(a.LastSeen) })
	return out
}

func (c *hostCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.hosts)
}

// save writes the cache, and the named host caches beside it, atomically
// (temp file + rename).
func (c *hostCache) save(dir string) error {
	if dir == "" {
		return nil
	}
	if err := atomicfile.Write(filepath.Join(dir, hostFile), c.encode(), 0o600); err != nil {
		return err
	}
	if c.caches == nil {
		return nil
	}
	return atomicfile.Write(filepath.Join(dir, uhc.CachesFile), uhc.EncodeCaches(c.caches.Caches()), 0o600)
}

// encode is the hosts.txt content: one host a line,
// "addr ultrapeer(0/1) last-seen-unix failures".
func (c *hostCache) encode() []byte {
	var buf bytes.Buffer
	buf.WriteString("# servent host cache: addr ultrapeer last-seen-unix failures\n")
	for _, h := range c.list() {
		up := 0
		if h.Ultrapeer {
			up = 1
		}
		fmt.Fprintf(&buf, "%s %d %d %d\n", h.Addr, up, h.LastSeen.Unix(), h.Failures)
	}
	return buf.Bytes()
}

// hosts.txt limits: far above what encode writes (hostCacheMax lines of at
// most ~50 bytes), so only a damaged or foreign file reaches them.
const (
	maxHostFile = 1 << 20
	maxHostLine = 256
)

// load merges the saved cache and the saved host caches; a missing file
// is not an error, bad lines are skipped.
func (c *hostCache) load(dir string) error {
	if dir == "" {
		return nil
	}
	return errors.Join(c.loadHosts(dir), c.loadCaches(dir))
}

// loadCaches adds the saved host caches to those the user named now.
func (c *hostCache) loadCaches(dir string) error {
	if c.caches == nil {
		return nil
	}
	path := filepath.Join(dir, uhc.CachesFile)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host caches: %w", err)
	}
	defer f.Close()
	cs, err := uhc.ReadCaches(f)
	for _, k := range cs {
		c.caches.Add(k)
	}
	if err != nil {
		return fmt.Errorf("host caches %s: %w", path, err)
	}
	return nil
}

func (c *hostCache) loadHosts(dir string) error {
	path := filepath.Join(dir, hostFile)
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("host cache: %w", err)
	}
	defer f.Close()
	if err := c.read(f); err != nil {
		return fmt.Errorf("host cache %s: %w", path, err)
	}
	return nil
}

// read merges hosts.txt content. A line that does not parse, or is longer
// than any we write, is skipped; past maxHostFile bytes reading stops with
// an error, keeping the hosts read so far.
func (c *hostCache) read(r io.Reader) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.hosts) >= hostCacheMax {
		return nil
	}
	err := lines.Each(r, maxHostLine, maxHostFile, func(line []byte) bool {
		c.addLineLocked(string(line))
		return len(c.hosts) < hostCacheMax
	})
	if errors.Is(err, lines.ErrTooLarge) {
		return fmt.Errorf("larger than %d bytes, only its start was read", maxHostFile)
	}
	return err
}

// addLineLocked adds the host of one hosts.txt line, if it is one.
func (c *hostCache) addLineLocked(line string) {
	line = strings.TrimSpace(line)
	if line == "" || line[0] == '#' {
		return
	}
	fs := strings.Fields(line)
	if len(fs) != 4 {
		return
	}
	a, err := netip.ParseAddrPort(fs[0])
	if err != nil || !gnet.UsableHost(a, c.ipv6) {
		return
	}
	seen, err1 := strconv.ParseInt(fs[2], 10, 64)
	fails, err2 := strconv.Atoi(fs[3])
	if err1 != nil || err2 != nil || fails < 0 {
		return
	}
	c.hosts[a] = &hostEntry{HostInfo: HostInfo{
		Addr: a, Ultrapeer: fs[1] == "1", LastSeen: time.Unix(seen, 0), Failures: min(fails, 20),
	}}
}
