package atomicfile

import (
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	require.NoError(t, Write(path, []byte("one"), 0o600))
	require.NoError(t, Write(path, []byte("two"), 0o644))
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, "two", string(b))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o644), fi.Mode().Perm())

	// A failed rename (a folder in the way) leaves no temporary file.
	blocked := filepath.Join(dir, "blocked")
	require.NoError(t, os.Mkdir(blocked, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(blocked, "x"), nil, 0o600))
	require.Error(t, Write(blocked, []byte("x"), 0o600))
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, entries, 2, "only state and blocked remain")
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	require.NoError(t, Write(path, []byte("1234"), 0o600))
	b, err := Read(path, 4)
	require.NoError(t, err)
	require.Equal(t, "1234", string(b))
	_, err = Read(path, 3)
	require.ErrorContains(t, err, "larger than 3 bytes")
	_, err = Read(filepath.Join(dir, "missing"), 3)
	require.ErrorIs(t, err, fs.ErrNotExist)
}
