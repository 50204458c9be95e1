package transfer

import (
	"crypto/sha1"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// orderFS records the order of the download's disk calls: which chunks of
// the partial file were written, whether a Sync of it came after, and
// which chunks each state file write marks done.
type orderFS struct {
	osFS
	chunkSize int64

	mu         sync.Mutex
	written    map[int]bool // chunk -> written since the last Sync of the partial file
	synced     map[int]bool // chunk -> a Sync of the partial file began after its last write
	doneSaves  int          // state writes marking at least one chunk done
	violations []string
	failSync   bool
}

func newOrderFS(chunkSize int64) *orderFS {
	return &orderFS{chunkSize: chunkSize, written: map[int]bool{}, synced: map[int]bool{}}
}

func (o *orderFS) WriteAt(f *os.File, b []byte, off int64) (int, error) {
	n, err := o.osFS.WriteAt(f, b, off)
	if strings.HasSuffix(f.Name(), partSuffix) {
		o.mu.Lock()
		for c := off / o.chunkSize; c*o.chunkSize < off+int64(n); c++ {
			o.written[int(c)] = true
			delete(o.synced, int(c))
		}
		o.mu.Unlock()
	}
	return n, err
}

func (o *orderFS) Sync(f *os.File) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.failSync {
		return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
	}
	if strings.HasSuffix(f.Name(), partSuffix) {
		// Every write recorded before the fsync starts is durable after it.
		for c := range o.written {
			o.synced[c] = true
		}
		clear(o.written)
	}
	return o.osFS.Sync(f)
}

func (o *orderFS) WriteFile(path string, data []byte, perm os.FileMode) error {
	if strings.HasSuffix(path, stateSuffix) {
		var st persisted
		if err := json.Unmarshal(data, &st); err != nil {
			return err
		}
		o.mu.Lock()
		done := 0
		for i, owner := range st.Owners {
			if owner == "" {
				continue
			}
			done++
			if !o.synced[i] {
				o.violations = append(o.violations, fmt.Sprintf("state write %d marks chunk %d done before it was fsynced", o.doneSaves+1, i))
			}
		}
		if done > 0 {
			o.doneSaves++
		}
		o.mu.Unlock()
	}
	return o.osFS.WriteFile(path, data, perm)
}

func (o *orderFS) savesWithDone() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.doneSaves
}

const slowChunk = 64 << 10

// startSlowDownload downloads 40 chunks at 1 MiB/s (about 2.5 s) from a
// source on ip through fs: at least one periodic save (every second)
// happens mid-download.
func startSlowDownload(t *testing.T, ip string, fs FS, diskRetry time.Duration) (*Manager, dirs, protocol.SHA1) {
	t.Helper()
	content := randomBytes(t, 40*slowChunk)
	s := serveFile(t, ip, "slow.bin", content, 1<<20, false)
	d := newDirs(t)
	m, err := Open(ManagerConfig{DataDir: d.data, DownloadDir: d.dl, ChunkSize: slowChunk, FS: fs, DiskRetry: diskRetry})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	sha := protocol.SHA1(sha1.Sum(content))
	_, err = m.Start(sha, "slow.bin", int64(len(content)), []Source{s.src})
	require.NoError(t, err)
	return m, d, sha
}

// TestStateRecordsOnlySyncedChunks (issue 9 item 10): a state file marks a
// chunk done only after the bytes of that chunk were fsynced in the
// partial file, so that after a power cut the resumed download never
// trusts a chunk whose bytes were still in the page cache. Before: the
// periodic save and the save on Close wrote the state straight after
// WriteAt, with no fsync of the partial file (orderFS saw no Sync at all
// before the move into place).
func TestStateRecordsOnlySyncedChunks(t *testing.T) {
	fs := newOrderFS(slowChunk)
	m, _, sha := startSlowDownload(t, "127.0.0.67", fs, 0)
	require.Eventually(t, func() bool { return fs.savesWithDone() > 0 }, 30*time.Second, time.Millisecond,
		"no periodic save with done chunks")
	in := stateOf(m, sha)
	require.NotEqual(t, StateComplete, in.State, "finished before the test could stop it mid-download")
	require.NoError(t, m.Close()) // saves the progress once more
	require.GreaterOrEqual(t, fs.savesWithDone(), 2)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	require.Empty(t, fs.violations)
}

// TestStateSyncFailsIsDiskError: when the fsync before a save fails, the
// download pauses in disk-error (our disk, not the source's fault) and
// the state file does not record the unsynced chunks.
func TestStateSyncFailsIsDiskError(t *testing.T) {
	fs := newOrderFS(slowChunk)
	fs.failSync = true
	m, d, sha := startSlowDownload(t, "127.0.0.68", fs, time.Hour)
	require.Eventually(t, func() bool { return stateOf(m, sha).State == StateDiskError }, 30*time.Second, time.Millisecond,
		"state %+v", stateOf(m, sha))
	in := stateOf(m, sha)
	require.Contains(t, in.Err, "input/output error")
	require.Equal(t, 1, in.Sources, "the source is not blamed for our disk")
	require.NoError(t, m.Close())
	st, err := readState(filepath.Join(d.data, partialDir, sha.Base32()+stateSuffix))
	require.NoError(t, err)
	for i, o := range st.Owners {
		require.Empty(t, o, "chunk %d recorded done without a successful fsync", i)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	require.Empty(t, fs.violations)
}

// placeFS watches the move into DownloadDir: when DownloadDir is synced,
// the new name must be there and the partial file not yet removed.
type placeFS struct {
	osFS
	dl, part string

	mu       sync.Mutex
	linked   bool
	synced   bool // DownloadDir synced after the link, partial file still there
	failSync bool
	exdev    bool // DownloadDir is on another filesystem: copy, fsync, rename
}

func (p *placeFS) Link(oldname, newname string) error {
	if p.exdev && filepath.Dir(newname) == p.dl {
		return &os.LinkError{Op: "link", Old: oldname, New: newname, Err: syscall.EXDEV}
	}
	err := p.osFS.Link(oldname, newname)
	p.placed(newname, err)
	return err
}

func (p *placeFS) Rename(oldname, newname string) error {
	err := p.osFS.Rename(oldname, newname)
	p.placed(newname, err)
	return err
}

func (p *placeFS) placed(name string, err error) {
	if err == nil && filepath.Dir(name) == p.dl {
		p.mu.Lock()
		p.linked = true
		p.mu.Unlock()
	}
}

func (p *placeFS) SyncDir(dir string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failSync {
		return &os.PathError{Op: "sync", Path: dir, Err: syscall.EIO}
	}
	if dir == p.dl && p.linked {
		_, err := os.Stat(p.part)
		p.synced = p.synced || err == nil
	}
	return p.osFS.SyncDir(dir)
}

// TestPlaceSyncsDownloadDir: the verified file's new name in DownloadDir
// is fsynced before the partial file (and then the state file) is
// removed, else a power cut could leave neither. A failed sync undoes the
// link and pauses in disk-error; the retry makes one file, not "x (1)".
// Before: DownloadDir was never synced (placeFS saw no SyncDir).
func TestPlaceSyncsDownloadDir(t *testing.T) {
	for _, exdev := range []bool{false, true} {
		t.Run(fmt.Sprintf("exdev=%v", exdev), func(t *testing.T) {
			content := randomBytes(t, 300<<10)
			s := serveFile(t, "127.0.0.70", "placed.bin", content, 0, false)
			d := newDirs(t)
			sha := protocol.SHA1(sha1.Sum(content))
			fs := &placeFS{dl: d.dl, part: filepath.Join(d.data, partialDir, sha.Base32()+partSuffix), failSync: true, exdev: exdev}
			m := openManager(t, d, func(c *ManagerConfig) {
				c.FS = fs
				c.DiskRetry = 5 * time.Millisecond
			})
			_, err := m.Start(sha, "placed.bin", int64(len(content)), []Source{s.src})
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				st := stateOf(m, sha).State
				return st == StateDiskError || st == StateComplete
			}, 30*time.Second, time.Millisecond)
			in := stateOf(m, sha)
			require.Equal(t, StateDiskError, in.State, "the move into place ignored the failed sync")
			require.Contains(t, in.Err, "input/output error")
			fs.mu.Lock()
			fs.failSync = false
			fs.mu.Unlock()
			requireOnlyFile(t, d, waitDone(t, m, sha), content)
			fs.mu.Lock()
			defer fs.mu.Unlock()
			require.True(t, fs.synced, "DownloadDir not synced between the move and the removal of the partial file")
		})
	}
}
