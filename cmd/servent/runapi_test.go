package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/servent/servent/servent"
	"github.com/servent/servent/servent/api"
)

// TestRunAPI drives the run-side helpers the way run.go uses them: flags,
// a real node, the API and the banner, then a client command against it.
func TestRunAPI(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", "")
	share := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(share, "a.txt"), []byte("hello"), 0o644))

	var out bytes.Buffer
	started := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app := newApp()
	app.Writer = &out
	app.Commands = append(app.Commands, &cli.Command{
		Name:  "fakerun",
		Flags: append([]cli.Flag{dataFlag()}, runAPIFlags()...),
		Action: func(c *cli.Context) error {
			cfg := servent.DefaultConfig()
			ln, err := net.Listen("tcp", "127.0.0.31:0")
			if err != nil {
				return err
			}
			cfg.Listener, cfg.ShareDir = ln, share
			if cfg.DataDir, err = resolveDataDir(c); err != nil {
				return err
			}
			if err := applyRunAPIFlags(c, &cfg); err != nil {
				return err
			}
			n, err := servent.New(cfg)
			if err != nil {
				return err
			}
			if err := n.Start(c.Context); err != nil {
				return err
			}
			defer n.Close()
			srv, err := startRunAPI(c.Context, c, n, cfg)
			if err != nil {
				return err
			}
			defer srv.Close()
			started <- cfg.DataDir
			<-c.Context.Done()
			return nil
		},
	})
	done := make(chan error, 1)
	go func() { done <- app.RunContext(ctx, []string{"servent", "fakerun", "--api", "127.0.0.1:0"}) }()
	var dataDir string
	select {
	case dataDir = <-started:
	case err := <-done:
		t.Fatal(err)
	}
	require.Equal(t, filepath.Join(home, ".local", "share", "servent"), dataDir)
	st, err := os.Stat(filepath.Join(home, "Servent", "Downloads"))
	require.NoError(t, err)
	require.True(t, st.IsDir())
	st, err = os.Stat(filepath.Join(dataDir, api.KeyFileName))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	addr, _, err := api.Discover(dataDir)
	require.NoError(t, err)

	banner := out.String()
	require.Regexp(t, `^servent \S+ listening on 127\.0\.0\.31:\d+ \(mode leaf\)\n`, banner)
	require.Contains(t, banner, "from "+share)
	require.Contains(t, banner, "downloads go to "+filepath.Join(home, "Servent", "Downloads")+"\n")
	require.Contains(t, banner, "control API on http://"+addr+" (key in "+filepath.Join(dataDir, api.KeyFileName)+")\n")
	require.Contains(t, banner, "no peers: waiting for inbound connections")

	// The default data folder is found without --data.
	sout, _, err := runCLI(t, "status")
	require.NoError(t, err)
	require.Regexp(t, `listening on 127\.0\.0\.31:\d+`, sout)

	cancel()
	require.NoError(t, <-done)
	// Stopped: the address file is gone, clients say so.
	_, _, err = runCLI(t, "status")
	require.Equal(t, noDaemonMsg, oneLine(err))
}

func TestRunAPIFlagErrors(t *testing.T) {
	app := newApp()
	var got error
	app.Commands = append(app.Commands, &cli.Command{
		Name:  "fakerun",
		Flags: runAPIFlags(),
		Action: func(c *cli.Context) error {
			cfg := servent.DefaultConfig()
			cfg.Peers = c.Args().Slice()
			got = applyRunAPIFlags(c, &cfg)
			return nil
		},
	})
	require.NoError(t, app.Run([]string{"servent", "fakerun", "--downloads", t.TempDir(), "--max-peers", "0"}))
	require.Equal(t, exitUsage, exitCode(got))
	require.EqualError(t, got, "--max-peers 0: want at least 1")
	for _, bad := range []string{"nonsense", "host:", "host:port", "1.2.3.4:70000", ":6346x"} {
		require.NoError(t, app.Run([]string{"servent", "fakerun", "--downloads", t.TempDir(), bad}))
		require.Equal(t, exitUsage, exitCode(got), bad)
		require.Equal(t, `--peer "`+bad+`": want HOST:PORT, e.g. 192.0.2.7:6346`, oneLine(got))
	}
	require.NoError(t, app.Run([]string{"servent", "fakerun", "--downloads", t.TempDir(), "example.org:6346", "[::1]:6346"}))
	require.NoError(t, got)
}
