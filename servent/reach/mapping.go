package reach

import (
	"net/netip"
	"time"
)

// Mapping is what the port mapping on the router (UPnP IGD or NAT-PMP)
// says, as the verdict needs it. The zero value: no mapping tried.
type Mapping struct {
	Protocol string         // "upnp" or "natpmp"; "" when none is in place
	Router   string         // the gateway that answered, in words (address, model)
	External netip.AddrPort // our address and port as the router maps them
	TCP, UDP bool           // which of the two mappings are in place
	Err      string         // the router's refusal or failure, in words ("" when fine)
	At       time.Time      // when the mapping was made or last failed
}

// ProtocolName is the mapping protocol as users know it.
func (m Mapping) ProtocolName() string {
	switch m.Protocol {
	case "upnp":
		return "UPnP"
	case "natpmp":
		return "NAT-PMP"
	}
	return m.Protocol
}
