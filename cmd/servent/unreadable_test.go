//go:build linux

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// An unreadable share folder is one line and exit code 1. Root reads every
// folder, so as root the real main() runs as user nobody.
func TestRunUnreadableShare(t *testing.T) {
	dir, err := os.MkdirTemp("", "servent-unreadable-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o755))
	home := filepath.Join(dir, "home")
	share := filepath.Join(dir, "share")
	require.NoError(t, os.Mkdir(home, 0o755))
	require.NoError(t, os.Mkdir(share, 0))
	t.Cleanup(func() { _ = os.Chmod(share, 0o755) })

	bin := os.Args[0]
	var attr *syscall.SysProcAttr
	if os.Geteuid() == 0 {
		const nobody = 65534
		// The test binary sits in a folder only root may enter: copy it.
		bin = filepath.Join(dir, "servent.test")
		copyExecutable(t, os.Args[0], bin)
		require.NoError(t, os.Chown(home, nobody, nobody))
		attr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	}
	cmd := exec.Command(bin, "run", "--listen", "127.0.0.62:0", "--api", "127.0.0.1:0", "--share", share)
	cmd.Env = append(os.Environ(), "SERVENT_TEST_MAIN=1", "HOME="+home, "XDG_DATA_HOME=")
	cmd.SysProcAttr = attr
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v (stderr %q)", err, stderr.String())
	require.Equal(t, 1, ee.ExitCode())
	require.Equal(t, "servent: "+share+": permission denied\n", stderr.String())
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	require.NoError(t, err)
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(dst, src)
	require.NoError(t, err)
	require.NoError(t, dst.Close())
}
