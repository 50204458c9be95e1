package oob

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
)

type proxied struct {
	orig    protocol.GUID
	leaf    uint64 // the leaf's connection id
	expires time.Time
}

// Proxy is the ultrapeer's OOB proxy for leaves that cannot receive UDP
// (oob_proxy.c): the leaf's query goes out with our address in its MUID,
// we claim the hits and route them to the leaf over TCP with the original
// MUID.
type Proxy struct {
	byNew map[protocol.GUID]proxied
}

// NewProxy returns an empty Proxy.
func NewProxy() *Proxy { return &Proxy{byNew: map[protocol.GUID]proxied{}} }

// Rewrite returns the MUID to forward leaf's query orig with, carrying our
// UDP address. False: our address is not IPv4, the MUID is already
// proxied, or the table is full; the query then goes out unchanged.
func (p *Proxy) Rewrite(orig protocol.GUID, leaf uint64, ours netip.AddrPort, now time.Time) (protocol.GUID, bool) {
	g, ok := protocol.WithOOBAddr(orig, ours)
	if !ok {
		return orig, false
	}
	if _, dup := p.byNew[g]; dup {
		return orig, false
	}
	if len(p.byNew) >= maxProxied {
		p.Expire(now)
		if len(p.byNew) >= maxProxied {
			return orig, false
		}
	}
	p.byNew[g] = proxied{orig: orig, leaf: leaf, expires: now.Add(ProxyLife)}
	return g, true
}

// Lookup maps a proxied MUID back to the leaf's MUID and connection.
func (p *Proxy) Lookup(g protocol.GUID, now time.Time) (orig protocol.GUID, leaf uint64, ok bool) {
	e, ok := p.byNew[g]
	if !ok || !now.Before(e.expires) {
		return protocol.GUID{}, 0, false
	}
	return e.orig, e.leaf, true
}

// Expire forgets proxied queries past ProxyLife.
func (p *Proxy) Expire(now time.Time) {
	for g, e := range p.byNew {
		if !now.Before(e.expires) {
			delete(p.byNew, g)
		}
	}
}

// Len is the number of proxied queries remembered.
func (p *Proxy) Len() int { return len(p.byNew) }
