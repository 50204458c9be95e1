package servent

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
)

// reachVendor takes connect-back requests; false: not one.
func (n *Node) reachVendor(from netip.AddrPort, h protocol.Header, v *protocol.Vendor, now time.Time) bool {
	return false
}
