package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/servent"
	"github.com/servent/servent/servent/api"
)

type testNode struct {
	node                   *servent.Node
	share, data, downloads string
}

// startTestNode runs a real node on 127.0.0.x:0 with its control API on
// 127.0.0.1:0, as `servent run` does.
func startTestNode(t *testing.T, ip string, mode servent.Mode, peers ...string) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", ip+":0")
	require.NoError(t, err)
	tn := &testNode{share: t.TempDir(), data: t.TempDir(), downloads: t.TempDir()}
	cfg := servent.DefaultConfig()
	cfg.Listener = ln
	cfg.Mode = mode
	cfg.ShareDir, cfg.DataDir, cfg.DownloadDir = tn.share, tn.data, tn.downloads
	cfg.Peers = peers
	cfg.MaintainInterval = 20 * time.Millisecond
	tn.node, err = servent.New(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	require.NoError(t, tn.node.Start(ctx))
	srv, err := startAPI(ctx, tn.node, "127.0.0.1:0", tn.data, false, nil)
	require.NoError(t, err)
	t.Cleanup(func() {
		cancel()
		srv.Close()
		tn.node.Close()
	})
	return tn
}

// TestTwoServents: a file shared by one servent is found with `servent
// search` on the other and fetched byte-identical with `servent get`.
func TestTwoServents(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	content := make([]byte, 300<<10)
	_, err := rand.Read(content)
	require.NoError(t, err)

	up := startTestNode(t, "127.0.0.21", servent.ModeUltrapeer)
	require.NoError(t, os.WriteFile(filepath.Join(up.share, "free software song.ogg"), content, 0o644))
	out, _, err := runCLI(t, "shares", "rescan", "--data", up.data)
	require.NoError(t, err)
	require.Equal(t, "rescanned: 1 files, 300 KiB\n", out)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, up.node.Library().WaitHashed(ctx))

	leaf := startTestNode(t, "127.0.0.22", servent.ModeLeaf, up.node.Addr().String())
	require.Eventually(t, func() bool { return leaf.node.Status().Peers == 1 }, 10*time.Second, 5*time.Millisecond)

	out, _, err = runCLI(t, "peers", "--data", leaf.data)
	require.NoError(t, err)
	require.Regexp(t, `^`+strings.ReplaceAll(up.node.Addr().String(), ".", `\.`)+`\s+ultrapeer\s+outbound ipv4 tls\s+up \d+s`, out)

	out, _, err = runCLI(t, "search", "--data", leaf.data, "--count", "1", "--wait", "10s", "--json", "software", "song")
	require.NoError(t, err)
	var res api.SearchResults
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	require.Len(t, res.Results, 1)
	r := res.Results[0]
	require.Equal(t, "free software song.ogg", r.Name)
	require.Equal(t, uint64(len(content)), r.Size)
	require.Equal(t, 1, r.Sources)
	require.Equal(t, []string{up.node.Addr().String()}, r.Addrs)
	require.Equal(t, up.node.Library().Files()[0].SHA1.URN(), r.URN)

	out, _, err = runCLI(t, "get", "--data", leaf.data, "1")
	require.NoError(t, err)
	path := filepath.Join(leaf.downloads, "free software song.ogg")
	require.Equal(t, "downloaded "+path+" (300 KiB), verified "+r.URN+"\n", out)
	got, err := os.ReadFile(path)
	require.NoError(t, err)
	require.True(t, bytes.Equal(content, got), "downloaded file differs")

	out, _, err = runCLI(t, "downloads", "--data", leaf.data)
	require.NoError(t, err)
	require.Regexp(t, `\n`+sha1Base32(r.URN)+`\s+complete\s+100%\s+300 KiB\s+\d/1\s+free software song\.ogg\n$`, out)

	// The urn form of get finds the same file again (already complete).
	out, _, err = runCLI(t, "get", "--data", leaf.data, "--detach", "--json", r.URN)
	require.NoError(t, err)
	var d api.Download
	require.NoError(t, json.Unmarshal([]byte(out), &d))
	require.Equal(t, r.URN, d.URN)
	require.Equal(t, api.StateComplete, d.State)
	require.Equal(t, path, d.Path)
	entries, err := os.ReadDir(leaf.downloads)
	require.NoError(t, err)
	require.Len(t, entries, 1, "not downloaded twice")

	out, _, err = runCLI(t, "status", "--data", up.data)
	require.NoError(t, err)
	require.Contains(t, out, "shared:    1 files, 300 KiB")

	// The leaf's ultrapeer connected back to it: doctor says so, exit 0.
	require.Eventually(t, func() bool {
		out, _, err = runCLI(t, "doctor", "--data", leaf.data)
		return err == nil
	}, 10*time.Second, 100*time.Millisecond)
	require.Contains(t, out, "reachable over TCP")
	require.Contains(t, out, "why:       TCP: TCP connect-back from 127.")
}

func sha1Base32(urn string) string { return strings.TrimPrefix(urn, "urn:sha1:") }
