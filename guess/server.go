package guess

import (
	"net/netip"
	"time"

	"github.com/servent/servent/protocol"
)

// Verdict is what a GUESS server does with a Query that came over UDP.
type Verdict uint8

const (
	// Answer: the key is valid; answer from the library and the leaves.
	Answer Verdict = iota
	// MissingKey: no GGEP QK. Unlike GTKG (15.3), a query with no
	// extension at all is not answered either: a key proves the source
	// address before we send hits larger than the query.
	MissingKey
	// BadKey: a QK that is not ours for this source (or not 4 bytes).
	BadKey
)

func (v Verdict) String() string {
	switch v {
	case Answer:
		return "answer"
	case MissingKey:
		return "missing key"
	case BadKey:
		return "bad key"
	}
	return "?"
}

// QueryDecision is the server's decision on one GUESS query.
type QueryDecision struct {
	Verdict Verdict
	// MoreHosts: the query carried SCP, so the acknowledgement Pong lists
	// GUESS hosts in IPP (GUESS 0.2, 15.2).
	MoreHosts bool
	// Key is a fresh key for the source when the query is refused: the
	// refusal Pong carries it so the client can retry with a new MUID.
	Key Key
}

// CheckQuery decides a GUESS query whose GGEP block is g, sent from
// from at now.
func (k *Keys) CheckQuery(g protocol.GGEP, from netip.AddrPort, now time.Time) QueryDecision {
	d := QueryDecision{MoreHosts: g.Has("SCP")}
	qk, ok := g.Get("QK")
	switch {
	case !ok:
		d.Verdict = MissingKey
	case !k.Valid(qk, from, now):
		d.Verdict = BadKey
	default:
		return d
	}
	d.Key = k.Key(from, now)
	return d
}

// KeyExtension is the GGEP QK a Pong carries to hand key out.
func KeyExtension(key Key) protocol.Extension {
	return protocol.Extension{ID: "QK", Data: append([]byte(nil), key[:]...)}
}

// GUEExtension is the GGEP GUE of a GUESS server's Pongs: the version
// (0.2), as GTKG writes it.
func GUEExtension() protocol.Extension {
	return protocol.Extension{ID: "GUE", Data: []byte{protocol.GUESSVersion}}
}
