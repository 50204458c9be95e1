package protocol

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// bombExt is a GGEP extension of 65535 zero bytes sent deflated: about 100
// bytes on the wire.
func bombExt() Extension {
	return Extension{ID: "Z", Data: make([]byte, maxGGEPEncode), Deflate: true}
}

func ggepDataLen(g GGEP) int {
	n := 0
	for _, e := range g {
		n += len(e.Data)
	}
	return n
}

// One descriptor may carry many GGEP blocks (one per QueryHit result, several
// in a Query): the inflate cap must hold for the descriptor, not per block,
// or a 30 KB hit inflates to 16 MB.
func TestQueryHitGGEPInflateBudget(t *testing.T) {
	hit := QueryHit{Results: make([]Result, 255)}
	for i := range hit.Results {
		hit.Results[i] = Result{Index: uint32(i), Size: 1, Name: "a", GGEP: GGEP{bombExt()}}
	}
	hit.GGEP = GGEP{bombExt()}
	payload := hit.Append(nil)
	require.LessOrEqual(t, len(payload), MaxPayloadLen)

	var got QueryHit
	require.NoError(t, got.Decode(payload))
	require.Len(t, got.Results, 255)
	total := ggepDataLen(got.GGEP)
	for _, r := range got.Results {
		total += ggepDataLen(r.GGEP)
	}
	require.LessOrEqual(t, total, MaxGGEPInflate)
	require.Positive(t, total, "the first blocks within the budget are kept")
}

func TestQueryGGEPInflateBudget(t *testing.T) {
	block := GGEP{bombExt()}.Append(nil)
	payload := []byte{0x80, 0, 'a', 'b', 'c', 0}
	for len(payload)+len(block)+1 <= MaxQueryLen {
		payload = append(payload, block...)
		payload = append(payload, extSep)
	}
	var q Query
	require.NoError(t, q.Decode(payload))
	require.LessOrEqual(t, ggepDataLen(q.GGEP), MaxGGEPInflate)
}
