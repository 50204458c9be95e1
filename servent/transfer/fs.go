package transfer

import (
	"os"

	"github.com/servent/servent/internal/atomicfile"
)

// FS is every write the download path makes to the disk: chunks into the
// partial file, its fsync and size, the move into DownloadDir and the state
// files. Tests swap it to simulate a full disk (ENOSPC), then free space.
type FS interface {
	WriteAt(f *os.File, b []byte, off int64) (int, error)
	Sync(f *os.File) error
	Truncate(f *os.File, size int64) error
	Link(oldname, newname string) error
	Rename(oldname, newname string) error
	// WriteFile replaces path atomically (temp file, fsync, rename).
	WriteFile(path string, data []byte, perm os.FileMode) error
	// SyncDir makes the names created in dir (a link, a rename) durable.
	SyncDir(dir string) error
}

// osFS is the real file system.
type osFS struct{}

func (osFS) WriteAt(f *os.File, b []byte, off int64) (int, error) { return f.WriteAt(b, off) }
func (osFS) Sync(f *os.File) error                                { return f.Sync() }
func (osFS) Truncate(f *os.File, size int64) error                { return f.Truncate(size) }
func (osFS) Link(oldname, newname string) error                   { return os.Link(oldname, newname) }
func (osFS) Rename(oldname, newname string) error                 { return os.Rename(oldname, newname) }
func (osFS) WriteFile(path string, data []byte, perm os.FileMode) error {
	return atomicfile.Write(path, data, perm)
}

func (osFS) SyncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// fsWriter writes sequentially through FS.WriteAt (the copy across
// filesystems).
type fsWriter struct {
	fs  FS
	f   *os.File
	off int64
}

func (w *fsWriter) Write(b []byte) (int, error) {
	n, err := w.fs.WriteAt(w.f, b, w.off)
	w.off += int64(n)
	return n, err
}
