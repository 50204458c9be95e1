package sharedir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// PartialSuffix ends the names of files still being downloaded: the scanner
// never shares them. The transfer code writes partial files with it.
const PartialSuffix = ".part"

// found is one regular file seen by a walk.
type found struct {
	rel, path, name string
	size, mtime     int64
}

type walker struct {
	l       *Library
	files   []found
	dirs    []string            // real paths of the directories read (to watch)
	visited map[string]struct{} // real directory paths, against symlink loops
}

// skipName is true for names the scanner never looks at: hidden files and
// folders, and our own partial downloads.
func skipName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasSuffix(name, PartialSuffix)
}

// walk lists the shareable files under the root. An unreadable root is an
// error (the caller keeps the previous index); unreadable subfolders are
// logged and skipped.
func (l *Library) walk() (*walker, error) {
	w := &walker{l: l, visited: map[string]struct{}{}}
	if l.root == "" {
		return w, nil
	}
	if _, err := os.ReadDir(l.root); err != nil {
		return nil, fmt.Errorf("sharedir: read %s: %w", l.root, err)
	}
	w.dir(l.root, "")
	return w, nil
}

// dir reads the directory whose real path is real and whose path relative
// to the root, as the user sees it, is rel.
func (w *walker) dir(real, rel string) {
	if _, seen := w.visited[real]; seen {
		return
	}
	w.visited[real] = struct{}{}
	if real == w.l.dataRoot && real != w.l.root {
		return // our own data folder placed inside the shared one
	}
	// Watch before reading, so a file created in between is not missed.
	w.l.watchDir(real)
	w.dirs = append(w.dirs, real)
	ents, err := os.ReadDir(real)
	if err != nil {
		w.l.log.Warn("sharedir: cannot read folder", "path", real, "err", err)
		return
	}
	for _, de := range ents {
		name := de.Name()
		if skipName(name) {
			continue
		}
		p := filepath.Join(real, name)
		if p == w.l.cachePath {
			continue // data folder = shared folder
		}
		r := name
		if rel != "" {
			r = rel + "/" + name
		}
		if w.l.cfg.Skip != nil && w.l.cfg.Skip(p) {
			continue
		}
		t := de.Type()
		if t&fs.ModeSymlink != 0 {
			target, err := filepath.EvalSymlinks(p)
			if err != nil || !w.l.inside(target) {
				w.l.log.Debug("sharedir: skipping symlink", "path", p, "target", target, "err", err)
				continue
			}
			if skipName(filepath.Base(target)) || w.l.cfg.Skip != nil && w.l.cfg.Skip(target) {
				continue
			}
			fi, err := os.Stat(target)
			if err != nil {
				continue
			}
			if fi.IsDir() {
				w.dir(target, r)
			} else if fi.Mode().IsRegular() {
				w.file(r, target, name, fi)
			}
			continue
		}
		if t.IsDir() {
			w.dir(p, r)
			continue
		}
		if !t.IsRegular() {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				w.l.log.Warn("sharedir: cannot stat file", "path", p, "err", err)
			}
			continue
		}
		w.file(r, p, name, fi)
	}
}

func (w *walker) file(rel, path, name string, fi fs.FileInfo) {
	if fi.Size() <= 0 {
		return // GTKG does not share empty files either
	}
	// Share one string between path, rel and name when they nest (no
	// symlink on the way): it is most of the memory per file.
	if len(path) > len(rel) && strings.HasSuffix(path, rel) && os.IsPathSeparator(path[len(path)-len(rel)-1]) {
		rel = path[len(path)-len(rel):]
	}
	if strings.HasSuffix(rel, name) {
		name = rel[len(rel)-len(name):]
	}
	w.files = append(w.files, found{rel: rel, path: path, name: name, size: fi.Size(), mtime: fi.ModTime().UnixNano()})
}

// inside reports whether the real path p lies in the real root.
func (l *Library) inside(p string) bool {
	return p == l.root || strings.HasPrefix(p, l.root+string(filepath.Separator))
}

// Rescan walks the shared folder now and updates the index: new and changed
// files become searchable by name at once and are queued for hashing,
// removed ones disappear. Hashing continues in the background.
func (l *Library) Rescan() error {
	l.scanMu.Lock()
	defer l.scanMu.Unlock()
	w, err := l.walk()
	if err != nil {
		return err
	}
	l.apply(w.files)
	l.watchDirs(w.dirs)
	return nil
}

// apply makes the index match the files found. Unchanged files (same
// relative path, size and mtime) keep their entry, hence index and hash.
// Called with scanMu held.
func (l *Library) apply(files []found) {
	next := make(map[string]*entry, len(files))
	var added, removed []*entry
	for _, f := range files {
		old := l.byRel[f.rel]
		if old != nil && old.size == f.size && old.mtime == f.mtime {
			if old.path == f.path {
				next[f.rel] = old
				continue
			}
			// Same file reached by another real path (moved symlink
			// target, or loaded from the cache): keep index and hash.
			e := l.newEntry(f, old.index)
			l.mu.RLock()
			e.sha1, e.hashed, e.urnCode = old.sha1, old.hashed, old.urnCode
			e.hasTree, e.tth, e.row = old.hasTree, old.tth, old.row
			l.mu.RUnlock()
			next[f.rel] = e
			added = append(added, e)
			continue
		}
		e := l.newEntry(f, 0)
		next[f.rel] = e
		added = append(added, e)
	}
	for rel, e := range l.byRel {
		if next[rel] != e {
			removed = append(removed, e)
		}
	}
	first := !l.scanned
	l.scanned = true
	if len(added) == 0 && len(removed) == 0 && !first {
		return
	}
	l.byRel = next

	l.mu.Lock()
	for _, e := range removed {
		l.unlinkSHA1(e)
		e.removed = true
	}
	for _, e := range added {
		if e.hashed {
			l.linkSHA1(e)
		}
	}
	l.mu.Unlock()

	list := make([]*entry, 0, len(next))
	for _, e := range next {
		list = append(list, e)
	}
	slices.SortFunc(list, func(a, b *entry) int {
		switch {
		case a.index < b.index:
			return -1
		case a.index > b.index:
			return 1
		}
		return 0
	})
	l.snap.Store(buildSnapshot(list))
	l.log.Debug("sharedir: index updated", "files", len(list), "added", len(added), "removed", len(removed))

	var todo, trees []*entry
	l.mu.RLock()
	for _, e := range list {
		switch {
		case !e.hashed:
			todo = append(todo, e)
		case !e.hasTree:
			trees = append(trees, e) // from a cache of version 1
		}
	}
	l.mu.RUnlock()
	l.enqueue(todo)
	l.enqueueTrees(trees)
	l.cacheDirty.Store(true)
	l.wordsDirty.Store(true)
	l.markDirty()
}

// newEntry makes the entry for a found file; index 0 takes the next free one.
func (l *Library) newEntry(f found, index uint32) *entry {
	if index == 0 {
		index = l.nextIndex
		l.nextIndex++
		if l.nextIndex == 0 {
			l.nextIndex = 1
		}
	}
	return &entry{index: index, rel: f.rel, path: f.path, name: f.name, size: f.size, mtime: f.mtime, canon: canonWords(f.name)}
}

// linkSHA1 and unlinkSHA1 maintain bySHA1, a list per digest so that
// deleting one of two copies keeps the other findable. Called with mu held.
func (l *Library) linkSHA1(e *entry) {
	e.sameNext = l.bySHA1[e.sha1]
	l.bySHA1[e.sha1] = e
}

func (l *Library) unlinkSHA1(e *entry) {
	if !e.hashed {
		return
	}
	head := l.bySHA1[e.sha1]
	if head == e {
		if e.sameNext == nil {
			delete(l.bySHA1, e.sha1)
		} else {
			l.bySHA1[e.sha1] = e.sameNext
		}
		e.sameNext = nil
		return
	}
	for p := head; p != nil; p = p.sameNext {
		if p.sameNext == e {
			p.sameNext = e.sameNext
			e.sameNext = nil
			return
		}
	}
}
