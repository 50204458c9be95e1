package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"
)

func TestDefaultDirs(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", "")
	d, err := defaultShareDir()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(home, "Servent", "Shared"), d)
	d, err = defaultDownloadDir()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(home, "Servent", "Downloads"), d)
	d, err = defaultDataDir()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(home, ".local", "share", "servent"), d)
	t.Setenv("XDG_DATA_HOME", "relative/is/ignored")
	d, err = defaultDataDir()
	require.NoError(t, err)
	require.Equal(t, filepath.Join(home, ".local", "share", "servent"), d)
	t.Setenv("XDG_DATA_HOME", "/xdg")
	d, err = defaultDataDir()
	require.NoError(t, err)
	require.Equal(t, "/xdg/servent", d)

	t.Setenv("HOME", "")
	_, err = defaultShareDir()
	require.ErrorContains(t, err, "no home folder")
}

func TestResolveDataDir(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_DATA_HOME", "")
	resolve := func(args ...string) string {
		var got string
		app := newApp()
		app.Commands = append(app.Commands, &cli.Command{Name: "probe", Flags: []cli.Flag{dataFlag()}, Action: func(c *cli.Context) error {
			var err error
			got, err = resolveDataDir(c)
			return err
		}})
		require.NoError(t, app.Run(append([]string{"servent"}, args...)))
		return got
	}
	require.Equal(t, filepath.Join(home, ".local", "share", "servent"), resolve("probe"))
	require.Equal(t, "/a", resolve("--data", "/a", "probe"))
	require.Equal(t, "/b", resolve("--data", "/a", "probe", "--data", "/b"))
	t.Setenv("SERVENT_DATA", "~/d")
	require.Equal(t, filepath.Join(home, "d"), resolve("probe"))
	require.Equal(t, "/b", resolve("probe", "--data", "/b"))
}

func TestStartupBanner(t *testing.T) {
	b := bannerInfo{
		Version: "0.1.0", Mode: "leaf", Listen: "0.0.0.0:6346",
		ShareDir: "/home/u/Servent/Shared", SharedFiles: 12, SharedBytes: 5 << 20, Hashing: true,
		DownloadDir: "/home/u/Servent/Downloads", DataDir: "/home/u/.local/share/servent",
		API: "127.0.0.1:6347", KeyFile: "/home/u/.local/share/servent/api-key",
	}
	require.Equal(t, `servent 0.1.0 listening on 0.0.0.0:6346 (mode leaf)
sharing 12 files (5.0 MiB) from /home/u/Servent/Shared, hashing in progress
downloads go to /home/u/Servent/Downloads
control API on http://127.0.0.1:6347 (key in /home/u/.local/share/servent/api-key)
web UI on http://127.0.0.1:6347/ (log in with the key, or open the link `+"`servent ui`"+` prints)
no peers: waiting for inbound connections, add one with --peer HOST:PORT or `+"`servent peers add HOST:PORT`"+`
`, startupBanner(b))
	b.Peers = []string{"10.0.0.1:6346", "10.0.0.2:6346"}
	require.Contains(t, startupBanner(b), "connecting to 10.0.0.1:6346, 10.0.0.2:6346\n")
	b.Peers, b.CachedHosts = nil, 7
	require.Contains(t, startupBanner(b), "connecting to known hosts (7 in the host cache)\n")
}

func TestHumanFormats(t *testing.T) {
	require.Equal(t, "0 B", humanBytes(0))
	require.Equal(t, "1023 B", humanBytes(1023))
	require.Equal(t, "1.0 KiB", humanBytes(1024))
	require.Equal(t, "1.5 MiB", humanBytes(3<<19))
	require.Equal(t, "100 GiB", humanBytes(100<<30))
	require.Equal(t, "16.0 EiB", humanBytes(1<<63*2-1))
	require.Equal(t, "0s", humanDuration(-1))
	require.Equal(t, "59s", humanDuration(59e9))
	require.Equal(t, "1m00s", humanDuration(60e9))
	require.Equal(t, "1h00m", humanDuration(3600e9))
	require.Equal(t, "1d01h", humanDuration(90000e9))
	require.Equal(t, "ab…", truncate("abcd", 3))
	require.Equal(t, "é ", padRight("é", 2))
}
