package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// crashChildEnv, when set, makes the test binary run one download in a
// Manager instead of the tests (TestMain); its value is a crashChildConf
// in JSON. The process exits 0 once the download is complete.
const crashChildEnv = "SERVENT_TRANSFER_CRASH_CHILD"

type crashChildConf struct {
	DataDir, DownloadDir string
	ChunkSize            int64
	// Start, SHA1, Name, Size, Source: queue this download. Without
	// Start the child only resumes what the data folder holds.
	Start  bool
	SHA1   string
	Name   string
	Size   int64
	Source string
}

// runCrashChild is the downloading process of TestCrashResume.
func runCrashChild() int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "crash child:", err); return 1 }
	var c crashChildConf
	if err := json.Unmarshal([]byte(os.Getenv(crashChildEnv)), &c); err != nil {
		return fail(err)
	}
	sha, err := protocol.ParseSHA1Base32(c.SHA1)
	if err != nil {
		return fail(err)
	}
	cfg := ManagerConfig{DataDir: c.DataDir, DownloadDir: c.DownloadDir, ChunkSize: c.ChunkSize,
		StallTimeout: 20 * time.Second, RetryBackoff: 20 * time.Millisecond}
	if os.Getenv("TRANSFER_LOG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	m, err := Open(cfg)
	if err != nil {
		return fail(err)
	}
	defer m.Close()
	if c.Start {
		addr, err := netip.ParseAddrPort(c.Source)
		if err != nil {
			return fail(err)
		}
		if _, err := m.Start(sha, c.Name, c.Size, []Source{{Addr: addr, Index: 1, Name: c.Name}}); err != nil {
			return fail(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in, err := m.Wait(ctx, sha)
	if err != nil {
		return fail(fmt.Errorf("wait: %w (state %+v)", err, in))
	}
	if in.State != StateComplete {
		return fail(fmt.Errorf("ended %s: %s", in.State, in.Err))
	}
	return 0
}

// crashChild is a child process running runCrashChild.
type crashChild struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer  // read only once exited is closed
	exited chan struct{} // closed once Wait returned; err is then set
	err    error
}

func startCrashChild(t *testing.T, conf crashChildConf) *crashChild {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	b, err := json.Marshal(conf)
	require.NoError(t, err)
	c := &crashChild{exited: make(chan struct{})}
	c.cmd = exec.Command(exe, "-test.run=^$")
	c.cmd.Env = append(os.Environ(), crashChildEnv+"="+string(b))
	c.cmd.Stderr = &c.stderr
	require.NoError(t, c.cmd.Start())
	go func() {
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill() // no-op error once it exited
		<-c.exited
	})
	return c
}

// wait returns the child's exit error; after limit it kills the child
// and fails the test.
func (c *crashChild) wait(t *testing.T, limit time.Duration) error {
	t.Helper()
	select {
	case <-c.exited:
		return c.err
	case <-time.After(limit):
		c.fatal(t, fmt.Sprintf("still running after %s", limit))
		return nil
	}
}

// fatal kills the child and fails the test with what it wrote.
func (c *crashChild) fatal(t *testing.T, msg string) {
	t.Helper()
	_ = c.cmd.Process.Kill()
	<-c.exited
	t.Fatalf("%s (child exit: %v); child stderr:\n%s", msg, c.err, c.stderr.String())
}

// rangeServer serves one file over HTTP ranges like a Gnutella source
// and records every range asked. Until free is closed it sends the body
// one chunk per permit, so the parent decides how far the download gets.
type rangeServer struct {
	*testServer
	content []byte
	chunk   int64
	permit  chan struct{} // one chunk of body may go out
	free    chan struct{} // closed: no more throttling

	mu    sync.Mutex
	asked []byteRange // ranges requested, in order
	sent  []byteRange // body pieces written in full
}

func startRangeServer(t *testing.T, ip string, content []byte, chunk int64) *rangeServer {
	t.Helper()
	s := &rangeServer{content: content, chunk: chunk, permit: make(chan struct{}), free: make(chan struct{})}
	s.testServer = startConnServer(t, ip, func(ctx context.Context, c net.Conn) {
		defer c.Close()
		s.serve(ctx, c)
	})
	return s
}

func (s *rangeServer) serve(ctx context.Context, c net.Conn) {
	br := bufio.NewReader(c)
	size := int64(len(s.content))
	for {
		req, err := readRequest(br)
		if err != nil {
			return
		}
		r, ok, err := parseRange(req.header.Get("Range"), size)
		if err != nil || !ok {
			fmt.Fprintf(c, "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
			return
		}
		s.mu.Lock()
		s.asked = append(s.asked, r)
		s.mu.Unlock()
		if _, err := fmt.Fprintf(c, "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes %d-%d/%d\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n",
			r.first, r.last, size, r.length()); err != nil {
			return
		}
		for off := r.first; off <= r.last; {
			end := min((off/s.chunk+1)*s.chunk, r.last+1)
			select {
			case <-s.permit:
			case <-s.free:
			case <-ctx.Done(): // the test ends
				return
			}
			if _, err := c.Write(s.content[off:end]); err != nil {
				return
			}
			s.mu.Lock()
			s.sent = append(s.sent, byteRange{off, end - 1})
			s.mu.Unlock()
			off = end
		}
	}
}

// takeAsked returns the ranges asked since the last call.
func (s *rangeServer) takeAsked() []byteRange {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.asked
	s.asked = nil
	return out
}

func (s *rangeServer) wasSent(r byteRange) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.sent {
		if p.first <= r.first && r.last <= p.last {
			return true
		}
	}
	return false
}

// TestCrashResume (issue 9 item 10): a process downloading a file is
// killed with SIGKILL mid-download; restarted on the same data folder it
// fetches only the chunks its state file did not record as done, and the
// file it ends with has the right SHA-1.
func TestCrashResume(t *testing.T) {
	const chunk = 8 << 10
	content := randomBytes(t, 512*chunk+123)
	sha := protocol.SHA1(sha1.Sum(content))
	srv := startRangeServer(t, "127.0.0.69", content, chunk)
	d := newDirs(t)
	conf := crashChildConf{DataDir: d.data, DownloadDir: d.dl, ChunkSize: chunk, Start: true,
		SHA1: sha.Base32(), Name: "crash.bin", Size: int64(len(content)), Source: srv.addr.String()}
	statePath := filepath.Join(d.data, partialDir, sha.Base32()+stateSuffix)

	// Run 1: chunks go out one per tick until a state file records some
	// done (the periodic save, about a second in), then the child dies.
	child := startCrashChild(t, conf)
	tick := time.NewTicker(5 * time.Millisecond) // at most 200 chunks/s: far from done after a second
	defer tick.Stop()
	limit := time.After(30 * time.Second) // safety net only
	for {
		select {
		case <-tick.C:
		case <-child.exited:
			child.fatal(t, "exited before the kill")
		case <-limit:
			child.fatal(t, "no state file with done chunks")
		}
		if st, err := readState(statePath); err == nil && countDone(st) > 0 {
			break
		}
		select {
		case srv.permit <- struct{}{}: // the server waits for it when the child reads
		default:
		}
	}
	require.NoError(t, child.cmd.Process.Signal(syscall.SIGKILL))
	err := child.wait(t, 30*time.Second)
	var exitErr *exec.ExitError
	require.True(t, errors.As(err, &exitErr), "child exit: %v", err)
	ws, ok := exitErr.Sys().(syscall.WaitStatus)
	require.True(t, ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL, "child was not killed: %v", err)
	_, err = os.Stat(filepath.Join(d.dl, "crash.bin"))
	require.ErrorIs(t, err, os.ErrNotExist, "complete before the kill")

	// What the restarted process will trust: the state file as the kill left it.
	st, err := readState(statePath)
	require.NoError(t, err)
	n := numChunks(int64(len(content)), chunk)
	require.Len(t, st.Owners, n)
	var doneBytes int64
	for i, o := range st.Owners {
		if o == "" {
			continue
		}
		r := chunkRange(i, chunk, int64(len(content)))
		require.True(t, srv.wasSent(r), "chunk %d recorded done but never sent", i)
		doneBytes += r.length()
	}
	done := countDone(st)
	require.Positive(t, done)
	require.Less(t, done, n, "the kill was not mid-download")
	t.Logf("killed with %d of %d chunks recorded done", done, n)
	srv.takeAsked()

	// Run 2: no throttling; the child resumes from the data folder alone.
	close(srv.free)
	conf.Start = false
	child = startCrashChild(t, conf)
	if err := child.wait(t, time.Minute); err != nil {
		child.fatal(t, "the resumed download failed")
	}

	var asked int64
	for _, r := range srv.takeAsked() {
		asked += r.length()
		for i, o := range st.Owners {
			if o != "" && overlaps(r, chunkRange(i, chunk, int64(len(content)))) {
				t.Errorf("asked %d-%d again: chunk %d was recorded done before the kill", r.first, r.last, i)
			}
		}
	}
	require.Equal(t, int64(len(content))-doneBytes, asked, "bytes asked after the restart")
	got, err := os.ReadFile(filepath.Join(d.dl, "crash.bin"))
	require.NoError(t, err)
	require.True(t, sha1.Sum(got) == sha1.Sum(content), "the resumed file has the wrong SHA-1")
	left, err := os.ReadDir(filepath.Join(d.data, partialDir))
	require.NoError(t, err)
	require.Empty(t, left)
}

func countDone(st *persisted) int {
	n := 0
	for _, o := range st.Owners {
		if o != "" {
			n++
		}
	}
	return n
}

func chunkRange(i int, chunk, size int64) byteRange {
	first := int64(i) * chunk
	return byteRange{first, min(first+chunk, size) - 1}
}

func overlaps(a, b byteRange) bool { return a.first <= b.last && b.first <= a.last }
