package servent

import "github.com/servent/servent/servent/reach"

// mapping is the state of our port mapping on the router (issue 11,
// servent/natmap), for the reachability verdict and status.
func (n *Node) mapping() reach.Mapping {
	return reach.Mapping{}
}
