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
	var ls lastSearch
	b, err := os.ReadFile(filepath.Join(dataDir, lastSearchFile))
	if errors.Is(err, fs.ErrNotExist) {
		return ls, errors.New("no recent search: run `servent search KEYWORDS...` first, or give an urn:sha1:...")
	}
	if err != nil {
		return ls, fmt.Errorf("reading the last search: %w", err)
	}
	if err := json.Unmarshal(b, &ls); err != nil {
		return ls, fmt.Errorf("the last search in %s is damaged: run `servent search` again", filepath.Join(dataDir, lastSearchFile))
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
