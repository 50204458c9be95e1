// Package metrics exports a node's counters to Prometheus (issue 17 item
// 4). The node keeps its counters as it always did; at each scrape a
// Source builds a Snapshot and a Collector turns it into metrics, so
// nothing is counted twice and nothing runs between scrapes.
package metrics

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Snapshot is what the node's counters say at one scrape. Maps are keyed by
// a label value; counters only grow while the node runs.
type Snapshot struct {
	// Connections by role ("ultrapeer", "leaf") and direction ("inbound",
	// "outbound").
	Connections map[[2]string]int
	// Descriptors received and sent, by type ("query", "query_hit", ...).
	DescriptorsIn, DescriptorsOut map[string]uint64
	BytesIn, BytesOut             uint64 // Gnutella links, compressed as on the wire
	// Dropped descriptors by reason (the routing core's names).
	Dropped map[string]uint64

	QueriesHandled, QueriesAnswered, QueriesForwarded uint64
	HitsRouted, HitsDelivered, HitsUnroutable         uint64
	RouteTableEntries, PushTableEntries               int
	QRPTableFill                                      float64 // share of our last-hop table's slots set

	DynamicQueriesRunning int
	DynamicQueriesEnded   map[string]uint64 // by why

	Searches      int
	SearchResults uint64            // results kept by the filter, over every search
	Filtered      map[string]uint64 // results dropped by the filter, by reason

	UploadsActive, DownloadsActive      int
	UploadBytes, DownloadBytes          uint64
	UploadsCompleted, UploadsFailed     uint64
	DownloadsCompleted, DownloadsFailed uint64
	SharedFiles, SharedFilesHashed      int
	SharedBytes                         uint64
}

// Source takes a snapshot; it is called once per scrape.
type Source func() Snapshot

// Collector turns a Source into metrics.
type Collector struct{ src Source }

// NewCollector makes a collector over src.
func NewCollector(src Source) *Collector { return &Collector{src: src} }

type desc struct {
	d      *prometheus.Desc
	labels []string
}

func newDesc(name, help string, labels ...string) desc {
	return desc{prometheus.NewDesc("servent_"+name, help, labels, nil), labels}
}

var (
	dConnections       = newDesc("connections", "Gnutella connections open.", "role", "direction")
	dDescriptorsIn     = newDesc("descriptors_received_total", "Gnutella descriptors received.", "type")
	dDescriptorsOut    = newDesc("descriptors_sent_total", "Gnutella descriptors sent.", "type")
	dBytesIn           = newDesc("gnet_received_bytes_total", "Bytes received on Gnutella links (closed ones included).")
	dBytesOut          = newDesc("gnet_sent_bytes_total", "Bytes sent on Gnutella links (closed ones included).")
	dDropped           = newDesc("descriptors_dropped_total", "Descriptors not handled further, by reason.", "reason")
	dQueries           = newDesc("queries_total", "Queries: new ones handled, answered from our library, copies forwarded.", "action")
	dHits              = newDesc("query_hits_total", "Query hits: routed for others, delivered to our searches, unroutable.", "action")
	dRouteEntries      = newDesc("route_table_entries", "Entries in the query route table.")
	dPushEntries       = newDesc("push_route_table_entries", "Entries in the push route table.")
	dQRPFill           = newDesc("qrp_table_fill_ratio", "Share of the slots set in the QRP table we send (0 to 1).")
	dDQRunning         = newDesc("dynamic_queries_running", "Dynamic queries running.")
	dDQEnded           = newDesc("dynamic_queries_ended_total", "Dynamic queries ended, by why.", "reason")
	dSearches          = newDesc("searches", "Searches started here and kept.")
	dSearchResults     = newDesc("search_results_total", "Search results kept by the hit filter.")
	dFiltered          = newDesc("search_results_filtered_total", "Search results dropped by the hit filter, by reason.", "reason")
	dTransfersActive   = newDesc("transfers_active", "Transfers under way.", "direction")
	dTransferBytes     = newDesc("transfer_bytes_total", "Bytes uploaded and downloaded over HTTP.", "direction")
	dTransfersFinished = newDesc("transfers_finished_total", "Transfers finished, by outcome.", "direction", "outcome")
	dSharedFiles       = newDesc("shared_files", "Files in the shared folder: all, and hashed.", "state")
	dSharedBytes       = newDesc("shared_bytes", "Bytes in the shared folder.")
)

var all = []desc{dConnections, dDescriptorsIn, dDescriptorsOut, dBytesIn, dBytesOut, dDropped, dQueries, dHits,
	dRouteEntries, dPushEntries, dQRPFill, dDQRunning, dDQEnded, dSearches, dSearchResults, dFiltered,
	dTransfersActive, dTransferBytes, dTransfersFinished, dSharedFiles, dSharedBytes}

// Describe sends every metric's description.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range all {
		ch <- d.d
	}
}

// Collect takes a snapshot and sends its metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.src()
	counter := func(d desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d.d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(d desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d.d, prometheus.GaugeValue, v, labels...)
	}
	for _, role := range []string{"ultrapeer", "leaf"} {
		for _, dir := range []string{"inbound", "outbound"} {
			gauge(dConnections, float64(s.Connections[[2]string{role, dir}]), role, dir)
		}
	}
	for k, v := range s.DescriptorsIn {
		counter(dDescriptorsIn, v, k)
	}
	for k, v := range s.DescriptorsOut {
		counter(dDescriptorsOut, v, k)
	}
	counter(dBytesIn, s.BytesIn)
	counter(dBytesOut, s.BytesOut)
	for k, v := range s.Dropped {
		counter(dDropped, v, k)
	}
	counter(dQueries, s.QueriesHandled, "handled")
	counter(dQueries, s.QueriesAnswered, "answered")
	counter(dQueries, s.QueriesForwarded, "forwarded")
	counter(dHits, s.HitsRouted, "routed")
	counter(dHits, s.HitsDelivered, "delivered")
	counter(dHits, s.HitsUnroutable, "unroutable")
	gauge(dRouteEntries, float64(s.RouteTableEntries))
	gauge(dPushEntries, float64(s.PushTableEntries))
	gauge(dQRPFill, s.QRPTableFill)
	gauge(dDQRunning, float64(s.DynamicQueriesRunning))
	for k, v := range s.DynamicQueriesEnded {
		counter(dDQEnded, v, k)
	}
	gauge(dSearches, float64(s.Searches))
	counter(dSearchResults, s.SearchResults)
	for k, v := range s.Filtered {
		counter(dFiltered, v, k)
	}
	gauge(dTransfersActive, float64(s.UploadsActive), "upload")
	gauge(dTransfersActive, float64(s.DownloadsActive), "download")
	counter(dTransferBytes, s.UploadBytes, "upload")
	counter(dTransferBytes, s.DownloadBytes, "download")
	counter(dTransfersFinished, s.UploadsCompleted, "upload", "completed")
	counter(dTransfersFinished, s.UploadsFailed, "upload", "failed")
	counter(dTransfersFinished, s.DownloadsCompleted, "download", "completed")
	counter(dTransfersFinished, s.DownloadsFailed, "download", "failed")
	gauge(dSharedFiles, float64(s.SharedFiles), "all")
	gauge(dSharedFiles, float64(s.SharedFilesHashed), "hashed")
	gauge(dSharedBytes, float64(s.SharedBytes))
}

// Handler serves src's metrics and the Go runtime and process collectors
// in the Prometheus text format.
func Handler(src Source) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewCollector(src), collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
