package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent"
	"github.com/servent/servent/servent/api"
)

// scrape reads /metrics of the node whose data folder is data, with the
// key as a Bearer token, and parses it with Prometheus' own text parser.
func scrape(t *testing.T, data string) map[string]*dto.MetricFamily {
	t.Helper()
	addr, key, err := api.Discover(data)
	require.NoError(t, err)
	req, err := http.NewRequest("GET", "http://"+addr+"/metrics", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// value is the sum of a family's samples whose labels include want.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	sum, found := 0.0, false
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			ok := false
			for _, l := range m.GetLabel() {
				ok = ok || (l.GetName() == k && l.GetValue() == v)
			}
			match = match && ok
		}
		if !match {
			continue
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum, found
}

// TestMetrics: every listed series is there, and moves after a search and
// a download between two real servents.
func TestMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	up := startTestNode(t, "127.0.0.23", servent.ModeUltrapeer)
	require.NoError(t, os.WriteFile(filepath.Join(up.share, "metric song.ogg"), []byte(strings.Repeat("m", 64<<10)), 0o644))
	_, _, err := runCLI(t, "shares", "rescan", "--data", up.data)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, up.node.Library().WaitHashed(ctx))
	leaf := startTestNode(t, "127.0.0.24", servent.ModeLeaf, up.node.Addr().String())
	require.Eventually(t, func() bool { return leaf.node.Status().Peers == 1 && up.node.Status().Leaves == 1 }, 10*time.Second, 5*time.Millisecond)

	before := scrape(t, up.data)
	for _, name := range []string{
		"servent_connections", "servent_descriptors_received_total", "servent_descriptors_sent_total",
		"servent_gnet_received_bytes_total", "servent_gnet_sent_bytes_total", "servent_queries_total", "servent_query_hits_total",
		"servent_route_table_entries", "servent_push_route_table_entries", "servent_qrp_table_fill_ratio",
		"servent_dynamic_queries_running", "servent_searches", "servent_search_results_total",
		"servent_transfers_active", "servent_transfer_bytes_total", "servent_transfers_finished_total",
		"servent_shared_files", "servent_shared_bytes", "go_goroutines", "process_resident_memory_bytes",
	} {
		require.Contains(t, before, name)
	}
	v, _ := value(before, "servent_connections", map[string]string{"role": "leaf", "direction": "inbound"})
	require.EqualValues(t, 1, v)
	v, _ = value(before, "servent_shared_files", map[string]string{"state": "hashed"})
	require.EqualValues(t, 1, v)

	out, _, err := runCLI(t, "search", "--data", leaf.data, "--count", "1", "--wait", "10s", "metric", "song")
	require.NoError(t, err, out)
	_, _, err = runCLI(t, "get", "--data", leaf.data, "1")
	require.NoError(t, err)

	moved := func(fams map[string]*dto.MetricFamily, old map[string]*dto.MetricFamily, name string, labels map[string]string) bool {
		a, _ := value(old, name, labels)
		b, ok := value(fams, name, labels)
		return ok && b > a
	}
	after := scrape(t, up.data)
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"servent_descriptors_received_total", map[string]string{"type": "query"}},
		{"servent_descriptors_sent_total", map[string]string{"type": "query_hit"}},
		{"servent_queries_total", map[string]string{"action": "answered"}},
		{"servent_gnet_received_bytes_total", nil},
		{"servent_transfer_bytes_total", map[string]string{"direction": "upload"}},
		{"servent_transfers_finished_total", map[string]string{"direction": "upload", "outcome": "completed"}},
	} {
		require.True(t, moved(after, before, c.name, c.labels), "%s %v", c.name, c.labels)
	}
	leafAfter := scrape(t, leaf.data)
	for _, c := range []struct {
		name   string
		labels map[string]string
	}{
		{"servent_search_results_total", nil},
		{"servent_transfer_bytes_total", map[string]string{"direction": "download"}},
		{"servent_transfers_finished_total", map[string]string{"direction": "download", "outcome": "completed"}},
		{"servent_searches", nil},
	} {
		v, ok := value(leafAfter, c.name, c.labels)
		require.True(t, ok && v > 0, "%s %v: %v", c.name, c.labels, v)
	}
}
