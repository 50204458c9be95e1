package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSimCommand: `servent sim --nodes 2000` runs in seconds, prints one
// JSON object with the names scripts read, and writes its SVG plots.
func TestSimCommand(t *testing.T) {
	out := t.TempDir()
	stdout, stderr, err := runCLI(t, "sim", "--nodes", "2000", "--queries", "10", "--json", "--out", out)
	require.NoError(t, err, stderr)
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &rep), stdout)
	for _, k := range []string{"nodes", "ultrapeers", "queries", "wall_s", "cpu_s", "peak_rss_bytes", "policies", "reach_vs_ttl"} {
		assert.Contains(t, rep, k)
	}
	assert.EqualValues(t, 2000, rep["nodes"])
	assert.EqualValues(t, 300, rep["ultrapeers"])
	pols := rep["policies"].([]any)
	var names []string
	for _, p := range pols {
		m := p.(map[string]any)
		names = append(names, m["name"].(string))
		for _, k := range []string{"success_rate", "results_per_query", "messages_per_query", "bytes_per_query", "duplicate_ratio", "last_hop_share", "first_hit_ms_median"} {
			assert.Contains(t, m, k, m["name"])
		}
		assert.Greater(t, m["messages_per_query"], 0.0)
	}
	assert.Equal(t, []string{"flood", "two-tier", "qrp", "last-hop-qrp", "dq"}, names)
	for _, f := range []string{"messages-per-query.svg", "reach-vs-ttl.svg", "results-cdf.svg", "first-hit-cdf.svg"} {
		b, err := os.ReadFile(filepath.Join(out, f))
		require.NoError(t, err, f)
		assert.Contains(t, string(b), "<svg", f)
	}
	assert.Contains(t, stderr, "of queries issued", "progress while it runs")
}

func TestSimCommandTable(t *testing.T) {
	stdout, _, err := runCLI(t, "sim", "--nodes", "300", "--queries", "5", "--up-degree", "8", "--policies", "qrp,dq")
	require.NoError(t, err)
	assert.Contains(t, stdout, "300 nodes (45 ultrapeers, 255 leaves)")
	assert.Contains(t, stdout, "last hop")
	assert.Contains(t, stdout, "TTL 1: 8 / 8")

	_, _, err = runCLI(t, "sim", "--nodes", "300", "--policies", "gossip")
	require.Error(t, err)
	assert.Contains(t, err.Error(), `policy "gossip"`)
}

func TestFilteredLine(t *testing.T) {
	assert.Empty(t, filteredLine(nil))
	assert.Equal(t, "filtered out as spam or hostile: 6 results (no-match 3, hostile 2, karma 1)",
		filteredLine(map[string]int{"karma": 1, "hostile": 2, "no-match": 3}))
	assert.Equal(t, "filtered out as spam or hostile: 1 result (karma 1)", filteredLine(map[string]int{"karma": 1}))
}
