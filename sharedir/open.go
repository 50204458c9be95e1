package sharedir

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Errors of OpenFile.
var (
	ErrNotShared = errors.New("sharedir: file not shared")
	ErrChanged   = errors.New("sharedir: file changed since it was indexed")
)

// OpenFile opens an indexed file for serving. It opens through os.Root, so
// a path turned into a symlink leading out of the shared folder since the
// scan is refused, and it fails with ErrChanged when the file no longer has
// the indexed size and modification time (its hash would be stale).
func (l *Library) OpenFile(f File) (*os.File, error) {
	e := l.snap.Load().byIndex(f.Index)
	if e == nil || e.path != f.Path || l.root == "" {
		return nil, ErrNotShared
	}
	rel, err := filepath.Rel(l.root, e.path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotShared, err)
	}
	root, err := os.OpenRoot(l.root)
	if err != nil {
		return nil, fmt.Errorf("sharedir: open shared folder: %w", err)
	}
	defer root.Close()
	fh, err := root.Open(rel)
	if err != nil {
		return nil, fmt.Errorf("sharedir: open %s: %w", e.name, err)
	}
	fi, err := fh.Stat()
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != e.size || fi.ModTime().UnixNano() != e.mtime {
		fh.Close()
		return nil, ErrChanged
	}
	return fh, nil
}
