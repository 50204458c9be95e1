package transfer

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// FuzzCompleted: completed.json from the data folder never panics, and
// what it keeps is valid and round-trips.
func FuzzCompleted(f *testing.F) {
	good := []completedRec{{SHA1: "PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB", Name: "a song.ogg", Size: 4 << 20, Path: "/dl/a song.ogg",
		At: time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}}
	b, err := json.Marshal(good)
	require.NoError(f, err)
	f.Add(b)
	f.Add([]byte(`[]`))
	f.Add([]byte(`null`))
	f.Add([]byte(`[{"sha1":"x","path":"/a"},{"sha1":"PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB","size":-1,"path":"/a"}]`))
	f.Add([]byte(`[{"sha1":"PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB","path":"rel"},{"sha1":"PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB","path":"/a"}]`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := parseCompleted(b)
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range recs {
			require.False(t, seen[r.SHA1], "duplicate kept")
			seen[r.SHA1] = true
			require.GreaterOrEqual(t, r.Size, int64(0))
			require.NotEmpty(t, r.Path)
		}
		again, err := json.Marshal(recs)
		require.NoError(t, err)
		back, err := parseCompleted(again)
		require.NoError(t, err)
		require.Len(t, back, len(recs))
	})
}

func TestParseCompletedDropsBadRecords(t *testing.T) {
	recs, err := parseCompleted([]byte(`[{"sha1":"x","path":"/a"},{"sha1":"PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB","size":-1,"path":"/a"},
		{"sha1":"PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB","size":5,"path":"rel"},{"sha1":"2PHZPWHZRM7JHJ5E2W2VBJ5ZXGIQW76Q","size":5,"path":"/dl/b"}]`))
	require.NoError(t, err)
	require.Len(t, recs, 1)
	require.Equal(t, "/dl/b", recs[0].Path)
	_, err = parseCompleted(make([]byte, maxCompletedFile+1))
	require.Error(t, err)
}

func TestNoSourceReason(t *testing.T) {
	require.Equal(t, "no usable source left: 1 banned (its data failed the SHA-1 check); it resumes when a search finds a new source",
		noSourceReason(1, 0, 0, "its data failed the SHA-1 check", ""))
	require.Equal(t, "no usable source left: 2 dropped (last: dial 127.0.0.1:1: connection refused), 1 firewalled and unreachable; it resumes when a search finds a new source",
		noSourceReason(0, 2, 1, "", "dial 127.0.0.1:1: connection refused"))
	require.Contains(t, noSourceReason(0, 0, 0, "", ""), "none known")
}

// TestCompletedCapped: with maxCompleted remembered, one more completion
// forgets the oldest, in the list and in completed.json.
func TestCompletedCapped(t *testing.T) {
	d := newDirs(t)
	require.NoError(t, os.MkdirAll(d.data, 0o755))
	var recs []completedRec
	at := time.Now().Add(-time.Hour)
	for i := range maxCompleted {
		var sha protocol.SHA1
		binary.BigEndian.PutUint32(sha[:], uint32(i+1))
		recs = append(recs, completedRec{SHA1: sha.Base32(), Name: fmt.Sprint(i), Size: 1, Path: filepath.Join(d.dl, fmt.Sprint(i)), At: at.Add(time.Duration(i) * time.Second)})
	}
	b, err := json.Marshal(recs)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d.data, completedFile), b, 0o644))

	content := randomBytes(t, 1000)
	s := serveFile(t, "127.0.0.67", "new.bin", content, 0, false)
	m := openManager(t, d, nil)
	require.Len(t, m.List(), maxCompleted)
	sha := protocol.SHA1(sha1.Sum(content))
	_, err = m.Start(sha, "new.bin", int64(len(content)), []Source{s.src})
	require.NoError(t, err)
	require.Equal(t, StateComplete, waitDone(t, m, sha).State)
	list := m.List()
	require.Len(t, list, maxCompleted)
	require.Equal(t, "1", list[0].Name, "the oldest is forgotten")
	require.Equal(t, "new.bin", list[len(list)-1].Name)
	saved, err := readCompleted(filepath.Join(d.data, completedFile))
	require.NoError(t, err)
	require.Len(t, saved, maxCompleted)
	require.Equal(t, recs[1].SHA1, saved[0].SHA1)
	require.Equal(t, sha.Base32(), saved[len(saved)-1].SHA1)
}

// TestOpenResumesAfterLoadingCompleted: a download resumed at Open whose
// chunks are all on disk finishes at once (verify, move, forget, save the
// completed list) while Open is still loading completed.json. Open must
// load the list before any download runs: under -race this test reported
// the unlocked writes of loadCompleted against the download's forget.
// The test touches nothing that takes the Manager's lock until the file
// is in place, so the race detector sees the two sides unordered.
func TestOpenResumesAfterLoadingCompleted(t *testing.T) {
	d := newDirs(t)
	part := filepath.Join(d.data, partialDir)
	require.NoError(t, os.MkdirAll(part, 0o755))
	var recs []completedRec
	at := time.Now().Add(-time.Hour)
	for i := range maxCompleted - 1 {
		var sha protocol.SHA1
		binary.BigEndian.PutUint32(sha[:], uint32(i+1))
		recs = append(recs, completedRec{SHA1: sha.Base32(), Name: fmt.Sprint(i), Size: 1, Path: filepath.Join(d.dl, fmt.Sprint(i)), At: at.Add(time.Duration(i) * time.Second)})
	}
	b, err := json.Marshal(recs)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(d.data, completedFile), b, 0o644))

	content := randomBytes(t, 1000)
	sha := protocol.SHA1(sha1.Sum(content))
	require.NoError(t, os.WriteFile(filepath.Join(part, sha.Base32()+partSuffix), content, 0o644))
	st, err := json.Marshal(persisted{SHA1: sha.Base32(), Name: "done.bin", Size: int64(len(content)), ChunkSize: 256 << 10,
		Owners: []string{"127.0.0.1:6346"}, Sources: []persistedSrc{{Addr: "127.0.0.1:6346", Index: 1}}})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(part, sha.Base32()+stateSuffix), st, 0o644))

	m := openManager(t, d, nil)
	dst := filepath.Join(d.dl, "done.bin")
	require.Eventually(t, func() bool { _, err := os.Stat(dst); return err == nil }, 30*time.Second, time.Millisecond)
	in := waitDone(t, m, sha)
	require.Equal(t, StateComplete, in.State, in.Err)
	require.Len(t, m.List(), maxCompleted)
	saved, err := readCompleted(filepath.Join(d.data, completedFile))
	require.NoError(t, err)
	require.Len(t, saved, maxCompleted)
	require.Equal(t, sha.Base32(), saved[len(saved)-1].SHA1)
}
