package servent

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(loadChildEnv) != "" {
		os.Exit(runLoadChild()) // a node for BenchmarkRouteLoadMemory, in its own process
	}
	goleak.VerifyTestMain(m)
}

const (
	waitFor = 10 * time.Second
	tick    = 5 * time.Millisecond
)

var ipCounter atomic.Uint32

// nextIP hands out a fresh 127.0.x.y per node so per-IP rules hold.
func nextIP() string {
	n := ipCounter.Add(1) + 10
	return fmt.Sprintf("127.0.%d.%d", n/250, n%250+2)
}

type nodeOpt func(*Config)

func withPeers(addrs ...string) nodeOpt {
	return func(c *Config) { c.Peers = append(c.Peers, addrs...) }
}

func withFiles(names ...string) nodeOpt {
	return func(c *Config) {
		for _, name := range names {
			if err := os.WriteFile(filepath.Join(c.ShareDir, name), []byte("content of "+name), 0o644); err != nil {
				panic(err)
			}
		}
	}
}

func withDataDir(dir string) nodeOpt { return func(c *Config) { c.DataDir = dir } }

func testConfig(t testing.TB, mode Mode, opts ...nodeOpt) Config {
	t.Helper()
	ln, err := net.Listen("tcp", nextIP()+":0")
	require.NoError(t, err)
	cfg := DefaultConfig()
	cfg.Listener = ln
	cfg.Mode = mode
	cfg.ShareDir = t.TempDir()
	cfg.DataDir = t.TempDir()
	cfg.MaintainInterval = 20 * time.Millisecond
	cfg.HandshakeTimeout = 5 * time.Second
	// Test nodes share 127.0.0.0/24 (nextIP): lift the per-network cap,
	// which tests that need it set back.
	cfg.MaxConnsPerNet = 1000
	cfg.fixedPeers = true
	cfg.noOOB = true // the tests of OOB hits turn them on (withOOB)
	if testing.Verbose() && os.Getenv("SERVENT_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

func startNode(t testing.TB, mode Mode, opts ...nodeOpt) *Node {
	t.Helper()
	return startConfig(t, testConfig(t, mode, opts...))
}

func startConfig(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg)
	require.NoError(t, err)
	require.NoError(t, n.Start(context.Background()))
	t.Cleanup(func() { _ = n.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	require.NoError(t, n.lib.WaitHashed(ctx))
	return n
}

func addrOf(n *Node) string { return n.Addr().String() }

func waitPeers(t testing.TB, n *Node, ups, leaves int) {
	t.Helper()
	require.Eventually(t, func() bool {
		s := n.Status()
		return s.Peers == ups && s.Leaves == leaves
	}, waitFor, tick, "node %s: want %d ups %d leaves, have %+v", n.Addr(), ups, leaves, n.Status())
}

func resultNames(s *Search) []string {
	var out []string
	for _, r := range s.Results() {
		out = append(out, r.Name)
	}
	return out
}

func newBR(c net.Conn) *bufio.Reader { return bufio.NewReader(c) }

func netipAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
