package transfer

import (
	"crypto/sha1"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/thex"
)

// treeServer serves content under its real SHA-1 and tree, from a file
// holding bad (the bytes on disk, corrupt where they differ).
func treeServer(t *testing.T, ip string, content, bad []byte) *testServer {
	t.Helper()
	f := shareFile(t, t.TempDir(), 1, "tree.bin", bad)
	f.SHA1 = protocol.SHA1(sha1.Sum(content)) // the uploader never rehashes
	tree := treeOf(content)
	up := NewUploader(UploaderConfig{Files: newMemFiles(f), Trees: func(s protocol.SHA1) (*thex.Tree, bool) { return tree, s == f.SHA1 }})
	return startServer(t, ip, up, nil)
}

// TestTreeCatchesCorruptChunk: a source that corrupts one chunk is caught
// at that chunk by the Tiger tree (fetched from it after its first
// chunks), banned at once, and only that chunk is fetched again from
// another source; the chunks it served right are kept. Both ways: the bad
// chunk after the tree arrived (checked as it comes), and before (checked
// from disk when the tree comes).
func TestTreeCatchesCorruptChunk(t *testing.T) {
	const chunk = 256 << 10
	content := randomBytes(t, 6<<20) // 24 chunks; the first request asks 16
	for name, bad := range map[string]int{"after the tree": 20, "before the tree": 3} {
		t.Run(name, func(t *testing.T) {
			corrupt := append([]byte(nil), content...)
			corrupt[bad*chunk+1000] ^= 0xFF
			badSrv := treeServer(t, "127.0.0.91", content, corrupt)
			d := newDirs(t)
			m := openManager(t, d, nil)
			sha := protocol.SHA1(sha1.Sum(content))
			_, err := m.Start(sha, "tree.bin", int64(len(content)), []Source{{Addr: badSrv.addr}})
			require.NoError(t, err)
			require.Eventually(t, func() bool {
				in, _ := m.Get(sha)
				return in.Banned == 1
			}, 30*time.Second, time.Millisecond, "the corrupting source is banned")
			in, _ := m.Get(sha)
			assert.True(t, in.TreeChecked)
			assert.Equal(t, int64(chunk), in.Corrupt, "one chunk thrown away")
			assert.Equal(t, protocol.TTH(treeOf(content).Root()), in.TTH, "the root from the source's X-Thex-URI")
			kept := in.Done

			good := treeServer(t, "127.0.0.92", content, content)
			m.AddSources(sha, Source{Addr: good.addr})
			in = waitDone(t, m, sha)
			requireOnlyFile(t, d, in, content)
			assert.Equal(t, int64(chunk), in.Corrupt, "only that chunk was fetched again")
			assert.Equal(t, int64(len(content))-kept, sourceServed(t, m, sha, good.addr.String()), "the good source served only what was missing")
		})
	}
}

// sourceServed is what a source of a (finished) download served.
func sourceServed(t *testing.T, m *Manager, sha protocol.SHA1, key string) int64 {
	t.Helper()
	m.mu.Lock()
	d := m.downloads[sha]
	m.mu.Unlock()
	require.NotNil(t, d)
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.sources[key].served
}
