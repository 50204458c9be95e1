package servent

import (
	"github.com/servent/servent/protocol"
	"github.com/servent/servent/servent/gnet"
	"github.com/servent/servent/servent/hitfilter"
	"github.com/servent/servent/servent/metrics"
	"github.com/servent/servent/servent/transfer"
)

// descriptorNames are the type label of servent_descriptors_*_total.
var descriptorNames = map[protocol.PayloadType]string{
	protocol.TypePing: "ping", protocol.TypePong: "pong", protocol.TypeBye: "bye", protocol.TypeQRP: "qrp",
	protocol.TypeVendor: "vendor", protocol.TypeStdVendor: "std_vendor", protocol.TypePush: "push",
	protocol.TypeQuery: "query", protocol.TypeQueryHit: "query_hit",
}

// MetricsSnapshot reads the node's counters for a Prometheus scrape
// (servent/metrics).
func (n *Node) MetricsSnapshot() metrics.Snapshot {
	st := n.Status()
	s := metrics.Snapshot{
		Connections:   map[[2]string]int{},
		DescriptorsIn: map[string]uint64{}, DescriptorsOut: map[string]uint64{},
		BytesIn: st.BytesIn, BytesOut: st.BytesOut,
		Dropped:             map[string]uint64{},
		DynamicQueriesEnded: map[string]uint64{},
		Filtered:            map[string]uint64{},
	}
	for _, c := range n.snap.Load().byID {
		role, dir := "leaf", "inbound"
		if c.up {
			role = "ultrapeer"
		}
		if c.outbound {
			dir = "outbound"
		}
		s.Connections[[2]string{role, dir}]++
	}
	for _, name := range descriptorNames { // every type is a series from the start
		s.DescriptorsIn[name], s.DescriptorsOut[name] = 0, 0
	}
	for t := range 256 {
		in, out := n.stats.inByType[t].Load(), n.stats.outByType[t].Load()
		if in == 0 && out == 0 {
			continue
		}
		name, ok := descriptorNames[protocol.PayloadType(t)]
		if !ok {
			name = "other"
		}
		s.DescriptorsIn[name] += in
		s.DescriptorsOut[name] += out
	}
	c := &n.stats.core
	for _, r := range gnet.Reasons() {
		if v := c.Dropped[r].Load(); v > 0 {
			s.Dropped[r.String()] = v
		}
	}
	if v := n.stats.dropped.Load(); v > 0 {
		s.Dropped["send-queue"] = v
	}
	s.QueriesHandled, s.QueriesAnswered, s.QueriesForwarded = c.QueriesHandled.Load(), c.QueriesAnswered.Load(), c.QueriesForwarded.Load()
	s.HitsRouted, s.HitsDelivered, s.HitsUnroutable = c.HitsRouted.Load(), c.HitsDelivered.Load(), c.HitsUnroutable.Load()
	s.RouteTableEntries, s.PushTableEntries = n.routes.Len(), n.pushes.Len()
	t := n.ourQRP() // a leaf's table; an ultrapeer's last-hop one adds its leaves'
	if n.ultrapeer.Load() {
		t = n.upTable()
	}
	if t != nil && t.Len() > 0 {
		s.QRPTableFill = float64(t.Count()) / float64(t.Len())
	}
	s.DynamicQueriesRunning, s.DynamicQueriesEnded = st.DQ.Running, st.DQ.Ended
	s.Searches = len(n.Searches())
	s.SearchResults = n.stats.resultsKept.Load()
	for _, r := range hitfilter.Reasons() {
		if v := n.filter.Dropped(r); v > 0 {
			s.Filtered[r.String()] = v
		}
	}
	if u := n.transfer.uploader; u != nil {
		s.UploadsActive, s.UploadBytes = u.Active(), u.BytesSent()
		s.UploadsCompleted, s.UploadsFailed = u.Served(), u.Failed()
	}
	if m := n.Downloads(); m != nil {
		s.DownloadBytes = m.BytesReceived()
		for _, d := range m.List() {
			switch d.State {
			case transfer.StateComplete, transfer.StateGone:
				s.DownloadsCompleted++ // the list keeps finished downloads
			case transfer.StateFailed:
				s.DownloadsFailed++
			default:
				if d.Active > 0 {
					s.DownloadsActive++
				}
			}
		}
	}
	s.SharedFiles, s.SharedFilesHashed, s.SharedBytes = st.SharedFiles, st.SharedHashed, st.SharedKB*1024
	return s
}
