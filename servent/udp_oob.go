package servent

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
)

// udpHit takes a QueryHit sent over UDP.
func (n *Node) udpHit(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	if n.guessHit(from, d, now) {
		return
	}
	n.udp.unused.Add(1)
}

// oobVendor takes LIME/12 and LIME/11; false: not an OOB message.
func (n *Node) oobVendor(from netip.AddrPort, h protocol.Header, v *protocol.Vendor, now time.Time) bool {
	return false
}
