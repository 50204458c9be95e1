package servent

import (
	"sync"

	"github.com/servent/servent/protocol"
)

// Send priorities, GTKG's gmsg_cmp() weights (GNUTELLA.md 7.8): higher is
// kept longer and sent first.
const (
	prioUnknown  = 0
	prioPing     = 1
	prioQuery    = 2
	prioPong     = 3
	prioQueryHit = 4
	prioPush     = 5
	prioVendor   = 6
	prioQRP      = 8
	prioBye      = 9
	numPrio      = 10
	numHops      = 16
)

func priorityOf(t protocol.PayloadType) uint8 {
	switch t {
	case protocol.TypePing:
		return prioPing
	case protocol.TypePong:
		return prioPong
	case protocol.TypeBye:
		return prioBye
	case protocol.TypeQRP:
		return prioQRP
	case protocol.TypeVendor, protocol.TypeStdVendor:
		return prioVendor
	case protocol.TypePush:
		return prioPush
	case protocol.TypeQuery:
		return prioQuery
	case protocol.TypeQueryHit:
		return prioQueryHit
	}
	return prioUnknown
}

// outMsg is one whole encoded descriptor waiting to be written. b is
// immutable once queued and may be shared by several queues.
type outMsg struct {
	b    []byte
	prio uint8
	hops uint8
	keep bool // never dropped (our own hits, QRP, vendor info)
}

func newOutMsg(b []byte, keep bool) outMsg {
	m := outMsg{b: b, keep: keep}
	if len(b) >= protocol.HeaderLen {
		m.prio = priorityOf(protocol.PayloadType(b[16]))
		m.hops = b[18]
		if m.hops >= numHops {
			m.hops = numHops - 1
		}
	}
	return m
}

// rank orders messages for dropping: the lowest rank goes first. Queries
// with more hops and replies with fewer hops are worth less (7.8).
func (m outMsg) rank() int {
	h := int(m.hops)
	if m.prio == prioQuery || m.prio == prioPing {
		h = numHops - 1 - h
	}
	return int(m.prio)*numHops + h
}

// fifo is a slice-backed deque.
type fifo struct {
	items []outMsg
	head  int
}

func (f *fifo) len() int { return len(f.items) - f.head }

func (f *fifo) push(m outMsg) {
	if f.head > 0 && len(f.items) == cap(f.items) {
		n := copy(f.items, f.items[f.head:])
		clear(f.items[n:])
		f.items = f.items[:n]
		f.head = 0
	}
	f.items = append(f.items, m)
}

func (f *fifo) pop() outMsg {
	m := f.items[f.head]
	f.items[f.head] = outMsg{}
	f.head++
	if f.head == len(f.items) {
		f.items = f.items[:0]
		f.head = 0
	}
	return m
}

// sendQueue is a connection's bounded outgoing queue. Enqueue never blocks:
// when the byte budget is exceeded the least valuable droppable messages are
// discarded (GTKG mq.c). The writer goroutine drains it in priority order.
type sendQueue struct {
	mu       sync.Mutex
	buckets  [numPrio][numHops]fifo // guarded by mu
	keepers  int                    // undroppable messages queued; guarded by mu
	bytes    int                    // guarded by mu
	max      int
	closed   bool // guarded by mu
	dropped  uint64
	overflow bool // an undroppable message did not fit; guarded by mu

	wake chan struct{} // capacity 1; never closed
}

func newSendQueue(maxBytes int) *sendQueue {
	return &sendQueue{max: maxBytes, wake: make(chan struct{}, 1)}
}

// enqueue queues m. It reports false when m was not queued (queue closed,
// or m dropped); overflow is true when an undroppable message found no room,
// which means the peer is not reading and the link must go.
func (q *sendQueue) enqueue(m outMsg) (ok, overflow bool) {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return false, false
	}
	need := q.bytes + len(m.b) - q.max
	if need > 0 && !q.makeRoom(need, m) {
		if m.keep {
			q.overflow = true
			q.mu.Unlock()
			return false, true
		}
		q.dropped++
		q.mu.Unlock()
		return false, false
	}
	q.buckets[m.prio][m.hops].push(m)
	q.bytes += len(m.b)
	if m.keep {
		q.keepers++
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true, false
}

// makeRoom drops droppable messages ranked below m until need bytes are
// free. It drops nothing when that cannot free enough. Called with mu held.
func (q *sendQueue) makeRoom(need int, m outMsg) bool {
	limit := numPrio * numHops
	if !m.keep {
		limit = m.rank()
	}
	// First pass: is there enough to drop?
	avail := 0
	for r := 0; r < limit && avail < need; r++ {
		f := q.bucketByRank(r)
		for i := f.head; i < len(f.items) && avail < need; i++ {
			if !f.items[i].keep {
				avail += len(f.items[i].b)
			}
		}
	}
	if avail < need {
		return false
	}
	for r := 0; r < limit && need > 0; r++ {
		f := q.bucketByRank(r)
		if f.len() == 0 {
			continue
		}
		// Drop oldest first, keeping undroppable messages in place.
		w := f.head
		for i := f.head; i < len(f.items); i++ {
			d := f.items[i]
			if need > 0 && !d.keep {
				q.bytes -= len(d.b)
				need -= len(d.b)
				q.dropped++
				continue
			}
			f.items[w] = d
			w++
		}
		clear(f.items[w:])
		f.items = f.items[:w]
		if f.head == len(f.items) {
			f.items = f.items[:0]
			f.head = 0
		}
	}
	return need <= 0
}

func (q *sendQueue) bucketByRank(r int) *fifo {
	p := r / numHops
	h := r % numHops
	if p == prioQuery || p == prioPing {
		h = numHops - 1 - h
	}
	return &q.buckets[p][h]
}

// popBatch moves up to maxBytes of messages (at least one if any) into dst,
// highest priority first.
func (q *sendQueue) popBatch(dst []outMsg, maxBytes int) []outMsg {
	q.mu.Lock()
	n := 0
	for p := numPrio - 1; p >= 0; p-- {
		for h := 0; h < numHops; h++ {
			f := &q.buckets[p][h]
			for f.len() > 0 {
				if n > 0 && n+len(f.items[f.head].b) > maxBytes {
					goto done
				}
				m := f.pop()
				n += len(m.b)
				q.bytes -= len(m.b)
				if m.keep {
					q.keepers--
				}
				dst = append(dst, m)
			}
		}
	}
done:
	q.mu.Unlock()
	return dst
}

// close stops further enqueues and discards what is queued.
func (q *sendQueue) close() {
	q.mu.Lock()
	q.closed = true
	for p := range q.buckets {
		for h := range q.buckets[p] {
			q.buckets[p][h] = fifo{}
		}
	}
	q.bytes = 0
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *sendQueue) stats() (bytes int, dropped uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes, q.dropped
}
