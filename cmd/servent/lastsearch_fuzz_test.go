package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent/api"
)

// TestLastSearchBounded: last-search.json is read up to a size no search
// reaches (1000 results with their sources), not whatever the file holds.
func TestLastSearchBounded(t *testing.T) {
	dir := t.TempDir()
	big := `{"search_id":"s1","criteria":"x","results":[]}` + strings.Repeat(" ", maxLastSearch)
	require.NoError(t, os.WriteFile(filepath.Join(dir, lastSearchFile), []byte(big), 0o600))
	_, err := loadLastSearch(dir)
	require.ErrorContains(t, err, "larger than")
}

// FuzzLastSearch reads last-search.json content: what is read writes back
// (as saveLastSearch writes it) to a file that reads the same, and `get N`
// finds the first result numbered N and no other.
func FuzzLastSearch(f *testing.F) {
	saved, err := json.MarshalIndent(lastSearch{SearchID: "s3", Criteria: "free song", Results: []api.Result{
		{N: 1, Name: "free software song.ogg", Size: 4500000, URN: "urn:sha1:2NI45EU7C6CCE5VNJTWM2G4HFP4QWMKU", Sources: 3,
			Addrs: []string{"192.0.2.7:6346", "[2001:db8::7]:6346"}, Push: 1},
		{N: 2, Name: "Café Crème.mp3", Size: 99, URN: "urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPFB", Sources: 1},
	}}, "", "  ")
	require.NoError(f, err)
	f.Add(saved)
	f.Add([]byte(`{"search_id":"s1","criteria":"x","results":[{"n":2,"name":"a"},{"n":2,"name":"b"},{"n":-1},{"n":0}]}`))
	f.Add([]byte(`{"search_id":"s1","criteria":"\u001b[2J","results":[{"n":1,"addrs":[],"urn":"urn:sha1:\u202e"}]}`))
	f.Add([]byte(`{"results":null}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		ls, err := parseLastSearch(data)
		if err != nil {
			return
		}
		enc, err := json.MarshalIndent(ls, "", "  ")
		require.NoError(t, err)
		again, err := parseLastSearch(enc)
		require.NoError(t, err)
		enc2, err := json.MarshalIndent(again, "", "  ")
		require.NoError(t, err)
		require.Equal(t, string(enc), string(enc2))

		first := map[int]int{}
		for i, r := range ls.Results {
			if _, ok := first[r.N]; !ok {
				first[r.N] = i
			}
		}
		for n, i := range first {
			r, ok := ls.result(n)
			require.True(t, ok)
			require.Equal(t, ls.Results[i], r)
		}
		if _, ok := first[len(ls.Results)+1]; !ok {
			_, ok := ls.result(len(ls.Results) + 1)
			require.False(t, ok)
		}
	})
}
