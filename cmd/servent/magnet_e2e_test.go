package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/protocol/magnet"
	"github.com/servent/servent/servent"
)

// TestMagnet: `servent shares --magnet` on one servent gives a link that
// `servent get` on another downloads from; a link without a source finds
// one by a search by urn; a bad link gets one clear line.
func TestMagnet(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	up := startTestNode(t, "127.0.0.30", servent.ModeUltrapeer)
	content := []byte(strings.Repeat("magnet content ", 5000))
	require.NoError(t, os.WriteFile(filepath.Join(up.share, "magnet file.bin"), content, 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(up.share, "second magnet.bin"), []byte("second"), 0o644))
	_, _, err := runCLI(t, "shares", "rescan", "--data", up.data)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, up.node.Library().WaitHashed(ctx))

	out, _, err := runCLI(t, "shares", "--magnet", "--data", up.data)
	require.NoError(t, err)
	var first, second string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		m, err := magnet.Parse(line)
		require.NoError(t, err, line)
		require.Len(t, m.Sources, 1)
		require.Equal(t, up.node.Addr().Port(), m.Sources[0].Port)
		switch m.Name {
		case "magnet file.bin":
			first = line
			require.Equal(t, int64(len(content)), m.Size)
		case "second magnet.bin":
			second = line
		}
	}
	require.NotEmpty(t, first, out)

	leaf := startTestNode(t, "127.0.0.31", servent.ModeLeaf, up.node.Addr().String())
	out, errOut, err := runCLI(t, "get", "--data", leaf.data, first)
	require.NoError(t, err, errOut)
	require.Contains(t, out, "downloaded "+filepath.Join(leaf.downloads, "magnet file.bin"))
	got, err := os.ReadFile(filepath.Join(leaf.downloads, "magnet file.bin"))
	require.NoError(t, err)
	require.Equal(t, content, got)

	// Without its source: the search by urn finds the ultrapeer.
	m, err := magnet.Parse(second)
	require.NoError(t, err)
	m.Sources = nil
	require.Eventually(t, func() bool { return len(up.node.Peers()) == 1 }, 10*time.Second, 10*time.Millisecond)
	out, errOut, err = runCLI(t, "get", "--data", leaf.data, m.String())
	require.NoError(t, err, errOut)
	require.Contains(t, out, "downloaded "+filepath.Join(leaf.downloads, "second magnet.bin"))

	_, _, err = runCLI(t, "get", "--data", leaf.data, "magnet:?xt=urn:sha1:NOTBASE32")
	require.Error(t, err)
	require.NotContains(t, err.Error(), "\n")
	require.Contains(t, err.Error(), "urn:sha1")
}
