package servent

import (
	"crypto/rand"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// searchBytes is what a search holds in names (results and sources).
func searchBytes(s *Search) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.results {
		n += len(r.Name)
		for _, src := range r.Sources {
			n += len(src.Name)
		}
	}
	return n
}

// awaitQuery reads until our query with these criteria arrives.
func (p *rawPeer) awaitQuery(criteria string) protocol.Header {
	p.t.Helper()
	for {
		h, b := p.nextOf(protocol.TypeQuery)
		var q protocol.Query
		require.NoError(p.t, q.Decode(b))
		if q.Criteria == criteria {
			return h
		}
	}
}

// TestHostileHitFlood: a neighbour answers our search with QueryHits full
// of distinct long-named results. What the search keeps stays bounded in
// bytes, not only in counts.
func TestHostileHitFlood(t *testing.T) {
	n := startNode(t, ModeLeaf)
	p := connectRaw(t, n, true, "")
	waitPeers(t, n, 1, 0)
	s := n.Search("flood", nil)
	qh := p.awaitQuery("flood")
	long := strings.Repeat("x", 1000)
	const hits = 2 * maxSearchResults / maxHitBatch
	for i := range hits {
		hit := protocol.QueryHit{Port: 6346, IP: netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}), Speed: 1, Vendor: protocol.VendorSRVT,
			ServentGUID: protocol.NewGUID()}
		for j := range maxHitBatch {
			var sha protocol.SHA1
			_, _ = rand.Read(sha[:])
			hit.Results = append(hit.Results, protocol.Result{Index: uint32(j), Size: 1, Name: fmt.Sprintf("flood %s%d-%d.txt", long, i, j), SHA1: sha})
		}
		p.write(protocol.AppendMessage(nil, protocol.Header{GUID: qh.GUID, Type: protocol.TypeQueryHit, TTL: 3}, &hit))
	}
	ping := protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypePing, TTL: 1}
	p.write(protocol.AppendMessage(nil, ping, &protocol.Ping{}))
	for {
		h, _ := p.nextOf(protocol.TypePong)
		if h.GUID == ping.GUID {
			break
		}
	}
	require.NotEmpty(t, s.Results())
	require.LessOrEqual(t, searchBytes(s), maxSearchBytes)
}
