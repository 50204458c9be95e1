package sim

import (
	"math/rand/v2"
	"slices"
)

// graph is an undirected simple graph as adjacency lists.
type graph [][]int32

func (g graph) edges() int {
	n := 0
	for _, a := range g {
		n += len(a)
	}
	return n / 2
}

func (g graph) has(a, b int32) bool { return slices.Contains(g[a], b) }

func (g graph) link(a, b int32) {
	g[a] = append(g[a], b)
	g[b] = append(g[b], a)
}

// randomRegular joins nodes into a random graph where every node has
// degree d, or d-1 for a few: the configuration model (d stubs per node,
// shuffled and paired), with self-loops and double links re-paired a
// bounded number of times and dropped after that.
func randomRegular(rng *rand.Rand, nodes []int32, d int, g graph) {
	if len(nodes) < 2 || d <= 0 {
		return
	}
	d = min(d, len(nodes)-1)
	stubs := make([]int32, 0, len(nodes)*d)
	for _, n := range nodes {
		for range d {
			stubs = append(stubs, n)
		}
	}
	for pass := 0; pass < 20 && len(stubs) > 1; pass++ {
		rng.Shuffle(len(stubs), func(i, j int) { stubs[i], stubs[j] = stubs[j], stubs[i] })
		left := stubs[:0]
		for i := 0; i+1 < len(stubs); i += 2 {
			a, b := stubs[i], stubs[i+1]
			if a == b || g.has(a, b) {
				left = append(left, a, b)
				continue
			}
			g.link(a, b)
		}
		stubs = left
	}
}

// network is one simulated topology: which node is an ultrapeer and who is
// linked to whom.
type network struct {
	up    []bool
	links graph
}

// twoTier builds the ultrapeer graph (random regular of degree upDegree)
// and attaches every leaf to leafUps distinct random ultrapeers.
func twoTier(rng *rand.Rand, n int, upShare float64, upDegree, leafUps int) *network {
	ups := max(1, int(float64(n)*upShare+0.5))
	nw := &network{up: make([]bool, n), links: make(graph, n)}
	upIDs := make([]int32, ups)
	for i := range ups {
		nw.up[i] = true
		upIDs[i] = int32(i)
	}
	randomRegular(rng, upIDs, upDegree, nw.links)
	k := min(leafUps, ups)
	for leaf := ups; leaf < n; leaf++ {
		for len(nw.links[leaf]) < k {
			u := int32(rng.IntN(ups))
			if !nw.links.has(int32(leaf), u) {
				nw.links.link(int32(leaf), u)
			}
		}
	}
	return nw
}

// flat builds the Gnutella 0.4 network of the same nodes: every node a
// peer, a random regular graph of degree d.
func flat(rng *rand.Rand, n, d int) *network {
	nw := &network{up: make([]bool, n), links: make(graph, n)}
	ids := make([]int32, n)
	for i := range n {
		nw.up[i] = true
		ids[i] = int32(i)
	}
	randomRegular(rng, ids, d, nw.links)
	return nw
}

// ultrapeers counts the ultrapeers.
func (nw *network) ultrapeers() int {
	k := 0
	for _, u := range nw.up {
		if u {
			k++
		}
	}
	return k
}
