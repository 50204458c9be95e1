package servent

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

func msg(t protocol.PayloadType, hops uint8, size int) []byte {
	b := protocol.Header{Type: t, TTL: 2, Hops: hops, Length: uint32(size)}.Append(nil)
	return append(b, make([]byte, size)...)
}

func TestSendQueueDropOrder(t *testing.T) {
	const unit = 100 + protocol.HeaderLen
	q := newSendQueue(5 * unit)
	add := func(typ protocol.PayloadType, hops uint8, keep bool) bool {
		ok, overflow := q.enqueue(newOutMsg(msg(typ, hops, 100), keep))
		require.False(t, overflow)
		return ok
	}
	require.True(t, add(protocol.TypeQuery, 1, false))
	require.True(t, add(protocol.TypeQuery, 3, false))
	require.True(t, add(protocol.TypePing, 0, false))
	require.True(t, add(protocol.TypeQueryHit, 2, false))
	require.True(t, add(protocol.TypeQueryHit, 0, true)) // our own hit
	// Full. A new hit pushes out the ping first, then the query with the
	// most hops.
	require.True(t, add(protocol.TypeQueryHit, 5, false))
	require.True(t, add(protocol.TypeQueryHit, 6, false))
	// A query now ranks below everything queued except the hops-1 query,
	// which it replaces only if it has fewer hops.
	require.False(t, add(protocol.TypeQuery, 2, false))
	require.True(t, add(protocol.TypeQuery, 0, false))
	_, dropped := q.stats()
	require.EqualValues(t, 4, dropped)

	got := q.popBatch(nil, 1<<20)
	var order []string
	for _, m := range got {
		order = append(order, protocol.PayloadType(m.b[16]).String()+string('0'+rune(m.b[18])))
	}
	// Dropped: the ping, the hops-3 query, the new hops-2 query, the
	// hops-1 query. Highest priority first; the own hit stayed.
	require.Equal(t, []string{"QueryHit0", "QueryHit2", "QueryHit5", "QueryHit6", "Query0"}, order)
	require.Zero(t, q.bytes)
}

func TestSendQueueOverflowOfKeepers(t *testing.T) {
	q := newSendQueue(2 * (100 + protocol.HeaderLen))
	for range 2 {
		ok, overflow := q.enqueue(newOutMsg(msg(protocol.TypeQueryHit, 0, 100), true))
		require.True(t, ok)
		require.False(t, overflow)
	}
	ok, overflow := q.enqueue(newOutMsg(msg(protocol.TypeQueryHit, 0, 100), true))
	require.False(t, ok)
	require.True(t, overflow, "a peer that lets our own hits pile up is not reading")
	q.close()
	ok, _ = q.enqueue(newOutMsg(msg(protocol.TypeQuery, 0, 10), false))
	require.False(t, ok)
}

func BenchmarkSendQueue(b *testing.B) {
	q := newSendQueue(1 << 20)
	m := newOutMsg(msg(protocol.TypeQuery, 1, 40), false)
	batch := make([]outMsg, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(len(m.b)))
	i := 0
	for b.Loop() {
		q.enqueue(m)
		if i++; i == 128 {
			batch = q.popBatch(batch[:0], 1<<20)
			i = 0
		}
	}
}
