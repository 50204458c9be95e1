package transfer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// TestStateNeverAheadOfDisk models a power cut: the partial file keeps
// only what was there at its last fsync. Every chunk the saved state calls
// done must be in that copy, or a restart after the cut would trust
// chunks of zeros (and blame the sources for them).
func TestStateNeverAheadOfDisk(t *testing.T) {
	content := randomBytes(t, 2<<20)
	f := shareFile(t, t.TempDir(), 1, "a.bin", content)
	// Slow enough to close the manager mid-download.
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), RateLimit: 512 << 10})
	srv := startServer(t, "127.0.0.1", up, nil)
	var mu sync.Mutex
	var durable []byte // the partial file as of its last fsync
	d := newDirs(t)
	m := openManager(t, d, func(c *ManagerConfig) {
		c.FS = syncHookFS{sync: func(fh *os.File) error {
			b, err := io.ReadAll(io.NewSectionReader(fh, 0, int64(len(content))))
			mu.Lock()
			durable = b
			mu.Unlock()
			if err != nil {
				return err
			}
			return fh.Sync()
		}}
	})
	_, err := m.Start(f.SHA1, f.Name, f.Size, []Source{{Addr: srv.addr, Index: 1, Name: f.Name}})
	require.NoError(t, err)
	require.Eventually(t, func() bool { in, _ := m.Get(f.SHA1); return in.Done > 0 }, 10*time.Second, 2*time.Millisecond)
	require.NoError(t, m.Close())
	st, err := readState(filepath.Join(d.data, partialDir, f.SHA1.Base32()+stateSuffix))
	require.NoError(t, err)
	mu.Lock()
	defer mu.Unlock()
	done := 0
	for i, owner := range st.Owners {
		if owner == "" {
			continue
		}
		done++
		lo, hi := int64(i)*st.ChunkSize, min(int64(i+1)*st.ChunkSize, f.Size)
		require.Greater(t, int64(len(durable)), hi-1, "chunk %d is saved as done but the partial file was never synced that far", i)
		require.True(t, bytes.Equal(content[lo:hi], durable[lo:hi]), "chunk %d is saved as done before its bytes were synced", i)
	}
	require.Positive(t, done, "the state recorded no chunk")
	require.Less(t, done, len(st.Owners), "the download finished before Close: nothing tested")
}

// The crash test re-executes the test binary as a downloading child.
const (
	crashChildEnv = "SERVENT_TRANSFER_CRASH_CHILD" // set: run TestCrashChild for real
	crashChunk    = 128 << 10
)

// TestCrashChild is the child process of TestCrashResume: it opens a
// Manager on the given folders, starts (or, after a crash, resumes) the
// download and exits 0 once the file is verified in place.
func TestCrashChild(t *testing.T) {
	if os.Getenv(crashChildEnv) == "" {
		t.Skip("child process of TestCrashResume")
	}
	sha, err := protocol.ParseSHA1Base32(os.Getenv("CRASH_SHA1"))
	require.NoError(t, err)
	size, err := strconv.ParseInt(os.Getenv("CRASH_SIZE"), 10, 64)
	require.NoError(t, err)
	src, err := netip.ParseAddrPort(os.Getenv("CRASH_SRC"))
	require.NoError(t, err)
	m, err := Open(ManagerConfig{DataDir: os.Getenv("CRASH_DATA"), DownloadDir: os.Getenv("CRASH_DL"),
		ChunkSize: crashChunk, RetryBackoff: 20 * time.Millisecond, StallTimeout: 10 * time.Second})
	require.NoError(t, err)
	defer m.Close()
	if _, resumed := m.Get(sha); !resumed {
		_, err = m.Start(sha, "crash.bin", size, []Source{{Addr: src, Index: 1, Name: "crash.bin"}})
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	in, err := m.Wait(ctx, sha)
	require.NoError(t, err)
	require.Equal(t, StateComplete, in.State, in.Err)
}

// TestCrashResume kills a downloading process with SIGKILL once its state
// file records some chunks, restarts it on the same data folder and checks
// it fetches exactly the chunks the state did not record and ends with the
// right file.
func TestCrashResume(t *testing.T) {
	if os.Getenv(crashChildEnv) != "" {
		t.Skip("in the child")
	}
	content := randomBytes(t, 4<<20)
	f := shareFile(t, t.TempDir(), 1, "crash.bin", content)
	// Before the crash the source is slow (the child is killed mid-way),
	// after it fast; one listener so the source keeps its address.
	slow := NewUploader(UploaderConfig{Files: newMemFiles(f), RateLimit: 1 << 20})
	fast := NewUploader(UploaderConfig{Files: newMemFiles(f)})
	var cur atomic.Pointer[Uploader]
	cur.Store(slow)
	src := serveSwitched(t, &cur)

	d := newDirs(t)
	run := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"=1", "CRASH_SHA1="+f.SHA1.Base32(),
			"CRASH_SIZE="+strconv.FormatInt(f.Size, 10), "CRASH_SRC="+src.String(),
			"CRASH_DATA="+d.data, "CRASH_DL="+d.dl)
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		require.NoError(t, cmd.Start())
		t.Cleanup(func() {
			if cmd.ProcessState == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
		})
		return cmd, out
	}

	statePath := filepath.Join(d.data, partialDir, f.SHA1.Base32()+stateSuffix)
	savedDone := func() int {
		st, err := readState(statePath)
		if err != nil {
			return 0
		}
		n := 0
		for _, o := range st.Owners {
			if o != "" {
				n++
			}
		}
		return n
	}
	child, out := run()
	require.Eventually(t, func() bool { return savedDone() > 0 }, 20*time.Second, 2*time.Millisecond, "no chunk saved: %s", out)
	require.NoError(t, child.Process.Kill()) // SIGKILL: no Close, no last save
	_ = child.Wait()

	st, err := readState(statePath)
	require.NoError(t, err)
	chunks := numChunks(f.Size, crashChunk)
	var kept int64
	keptN := 0
	for i, o := range st.Owners {
		if o != "" {
			keptN++
			kept += min(int64(i+1)*crashChunk, f.Size) - int64(i)*crashChunk
		}
	}
	require.Less(t, keptN, chunks, "the child finished before it was killed: nothing tested")
	t.Logf("killed with %d of %d chunks saved", keptN, chunks)

	cur.Store(fast)
	child, out = run()
	waitExit(t, child, 30*time.Second)
	require.True(t, child.ProcessState.Success(), "restarted child: %s", out)
	require.Equal(t, uint64(f.Size-kept), fast.BytesSent(), "after the restart the source sent more than the chunks the state lacked")
	got, err := os.ReadFile(filepath.Join(d.dl, "crash.bin"))
	require.NoError(t, err)
	require.Equal(t, f.SHA1, protocol.SHA1(sha1.Sum(got)))
	_, err = os.Stat(statePath)
	require.ErrorIs(t, err, os.ErrNotExist, "the state file outlives the download")
}

// serveSwitched serves HTTP on a loopback port with whichever Uploader
// cur holds when a connection arrives.
func serveSwitched(t *testing.T, cur *atomic.Pointer[Uploader]) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				cur.Load().ServeConn(ctx, c, bufio.NewReader(c))
			}()
		}
	}()
	return netip.MustParseAddrPort(ln.Addr().String())
}

// waitExit waits for cmd, killing it past limit.
func waitExit(t *testing.T, cmd *exec.Cmd, limit time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("child still running after %v", limit)
	}
}

// syncHookFS is the real file system with the partial file's fsync
// replaced.
type syncHookFS struct {
	osFS
	sync func(*os.File) error
}

func (h syncHookFS) Sync(f *os.File) error { return h.sync(f) }
