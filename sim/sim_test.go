package sim

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func byName(t *testing.T, r *Report) map[string]PolicyResult {
	t.Helper()
	out := map[string]PolicyResult{}
	for _, p := range r.Policies {
		out[p.Name] = p
	}
	require.Len(t, out, len(r.Policies))
	return out
}

// TestSmallNetwork: 200 nodes, every policy. Each node handles a query at
// most once, hits come back, nothing is closed, reach at TTL 1 is the
// degree, and for a popular file the policies save messages in the order
// the issue expects: flood > two-tier > qrp > last-hop QRP > dynamic
// querying.
func TestSmallNetwork(t *testing.T) {
	cfg := Defaults()
	cfg.Nodes, cfg.Queries, cfg.Seed = 200, 20, 7
	cfg.UpDegree = 6   // 30 ultrapeers: a degree that leaves room for TTL
	cfg.FlatDegree = 6 // a flat network that reaches everyone at TTL 7
	cfg.LeafUps = 1    // the ultrapeer running DQ sees every result
	cfg.FreeRiders = 0 // and a popular file is everywhere
	cfg.Files, cfg.FilesPerSharer = 4, 2
	cfg.RareShare = 0
	cfg.maxReplicaShare = 1
	cfg.checkOnce = true
	r, err := Run(cfg)
	require.NoError(t, err)
	assert.Equal(t, 30, r.Ultrapeers)
	ps := byName(t, r)
	for _, p := range r.Policies {
		assert.Zero(t, p.HandledTwice, p.Name)
		assert.Zero(t, p.Closed, p.Name)
		assert.Equal(t, cfg.Queries, p.Issued, p.Name)
		assert.Equal(t, 1.0, p.SuccessRate, p.Name)
		assert.Greater(t, p.ResultsPerQuery, 20.0, p.Name)
		assert.Greater(t, p.HitMsgsPerQuery, 0.0, p.Name)
	}
	assert.InDelta(t, float64(cfg.UpDegree), r.ReachVsTTL[0].Measured, 0.5, "TTL 1 reaches the neighbours")
	for i, p := range r.ReachVsTTL {
		assert.LessOrEqual(t, p.Measured, p.Tree, "TTL %d: no more than a tree", p.TTL)
		if i > 0 {
			assert.GreaterOrEqual(t, p.Measured, r.ReachVsTTL[i-1].Measured)
		}
	}
	order := []string{"flood", "two-tier", "qrp", "last-hop-qrp", "dq"}
	for i := 1; i < len(order); i++ {
		assert.Greater(t, ps[order[i-1]].MessagesPerQuery, ps[order[i]].MessagesPerQuery, "%s > %s", order[i-1], order[i])
	}
	// The same files answer whatever the routing, when every sharer is reached.
	assert.Equal(t, ps["flood"].ResultsPerQuery, ps["two-tier"].ResultsPerQuery)
	assert.Less(t, ps["dq"].SecondStepPopular, 0.5, "DQ stops after the probe for a file everywhere")
}

// TestDynamicQueryingGoesWideForRare: a rare file (one node) gets the
// second step, a file everywhere does not.
func TestDynamicQueryingGoesWideForRare(t *testing.T) {
	cfg := Defaults()
	cfg.Nodes, cfg.Queries, cfg.Seed = 300, 40, 3
	cfg.UpDegree, cfg.LeafUps, cfg.FreeRiders = 6, 1, 0
	cfg.Files, cfg.FilesPerSharer, cfg.maxReplicaShare = 200, 4, 1
	cfg.RareShare = 0.5
	cfg.Policies = []string{"dq"}
	r, err := Run(cfg)
	require.NoError(t, err)
	dq := r.Policies[0]
	assert.Greater(t, dq.SecondStepRare, 0.9)
	assert.Less(t, dq.SecondStepPopular, dq.SecondStepRare)
	assert.Greater(t, dq.RareSuccess, 0.0)
}

// TestLeafGuidanceFindsRareDespiteSpam: a tenth of the ultrapeers answer
// every query with ten results named after it. The searching leaves filter
// them out; when they tell their ultrapeers so (dq-guided) the dynamic
// queries go on past the spam and find the rare file's replicas far more
// often than when the ultrapeers count every result (dq). A sparse
// ultrapeer graph (degree 6) keeps a probe from covering the network.
func TestLeafGuidanceFindsRareDespiteSpam(t *testing.T) {
	cfg := Defaults()
	cfg.Nodes, cfg.Queries, cfg.Seed = 5000, 100, 1
	cfg.UpDegree = 6
	cfg.SpamUltrapeers, cfg.RareShare, cfg.RareReplicas = 0.1, 1, 5
	cfg.Policies = []string{"dq", "dq-guided"}
	r, err := Run(cfg)
	require.NoError(t, err)
	plain, guided := r.Policies[0], r.Policies[1]
	assert.GreaterOrEqual(t, guided.RareSuccess, 0.95)
	assert.Greater(t, guided.RareSuccess, plain.RareSuccess)
	assert.Greater(t, guided.ResultsPerQuery, 1.3*plain.ResultsPerQuery, "more of the 5 replicas found")
	assert.Greater(t, plain.SpamPerQuery, 10.0, "the spam was there, and filtered")
	assert.Greater(t, guided.SpamPerQuery, 10.0)
}

// TestFloodReachOnATree: on a large random 4-regular graph, cycles within
// a few hops are rare, so flood reach is the tree formula
// sum d(d-1)^(i-1): 4, 16, 52 for TTL 1-3.
func TestFloodReachOnATree(t *testing.T) {
	cfg := Defaults()
	require.NoError(t, cfg.fill())
	nw := flat(rand.New(rand.NewPCG(1, 2)), 20000, 4)
	for ttl, tree := range map[int]float64{1: 4, 2: 16, 3: 52} {
		reach, _ := floodReach(&cfg, nw, ttl, 5, 9)
		assert.LessOrEqual(t, reach, tree)
		assert.GreaterOrEqual(t, reach, 0.97*tree, "TTL %d", ttl)
	}
	// On a small dense graph cycles cut it far below.
	small := flat(rand.New(rand.NewPCG(1, 2)), 100, 8)
	reach, _ := floodReach(&cfg, small, 3, 5, 9)
	assert.Less(t, reach, 8+8*7+8*7*7.0)
	assert.LessOrEqual(t, reach, 99.0)
}

// TestLastHopShare: with ultrapeer degree 32 and TTL 3 about 97% of the
// copies between ultrapeers travel on the last hop (32 + 992 + 30752 on a
// tree); on 3,000 ultrapeers, where cycles already matter, still > 90%.
func TestLastHopShare(t *testing.T) {
	cfg := Defaults()
	require.NoError(t, cfg.fill())
	nw := flat(rand.New(rand.NewPCG(3, 4)), 3000, 32)
	_, share := floodReach(&cfg, nw, 3, 3, 1)
	assert.Greater(t, share, 0.9)
	assert.Less(t, share, 0.97)
}

func TestConfigErrors(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"nodes":    func(c *Config) { c.Nodes = 3 },
		"ttl":      func(c *Config) { c.TTL = 9 },
		"policy":   func(c *Config) { c.Policies = []string{"gossip"} },
		"share":    func(c *Config) { c.UltrapeerShare = 1.5 },
		"spacing":  func(c *Config) { c.QueryEvery = 1 },
		"spammers": func(c *Config) { c.Spammers = 2 },
	} {
		cfg := Defaults()
		mod(&cfg)
		_, err := Run(cfg)
		assert.Error(t, err, name)
	}
}

// TestSpamAndChurn: spammers' fake hits are counted apart, and churn takes
// leaves away and brings them back without a node handling a query twice.
func TestSpamAndChurn(t *testing.T) {
	cfg := Defaults()
	cfg.Nodes, cfg.Queries, cfg.Seed = 300, 30, 5
	cfg.UpDegree = 8
	cfg.Spammers, cfg.Churn = 0.05, 0.2
	cfg.Policies = []string{"flood", "dq"}
	cfg.checkOnce = true
	r, err := Run(cfg)
	require.NoError(t, err)
	for _, p := range r.Policies {
		assert.Greater(t, p.SpamPerQuery, 0.0, p.Name)
		assert.Zero(t, p.HandledTwice, p.Name)
		assert.Zero(t, p.Closed, p.Name)
		assert.Greater(t, p.SuccessRate, 0.0, p.Name)
	}
}

func TestWritePlots(t *testing.T) {
	cfg := Defaults()
	cfg.Nodes, cfg.Queries, cfg.UpDegree = 100, 5, 6
	r, err := Run(cfg)
	require.NoError(t, err)
	dir := t.TempDir()
	files, err := WritePlots(dir, r)
	require.NoError(t, err)
	require.Len(t, files, 4)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		assert.Contains(t, string(b), "<svg")
		assert.Contains(t, string(b), "</svg>")
		assert.Equal(t, dir, filepath.Dir(f))
	}
}

func TestEventQueueOrder(t *testing.T) {
	var q queue
	rng := rand.New(rand.NewPCG(1, 1))
	for range 5000 {
		q.push(event{at: rng.Int64N(3 * ringMs)})
	}
	last := int64(-1)
	for q.len() > 0 {
		e := q.pop()
		require.GreaterOrEqual(t, e.at, last)
		last = e.at
		if rng.IntN(4) == 0 {
			q.push(event{at: e.at + rng.Int64N(20000)})
		}
	}
}

// BenchmarkSim is the cost of a simulated query on a 2,000-node network
// under the dq policy, the one a real network runs (network and content
// built once per iteration, included).
func BenchmarkSim(b *testing.B) {
	b.ReportAllocs()
	const queries = 100
	for range b.N {
		cfg := Defaults()
		cfg.Nodes, cfg.Queries, cfg.Policies = 2000, queries, []string{"dq"}
		if _, err := Run(cfg); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*queries), "ns/query")
}
