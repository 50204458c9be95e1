package transfer

import (
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// fullDisk is an FS whose writes fail with ENOSPC while the disk is "full".
type fullDisk struct {
	osFS
	okWrites  atomic.Int64 // chunk writes that still succeed before the disk fills (<0: no limit)
	moveFull  atomic.Bool  // Link, Rename and the copy into DownloadDir fail
	refused   atomic.Int64 // writes refused so far
	statePath atomic.Bool  // state file writes fail too while the disk is full
}

func newFullDisk(okWrites int64) *fullDisk {
	fd := &fullDisk{}
	fd.okWrites.Store(okWrites)
	return fd
}

func (fd *fullDisk) free() {
	fd.okWrites.Store(-1)
	fd.moveFull.Store(false)
}

func (fd *fullDisk) full() bool {
	for {
		n := fd.okWrites.Load()
		if n < 0 {
			return false
		}
		if n == 0 {
			fd.refused.Add(1)
			return true
		}
		if fd.okWrites.CompareAndSwap(n, n-1) {
			return false
		}
	}
}

func enospc(op, path string) error { return &os.PathError{Op: op, Path: path, Err: syscall.ENOSPC} }

func (fd *fullDisk) WriteAt(f *os.File, b []byte, off int64) (int, error) {
	if fd.full() {
		return 0, enospc("write", f.Name())
	}
	return fd.osFS.WriteAt(f, b, off)
}

func (fd *fullDisk) WriteFile(path string, data []byte, perm os.FileMode) error {
	if fd.statePath.Load() && fd.okWrites.Load() == 0 {
		return enospc("write", path)
	}
	return fd.osFS.WriteFile(path, data, perm)
}

func (fd *fullDisk) Link(oldname, newname string) error {
	if fd.moveFull.Load() {
		fd.refused.Add(1)
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.ENOSPC}
	}
	return fd.osFS.Link(oldname, newname)
}

func (fd *fullDisk) Rename(oldname, newname string) error {
	if fd.moveFull.Load() {
		fd.refused.Add(1)
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: syscall.ENOSPC}
	}
	return fd.osFS.Rename(oldname, newname)
}

func stateOf(m *Manager, sha protocol.SHA1) Info {
	in, _ := m.Get(sha)
	return in
}

// TestDownloadDiskFull (issue 9 item 3a): the data folder fills up after
// two chunks. Before: the write error was blamed on the source, which was
// dropped, and the download sat in "active" with no error, stuck after the
// space came back. Now it says disk-error with the OS error, keeps the
// chunks it has and the source, and finishes once space is freed.
func TestDownloadDiskFull(t *testing.T) {
	content := randomBytes(t, 2<<20)
	s := serveFile(t, "127.0.0.61", "full.bin", content, 0, false)
	d := newDirs(t)
	disk := newFullDisk(2)
	disk.statePath.Store(true)
	m := openManager(t, d, func(c *ManagerConfig) {
		c.FS = disk
		c.DiskRetry = 5 * time.Millisecond
		c.MaxSourceFailures = 2
	})
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "full.bin", int64(len(content)), []Source{s.src})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		in := stateOf(m, sha)
		// More refused writes than the source may fail: it would be dropped if blamed.
		return in.State == StateDiskError && disk.refused.Load() > 4
	}, 30*time.Second, time.Millisecond, "state %+v", stateOf(m, sha))
	in := stateOf(m, sha)
	require.Contains(t, in.Err, "no space left on device")
	require.Equal(t, int64(512<<10), in.Done, "the two chunks written stay")
	require.Equal(t, 1, in.Sources, "the source is not blamed for our disk")
	disk.free()
	in = waitDone(t, m, sha)
	requireOnlyFile(t, d, in, content)
	require.Empty(t, in.Err)
}

// TestDownloadOnlyCorruptSourceStalls (issue 9 item 3b): the only source
// serves bytes that fail the SHA-1. Before: "waiting", no error, Wait
// never returned. Now: "stalled" with the reason in words; a new source
// resumes it.
func TestDownloadOnlyCorruptSourceStalls(t *testing.T) {
	content := randomBytes(t, 1<<20)
	liar := serveFile(t, "127.0.0.62", "bad.bin", content, 0, true)
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "bad.bin", int64(len(content)), []Source{liar.src})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return stateOf(m, sha).State == StateStalled }, 30*time.Second, time.Millisecond)
	in := stateOf(m, sha)
	require.Equal(t, 1, in.Banned)
	require.Contains(t, in.Err, "no usable source")
	require.Contains(t, in.Err, "SHA-1")
	good := serveFile(t, "127.0.0.63", "bad.bin", content, 0, false)
	require.True(t, m.AddSources(sha, good.src))
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
}

// TestDownloadMoveFails (issue 9 item 3c): the move into DownloadDir fails
// on a full disk. Before: "failed" and the verified partial file deleted,
// so a retry fetched it all again. Now: disk-error, partial kept, and the
// move is retried once space is freed, without fetching a byte more.
func TestDownloadMoveFails(t *testing.T) {
	content := randomBytes(t, 1<<20+3)
	s := serveFile(t, "127.0.0.64", "move.bin", content, 0, false)
	d := newDirs(t)
	disk := newFullDisk(-1)
	disk.moveFull.Store(true)
	m := openManager(t, d, func(c *ManagerConfig) {
		c.FS = disk
		c.DiskRetry = 5 * time.Millisecond
	})
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "move.bin", int64(len(content)), []Source{s.src})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return stateOf(m, sha).State == StateDiskError && disk.refused.Load() > 2
	}, 30*time.Second, time.Millisecond, "state %+v", stateOf(m, sha))
	in := stateOf(m, sha)
	require.Contains(t, in.Err, "no space left on device")
	require.Equal(t, int64(len(content)), in.Done)
	part, err := os.ReadFile(filepath.Join(d.data, partialDir, sha.Base32()+partSuffix))
	require.NoError(t, err, "the verified partial file is kept")
	require.True(t, sha1.Sum(part) == sha1.Sum(content))
	disk.free()
	requireOnlyFile(t, d, waitDone(t, m, sha), content)
	require.Equal(t, uint64(len(content)), s.up.BytesSent(), "fetched again")
}

// TestDownloadGone (issue 9 item 4): a completed file moved away is
// reported gone, with where it was.
func TestDownloadGone(t *testing.T) {
	content := randomBytes(t, 300<<10)
	s := serveFile(t, "127.0.0.65", "gone.bin", content, 0, false)
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err := m.Start(sha, "gone.bin", int64(len(content)), []Source{s.src})
	require.NoError(t, err)
	in := waitDone(t, m, sha)
	require.Equal(t, StateComplete, in.State)
	require.NoError(t, os.Rename(in.Path, filepath.Join(t.TempDir(), "elsewhere")))
	got := stateOf(m, sha)
	require.Equal(t, StateGone, got.State)
	require.Equal(t, in.Path, got.Path)
	require.Contains(t, got.Err, in.Path)
	require.Equal(t, []Info{got}, m.List())
}

// TestCompletedRemembered (issue 9 item 13): completed downloads are
// listed again after a restart. Before: the list was empty.
func TestCompletedRemembered(t *testing.T) {
	content := randomBytes(t, 300<<10)
	s := serveFile(t, "127.0.0.66", "kept.bin", content, 0, false)
	d := newDirs(t)
	m1, err := Open(ManagerConfig{DataDir: d.data, DownloadDir: d.dl, ChunkSize: 256 << 10})
	require.NoError(t, err)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err = m1.Start(sha, "kept.bin", int64(len(content)), []Source{s.src})
	require.NoError(t, err)
	in := waitDone(t, m1, sha)
	require.NoError(t, m1.Close())

	m2 := openManager(t, d, nil)
	got := m2.List()
	require.Len(t, got, 1)
	require.Equal(t, StateComplete, got[0].State)
	require.Equal(t, in.Path, got[0].Path)
	require.Equal(t, in.Size, got[0].Size)
	require.Equal(t, in.Size, got[0].Done)
	require.Equal(t, "kept.bin", got[0].Name)
	// Forgetting it sticks across a restart too.
	require.NoError(t, m2.Cancel(sha))
	require.NoError(t, m2.Close())
	m3 := openManager(t, d, nil)
	require.Empty(t, m3.List())
	_, err = os.Stat(in.Path)
	require.NoError(t, err, "forgetting a download keeps its file")
}

func TestKeepCompleted(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	var recs []completedRec
	for i := range 5 {
		recs = append(recs, completedRec{SHA1: fmt.Sprint(i), At: now.Add(-time.Duration(i) * 24 * time.Hour)})
	}
	recs = append(recs, completedRec{SHA1: "old", At: now.Add(-maxCompletedAge - time.Hour)})
	recs = append(recs, completedRec{SHA1: "future", At: now.Add(time.Hour)})
	got := keepCompleted(recs, now, 3)
	var ids []string
	for _, r := range got {
		ids = append(ids, r.SHA1)
	}
	// Newest three, oldest first; the too old one dropped.
	require.Equal(t, []string{"1", "0", "future"}, ids)
}
