package servent

import (
	"encoding/binary"
	"math/rand/v2"
	"slices"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/sharedir"
)

// Partial results (GNUTELLA-TRANSFERS.md 22.3): a query by urn for a
// file we are still downloading is answered, for the part that passed the
// Tiger tree, as gtk-gnutella marks a partial result: a random file index
// (the file is fetched by urn) and GGEP PRU, the last-modified time (4
// bytes big-endian) and the bytes available (variable length).

// sharesPartials reports whether a download may be shared in part (the
// gate for decoding queries with an empty library: a counter, no walk).
func (n *Node) sharesPartials() bool { return n.transfer.manager.Sharing() }

// partialResults are the partials q asks for by urn that files (the
// library's answer) lacks.
func (n *Node) partialResults(q *protocol.Query, files []sharedir.File) []protocol.Result {
	var out []protocol.Result
	for _, sha := range q.SHA1s {
		if slices.ContainsFunc(files, func(f sharedir.File) bool { return f.SHA1 == sha }) {
			continue
		}
		p, ok := n.transfer.manager.Partial(sha)
		if !ok {
			continue
		}
		pru := binary.BigEndian.AppendUint32(nil, uint32(p.ModTime.Unix()))
		pru = protocol.AppendVLInt(pru, uint64(p.Ranges.Total()))
		out = append(out, protocol.Result{
			Index: rand.Uint32N(1<<31) + 1<<31, // qhit_random_index: never one of our library's
			Size:  uint64(p.Size), Name: p.Name, SHA1: p.SHA1, TTH: p.TTH,
			GGEP: protocol.GGEP{{ID: "PRU", Data: pru}},
		})
	}
	return out
}
