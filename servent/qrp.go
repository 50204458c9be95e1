package servent

import (
	"time"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
)

// testHooks let in-package tests observe the node; set before Start.
type testHooks struct {
	onQuery    func(c *conn, q *protocol.Query) // a new query handled (after dedup)
	guessAfter time.Duration                    // when a search continues over GUESS (guessAfter)
}

// ourQRP is the library's QRP table, with the urns of the downloads we
// share in part (PFSP), so that queries for them reach us.
func (n *Node) ourQRP() *protocol.QRPTable {
	t := n.lib.QRPTable()
	partials := n.transfer.manager.Partials()
	if len(partials) == 0 || t == nil {
		return t
	}
	t = t.Clone()
	for _, p := range partials {
		t.AddHashCode(protocol.QRPURNCode(p.SHA1))
	}
	return t
}

// sendTable sends t as QRP RESET + PATCHes on c.
func sendTable(c *conn, t *protocol.QRPTable) {
	if t == nil {
		return
	}
	reset, patches := t.Messages(0, true)
	c.send(protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeQRP, TTL: 1}, &reset), true)
	for i := range patches {
		c.send(protocol.AppendMessage(nil, protocol.Header{GUID: protocol.NewGUID(), Type: protocol.TypeQRP, TTL: 1}, &patches[i]), true)
	}
}

// upTable is what an ultrapeer tells its ultrapeer neighbours for last-hop
// QRP (GNUTELLA.md 7.4): its own table OR'ed with every complete table of
// its leaves (a leaf without a table gets no queries, so it adds nothing).
func (n *Node) upTable() *protocol.QRPTable {
	tables := []*protocol.QRPTable{n.ourQRP()}
	bits := uint(16)
	for _, c := range n.snap.Load().leaves {
		if t := c.qrt.Load().Table(); t != nil {
			tables = append(tables, t)
		}
	}
	for _, t := range tables {
		if t != nil {
			bits = max(bits, t.Bits())
		}
	}
	return routing.Merge(min(bits, 21), tables...)
}

// refreshUpTable recomputes the last-hop table when something changed and
// sends it to the ultrapeers that asked for QRP (X-Ultrapeer-Query-Routing).
func (n *Node) refreshUpTable() {
	if !n.ultrapeer.Load() || !n.upTableDirty.Swap(false) {
		return
	}
	t := n.upTable()
	if old := n.upTableSent.Load(); old != nil && old.Equal(t) {
		return
	}
	n.upTableSent.Store(t)
	for _, c := range n.snap.Load().ups {
		if c.upQRP {
			sendTable(c, t)
		}
	}
}
