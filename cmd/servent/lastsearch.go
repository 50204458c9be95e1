package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/servent/servent/servent/api"

	"github.com/servent/servent/internal/atomicfile"
)

// lastSearchFile keeps the numbering of the most recent `servent search`
// in the data folder, so that `servent get N` means what the user saw.
const lastSearchFile = "last-search.json"

// maxLastSearch bounds what is read of it: a search keeps at most 1000
// results and 1 MiB of names (servent/search.go), a few MB as JSON.
const maxLastSearch = 16 << 20

type lastSearch struct {
	SearchID string       `json:"search_id"`
	Criteria string       `json:"criteria"`
	Results  []api.Result `json:"results"`
}

func saveLastSearch(dataDir string, ls lastSearch) error {
	b, err := json.MarshalIndent(ls, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	path := filepath.Join(dataDir, lastSearchFile)
	if err := atomicfile.Write(path, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("saving the search numbering: %w", err)
	}
	return nil
}

func loadLastSearch(dataDir string) (lastSearch, error) {
	path := filepath.Join(dataDir, lastSearchFile)
	b, err := atomicfile.Read(path, maxLastSearch)
	if errors.Is(err, fs.ErrNotExist) {
		return lastSearch{}, errors.New("no recent search: run `servent search KEYWORDS...` first, or give an urn:sha1:...")
	}
	if err != nil {
		return lastSearch{}, fmt.Errorf("reading the last search (run `servent search` again): %w", err)
	}
	ls, err := parseLastSearch(b)
	if err != nil {
		return lastSearch{}, fmt.Errorf("the last search in %s is damaged: run `servent search` again", path)
	}
	return ls, nil
}

func parseLastSearch(b []byte) (lastSearch, error) {
	var ls lastSearch
	if err := json.Unmarshal(b, &ls); err != nil {
		return lastSearch{}, err
	}
	return ls, nil
}

func (ls lastSearch) result(n int) (api.Result, bool) {
	for _, r := range ls.Results {
		if r.N == n {
			return r, true
		}
	}
	return api.Result{}, false
}
