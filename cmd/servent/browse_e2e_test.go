package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent"
)

// TestBrowseHost: `servent browse` lists what another servent shares, and
// `servent get N` downloads one of its files.
func TestBrowseHost(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	up := startTestNode(t, "127.0.0.27", servent.ModeUltrapeer)
	require.NoError(t, os.WriteFile(filepath.Join(up.share, "first shared.txt"), []byte("first"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(up.share, "second shared.txt"), []byte(strings.Repeat("2", 70000)), 0o644))
	_, _, err := runCLI(t, "shares", "rescan", "--data", up.data)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, up.node.Library().WaitHashed(ctx))
	leaf := startTestNode(t, "127.0.0.28", servent.ModeLeaf)

	out, errOut, err := runCLI(t, "browse", "--data", leaf.data, up.node.Addr().String())
	require.NoError(t, err, errOut)
	require.Contains(t, errOut, "browsing "+up.node.Addr().String())
	require.Contains(t, out, "first shared.txt")
	require.Contains(t, out, "second shared.txt")
	require.Contains(t, errOut, "2 results; download one with")
	n := "1"
	if strings.Index(out, "second shared.txt") < strings.Index(out, "first shared.txt") {
		n = "2"
	}
	out, _, err = runCLI(t, "get", "--data", leaf.data, n)
	require.NoError(t, err)
	require.Contains(t, out, "downloaded "+filepath.Join(leaf.downloads, "first shared.txt"))

	_, _, err = runCLI(t, "browse", "--data", leaf.data, "nonsense")
	require.ErrorContains(t, err, "want HOST:PORT")

	// The host of a search result: `servent browse N` (from another
	// address: a host is browsed once a minute per address).
	other := startTestNode(t, "127.0.0.29", servent.ModeLeaf, up.node.Addr().String())
	require.Eventually(t, func() bool { return len(up.node.Peers()) == 1 }, 10*time.Second, 10*time.Millisecond)
	out, errOut, err = runCLI(t, "search", "--data", other.data, "--wait", "10s", "--count", "1", "second")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "second shared.txt")
	out, errOut, err = runCLI(t, "browse", "--data", other.data, "1")
	require.NoError(t, err, errOut)
	require.Contains(t, out, "first shared.txt")
	require.Contains(t, out, "second shared.txt")
	_, _, err = runCLI(t, "browse", "--data", other.data, "7")
	require.ErrorContains(t, err, "no result 7 in the last search")
}
