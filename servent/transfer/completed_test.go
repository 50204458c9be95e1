package transfer

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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
