// Package selfaddr keeps what a servent knows of its own address in each
// IP family: where it listens, and what its peers said they see (their
// Remote-IP). It decides which address the servent advertises: its IPv4
// one when it has one, the network's usual kind, else its IPv6 one, with
// the IPv6 one beside it for who can use it (gtk-gnutella's primary
// address and GGEP "6").
package selfaddr

import (
	"net/netip"
	"sync"
)

// Book is safe for concurrent use. A nil Book (a servent not listening
// yet) knows no address and listens nowhere.
type Book struct {
	port   uint16
	listen []netip.AddrPort // what we listen on, unmapped
	v4, v6 family

	mu         sync.Mutex
	seen4      netip.Addr // guarded by mu
	seen6      netip.Addr // guarded by mu
	noIPv6Seen bool       // IPv6 is off: learn no IPv6 address
}

type family struct {
	listening bool
	fixed     netip.Addr // a specific listening address; zero for a wildcard
}

// New makes the book for the listening addresses (the first gives the
// port). "[::]" listens in both families (Linux's dual-stack default);
// ipv6 false leaves IPv6 out of it entirely.
func New(listen []netip.AddrPort, ipv6 bool) *Book {
	b := &Book{noIPv6Seen: !ipv6}
	for _, a := range listen {
		a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
		if !a.IsValid() {
			continue
		}
		if b.port == 0 {
			b.port = a.Port()
		}
		b.listen = append(b.listen, a)
		ip := a.Addr()
		switch {
		case ip.Is4():
			b.v4.listening = true
			if !ip.IsUnspecified() {
				b.v4.fixed = ip
			}
		case ip.IsUnspecified(): // [::]
			b.v4.listening = true
			b.v6.listening = ipv6
		case ipv6:
			b.v6.listening = true
			b.v6.fixed = ip.WithZone("")
		}
	}
	return b
}

// Port is the listening port.
func (b *Book) Port() uint16 {
	if b == nil {
		return 0
	}
	return b.port
}

// Listening says whether we accept connections in ip's family.
func (b *Book) Listening(ip netip.Addr) bool {
	if b == nil {
		return false
	}
	if ip.Unmap().Is4() {
		return b.v4.listening
	}
	return b.v6.listening
}

// Learn records ip as what a peer sees of us; it reports whether that is
// new. Unspecified, multicast and link-local addresses (which need a
// zone) are no address of ours to tell anyone.
func (b *Book) Learn(ip netip.Addr) bool {
	ip = ip.Unmap().WithZone("")
	if b == nil || !ip.IsValid() || ip.IsUnspecified() || ip.IsMulticast() || ip.IsLinkLocalUnicast() {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	seen := &b.seen4
	if ip.Is6() {
		if b.noIPv6Seen {
			return false
		}
		seen = &b.seen6
	}
	if *seen == ip {
		return false
	}
	*seen = ip
	return true
}

// V4 is our IPv4 address and port: the listening address when specific,
// else what peers see; zero when unknown or not listening on IPv4.
func (b *Book) V4() netip.AddrPort {
	if b == nil {
		return netip.AddrPort{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr(b.v4, b.seen4)
}

// V6 is our IPv6 address and port, as V4.
func (b *Book) V6() netip.AddrPort {
	if b == nil {
		return netip.AddrPort{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addr(b.v6, b.seen6)
}

func (b *Book) addr(f family, seen netip.Addr) netip.AddrPort {
	switch {
	case !f.listening:
		return netip.AddrPort{}
	case f.fixed.IsValid():
		return netip.AddrPortFrom(f.fixed, b.port)
	case seen.IsValid():
		return netip.AddrPortFrom(seen, b.port)
	}
	return netip.AddrPort{}
}

// Primary is the address we advertise: IPv4 when known, else IPv6.
func (b *Book) Primary() netip.AddrPort {
	if a := b.V4(); a.IsValid() {
		return a
	}
	return b.V6()
}

// Also is the IPv6 address to advertise beside Primary (GGEP "6"), zero
// when Primary is it or there is none.
func (b *Book) Also() netip.Addr {
	if !b.V4().IsValid() {
		return netip.Addr{}
	}
	return b.V6().Addr()
}

// For is our address as a peer at ip can reach it: in its family when we
// have one there, else Primary.
func (b *Book) For(ip netip.Addr) netip.AddrPort {
	if ip.Unmap().Is6() {
		if a := b.V6(); a.IsValid() {
			return a
		}
	} else if a := b.V4(); a.IsValid() {
		return a
	}
	return b.Primary()
}

// Self says whether a is one of our addresses: a listening address, or a
// known address of ours with our port.
func (b *Book) Self(a netip.AddrPort) bool {
	if b == nil {
		return false
	}
	a = netip.AddrPortFrom(a.Addr().Unmap(), a.Port())
	for _, l := range b.listen {
		if a == l {
			return true
		}
	}
	return a.Port() == b.port && (a == b.V4() || a == b.V6())
}
