// Package sim runs the servent's real routing core (servent/gnet) on a
// simulated Gnutella network of thousands of nodes: a discrete-event loop
// on a virtual clock, links with latency, leaves with real QRP tables
// (sharedir), and a query workload, to compare routing policies on the
// same network and queries (issue 12; docs/simulation.md).
package sim

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/servent/servent/servent/gnet"
)

// Config is a simulation. Zero fields take the defaults of Defaults.
type Config struct {
	Nodes          int
	Queries        int
	Seed           uint64
	UltrapeerShare float64 // of all nodes
	UpDegree       int     // ultrapeer-ultrapeer links per ultrapeer
	LeafUps        int     // ultrapeers per leaf
	FlatDegree     int     // links per node in the flat network; 0: as many links in all as the two-tier network
	TTL            int     // the two-tier max TTL (leaf queries go at TTL-1)
	FloodTTL       int     // the flat network's query TTL
	LatencyMin     time.Duration
	LatencyMax     time.Duration
	FreeRiders     float64 // share of leaves sharing nothing
	FilesPerSharer int
	Files          int     // catalogue size
	RareShare      float64 // share of queries for a file on one node
	QueryEvery     time.Duration
	Churn          float64 // share of leaves leaving (and coming back a minute later) per virtual minute
	Spammers       float64 // share of leaves answering every query with a fake hit
	SpamUltrapeers float64 // share of ultrapeers doing so (and claiming every keyword to their neighbours)
	RareReplicas   int     // a rare query names a file on this many nodes (0: 1)
	Policies       []string
	ReachTTL       int // reach versus TTL is measured for TTL 1..ReachTTL
	// Progress, when set, gets a line now and then.
	Progress io.Writer

	checkOnce       bool    // tests: count a node handling a query twice
	maxReplicaShare float64 // tests: a file is on at most this share of sharers (0: a tenth)
}

// Defaults is the configuration the flags start from.
func Defaults() Config {
	return Config{
		Nodes: 10000, Queries: 1000, Seed: 1, UltrapeerShare: 0.15, UpDegree: 32, LeafUps: 3,
		TTL: 4, FloodTTL: 7, LatencyMin: 20 * time.Millisecond, LatencyMax: 150 * time.Millisecond,
		FreeRiders: 0.7, FilesPerSharer: 10, RareShare: 0.2, QueryEvery: time.Second, ReachTTL: 4,
		Policies: PolicyNames(),
	}
}

// PolicyNames lists the policies in the order they are compared (all:
// with those not in the default comparison).
func PolicyNames(all ...bool) []string {
	var out []string
	for _, p := range policies {
		if !p.extra || len(all) > 0 && all[0] {
			out = append(out, p.name)
		}
	}
	return out
}

func (c *Config) fill() error {
	d := Defaults()
	orDefault(&c.Nodes, d.Nodes)
	orDefault(&c.Queries, d.Queries)
	orDefault(&c.UltrapeerShare, d.UltrapeerShare)
	orDefault(&c.UpDegree, d.UpDegree)
	orDefault(&c.LeafUps, d.LeafUps)
	orDefault(&c.TTL, d.TTL)
	orDefault(&c.FloodTTL, d.FloodTTL)
	orDefault(&c.FilesPerSharer, d.FilesPerSharer)
	orDefault(&c.Files, c.Nodes)
	orDefault(&c.QueryEvery, d.QueryEvery)
	orDefault(&c.ReachTTL, d.ReachTTL)
	orDefault(&c.RareReplicas, 1)
	if c.LatencyMax == 0 {
		c.LatencyMin, c.LatencyMax = d.LatencyMin, d.LatencyMax
	}
	if len(c.Policies) == 0 {
		c.Policies = d.Policies
	}
	switch {
	case c.Nodes < 10 || c.Nodes > 1<<24:
		return fmt.Errorf("nodes: %d, want 10 to %d", c.Nodes, 1<<24)
	case c.Queries < 1:
		return errors.New("queries: want at least 1")
	case c.UltrapeerShare <= 0 || c.UltrapeerShare >= 1:
		return fmt.Errorf("ultrapeer share %g: want between 0 and 1", c.UltrapeerShare)
	case c.TTL < 2 || c.TTL > 7 || c.FloodTTL < 1 || c.FloodTTL > 14:
		return errors.New("ttl: want 2-7 (two-tier) and 1-14 (flood)")
	case c.LatencyMin < 0 || c.LatencyMax < c.LatencyMin:
		return errors.New("latency: want 0 <= min <= max")
	case c.QueryEvery < time.Millisecond:
		return errors.New("query spacing: want at least 1ms of virtual time")
	case c.UpDegree < 1 || c.LeafUps < 1 || c.FlatDegree < 0 || c.FilesPerSharer < 1 || c.Files < 1:
		return errors.New("degrees, files and files per sharer: want at least 1")
	case c.FreeRiders < 0 || c.FreeRiders > 1 || c.RareShare < 0 || c.RareShare > 1 || c.Spammers < 0 || c.Spammers > 1 || c.SpamUltrapeers < 0 || c.SpamUltrapeers > 1 || c.Churn < 0:
		return errors.New("free riders, rare share and spammers are shares from 0 to 1, churn at least 0")
	}
	for _, name := range c.Policies {
		if !slices.Contains(PolicyNames(true), name) {
			return fmt.Errorf("policy %q: want one of %s", name, strings.Join(PolicyNames(true), ", "))
		}
	}
	return nil
}

// orDefault sets a zero field to its default (the shares that may be 0,
// free riders, rare, churn and spammers, are the caller's: Defaults).
func orDefault[T comparable](field *T, def T) {
	var zero T
	if *field == zero {
		*field = def
	}
}

func (c *Config) maxTTL(p policy) int {
	if p.flat {
		return c.FloodTTL
	}
	return c.TTL
}

// Report is the outcome; its JSON names are read by scripts.
type Report struct {
	Nodes       int            `json:"nodes"`
	Ultrapeers  int            `json:"ultrapeers"`
	Leaves      int            `json:"leaves"`
	Queries     int            `json:"queries"`
	Seed        uint64         `json:"seed"`
	Files       int            `json:"files"`
	Sharers     int            `json:"sharers"`
	Replicas    int            `json:"replicas"`
	FlatDegree  int            `json:"flat_degree"`
	WallS       float64        `json:"wall_s"`
	CPUS        float64        `json:"cpu_s"`
	PeakRSS     uint64         `json:"peak_rss_bytes"`
	Policies    []PolicyResult `json:"policies"`
	ReachVsTTL  []ReachPoint   `json:"reach_vs_ttl"`
	FloodToBest float64        `json:"flood_to_dq_messages,omitempty"` // messages per query, flood / dq
}

// PolicyResult is one policy's figures, per issued query.
type PolicyResult struct {
	Name              string  `json:"name"`
	SuccessRate       float64 `json:"success_rate"`
	ResultsPerQuery   float64 `json:"results_per_query"`
	MessagesPerQuery  float64 `json:"messages_per_query"`
	BytesPerQuery     float64 `json:"bytes_per_query"`
	QueryMsgsPerQuery float64 `json:"query_messages_per_query"`
	HitMsgsPerQuery   float64 `json:"hit_messages_per_query"`
	UpQueryMsgs       float64 `json:"up_query_messages_per_query"` // between ultrapeers (peers when flat)
	DuplicateRatio    float64 `json:"duplicate_ratio"`
	NodesReached      float64 `json:"nodes_reached"`
	LastHopShare      float64 `json:"last_hop_share"`
	FirstHitMsMedian  float64 `json:"first_hit_ms_median"`
	PopularSuccess    float64 `json:"popular_success_rate"`
	RareSuccess       float64 `json:"rare_success_rate"`
	SecondStepPopular float64 `json:"dq_second_step_popular"`
	SecondStepRare    float64 `json:"dq_second_step_rare"`
	SpamPerQuery      float64 `json:"spam_results_per_query"`
	Issued            int     `json:"issued"`
	Closed            uint64  `json:"links_closed"`
	HandledTwice      uint64  `json:"handled_twice"`
	WallS             float64 `json:"wall_s"`

	results   []int     // per issued query, for the CDF
	firstHits []float64 // ms, queries with a hit
}

// ReachPoint is flood reach on the ultrapeer graph at one TTL.
type ReachPoint struct {
	TTL      int     `json:"ttl"`
	Measured float64 `json:"measured"`
	Tree     float64 `json:"tree_formula"`
}

// world is what every policy shares: topologies, content, queries.
type world struct {
	twoTier, flat *network
	ct            *content
	spam          []bool
	queries       []queryState
	leave         []int32 // churn: who leaves, in order
	leaveEvery    int64   // ms
}

// Run builds the network and runs every policy on it.
func Run(cfg Config) (*Report, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	start := time.Now()
	cpu0 := cpuSeconds()
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5e17e47))
	w := &world{twoTier: twoTier(rng, cfg.Nodes, cfg.UltrapeerShare, cfg.UpDegree, cfg.LeafUps)}
	if cfg.FlatDegree == 0 {
		// As many links as the two-tier network: the same connection budget.
		cfg.FlatDegree = max(2, int(2*float64(w.twoTier.links.edges())/float64(cfg.Nodes)+0.5))
	}
	w.flat = flat(rng, cfg.Nodes, cfg.FlatDegree)
	ups := w.twoTier.ultrapeers()
	say(cfg.Progress, "network: %d nodes, %d ultrapeers (%d links between them), %d leaves; flat: degree %d, %d links",
		cfg.Nodes, ups, linksAmong(w.twoTier, true), cfg.Nodes-ups, cfg.FlatDegree, w.flat.links.edges())
	w.ct = newContent(rng, w.twoTier, cfg.Files, cfg.FilesPerSharer, cfg.FreeRiders, cfg.maxReplicaShare)
	w.spam = make([]bool, cfg.Nodes)
	for i := ups; i < cfg.Nodes; i++ {
		w.spam[i] = rng.Float64() < cfg.Spammers
	}
	if cfg.SpamUltrapeers > 0 { // drawn only then: runs without stay as they were
		for i := range ups {
			w.spam[i] = rng.Float64() < cfg.SpamUltrapeers
		}
	}
	w.queries = makeQueries(rng, &cfg, w.twoTier, w.ct, w.spam)
	if cfg.Churn > 0 {
		leaves := cfg.Nodes - ups
		perMinute := cfg.Churn * float64(leaves)
		w.leaveEvery = max(1, int64(float64(time.Minute.Milliseconds())/max(perMinute, 1e-9)))
		horizon := int64(cfg.Queries) * cfg.QueryEvery.Milliseconds()
		for t := w.leaveEvery; t < horizon; t += w.leaveEvery {
			w.leave = append(w.leave, int32(ups+rng.IntN(leaves)))
		}
	}
	say(cfg.Progress, "content: %d files, %d replicas on %d sharing nodes; %d queries (%.0f%% rare)",
		cfg.Files, w.ct.replicas, w.ct.sharers, cfg.Queries, 100*cfg.RareShare)

	rep := &Report{Nodes: cfg.Nodes, Ultrapeers: ups, Leaves: cfg.Nodes - ups, Queries: cfg.Queries, Seed: cfg.Seed,
		Files: cfg.Files, Sharers: w.ct.sharers, Replicas: w.ct.replicas, FlatDegree: cfg.FlatDegree}
	rep.ReachVsTTL = reachVsTTL(&cfg, w.twoTier, rng.Uint64())

	// Policies run side by side, one per core: each has its own routers.
	rep.Policies = make([]PolicyResult, len(cfg.Policies))
	sem := make(chan struct{}, max(1, min(2, runtime.GOMAXPROCS(0))))
	var wg sync.WaitGroup
	var mu sync.Mutex // Progress
	for i, name := range cfg.Policies {
		pol := policyNamed(name)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			rep.Policies[i] = runPolicy(&cfg, pol, w, func(format string, args ...any) {
				mu.Lock()
				defer mu.Unlock()
				say(cfg.Progress, format, args...)
			})
		}()
	}
	wg.Wait()
	var flood, dq *PolicyResult
	for i := range rep.Policies {
		switch rep.Policies[i].Name {
		case "flood":
			flood = &rep.Policies[i]
		case "dq":
			dq = &rep.Policies[i]
		}
	}
	if flood != nil && dq != nil && dq.MessagesPerQuery > 0 {
		rep.FloodToBest = flood.MessagesPerQuery / dq.MessagesPerQuery
	}
	rep.WallS = time.Since(start).Seconds()
	rep.CPUS = cpuSeconds() - cpu0
	rep.PeakRSS = peakRSS()
	return rep, nil
}

func policyNamed(name string) policy {
	for _, p := range policies {
		if p.name == name {
			return p
		}
	}
	return policy{name: name}
}

// makeQueries draws the workload: origins among the leaves that are not
// spammers; a popular query names a file drawn by Zipf rank (the same
// order as replication), a rare one a file on a single node; its words are
// two of the file's.
func makeQueries(rng *rand.Rand, cfg *Config, nw *network, ct *content, spam []bool) []queryState {
	var leaves []int32
	for i, up := range nw.up {
		if !up && !spam[i] {
			leaves = append(leaves, int32(i))
		}
	}
	if len(leaves) == 0 {
		for i := range nw.up {
			leaves = append(leaves, int32(i))
		}
	}
	var rare []int
	for i, f := range ct.files {
		if f.replicas == cfg.RareReplicas {
			rare = append(rare, i)
		}
	}
	popularity := newZipf(len(ct.files), 1)
	qs := make([]queryState, cfg.Queries)
	for i := range qs {
		q := &qs[i]
		q.origin = leaves[rng.IntN(len(leaves))]
		q.firstHit = -1
		var f int
		if len(rare) > 0 && rng.Float64() < cfg.RareShare {
			f = rare[rng.IntN(len(rare))]
		} else {
			f = popularity.draw(rng) // queries are Zipf over the catalogue's ranks, as replication
			q.popular = true
		}
		ws := ct.files[f].words
		a := rng.IntN(len(ws))
		b := (a + 1 + rng.IntN(len(ws)-1)) % len(ws)
		q.words = ct.words[ws[a]] + " " + ct.words[ws[b]]
	}
	return qs
}

// runPolicy runs the workload on fresh routers.
func runPolicy(cfg *Config, pol policy, w *world, progress func(string, ...any)) PolicyResult {
	start := time.Now()
	nw := w.twoTier
	if pol.flat {
		nw = w.flat
	}
	e := newEngine(cfg, pol, nw, w.ct, w.spam, cfg.maxTTL(pol), cfg.Seed^0x9e3779b97f4a7c15)
	e.queries = slices.Clone(w.queries)
	for i := range e.queries {
		e.schedule(event{at: int64(i) * cfg.QueryEvery.Milliseconds(), kind: evQuery, node: e.queries[i].origin, link: gnet.LinkID(i)})
	}
	for i, u := range w.leave {
		e.schedule(event{at: int64(i+1) * w.leaveEvery, kind: evLeave, node: u})
	}
	step := max(1, len(e.queries)/10)
	e.run(func(done int) {
		if done%step == 0 || done == len(e.queries) {
			progress("%-12s %3d%% of queries issued, %.1fs", pol.name, 100*done/len(e.queries), time.Since(start).Seconds())
		}
	})
	r := e.summary()
	r.WallS = time.Since(start).Seconds()
	return r
}

// summary turns the tally into per-query figures.
func (e *engine) summary() PolicyResult {
	r := PolicyResult{Name: e.pol.name, Closed: e.tally.closed, HandledTwice: e.tally.twice}
	var ok, pop, popOK, rare, rareOK, secPop, secRare, results, spam, reached int
	for i := range e.queries {
		q := &e.queries[i]
		if q.issued < 0 {
			continue
		}
		r.Issued++
		results += q.results
		spam += q.spam
		reached += q.reached
		r.results = append(r.results, q.results)
		if q.results > 0 {
			ok++
			r.firstHits = append(r.firstHits, float64(q.firstHit))
		}
		if q.popular {
			pop++
			if q.results > 0 {
				popOK++
			}
			if q.second {
				secPop++
			}
		} else {
			rare++
			if q.results > 0 {
				rareOK++
			}
			if q.second {
				secRare++
			}
		}
	}
	n := float64(max(r.Issued, 1))
	var msgs, bytes uint64
	for i := range e.tally.msgs {
		msgs += e.tally.msgs[i]
		bytes += e.tally.bytes[i]
	}
	r.SuccessRate = float64(ok) / n
	r.ResultsPerQuery = float64(results) / n
	r.SpamPerQuery = float64(spam) / n
	r.MessagesPerQuery = float64(msgs) / n
	r.BytesPerQuery = float64(bytes) / n
	r.QueryMsgsPerQuery = float64(e.tally.msgs[0x80]) / n
	r.HitMsgsPerQuery = float64(e.tally.msgs[0x81]) / n
	r.UpQueryMsgs = float64(e.tally.upDeliveries) / n
	r.NodesReached = float64(reached) / n
	r.DuplicateRatio = ratio(e.tally.duplicates, e.tally.queryDeliveries)
	r.LastHopShare = ratio(e.tally.lastHop, e.tally.upDeliveries)
	r.PopularSuccess = ratio(uint64(popOK), uint64(pop))
	r.RareSuccess = ratio(uint64(rareOK), uint64(rare))
	r.SecondStepPopular = ratio(uint64(secPop), uint64(pop))
	r.SecondStepRare = ratio(uint64(secRare), uint64(rare))
	r.FirstHitMsMedian = median(r.firstHits)
	return r
}

func ratio(a, b uint64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	return s[len(s)/2]
}

// reachVsTTL floods queries on the ultrapeer graph alone (every
// ultrapeer a peer, no leaves) at TTL 1..cfg.ReachTTL and counts the
// ultrapeers reached, beside the tree formula sum d(d-1)^(i-1).
func reachVsTTL(cfg *Config, nw *network, seed uint64) []ReachPoint {
	ups := &network{}
	for i, up := range nw.up {
		if !up {
			break // ultrapeers come first
		}
		ups.up = append(ups.up, true)
		var peers []int32
		for _, p := range nw.links[i] {
			if nw.up[p] {
				peers = append(peers, p)
			}
		}
		ups.links = append(ups.links, peers)
	}
	d := float64(cfg.UpDegree)
	var out []ReachPoint
	for ttl := 1; ttl <= cfg.ReachTTL; ttl++ {
		tree := 0.0
		for i := 1; i <= ttl; i++ {
			tree += d * pow(d-1, i-1)
		}
		reach, _ := floodReach(cfg, ups, ttl, 5, seed)
		out = append(out, ReachPoint{TTL: ttl, Measured: reach, Tree: tree})
	}
	return out
}

// floodReach is the mean number of nodes (the origin excluded) that handle
// a query flooded at ttl from `origins` random nodes of nw, and the share
// of the copies sent that arrive with TTL 1 (on the last hop).
func floodReach(cfg *Config, nw *network, ttl, origins int, seed uint64) (reach, lastHop float64) {
	e := newEngine(cfg, policy{name: "reach", flat: true}, nw, nil, nil, ttl, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	e.queries = make([]queryState, origins)
	for i := range e.queries {
		e.queries[i] = queryState{origin: int32(rng.IntN(len(nw.up))), words: "reach test", firstHit: -1}
		e.schedule(event{at: int64(i) * time.Minute.Milliseconds(), kind: evQuery, node: e.queries[i].origin, link: gnet.LinkID(i)})
	}
	e.run(nil)
	sum := 0
	for _, q := range e.queries {
		sum += q.reached
	}
	return float64(sum) / float64(origins), ratio(e.tally.lastHop, e.tally.upDeliveries)
}

func pow(x float64, n int) float64 {
	r := 1.0
	for range n {
		r *= x
	}
	return r
}

func linksAmong(nw *network, ups bool) int {
	n := 0
	for a, peers := range nw.links {
		for _, b := range peers {
			if int32(a) < b && nw.up[a] == ups && nw.up[b] == ups {
				n++
			}
		}
	}
	return n
}

func say(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format+"\n", args...)
	}
}

func cpuSeconds() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// peakRSS is the process's high-water resident set (Linux: KiB).
func peakRSS() uint64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return uint64(ru.Maxrss) * 1024
}
