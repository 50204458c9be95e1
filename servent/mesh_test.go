package servent

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
	"github.com/servent/servent/servent/gnet"
)

// mesh is a set of nodes wired along given edges; counts[i] counts the new
// queries node i handled.
type mesh struct {
	nodes  []*Node
	counts []*atomic.Int64
	adj    [][]int
}

// startMesh starts n ultrapeers; edge (a, b) means a dials b.
func startMesh(t *testing.T, n int, edges [][2]int, mode func(i int) Mode) *mesh {
	t.Helper()
	m := &mesh{adj: make([][]int, n)}
	cfgs := make([]Config, n)
	for i := range n {
		md := ModeUltrapeer
		if mode != nil {
			md = mode(i)
		}
		cfgs[i] = testConfig(t, md, withFiles(fmt.Sprintf("file%d common.txt", i)))
		cfgs[i].noDynamicQuery = true
		c := new(atomic.Int64)
		m.counts = append(m.counts, c)
	}
	for _, e := range edges {
		cfgs[e[0]].Peers = append(cfgs[e[0]].Peers, cfgs[e[1]].Listener.Addr().String())
		m.adj[e[0]] = append(m.adj[e[0]], e[1])
		m.adj[e[1]] = append(m.adj[e[1]], e[0])
	}
	for i := range n {
		nd, err := New(cfgs[i])
		require.NoError(t, err)
		cnt := m.counts[i]
		nd.hooks.onQuery = func(*conn, *protocol.Query) { cnt.Add(1) }
		m.nodes = append(m.nodes, nd)
	}
	for i, nd := range m.nodes {
		require.NoError(t, nd.Start(t.Context()))
		t.Cleanup(func() { _ = m.nodes[i].Close() })
	}
	for i, nd := range m.nodes {
		require.Eventually(t, func() bool { return len(nd.Peers()) == len(m.adj[i]) }, waitFor, tick,
			"node %d: %d peers, want %d", i, len(nd.Peers()), len(m.adj[i]))
	}
	for _, nd := range m.nodes {
		require.NoError(t, nd.lib.WaitHashed(t.Context()))
	}
	return m
}

// dist is the hop distance from src over live nodes (-1: unreachable).
func (m *mesh) dist(src int, alive func(int) bool) []int {
	d := make([]int, len(m.nodes))
	for i := range d {
		d[i] = -1
	}
	d[src] = 0
	queue := []int{src}
	for len(queue) > 0 {
		u := queue[0]
		queue = queue[1:]
		for _, v := range m.adj[u] {
			if d[v] < 0 && alive(v) {
				d[v] = d[u] + 1
				queue = append(queue, v)
			}
		}
	}
	return d
}

func (m *mesh) index(ap string) int {
	return slices.IndexFunc(m.nodes, func(n *Node) bool { return n.Addr().String() == ap })
}

// checkSearch searches "common" from src and checks reach (exactly the
// nodes within 4 hops, each handling it once), the results (one per node
// reached) and that every hit came back along the exact reverse path of
// its query.
func (m *mesh) checkSearch(t *testing.T, src int, alive func(int) bool) {
	t.Helper()
	before := make([]int64, len(m.nodes))
	routedBefore := make([]uint64, len(m.nodes))
	for i := range m.nodes {
		before[i] = m.counts[i].Load()
		routedBefore[i] = m.nodes[i].stats.core.HitsRouted.Load()
	}
	d := m.dist(src, alive)
	var want []string
	for i, di := range d {
		if di >= 1 && di <= 4 {
			want = append(want, fmt.Sprintf("file%d common.txt", i))
		}
	}
	s := m.nodes[src].Search("common", nil)
	require.Eventually(t, func() bool { return len(s.Results()) >= len(want) }, waitFor, tick)
	require.ElementsMatch(t, want, resultNames(s))
	// Reverse path: follow each responder's route table back to src.
	wantRouted := make([]uint64, len(m.nodes))
	for i, di := range d {
		if di < 1 || di > 4 {
			continue
		}
		cur := i
		for steps := 0; cur != src; steps++ {
			// The path can be longer than the distance: a node that first
			// heard the query late on a long path (its route) and then with
			// a higher TTL on a short one forwards the second copy, and its
			// route keeps the first (gtk-gnutella's rule). No cycle, though.
			require.Less(t, steps, len(m.nodes))
			id, ok := m.nodes[cur].routes.Lookup(s.guid, protocol.TypeQuery)
			require.True(t, ok)
			require.NotEqual(t, routing.Local, id)
			c := m.nodes[cur].snap.Load().byID[id]
			require.NotNil(t, c)
			next := m.index(c.info().Addr.String())
			require.GreaterOrEqual(t, next, 0)
			if cur != i {
				wantRouted[cur]++
			}
			cur = next
		}
	}
	require.Eventually(t, func() bool {
		for i := range m.nodes {
			if alive(i) && m.nodes[i].stats.core.HitsRouted.Load()-routedBefore[i] != wantRouted[i] {
				return false
			}
		}
		return true
	}, waitFor, tick)
	for i := range m.nodes {
		if !alive(i) {
			continue
		}
		got := m.counts[i].Load() - before[i]
		if d[i] >= 1 && d[i] <= 4 {
			require.EqualValues(t, 1, got, "node %d at distance %d", i, d[i])
		} else {
			require.EqualValues(t, 0, got, "node %d at distance %d", i, d[i])
		}
	}
}

func all(int) bool { return true }

func TestMeshLine(t *testing.T) {
	const n = 12
	var edges [][2]int
	for i := 1; i < n; i++ {
		edges = append(edges, [2]int{i, i - 1})
	}
	m := startMesh(t, n, edges, nil)
	m.checkSearch(t, 0, all)
	m.checkSearch(t, 6, all)
}

func TestMeshRingNodeLeaves(t *testing.T) {
	const n = 12
	var edges [][2]int
	for i := range n {
		edges = append(edges, [2]int{(i + 1) % n, i})
	}
	m := startMesh(t, n, edges, nil)
	m.checkSearch(t, 0, all)
	// Node 1 leaves: its neighbours drop it, routing goes on around it.
	require.NoError(t, m.nodes[1].Close())
	require.Eventually(t, func() bool {
		return len(m.nodes[0].Peers()) == 1 && len(m.nodes[2].Peers()) == 1
	}, waitFor, tick)
	alive := func(i int) bool { return i != 1 }
	m.checkSearch(t, 0, alive)
	m.checkSearch(t, 2, alive)
}

func TestMeshRandom(t *testing.T) {
	const n = 14
	rng := rand.New(rand.NewPCG(4, 2))
	seen := map[[2]int]bool{}
	var edges [][2]int
	add := func(a, b int) {
		if a == b || seen[[2]int{a, b}] || seen[[2]int{b, a}] {
			return
		}
		seen[[2]int{a, b}] = true
		edges = append(edges, [2]int{a, b})
	}
	for i := 1; i < n; i++ {
		add(i, rng.IntN(i)) // a random spanning tree: connected
	}
	for range n / 2 {
		add(rng.IntN(n), rng.IntN(n))
	}
	m := startMesh(t, n, edges, nil)
	for _, src := range []int{0, 5, 13} {
		m.checkSearch(t, src, all)
	}
}

// TestTwoTierQRP: ultrapeers in a line with two leaves each; a leaf's
// query reaches only the leaves whose QRP table matches, and their hits
// reach the searcher.
func TestTwoTierQRP(t *testing.T) {
	u0 := startNode(t, ModeUltrapeer)
	u1 := startNode(t, ModeUltrapeer, withPeers(addrOf(u0)))
	u2 := startNode(t, ModeUltrapeer, withPeers(addrOf(u1)))
	ups := []*Node{u0, u1, u2}
	var leaves []*Node
	var counts []*atomic.Int64
	for i := range 6 {
		cfg := testConfig(t, ModeLeaf, withPeers(addrOf(ups[i/2])), withFiles(fmt.Sprintf("leaf%d song.mp3", i)))
		if i == 4 {
			cfg = testConfig(t, ModeLeaf, withPeers(addrOf(ups[i/2])), withFiles("metallica one.mp3"))
		}
		nd, err := New(cfg)
		require.NoError(t, err)
		c := new(atomic.Int64)
		nd.hooks.onQuery = func(*conn, *protocol.Query) { c.Add(1) }
		require.NoError(t, nd.Start(t.Context()))
		t.Cleanup(func() { _ = nd.Close() })
		require.NoError(t, nd.lib.WaitHashed(t.Context()))
		leaves = append(leaves, nd)
		counts = append(counts, c)
	}
	waitPeers(t, u0, 1, 2)
	waitPeers(t, u1, 2, 2)
	waitPeers(t, u2, 1, 2)
	for _, u := range ups {
		require.Eventually(t, func() bool {
			for _, c := range u.snap.Load().leaves {
				if c.qrt.Load() == nil {
					return false
				}
			}
			return true
		}, waitFor, tick)
	}
	s := leaves[0].Search("metallica", nil)
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
	require.Equal(t, "metallica one.mp3", s.Results()[0].Name)
	require.Equal(t, leaves[4].Addr(), s.Results()[0].Sources[0].Addr)
	for i, c := range counts {
		if i == 4 {
			require.EqualValues(t, 1, c.Load())
		} else {
			require.EqualValues(t, 0, c.Load(), "leaf %d got a query its table does not match", i)
		}
	}
	// A prefix of a shared word matches too (GTKG puts prefixes in the
	// table), and "song" reaches the five other leaves.
	s2 := leaves[4].Search("song", nil)
	require.Eventually(t, func() bool { return len(s2.Results()) == 5 }, waitFor, tick)
	require.EqualValues(t, 1, counts[4].Load())
}

// TestLeafQueryTTL1 : a GTKG leaf sends its queries with a low TTL and
// counts on its ultrapeer; ours floods them on its behalf.
func TestLeafQueryTTL1(t *testing.T) {
	u0 := startNode(t, ModeUltrapeer)
	u1 := startNode(t, ModeUltrapeer, withPeers(addrOf(u0)), withFiles("far away.txt"))
	waitPeers(t, u0, 1, 0)
	leaf := connectRaw(t, u0, false, "")
	waitPeers(t, u0, 1, 1)
	leaf.write(query("far", 1, 0))
	h, b := leaf.nextOf(protocol.TypeQueryHit)
	var hit protocol.QueryHit
	require.NoError(t, hit.Decode(b))
	require.Equal(t, u1.GUID(), hit.ServentGUID)
	require.EqualValues(t, 1, h.Hops)
}

// TestLeafQRPAfterChange: a leaf resends its QRP table when its library
// changes, so a new file becomes findable.
func TestLeafQRPAfterChange(t *testing.T) {
	up := startNode(t, ModeUltrapeer)
	cfg := testConfig(t, ModeLeaf, withPeers(addrOf(up)))
	leaf := startConfig(t, cfg)
	waitPeers(t, up, 0, 1)
	require.NoError(t, os.WriteFile(filepath.Join(cfg.ShareDir, "brand new.txt"), []byte("x"), 0o644))
	require.NoError(t, leaf.lib.Rescan())
	q := &protocol.Query{Flags: protocol.FlagMark, Criteria: "brand"}
	require.Eventually(t, func() bool {
		for _, c := range up.snap.Load().leaves {
			if c.qrt.Load().MayMatch(q) {
				return true
			}
		}
		return false
	}, waitFor, tick)
	s := up.Search("brand", nil)
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
}

// TestDynamicQuerying: a leaf's query for a file three hops away has no
// ultrapeer to probe (no last-hop table matches), so the dynamic query
// goes to the one ultrapeer at the TTL that reaches the rest, every node
// handles it once, and it ends when every ultrapeer was queried.
func TestDynamicQuerying(t *testing.T) {
	cfgs := []Config{}
	for i := range 4 {
		opts := []nodeOpt{}
		if i == 3 {
			opts = append(opts, withFiles("far far away.txt"))
		}
		cfg := testConfig(t, ModeUltrapeer, opts...)
		cfg.dqTimeScale = 0.02
		if i > 0 {
			cfg.Peers = []string{cfgs[i-1].Listener.Addr().String()}
		}
		cfgs = append(cfgs, cfg)
	}
	var nodes []*Node
	var counts []*atomic.Int64
	for _, cfg := range cfgs {
		n, err := New(cfg)
		require.NoError(t, err)
		cnt := new(atomic.Int64)
		n.hooks.onQuery = func(*conn, *protocol.Query) { cnt.Add(1) }
		require.NoError(t, n.Start(t.Context()))
		t.Cleanup(func() { _ = n.Close() })
		require.NoError(t, n.lib.WaitHashed(t.Context()))
		nodes = append(nodes, n)
		counts = append(counts, cnt)
	}
	waitPeers(t, nodes[1], 2, 0)
	waitPeers(t, nodes[2], 2, 0)
	leaf := connectRaw(t, nodes[0], false, "")
	leaf.write(query("far away", 4, 0))
	h, _ := leaf.nextOf(protocol.TypeQueryHit)
	require.EqualValues(t, 3, h.Hops, "routed back by 3 ultrapeers")
	st := &nodes[0].stats.core
	require.EqualValues(t, 1, st.DQStarted.Load())
	require.Eventually(t, func() bool { return st.DQEnded[gnet.DQAllQueried].Load() == 1 }, waitFor, tick)
	require.Zero(t, nodes[0].core.r.DQRunning())
	for i, c := range counts {
		require.EqualValues(t, 1, c.Load(), "node %d", i)
	}
}

// TestLastHopQRP: ultrapeers send each other their table (own files OR
// their leaves'); a query that would arrive with TTL 1 goes only to an
// ultrapeer whose table matches. In a line of 5, node 4 is node 0's last
// hop.
func TestLastHopQRP(t *testing.T) {
	const n = 5
	var edges [][2]int
	for i := 1; i < n; i++ {
		edges = append(edges, [2]int{i, i - 1})
	}
	m := startMesh(t, n, edges, nil)
	leaf := startNode(t, ModeLeaf, withPeers(addrOf(m.nodes[4])), withFiles("zebra crossing.txt"))
	waitPeers(t, m.nodes[4], 1, 1)
	z := &protocol.Query{Flags: protocol.FlagMark, Criteria: "zebra"}
	require.Eventually(t, func() bool {
		for _, c := range m.nodes[3].snap.Load().ups {
			if c.listen == m.nodes[4].Addr() && c.qrt.Load().MayMatch(z) {
				return true
			}
		}
		return false
	}, waitFor, tick, "node 3 has node 4's merged table")
	s := m.nodes[0].Search("zebra", nil)
	require.Eventually(t, func() bool { return len(s.Results()) == 1 }, waitFor, tick)
	require.Equal(t, leaf.Addr(), s.Results()[0].Sources[0].Addr)
	require.EqualValues(t, 1, m.counts[4].Load())
	s2 := m.nodes[0].Search("common", nil) // node N shares "fileN common.txt"
	require.Eventually(t, func() bool { return len(s2.Results()) == 4 }, waitFor, tick)
	require.EqualValues(t, 2, m.counts[4].Load())
	// "unicorn" matches nothing behind node 4; "zebra" again, sent after it
	// on the same links (same queue buckets: FIFO), marks when it would
	// have arrived.
	m.nodes[0].Search("unicorn", nil)
	s3 := m.nodes[0].Search("zebra", nil)
	require.Eventually(t, func() bool { return len(s3.Results()) == 1 }, waitFor, tick)
	require.EqualValues(t, 4, m.counts[3].Load())
	require.EqualValues(t, 3, m.counts[4].Load(), "a last-hop query matching nothing stays at node 3")
}
