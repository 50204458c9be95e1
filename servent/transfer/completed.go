package transfer

import (
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"time"

	"github.com/servent/servent/protocol"

	"github.com/servent/servent/internal/atomicfile"
)

// Completed downloads are remembered in DataDir/completed.json so that the
// list survives a restart; the newest maxCompleted, none older than
// maxCompletedAge.
const (
	completedFile   = "completed.json"
	maxCompleted    = 100
	maxCompletedAge = 30 * 24 * time.Hour
	// maxCompletedFile bounds what we read back (100 records of a few
	// hundred bytes each).
	maxCompletedFile = 1 << 20
)

// completedRec is one completed download in completed.json.
type completedRec struct {
	SHA1 string    `json:"sha1"`
	Name string    `json:"name"`
	Size int64     `json:"size"`
	Path string    `json:"path"`
	At   time.Time `json:"completed"`
}

// parseCompleted decodes completed.json; records that do not make sense
// (bad urn, size, no path) are dropped, not fatal.
func parseCompleted(b []byte) ([]completedRec, error) {
	if len(b) > maxCompletedFile {
		return nil, errors.New("transfer: completed list too large")
	}
	var recs []completedRec
	if err := json.Unmarshal(b, &recs); err != nil {
		return nil, fmt.Errorf("transfer: completed list: %w", err)
	}
	seen := make(map[string]bool, len(recs))
	return slices.DeleteFunc(recs, func(r completedRec) bool {
		_, err := protocol.ParseSHA1Base32(r.SHA1)
		bad := err != nil || seen[r.SHA1] || r.Size < 0 || r.Size > MaxFileSize || r.Path == "" || !filepath.IsAbs(r.Path)
		seen[r.SHA1] = true
		return bad
	}), nil
}

// keepCompleted returns the records to keep at now: none older than
// maxCompletedAge, the newest max of them, oldest first.
func keepCompleted(recs []completedRec, now time.Time, max int) []completedRec {
	recs = slices.DeleteFunc(slices.Clone(recs), func(r completedRec) bool { return now.Sub(r.At) > maxCompletedAge })
	slices.SortStableFunc(recs, func(a, b completedRec) int { return a.At.Compare(b.At) })
	if len(recs) > max {
		recs = recs[len(recs)-max:]
	}
	return recs
}

func readCompleted(path string) ([]completedRec, error) {
	b, err := atomicfile.Read(path, maxCompletedFile)
	if err != nil {
		return nil, fmt.Errorf("transfer: %w", err)
	}
	return parseCompleted(b)
}

// newCompleted is a finished download from completed.json: no files, no
// goroutine.
func (m *Manager) newCompleted(r completedRec) (*download, bool) {
	sha, err := protocol.ParseSHA1Base32(r.SHA1)
	if err != nil {
		return nil, false
	}
	d := &download{
		m: m, log: m.log.With("urn", sha.Base32()), sha1: sha, name: r.Name, size: r.Size, doneB: r.Size,
		state: StateComplete, path: r.Path, doneAt: r.At, finished: make(chan struct{}),
		sources: map[string]*srcState{}, banned: map[string]bool{},
	}
	close(d.finished)
	return d, true
}

// completedRecord is d's line in completed.json, if it completed.
func (d *download) completedRecord() (completedRec, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.state != StateComplete {
		return completedRec{}, false
	}
	return completedRec{SHA1: d.sha1.Base32(), Name: d.name, Size: d.size, Path: d.path, At: d.doneAt}, true
}

// saveCompleted forgets the completed downloads past maxCompleted (oldest
// first) and rewrites completed.json from the list.
func (m *Manager) saveCompleted() {
	m.completedMu.Lock()
	defer m.completedMu.Unlock()
	m.mu.Lock()
	var recs []completedRec
	for _, s := range m.order {
		if r, ok := m.downloads[s].completedRecord(); ok {
			recs = append(recs, r)
		}
	}
	slices.SortStableFunc(recs, func(a, b completedRec) int { return a.At.Compare(b.At) })
	if n := len(recs) - maxCompleted; n > 0 {
		for _, r := range recs[:n] {
			sha, _ := protocol.ParseSHA1Base32(r.SHA1)
			delete(m.downloads, sha)
			m.order = slices.DeleteFunc(m.order, func(s protocol.SHA1) bool { return s == sha })
		}
		recs = recs[n:]
	}
	m.mu.Unlock()
	if recs == nil {
		recs = []completedRec{}
	}
	b, err := json.Marshal(recs)
	if err == nil {
		err = m.cfg.FS.WriteFile(filepath.Join(m.cfg.DataDir, completedFile), b, 0o644)
	}
	if err != nil {
		m.log.Warn("download: saving the completed list", "err", err)
	}
}
