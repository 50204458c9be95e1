package servent

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// routeLoadQueries is the fixed load of BenchmarkRouteLoadMemory, the load
// of issue 9's busy ultrapeer: half through one ultrapeer link to one
// other (1x1), half from 4 leaves to 4 ultrapeers (4x4). Far more than the
// route table holds, so the tables are full at the end.
const routeLoadQueries = 3_600_000

// BenchmarkRouteLoadMemory measures the memory a routing ultrapeer holds:
// the node runs alone in a child process (this test binary, started with
// loadChildEnv set) with the default configuration, so its RSS is its own;
// the load generators of routeRig run in the benchmark's process. One
// iteration is the whole fixed load, on a fresh node. Metrics:
//
//   - RSS-MiB: VmRSS of the node process after the load;
//   - RSS-peak-MiB: its VmHWM;
//   - heap-MiB: HeapInuse after a GC, after the load;
//   - retained-B/query: that heap less the idle node's, per routed query
//     (the route table is full, so this falls as the load grows: what is
//     retained is bounded by the tables, not by the load);
//   - B/route: the same heap growth per route-table entry held;
//   - queries/s: the routing throughput over the whole load.
func BenchmarkRouteLoadMemory(b *testing.B) { benchRouteLoadMemory(b, false) }

// BenchmarkRouteLoadMemoryDeflate is the same with every link deflated.
func BenchmarkRouteLoadMemoryDeflate(b *testing.B) { benchRouteLoadMemory(b, true) }

func benchRouteLoadMemory(b *testing.B, deflate bool) {
	b.ReportAllocs()
	for b.Loop() {
		child := startLoadChild(b)
		idle := child.heap()
		start := time.Now()
		for _, shape := range []struct {
			flooders, receivers int
			floodUp             bool
		}{{1, 1, true}, {4, 4, false}} {
			rig := newRouteRig(b, child.addr, shape.flooders, shape.receivers, shape.floodUp, deflate, child.progress)
			rig.window = childWindow
			rig.route(routeLoadQueries / 2)
			rig.close()
			rig.waitUntil("peers gone", func(p routeProgress) bool { return p.ups == 0 && p.leaves == 0 })
		}
		elapsed := time.Since(start)
		rss, peak := child.rss()
		loaded := child.heap()
		p := child.progress()
		child.quit()
		b.ReportMetric(float64(rss)/1024, "RSS-MiB")
		b.ReportMetric(float64(peak)/1024, "RSS-peak-MiB")
		b.ReportMetric(float64(loaded.inuse)/(1<<20), "heap-MiB")
		grown := float64(loaded.inuse) - float64(idle.inuse)
		b.ReportMetric(grown/float64(p.handled), "retained-B/query")
		if loaded.routes > 0 {
			b.ReportMetric(grown/float64(loaded.routes), "B/route")
		}
		b.ReportMetric(float64(p.handled)/elapsed.Seconds(), "queries/s")
		b.ReportMetric(float64(p.dropped), "dropped")
	}
}

// childWindow is the queries in flight to the child's node: what its
// receivers' default 128 KiB send queues hold without shedding.
const childWindow = 1024

// loadChildEnv, when set, makes the test binary run a node for
// BenchmarkRouteLoadMemory instead of the tests; its value is the IP to
// listen on. The node talks over stdin/stdout, a command a line:
// "progress", "heap", "quit".
const loadChildEnv = "SERVENT_LOAD_CHILD"

// loadProfileEnv names a file the child writes its heap profile to at
// each "heap" (the last one, after the load, is what stays), for
// go tool pprof -sample_index=inuse_space.
const loadProfileEnv = "SERVENT_LOAD_HEAPPROFILE"

func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// runLoadChild is the child process of BenchmarkRouteLoadMemory.
func runLoadChild() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "load child:", err); return 1 }
	dir, err := os.MkdirTemp("", "servent-load")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	ln, err := net.Listen("tcp", os.Getenv(loadChildEnv)+":0")
	if err != nil {
		return fail(err)
	}
	cfg := DefaultConfig()
	cfg.Listener = ln
	cfg.Mode = ModeUltrapeer
	cfg.ShareDir = filepath.Join(dir, "share")
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.fixedPeers = true
	// The load arrives as fast as the generators can write (about 500k
	// queries/s), far over the relayed-query budget; it measures routing
	// memory, not flood control.
	cfg.noFloodLimits = true
	cfg.MaxConnsPerNet = 1000 // every load peer is in 127.0.0.0/24
	for _, d := range []string{cfg.ShareDir, cfg.DataDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fail(err)
		}
	}
	n, err := New(cfg)
	if err != nil {
		return fail(err)
	}
	if err := n.Start(context.Background()); err != nil {
		return fail(err)
	}
	defer n.Close()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "addr %s\n", n.Addr())
	_ = out.Flush()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		switch sc.Text() {
		case "progress":
			p := progressOf(n)
			fmt.Fprintf(out, "%d %d %d %d %d %d %d\n", p.handled, p.forwarded, p.ups, p.leaves, p.written, p.queued, p.dropped)
		case "heap":
			var m runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&m)
			fmt.Fprintf(out, "%d %d %d\n", m.HeapInuse, m.HeapAlloc, n.routes.Len())
			if path := os.Getenv(loadProfileEnv); path != "" {
				if err := writeHeapProfile(path); err != nil {
					return fail(err)
				}
			}
		default:
			return 0
		}
		_ = out.Flush()
	}
	return 0
}

// loadChild is the parent's handle on the child process.
type loadChild struct {
	b    *testing.B
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	addr string
}

type childHeap struct {
	inuse, alloc uint64
	routes       int
}

func startLoadChild(b *testing.B) *loadChild {
	b.Helper()
	exe, err := os.Executable()
	require.NoError(b, err)
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), loadChildEnv+"="+nextIP())
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	require.NoError(b, err)
	outR, err := cmd.StdoutPipe()
	require.NoError(b, err)
	require.NoError(b, cmd.Start())
	c := &loadChild{b: b, cmd: cmd, in: in, out: bufio.NewScanner(outR)}
	b.Cleanup(func() {
		_ = in.Close()
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	line := c.line()
	addr, ok := strings.CutPrefix(line, "addr ")
	require.True(b, ok, "load child said %q", line)
	c.addr = addr
	return c
}

// line reads one answer of the child, failing after rigWait.
func (c *loadChild) line() string {
	got := make(chan bool, 1)
	go func() { got <- c.out.Scan() }()
	select {
	case ok := <-got:
		require.True(c.b, ok, "load child ended: %v", c.out.Err())
		return c.out.Text()
	case <-time.After(rigWait):
		_ = c.cmd.Process.Kill() // unblocks the Scan
		<-got
		c.b.Fatalf("load child: no answer in %v", rigWait)
		return ""
	}
}

func (c *loadChild) ask(cmd string, dst ...any) {
	_, err := fmt.Fprintln(c.in, cmd)
	require.NoError(c.b, err)
	line := c.line()
	_, err = fmt.Sscan(line, dst...)
	require.NoError(c.b, err, "load child answered %q to %s", line, cmd)
}

func (c *loadChild) progress() routeProgress {
	var p routeProgress
	c.ask("progress", &p.handled, &p.forwarded, &p.ups, &p.leaves, &p.written, &p.queued, &p.dropped)
	return p
}

func (c *loadChild) heap() childHeap {
	var h childHeap
	c.ask("heap", &h.inuse, &h.alloc, &h.routes)
	return h
}

// rss gives VmRSS and VmHWM of the child in KiB.
func (c *loadChild) rss() (rss, peak int) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	require.NoError(c.b, err)
	rss, peak = statusKB(string(st), "VmRSS:"), statusKB(string(st), "VmHWM:")
	require.Positive(c.b, rss, "no VmRSS in /proc/<pid>/status")
	return rss, peak
}

func (c *loadChild) quit() {
	_, _ = fmt.Fprintln(c.in, "quit")
	_ = c.in.Close()
	require.NoError(c.b, c.cmd.Wait())
}

// statusKB reads a "Key: N kB" line of /proc/<pid>/status.
func statusKB(status, key string) int {
	for l := range strings.SplitSeq(status, "\n") {
		if v, ok := strings.CutPrefix(l, key); ok {
			var kb int
			_, _ = fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb
		}
	}
	return 0
}
