package transfer

import (
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol"
)

// TestStartSaveFails: when the state file cannot be written, Start fails
// and leaves nothing behind: no download that never runs (a later Start
// for the urn would only add sources to it) and no open partial file.
func TestStartSaveFails(t *testing.T) {
	d := newDirs(t)
	m := openManager(t, d, nil)
	sha := protocol.SHA1{7, 8, 9}
	// A non-empty folder stands where the state file goes: the save fails.
	block := filepath.Join(d.data, partialDir, sha.Base32()+stateSuffix)
	require.NoError(t, os.MkdirAll(filepath.Join(block, "x"), 0o755))
	src := []Source{{Addr: netip.MustParseAddrPort("127.0.0.94:1")}}
	_, err := m.Start(sha, "x.bin", 10, src)
	require.Error(t, err)
	require.Empty(t, m.List())
	_, err = os.Stat(filepath.Join(d.data, partialDir, sha.Base32()+partSuffix))
	require.ErrorIs(t, err, os.ErrNotExist)
}
