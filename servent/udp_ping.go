package servent

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
)

// udpPing answers a UDP Ping with our Pong.
func (n *Node) udpPing(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	if n.guessPing(from, d, now) {
		return
	}
	hdr := protocol.Header{GUID: d.Header.GUID, Type: protocol.TypePong, TTL: 1}
	n.sendUDP(from, hdr, n.udpOwnPong())
}

// udpPong takes a UDP Pong.
func (n *Node) udpPong(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	if n.guessPongIn(from, d, now) {
		return
	}
	n.udp.unused.Add(1)
}

// udpOwnPong describes us to a UDP peer.
func (n *Node) udpOwnPong() *protocol.Pong {
	a := n.advertised()
	if !a.IsValid() {
		a = n.UDPAddr()
	}
	files, kb := n.lib.Stats()
	p := &protocol.Pong{Port: a.Port(), IP: a.Addr(), Files: uint32(files), KB: uint32(min(kb, 1<<32-1))}
	p.GGEP = append(p.GGEP, protocol.Extension{ID: "VC", Data: []byte{'S', 'R', 'V', 'T', ourVersion}})
	p.GGEP = n.withGUE(p.GGEP)
	return p
}
