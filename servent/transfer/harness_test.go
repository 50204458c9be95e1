package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/servent/servent/protocol"
)

func TestMain(m *testing.M) {
	if os.Getenv(crashChildEnv) != "" {
		os.Exit(runCrashChild()) // the process TestCrashResume kills
	}
	goleak.VerifyTestMain(m)
}

// memFiles is a Files view over a fixed set of files.
type memFiles struct {
	mu    sync.Mutex
	byIdx map[uint32]File
}

func newMemFiles(fs ...File) *memFiles {
	m := &memFiles{byIdx: make(map[uint32]File)}
	for _, f := range fs {
		m.byIdx[f.Index] = f
	}
	return m
}

func (m *memFiles) ByIndex(i uint32) (File, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f, ok := m.byIdx[i]
	return f, ok
}

func (m *memFiles) BySHA1(s protocol.SHA1) (File, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, f := range m.byIdx {
		if f.SHA1 == s {
			return f, true
		}
	}
	return File{}, false
}

// shareFile writes content under dir and returns it as an indexed File.
func shareFile(t testing.TB, dir string, index uint32, name string, content []byte) File {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, content, 0o644))
	mt := time.Date(2024, 10, 26, 11, 10, 10, 0, time.UTC)
	require.NoError(t, os.Chtimes(p, mt, mt))
	return File{Index: index, Path: p, Name: name, Size: int64(len(content)), ModTime: mt, SHA1: sha1.Sum(content)}
}

// testServer accepts on a loopback address and dispatches like the node:
// "GIV " to the manager, anything else to the uploader.
type testServer struct {
	ln     net.Listener
	addr   netip.AddrPort
	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
}

func startServer(t testing.TB, ip string, up *Uploader, m *Manager) *testServer {
	t.Helper()
	return startConnServer(t, ip, func(ctx context.Context, c net.Conn) {
		br := bufio.NewReader(c)
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		p, err := br.Peek(4)
		if err != nil {
			c.Close()
			return
		}
		_ = c.SetReadDeadline(time.Time{})
		if string(p) == "GIV " && m != nil {
			line, err := ReadGIVLine(br)
			if err != nil {
				c.Close()
				return
			}
			m.HandleGIV(c, br, line)
			return
		}
		if string(p) == "QUEU" && m != nil {
			line, err := ReadQUEUELine(br)
			if err != nil {
				c.Close()
				return
			}
			m.HandleQUEUE(c, br, line)
			return
		}
		if up == nil {
			c.Close()
			return
		}
		up.ServeConn(ctx, c, br)
	})
}

// startConnServer accepts on a loopback address and runs handle for each
// connection; Close (at the end of the test) drops them and waits.
func startConnServer(t testing.TB, ip string, handle func(ctx context.Context, c net.Conn)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s := &testServer{ln: ln, addr: netip.MustParseAddrPort(ln.Addr().String()), cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if !s.track(c) {
				c.Close()
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer s.untrack(c)
				handle(ctx, c)
			}()
		}
	}()
	t.Cleanup(s.Close)
	return s
}

func (s *testServer) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *testServer) untrack(c net.Conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Close stops accepting, drops every connection and waits for them.
func (s *testServer) Close() {
	s.mu.Lock()
	already := s.closed
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	if already {
		return
	}
	s.cancel()
	s.ln.Close()
	s.wg.Wait()
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

func netipMust(s string) netip.AddrPort { return netip.MustParseAddrPort(s) }
