package servent

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
)

// guessServer says whether we take GUESS queries over UDP.
func (n *Node) guessServer() bool { return false }

// udpQuery takes a GUESS Query.
func (n *Node) udpQuery(from netip.AddrPort, d protocol.Datagram, now time.Time) {
	n.udp.unused.Add(1)
}
