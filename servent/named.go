package servent

import (
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"
)

// NamedPeer is a peer the user named (--peer, AddPeer) and how reaching it
// went.
type NamedPeer struct {
	Addr        string         // as the user wrote it, HOST:PORT
	Resolved    netip.AddrPort // the address last dialled; zero before
	Dialing     bool
	LastError   string    // in words; empty when the last try worked
	LastErrorAt time.Time // when LastError happened
	NextTry     time.Time // no dial before this
}

// namedPeers is the set of user-named peers with their own backoff and last
// error. They are dialled before the host cache; a dropped one is gone from
// the set, so nothing redials it until it is added again. Safe for
// concurrent use; it calls nothing outside itself.
type namedPeers struct {
	mu    sync.Mutex
	peers []*namedEntry // guarded by mu; in the order named
}

type namedEntry struct {
	NamedPeer
	fails int // failed dials in a row
}

func newNamedPeers(addrs []string) *namedPeers {
	p := &namedPeers{}
	for _, a := range addrs {
		p.add(a)
	}
	return p
}

func (p *namedPeers) findLocked(addr string) *namedEntry {
	for _, e := range p.peers {
		if e.Addr == addr {
			return e
		}
	}
	return nil
}

// add names addr (again): its backoff starts over, the last error stays
// until the next try tells more.
func (p *namedPeers) add(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.findLocked(addr)
	if e == nil {
		e = &namedEntry{NamedPeer: NamedPeer{Addr: addr}}
		p.peers = append(p.peers, e)
	}
	e.NextTry, e.fails = time.Time{}, 0
}

// drop forgets addr and returns where it was last dialled.
func (p *namedPeers) drop(addr string) (resolved netip.AddrPort, ok bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := slices.IndexFunc(p.peers, func(e *namedEntry) bool { return e.Addr == addr })
	if i < 0 {
		return netip.AddrPort{}, false
	}
	resolved = p.peers[i].Resolved
	p.peers = slices.Delete(p.peers, i, i+1)
	return resolved, true
}

func (p *namedPeers) has(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.findLocked(addr) != nil
}

// due returns the named peers whose backoff has passed at now and that are
// not being dialled, in the order named.
func (p *namedPeers) due(now time.Time) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for _, e := range p.peers {
		if !e.Dialing && !e.NextTry.After(now) {
			out = append(out, e.Addr)
		}
	}
	return out
}

// dialing marks addr as being dialled (false: it was dropped meanwhile).
func (p *namedPeers) dialing(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.findLocked(addr)
	if e != nil {
		e.Dialing = true
	}
	return e != nil
}

// resolved records the address addr was dialled at.
func (p *namedPeers) resolved(addr string, ap netip.AddrPort) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.findLocked(addr); e != nil {
		e.Resolved = ap
	}
}

// lastTry is the address addr was last dialled at and whether that try
// failed.
func (p *namedPeers) lastTry(addr string) (netip.AddrPort, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.findLocked(addr); e != nil {
		return e.Resolved, e.fails > 0
	}
	return netip.AddrPort{}, false
}

// connected clears the error of a peer we just reached.
func (p *namedPeers) connected(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.findLocked(addr); e != nil {
		e.LastError, e.LastErrorAt, e.fails = "", time.Time{}, 0
	}
}

// done ends a dial of addr at now. failed counts it towards the backoff
// (a link that came up and ended later does not); why, when set, becomes
// the last error; hold is the least wait before the next try (a Bye or
// refusal that asked us to stay away). A peer dropped meanwhile is left
// alone: it must not come back through here.
func (p *namedPeers) done(addr string, now time.Time, failed bool, why string, hold time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.findLocked(addr)
	if e == nil {
		return
	}
	e.Dialing = false
	fails := 1 // reconnecting after a drop waits one step: never a tight loop
	if failed {
		e.fails++
		fails = e.fails
	}
	e.NextTry = now.Add(max(backoff(fails), hold))
	if why != "" {
		e.LastError, e.LastErrorAt = plainText(why), now
	}
}

func (p *namedPeers) failures(addr string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if e := p.findLocked(addr); e != nil {
		return e.fails
	}
	return 0
}

func (p *namedPeers) list() []NamedPeer {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]NamedPeer, 0, len(p.peers))
	for _, e := range p.peers {
		out = append(out, e.NamedPeer)
	}
	return out
}

// maxErrorLen bounds a stored error: a Bye reason may be 4 KiB.
const maxErrorLen = 200

// plainText makes an error that may quote a peer (a Bye or refusal reason)
// safe to keep and print: control and bidi-override characters become
// U+FFFD, and it is cut to maxErrorLen bytes on a rune boundary.
func plainText(s string) string {
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > maxErrorLen {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
