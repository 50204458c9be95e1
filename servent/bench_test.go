package servent

import (
	"bufio"
	"compress/zlib"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/routing"
)

// BenchmarkRouteQueries measures one ultrapeer routing queries: 4 leaves
// flood distinct queries (TTL 3, hops 0), the node forwards each to 4
// ultrapeers that read and count them. One iteration is one query in (4
// copies out). cpu-us/query is the CPU time of the whole process (node
// and load generators) per query routed: an upper bound for the node.
func BenchmarkRouteQueries(b *testing.B) { benchRoute(b, false) }

// BenchmarkRouteQueriesDeflate is the same with every link compressed
// both ways, as gtk-gnutella's are.
func BenchmarkRouteQueriesDeflate(b *testing.B) { benchRoute(b, true) }

func benchRoute(b *testing.B, deflate bool) {
	const flooders, receivers = 4, 4
	cfg := testConfig(b, ModeUltrapeer)
	cfg.QueueBytes = 1 << 20
	cfg.noFloodLimits = true // the leaves below flood queries on purpose
	n := startConfig(b, cfg)
	progress := func() routeProgress {
		return progressOf(n)
	}
	rig := newRouteRig(b, addrOf(n), flooders, receivers, false, deflate, progress)
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.SetBytes(int64(len(rig.one)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	pending := 0
	for b.Loop() {
		pending++
		if pending == rigBatch*flooders {
			rig.send(pending)
			pending = 0
			rig.throttle()
		}
	}
	if pending > 0 {
		rig.send(pending)
	}
	rig.drain()
	elapsed := time.Since(start)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime)-syscall.TimevalToNsec(ru0.Utime)) +
		time.Duration(syscall.TimevalToNsec(ru1.Stime)-syscall.TimevalToNsec(ru0.Stime))
	b.ReportMetric(float64(rig.sent)/elapsed.Seconds(), "queries/s")
	b.ReportMetric(float64(rig.received.Load())/elapsed.Seconds(), "copies/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(rig.sent), "cpu-us/query")
	var dropped uint64
	for _, c := range n.snap.Load().ups {
		_, d := c.q.stats()
		dropped += d
	}
	b.ReportMetric(float64(dropped), "dropped")
	require.NoError(b, n.Close())
	rig.wg.Wait()
}

// progressOf reads what a routeRig needs of n.
func progressOf(n *Node) routeProgress {
	s := n.snap.Load()
	p := routeProgress{
		handled: n.stats.core.QueriesHandled.Load(), forwarded: n.stats.core.QueriesForwarded.Load(),
		ups: len(s.ups), leaves: len(s.leaves),
	}
	for _, c := range s.byID {
		q, d := c.q.stats()
		p.queued += q
		p.dropped += d
		p.written += c.msgsOut.Load()
	}
	return p
}

// rigBatch is the queries one flooder writes at once; rigWindow the
// queries in flight (sent, not yet handled) before the rig waits.
const (
	rigBatch  = 256
	rigWindow = 8 * rigBatch * 4
	// rigWait bounds every wait of the rig: a node that stops routing
	// fails the benchmark instead of hanging it.
	rigWait = 30 * time.Second
)

// routeProgress is what the rig needs to know of the node's routing.
type routeProgress struct {
	handled, forwarded uint64 // queries passed dedup; copies sent on
	ups, leaves        int    // established connections
	written            uint64 // messages written to the connections up now
	queued             int    // bytes in their send queues
	dropped            uint64 // messages the send queues shed
}

// routeRig drives a node with raw peers: flooders write distinct queries
// (TTL 3, hops 0, each with a fresh GUID), receivers (ultrapeers) read and
// count the copies the node forwards.
type routeRig struct {
	b        *testing.B
	floods   []*rawPeer
	recvs    []*rawPeer
	received atomic.Int64   // queries read by the receivers
	msgs     atomic.Uint64  // descriptors of any type read by any peer of the rig
	wg       sync.WaitGroup // the peers' reading goroutines
	window   int            // queries in flight before throttle waits
	one      []byte
	bufs     [][]byte
	seq      uint64
	sent     int
	progress func() routeProgress
	base     routeProgress // the node's counts when the rig was ready
}

// newRouteRig connects receivers ultrapeers and flooders peers (ultrapeers
// when floodUp, else leaves) to addr and waits until the node has them
// all. Earlier rigs' connections must be gone.
func newRouteRig(b *testing.B, addr string, flooders, receivers int, floodUp, deflate bool, progress func() routeProgress) *routeRig {
	r := &routeRig{b: b, progress: progress, one: query("benchmark query words here", 3, 0), window: rigWindow}
	read := func(p *rawPeer) {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for {
				h, _, err := p.dec.Next()
				if err != nil {
					return
				}
				r.msgs.Add(1)
				if h.Type == protocol.TypeQuery {
					r.received.Add(1)
				}
			}
		}()
	}
	for range receivers {
		p := connectRawTB(b, addr, true, deflate)
		_ = p.conn.SetDeadline(time.Time{})
		r.recvs = append(r.recvs, p)
		read(p)
	}
	for range flooders {
		p := connectRawTB(b, addr, floodUp, deflate)
		_ = p.conn.SetDeadline(time.Time{})
		r.floods = append(r.floods, p)
		read(p) // whatever the node sends them (pings), so that drain can count it
	}
	ups, leaves := receivers, flooders
	if floodUp {
		ups, leaves = receivers+flooders, 0
	}
	r.waitUntil("peers connected", func(p routeProgress) bool { return p.ups == ups && p.leaves == leaves })
	r.base = r.progress()
	r.bufs = make([][]byte, flooders)
	for i := range r.bufs {
		r.bufs[i] = make([]byte, 0, rigBatch*len(r.one))
		for range rigBatch {
			r.bufs[i] = append(r.bufs[i], r.one...)
		}
	}
	return r
}

// waitUntil polls the node's progress until cond holds, failing the
// benchmark after rigWait.
func (r *routeRig) waitUntil(what string, cond func(routeProgress) bool) {
	deadline := time.Now().Add(rigWait)
	for {
		p := r.progress()
		p.handled -= r.base.handled
		p.forwarded -= r.base.forwarded
		if cond(p) {
			return
		}
		if time.Now().After(deadline) {
			r.b.Fatalf("route rig: %s: not after %v (sent %d, received %d, node %+v)",
				what, rigWait, r.sent, r.received.Load(), p)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

// send writes k queries, split among the flooders, each with a fresh GUID.
func (r *routeRig) send(k int) {
	var fw sync.WaitGroup
	for i, p := range r.floods {
		m := k / len(r.floods)
		if i < k%len(r.floods) {
			m++
		}
		if m == 0 {
			continue
		}
		buf := r.bufs[i][:m*len(r.one)]
		for j := range m {
			r.seq++
			binary.LittleEndian.PutUint64(buf[j*len(r.one):], r.seq)
		}
		fw.Add(1)
		go func() {
			defer fw.Done()
			if p.zw != nil {
				_, _ = p.zw.Write(buf)
				_ = p.zw.Flush()
				return
			}
			_, _ = p.conn.Write(buf)
		}()
	}
	fw.Wait()
	r.sent += k
}

// throttle waits while more than r.window queries are in flight.
func (r *routeRig) throttle() {
	r.waitUntil("queries handled", func(p routeProgress) bool { return uint64(r.sent)-p.handled <= uint64(r.window) })
}

// drain waits until the node handled every query sent, its send queues
// are empty and the rig's peers read every message written to them
// (forwarded copies are not the measure: a queued copy may be dropped).
func (r *routeRig) drain() {
	r.waitUntil("queries drained", func(p routeProgress) bool {
		return p.handled >= uint64(r.sent) && p.queued == 0 && r.msgs.Load() >= p.written
	})
}

// route sends k queries in batches, throttled, and drains.
func (r *routeRig) route(k int) {
	for k > 0 {
		m := min(k, rigBatch*len(r.floods))
		r.send(m)
		k -= m
		r.throttle()
	}
	r.drain()
}

// close hangs up every peer of the rig and waits for the readers.
func (r *routeRig) close() {
	for _, p := range append(r.floods, r.recvs...) {
		_ = p.conn.Close()
	}
	r.wg.Wait()
}

func connectRawTB(b *testing.B, addr string, up, deflate bool) *rawPeer {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(nextIP())}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(rigWait)) // the handshake; callers clear it
	role, enc, ack := "False", "", ""
	if up {
		role = "True"
	}
	if deflate {
		enc, ack = "Accept-Encoding: deflate\r\n", "Content-Encoding: deflate\r\n"
	}
	_, err = c.Write([]byte("GNUTELLA CONNECT/0.6\r\nUser-Agent: raw/1\r\nX-Ultrapeer: " + role + "\r\n" + enc + "\r\n"))
	require.NoError(b, err)
	br := newBR(c)
	resp, err := protocol.ReadHandshake(br)
	require.NoError(b, err)
	require.Equal(b, 200, resp.Code)
	_, err = c.Write([]byte("GNUTELLA/0.6 200 OK\r\n" + ack + "\r\n"))
	require.NoError(b, err)
	p := &rawPeer{conn: c, br: br}
	var r io.Reader = br
	if deflate {
		r = bufio.NewReader(protocol.NewInflateReader(br, 0))
		p.zw = zlib.NewWriter(c)
	}
	p.dec = protocol.NewDecoder(r)
	return p
}

// BenchmarkIdleMemory32 reports the memory an idle node holds for 32 peer
// connections (16 ultrapeers, 16 leaves), plain and deflated both ways:
// heap and stacks per connection, measured in process (the peers' ends are
// raw sockets, counted in), and the growth of the process RSS. One
// iteration is a fresh node with its 32 connections.
func BenchmarkIdleMemory32(b *testing.B) {
	for _, deflate := range []bool{false, true} {
		b.Run(fmt.Sprintf("deflate=%v", deflate), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				used, rss := idleMemory32(b, deflate)
				b.ReportMetric(float64(used)/1024/32, "KiB/conn")
				b.ReportMetric(float64(rss)/32, "RSS-KiB/conn")
			}
		})
	}
}

// idleMemory32 connects 32 idle peers to a fresh node and gives the heap
// and stack bytes they added and the RSS growth in KiB.
func idleMemory32(b *testing.B, deflate bool) (used int64, rssKiB int) {
	n := startNode(b, ModeUltrapeer)
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	rss0 := selfRSSKB()
	var peers []net.Conn
	for i := range 32 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(nextIP())}, Timeout: rigWait}
		c, err := d.Dial("tcp", addrOf(n))
		require.NoError(b, err)
		peers = append(peers, c)
		_ = c.SetDeadline(time.Now().Add(rigWait))
		role, enc, ack := "False", "", ""
		if i < 16 {
			role = "True"
		}
		if deflate {
			enc, ack = "Accept-Encoding: deflate\r\n", "Content-Encoding: deflate\r\n"
		}
		_, err = c.Write([]byte("GNUTELLA CONNECT/0.6\r\nX-Ultrapeer: " + role + "\r\n" + enc + "\r\n"))
		require.NoError(b, err)
		resp, err := protocol.ReadHandshake(newBR(c))
		require.NoError(b, err)
		require.Equal(b, 200, resp.Code)
		_, err = c.Write([]byte("GNUTELLA/0.6 200 OK\r\n" + ack + "\r\n"))
		require.NoError(b, err)
	}
	waitPeers(b, n, 16, 16)
	runtime.GC()
	runtime.ReadMemStats(&m1)
	used = int64(m1.HeapInuse+m1.StackInuse) - int64(m0.HeapInuse+m0.StackInuse)
	rssKiB = selfRSSKB() - rss0
	require.NoError(b, n.Close())
	for _, c := range peers {
		_ = c.Close()
	}
	return used, rssKiB
}

// selfRSSKB is this process's VmRSS in KiB.
func selfRSSKB() int {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	return statusKB(string(st), "VmRSS:")
}

// BenchmarkRouteTableEntry reports the bytes one route-table entry costs.
func BenchmarkRouteTableEntry(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		const entries = 100_000
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		tb := routing.NewTable(entries, time.Hour, time.Now)
		var g protocol.GUID
		for i := range entries {
			binary.LittleEndian.PutUint64(g[:], uint64(i))
			tb.Add(g, protocol.TypeQuery, routing.ConnID(i%32+1))
		}
		runtime.GC()
		runtime.ReadMemStats(&m1)
		b.ReportMetric(float64(m1.HeapInuse-m0.HeapInuse)/entries, "bytes/entry")
		runtime.KeepAlive(tb)
	}
}
