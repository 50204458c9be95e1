package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent/api"
)

// syncBuffer is a bytes.Buffer safe for the running command and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runDaemon runs `servent run args...` in process until the test ends (or
// stop is called) and returns once its API answers.
func runDaemon(t *testing.T, dataDir string, args ...string) (out *syncBuffer, stop func() error) {
	t.Helper()
	out = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	app := newApp()
	app.Writer, app.ErrWriter = out, out
	done := make(chan error, 1)
	go func() { done <- app.RunContext(ctx, append([]string{"servent", "run"}, args...)) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	require.Eventually(t, func() bool {
		select {
		case err := <-done:
			done <- err
			return true
		default:
		}
		addr, key, err := api.Discover(dataDir)
		if err != nil {
			return false
		}
		_, err = api.NewClient(addr, key).Status(context.Background())
		return err == nil
	}, 10*time.Second, 5*time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("servent run ended: %v\n%s", err, out.String())
	default:
	}
	return out, stop
}

// TestRunDefaults: with HOME in a temporary folder and no flags but the
// addresses, run creates its folders, serves the API, and leaves its host
// cache on disk when stopped.
func TestRunDefaults(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", "")
	data := filepath.Join(home, ".local", "share", "servent")
	out, stop := runDaemon(t, data, "--listen", "127.0.0.51:0", "--api", "127.0.0.1:0")
	for _, d := range []string{"Servent/Shared", "Servent/Downloads", ".local/share/servent"} {
		st, err := os.Stat(filepath.Join(home, d))
		require.NoError(t, err, d)
		require.True(t, st.IsDir(), d)
	}
	require.Contains(t, out.String(), "no peers: waiting for inbound connections")
	sout, _, err := runCLI(t, "status")
	require.NoError(t, err)
	require.Contains(t, sout, "leaf")
	require.NoError(t, stop())
	_, err = os.Stat(filepath.Join(data, "hosts.txt"))
	require.NoError(t, err, "host cache saved")
	_, _, err = runCLI(t, "status")
	require.Equal(t, noDaemonMsg, oneLine(err))
}

// TestRunTour is the README tour: two `servent run`, search on one finds
// the other's file, get downloads it byte-identical.
func TestRunTour(t *testing.T) {
	base := t.TempDir()
	dir := func(p string) string { return filepath.Join(base, p) }
	content := bytes.Repeat([]byte("free as in freedom\n"), 50000)
	require.NoError(t, os.MkdirAll(dir("a/share"), 0o755))
	require.NoError(t, os.WriteFile(dir("a/share/free software song.ogg"), content, 0o644))

	runDaemon(t, dir("a/data"), "--listen", "127.0.0.52:0", "--api", "127.0.0.1:0", "--mode", "ultrapeer",
		"--share", dir("a/share"), "--data", dir("a/data"), "--downloads", dir("a/dl"))
	sout, _, err := runCLI(t, "status", "--json", "--data", dir("a/data"))
	require.NoError(t, err)
	var st api.Status
	require.NoError(t, json.Unmarshal([]byte(sout), &st))

	runDaemon(t, dir("b/data"), "--listen", "127.0.0.53:0", "--api", "127.0.0.1:0", "--peer", st.Listen,
		"--share", dir("b/share"), "--data", dir("b/data"), "--downloads", dir("b/dl"))
	require.Eventually(t, func() bool {
		out, _, err := runCLI(t, "status", "--json", "--data", dir("b/data"))
		var st api.Status
		return err == nil && json.Unmarshal([]byte(out), &st) == nil && st.Peers == 1
	}, 10*time.Second, 5*time.Millisecond)
	require.Eventually(t, func() bool {
		out, _, err := runCLI(t, "shares", "--json", "--data", dir("a/data"))
		var fs []api.SharedFile
		return err == nil && json.Unmarshal([]byte(out), &fs) == nil && len(fs) == 1 && fs[0].URN != ""
	}, 10*time.Second, 5*time.Millisecond)

	out, _, err := runCLI(t, "search", "--data", dir("b/data"), "--count", "1", "--wait", "10s", "software", "song")
	require.NoError(t, err)
	require.Contains(t, out, "free software song.ogg")
	out, _, err = runCLI(t, "get", "--data", dir("b/data"), "1")
	require.NoError(t, err)
	require.Contains(t, out, "downloaded "+dir("b/dl/free software song.ogg"))
	got, err := os.ReadFile(dir("b/dl/free software song.ogg"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(content, got))
}

// TestRunBadInput runs the real main(): each mistake is one line on
// stderr, a non-zero exit code, and no stack trace.
func TestRunBadInput(t *testing.T) {
	home := t.TempDir()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	file := filepath.Join(home, "a-file")
	require.NoError(t, os.WriteFile(file, nil, 0o644))
	base := []string{"run", "--listen", "127.0.0.61:0", "--api", "127.0.0.1:0"}
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"run", "--bogus"}, 2, "flag provided but not defined: -bogus (see `servent run --help`)"},
		{append(base, "--peer", "nonsense"), 2, `--peer "nonsense": want HOST:PORT, e.g. 192.0.2.7:6346`},
		{append(base, "--uhc", "nonsense"), 2, `--uhc "nonsense": want HOST:PORT, e.g. 192.0.2.7:6346`},
		{append(base, "--gwc", "gwc.example/cache.php"), 2, `--gwc "gwc.example/cache.php": want an http:// or https:// URL`},
		{append(base, "--mode", "boss"), 2, `--mode "boss": want leaf, ultrapeer or auto`},
		{append(base, "--share", file), 1, "shared folder: mkdir " + file + ": not a directory"},
		{[]string{"run", "--listen", busy.Addr().String(), "--api", "127.0.0.1:0"}, 1,
			"address " + busy.Addr().String() + " already in use (another servent running? pick another address with --listen or --api)"},
		{[]string{"run", "--listen", "127.0.0.61:0", "--api", busy.Addr().String()}, 1,
			"address " + busy.Addr().String() + " already in use (another servent running? pick another address with --listen or --api)"},
	} {
		cmd := exec.Command(os.Args[0], tc.args...)
		cmd.Env = append(os.Environ(), "SERVENT_TEST_MAIN=1", "HOME="+home, "XDG_DATA_HOME=")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		require.True(t, errors.As(err, &ee), "%v: %v", tc.args, err)
		require.Equal(t, tc.code, ee.ExitCode(), tc.args)
		require.Equal(t, "servent: "+tc.want+"\n", stderr.String(), tc.args)
	}
}
