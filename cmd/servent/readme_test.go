package main

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/sharedir"
)

// The README is checked against the code where that is cheap: the first
// commands, the flags it lists, the banner, and the caps it states.

func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	return string(b)
}

// blocks are the fenced code blocks of md with the given info string.
func blocks(md, info string) []string {
	var out []string
	for _, part := range strings.Split(md, "```"+info+"\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		out = append(out, body)
	}
	return out
}

// TestReadmeFirstCommands: one command that builds and runs the servent (a
// bare `go run` compiled for minutes with no output), then the tests.
func TestReadmeFirstCommands(t *testing.T) {
	first := blocks(readme(t), "sh")[0]
	lines := strings.Split(strings.TrimRight(first, "\n"), "\n")
	require.Len(t, lines, 2, first)
	cmd := func(l string) string { c, _, _ := strings.Cut(l, "#"); return strings.TrimSpace(c) }
	require.Equal(t, "go build -o bin/servent ./cmd/servent && bin/servent run", cmd(lines[0]))
	require.Equal(t, "go test -race ./...", cmd(lines[1]))
	// go build -o NAME writes into NAME when it is a folder: "-o servent"
	// built servent/servent, and ./servent was the package folder.
	fi, err := os.Stat("../../bin/servent")
	require.True(t, err != nil || !fi.IsDir(), "bin/servent is a folder")
	ignore, err := os.ReadFile("../../.gitignore")
	require.NoError(t, err)
	require.Contains(t, strings.Split(string(ignore), "\n"), "/bin/", "the built binary is not committed by mistake")
}

var flagToken = regexp.MustCompile("`([^`]+)`")

// TestReadmeFlagsExist: every flag in the README's flag tables is a flag of
// the command the table (or the row) names.
func TestReadmeFlagsExist(t *testing.T) {
	app := newApp()
	byName := map[string]*cli.Command{}
	for _, c := range app.Commands {
		byName[c.Name] = c
	}
	has := func(cmds []*cli.Command, flag string) bool {
		for _, c := range cmds {
			for _, f := range c.Flags {
				if slices.Contains(f.Names(), flag) {
					return true
				}
			}
		}
		return false
	}
	md := readme(t)
	flags := md[strings.Index(md, "## Flags"):]
	flags = flags[:strings.Index(flags[3:], "\n## ")+3]
	var scope []*cli.Command
	checked := 0
	for _, line := range strings.Split(flags, "\n") {
		switch {
		case strings.HasPrefix(line, "`servent run`:"):
			scope = []*cli.Command{byName["run"]}
		case strings.HasPrefix(line, "Client commands"):
			scope = nil
			for _, c := range app.Commands {
				if c.Name != "run" {
					scope = append(scope, c)
				}
			}
		case strings.HasPrefix(line, "| `"):
			cell := strings.Split(line, "|")[1]
			rowScope := scope
			for _, m := range flagToken.FindAllStringSubmatch(cell, -1) {
				for _, w := range strings.Fields(m[1]) {
					if c, ok := byName[w]; ok {
						rowScope = []*cli.Command{c}
					}
					if name, ok := strings.CutPrefix(w, "-"); ok {
						name = strings.TrimPrefix(name, "-")
						require.True(t, has(rowScope, name), "README flag %s (row %q) is not a flag of %v", w, cell, names(rowScope))
						checked++
					}
				}
			}
		}
	}
	require.Greater(t, checked, 15, "the flag tables were found")
	require.Contains(t, md, "`servent --version`", "the version flag is documented")
}

func names(cmds []*cli.Command) []string {
	var out []string
	for _, c := range cmds {
		out = append(out, c.Name)
	}
	return out
}

// TestReadmeBanner: the banner in the tour is what `servent run` prints on
// its defaults, listen address included (0.0.0.0:6346 listens as [::]:6346,
// every IPv4 and IPv6 address).
func TestReadmeBanner(t *testing.T) {
	var tour string
	for _, b := range blocks(readme(t), "console") {
		if strings.HasPrefix(b, "$ servent run\n") {
			tour = strings.TrimPrefix(b, "$ servent run\n")
		}
	}
	require.NotEmpty(t, tour)
	ln, err := net.Listen("tcp", strings.Replace(runDefault(t, "listen"), ":6346", ":0", 1))
	require.NoError(t, err)
	bound := netip.MustParseAddrPort(ln.Addr().String())
	ln.Close()
	if bound.Addr().Is4() {
		t.Skip("no IPv6 on this machine: Go listens on 0.0.0.0 here, the README shows a dual-stack host")
	}
	home := "/home/ann"
	want := startupBanner(bannerInfo{
		Version: version, Mode: runDefault(t, "mode"), Listen: netip.AddrPortFrom(bound.Addr(), 6346).String(),
		ShareDir: home + "/Servent/Shared", SharedFiles: 2, SharedBytes: 4509715, Hashing: true,
		DownloadDir: home + "/Servent/Downloads", API: "127.0.0.1:6347", KeyFile: home + "/.local/share/servent/api-key",
	})
	require.Equal(t, want, tour)
	require.Contains(t, readme(t), "listening on "+netip.AddrPortFrom(bound.Addr(), 6346).String(), "the status example too")
}

func runDefault(t *testing.T, flag string) string {
	for _, f := range runCommand().Flags {
		if sf, ok := f.(*cli.StringFlag); ok && sf.Name == flag {
			return sf.Value
		}
	}
	t.Fatalf("no run flag %s", flag)
	return ""
}

// TestReadmeCaps: the caps the README states are the code's.
func TestReadmeCaps(t *testing.T) {
	md := readme(t)
	require.Contains(t, md, fmt.Sprintf("at most %d results, or as many as the query asks for up to %d",
		sharedir.DefaultMaxResults, int(protocol.FlagMaxHitsMask)))
	require.NotContains(t, md, "every source that")
}
