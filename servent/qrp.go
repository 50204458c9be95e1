package servent

import (
	"github.com/servent/servent/protocol"
)

// testHooks let in-package tests observe the node; set before Start.
type testHooks struct {
	onQuery func(c *conn, q *protocol.Query) // a new query handled (after dedup)
}

// ourQRP is the library's QRP table. Until sharedir exposes QRPTable it is
// built here from the file names (words and their 1..5-char-cut prefixes of
// >= 3 bytes, as GTKG qrp_add_file).
func (n *Node) ourQRP() *protocol.QRPTable {
	if q, ok := any(n.lib).(interface{ QRPTable() *protocol.QRPTable }); ok {
		return q.QRPTable()
	}
	files := n.lib.Files()
	bits := uint(16)
	for words := len(files) * 4; words > (1<<bits)/100 && bits < 21; bits++ {
	}
	t := protocol.NewQRPTable(bits)
	for _, f := range files {
		for _, w := range protocol.Keywords(f.Name) {
			t.AddWord(w)
			r := []rune(w)
			for cut := 1; cut <= 5 && len(r)-cut > 0; cut++ {
				p := string(r[:len(r)-cut])
				if len(p) < 3 {
					break
				}
				t.AddWord(p)
			}
		}
		if !f.SHA1.IsZero() {
			t.AddWord(f.SHA1.URN())
		}
	}
	return t
}
