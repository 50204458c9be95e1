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
	"strings"
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
	const flooders, receivers, batch = 4, 4, 256
	cfg := testConfig(b, ModeUltrapeer)
	cfg.QueueBytes = 1 << 20
	cfg.noFloodLimits = true // the leaves below flood queries on purpose
	n := startConfig(b, cfg)
	var received atomic.Int64
	var wg sync.WaitGroup
	for range receivers {
		p := connectRawTB(b, n, true, deflate)
		_ = p.conn.SetDeadline(time.Time{})
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				h, _, err := p.dec.Next()
				if err != nil {
					return
				}
				if h.Type == protocol.TypeQuery {
					received.Add(1)
				}
			}
		}()
	}
	var floods []*rawPeer
	for range flooders {
		p := connectRawTB(b, n, false, deflate)
		_ = p.conn.SetDeadline(time.Time{})
		floods = append(floods, p)
	}
	spinUntil(b, "all peers connected", func() bool {
		return n.Status().Peers == receivers && n.Status().Leaves == flooders
	})
	one := query("benchmark query words here", 3, 0)
	bufs := make([][]byte, flooders)
	for i := range bufs {
		bufs[i] = make([]byte, 0, batch*len(one))
		for range batch {
			bufs[i] = append(bufs[i], one...)
		}
	}
	var seq uint64
	sent := 0
	send := func(k int) {
		// k queries split among the flooders, each with a fresh GUID.
		var fw sync.WaitGroup
		for i, p := range floods {
			m := k / flooders
			if i < k%flooders {
				m++
			}
			if m == 0 {
				continue
			}
			buf := bufs[i][:m*len(one)]
			for j := range m {
				seq++
				binary.LittleEndian.PutUint64(buf[j*len(one):], seq)
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
		sent += k
	}
	wait := func() {
		spinUntil(b, "every query handled and forwarded", func() bool {
			return n.stats.queriesHandled.Load() >= uint64(sent) &&
				received.Load() >= int64(n.stats.queriesForwarded.Load())
		})
	}
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	b.SetBytes(int64(len(one)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	pending := 0
	const window = 8 * batch * flooders // queries in flight before we wait
	for b.Loop() {
		pending++
		if pending == batch*flooders {
			send(pending)
			pending = 0
			spinUntil(b, "the node to catch up", func() bool {
				return uint64(sent)-n.stats.queriesHandled.Load() <= window
			})
		}
	}
	if pending > 0 {
		send(pending)
	}
	wait()
	elapsed := time.Since(start)
	b.StopTimer()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(syscall.TimevalToNsec(ru1.Utime)-syscall.TimevalToNsec(ru0.Utime)) +
		time.Duration(syscall.TimevalToNsec(ru1.Stime)-syscall.TimevalToNsec(ru0.Stime))
	b.ReportMetric(float64(sent)/elapsed.Seconds(), "queries/s")
	b.ReportMetric(float64(received.Load())/elapsed.Seconds(), "copies/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(sent), "cpu-us/query")
	var dropped uint64
	for _, c := range n.snap.Load().ups {
		_, d := c.q.stats()
		dropped += d
	}
	b.ReportMetric(float64(dropped), "dropped")
	require.NoError(b, n.Close())
	wg.Wait()
}

// spinUntil polls cond (50 µs apart: it paces a benchmark's load, so
// require.Eventually's tick would be too coarse) and fails b after a
// minute instead of hanging when a message is lost.
func spinUntil(b *testing.B, what string, cond func() bool) {
	b.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatalf("benchmark stuck: waited a minute for %s", what)
		}
		time.Sleep(50 * time.Microsecond)
	}
}

func connectRawTB(b *testing.B, n *Node, up, deflate bool) *rawPeer {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(nextIP())}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addrOf(n))
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close() })
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

// BenchmarkIdleMemory32 measures the memory an idle node holds for 32 peer
// connections, plain and deflated both ways (heap and stacks, measured in
// process, the peers' ends are raw sockets with a small reader) and the
// process RSS. A measurement, not a test: it was TestIdleMemory32, which
// asserted nothing and ran in the default suite.
func BenchmarkIdleMemory32(b *testing.B) {
	for _, deflate := range []bool{false, true} {
		b.Run(fmt.Sprintf("deflate=%v", deflate), func(b *testing.B) {
			for b.Loop() {
				used, rss := idleMemory32(b, deflate)
				b.ReportMetric(float64(used>>10)/32, "KiB/conn")
				b.ReportMetric(float64(rss), "rss-KiB")
			}
		})
	}
}

// idleMemory32 connects 32 raw peers (16 ultrapeers, 16 leaves) to a new
// node and returns the heap and stack bytes they added and the process RSS.
func idleMemory32(b *testing.B, deflate bool) (used int64, rssKiB int) {
	n := startNode(b, ModeUltrapeer)
	defer func() { require.NoError(b, n.Close()) }()
	var m0, m1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m0)
	for i := range 32 {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(nextIP())}}
		c, err := d.Dial("tcp", addrOf(n))
		require.NoError(b, err)
		defer c.Close()
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
	return int64(m1.HeapInuse+m1.StackInuse) - int64(m0.HeapInuse+m0.StackInuse), rssKB()
}

func rssKB() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var kb int
			_, _ = fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), "%d", &kb)
			return kb
		}
	}
	return 0
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
