package servent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// A servent GUID file of a terabyte (sparse) must not be read whole: os.ReadFile
// allocated its size up front and the node died of OOM at every start.
func TestLoadGUIDHugeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, guidFile)
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(1<<40))
	require.NoError(t, f.Close())

	g, err := loadGUID(dir)
	require.NoError(t, err)
	require.False(t, g.IsZero())
	again, err := loadGUID(dir)
	require.NoError(t, err)
	require.Equal(t, g, again, "the replacement GUID is saved and kept")
}
