package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
)

// Defaults of `servent run`, chosen so that no flag is required.

// homeDir is the user's home folder, or an error saying why there is none.
func homeDir() (string, error) {
	h, err := os.UserHomeDir()
	if err != nil || h == "" {
		return "", errors.New("no home folder ($HOME is not set): give the folders with --share, --downloads and --data")
	}
	return h, nil
}

// defaultShareDir is ~/Servent/Shared.
func defaultShareDir() (string, error) {
	h, err := homeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, "Servent", "Shared"), nil
}

// defaultDownloadDir is ~/Servent/Downloads.
func defaultDownloadDir() (string, error) {
	h, err := homeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, "Servent", "Downloads"), nil
}

// defaultDataDir is $XDG_DATA_HOME/servent, or ~/.local/share/servent when
// XDG_DATA_HOME is unset or not absolute (as the XDG spec says).
func defaultDataDir() (string, error) {
	if x := os.Getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "servent"), nil
	}
	h, err := homeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, ".local", "share", "servent"), nil
}

// resolveDataDir is the data folder a command uses: the nearest --data given
// (on the command or before it, `servent --data D status`) or SERVENT_DATA,
// else the default.
func resolveDataDir(c *cli.Context) (string, error) {
	for _, x := range c.Lineage() {
		if x.IsSet("data") {
			if v := x.String("data"); v != "" {
				return expandHome(v)
			}
		}
	}
	return defaultDataDir()
}

// expandHome turns a leading ~/ into the home folder (for values from env
// vars, which no shell expanded).
func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") {
		h, err := homeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(h, p[1:]), nil
	}
	return p, nil
}

// bannerInfo is what `servent run` prints once it started.
type bannerInfo struct {
	Version     string
	Mode        string // leaf, ultrapeer, auto
	Listen      string // address the Gnutella port listens on
	ShareDir    string
	SharedFiles int
	SharedBytes uint64
	Hashing     bool // files are still being hashed
	DownloadDir string
	DataDir     string
	API         string // address of the control API; "" when disabled
	KeyFile     string
	Peers       []string // peers named with --peer
	CachedHosts int      // addresses in the persisted host cache
}

// startupBanner is the few lines `servent run` prints at start: where it
// listens, what it shares, where the API is, and what to do without peers.
func startupBanner(b bannerInfo) string {
	var s strings.Builder
	fmt.Fprintf(&s, "servent %s listening on %s (mode %s)\n", b.Version, b.Listen, b.Mode)
	files := "files"
	if b.SharedFiles == 1 {
		files = "file"
	}
	fmt.Fprintf(&s, "sharing %d %s (%s) from %s", b.SharedFiles, files, humanBytes(b.SharedBytes), b.ShareDir)
	if b.Hashing {
		s.WriteString(", hashing in progress")
	}
	s.WriteString("\n")
	fmt.Fprintf(&s, "downloads go to %s\n", b.DownloadDir)
	if b.API != "" {
		fmt.Fprintf(&s, "control API on http://%s (key in %s)\n", b.API, b.KeyFile)
		fmt.Fprintf(&s, "web UI on http://%s/ (log in with the key, or open the link `servent ui` prints)\n", b.API)
	}
	switch {
	case len(b.Peers) > 0:
		fmt.Fprintf(&s, "connecting to %s\n", strings.Join(b.Peers, ", "))
	case b.CachedHosts > 0:
		fmt.Fprintf(&s, "connecting to known hosts (%d in the host cache)\n", b.CachedHosts)
	default:
		s.WriteString("no peers: waiting for inbound connections, add one with --peer HOST:PORT or `servent peers add HOST:PORT`\n")
	}
	return s.String()
}
