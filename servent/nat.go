package servent

import (
	"time"

	"github.com/servent/servent/servent/natmap"
	"github.com/servent/servent/servent/reach"
)

// startNAT maps our port on the router when Config.NAT asks for it.
func (n *Node) startNAT() {
	if n.cfg.NAT == "" || n.cfg.NAT == natmap.ModeOff {
		return
	}
	n.nat = natmap.Start(natmap.Config{
		Mode: n.cfg.NAT, Port: n.addr.Port(),
		Gateway: n.cfg.natGateway, SSDP: n.cfg.natSSDP, PMP: n.cfg.natPMP,
		Now: n.cfg.Now, Logger: n.log,
		OnChange: func(st natmap.State) {
			if st.Err == "" {
				n.log.Info("port mapped", "router", st.Router, "protocol", st.Protocol, "external", st.External)
			}
			n.reach.mappingChanged(n.cfg.Now())
		},
	})
}

// closeNAT removes our mappings (bounded inside natmap).
func (n *Node) closeNAT() {
	if n.nat != nil {
		_ = n.nat.Close()
	}
}

// mapping is the state of our port mapping on the router, for the
// reachability verdict and status.
func (n *Node) mapping() reach.Mapping {
	if n.nat == nil {
		return reach.Mapping{}
	}
	st := n.nat.State()
	return reach.Mapping{Protocol: st.Protocol, Router: st.Router, External: st.External, TCP: st.TCP, UDP: st.UDP, Err: st.Err, At: st.At}
}

// mappingChanged: a new mapping (or its loss) is a new way in: what we
// asked before proves nothing about it, so ask again and wait afresh.
func (r *reachState) mappingChanged(now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.restartLocked(now)
}
