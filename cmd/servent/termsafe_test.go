package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/require"

	"github.com/servent/servent/internal/termsafe"
	"github.com/servent/servent/servent/api"
	"github.com/servent/servent/servent/api/apitest"
)

// Names seen on the network that took over a terminal when printed raw.
const (
	clearScreen = "\x1b[2J\x1b[Hservent: fake line.mp3" // clears the screen, draws a fake line
	setTitle    = "\x1b]0;title\x07song.mp3"            // sets the terminal title
	lineBreak   = "two\r\nlines.mp3"                    // breaks the table
	rtlOverride = "\u202e3pm.exe"                       // shows as exe.mp3
)

var hostileNames = []string{clearScreen, setTitle, lineBreak, rtlOverride}

// requireTerminalSafe fails when out holds anything a terminal acts on or
// hides, other than the line breaks the command itself prints.
func requireTerminalSafe(t *testing.T, out string) {
	t.Helper()
	for _, r := range out {
		bad := (r < 0x20 && r != '\n') || r == 0x7f || (r >= 0x80 && r < 0xa0) ||
			unicode.Is(unicode.Cf, r) || r == 0x2028 || r == 0x2029
		require.False(t, bad, "output holds %U:\n%s", r, out)
	}
}

func hostileFake() *apitest.Fake {
	f := newFake()
	f.Results = nil
	for i, name := range hostileNames {
		f.Results = append(f.Results, api.Result{N: i + 1, Name: name, Size: 1 << 20, URN: "urn:sha1:" + strings.Repeat(string(rune('A'+i)), 32), Sources: 1})
	}
	return f
}

func TestHostileNamesSearch(t *testing.T) {
	f := hostileFake()
	dir := startDaemon(t, f)
	out, errOut, err := runCLI(t, "search", "--data", dir, "--wait", "10ms", "song")
	require.NoError(t, err)
	requireTerminalSafe(t, out)
	requireTerminalSafe(t, errOut)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 1+len(hostileNames), "one line per result:\n%s", out)
	require.Contains(t, lines[1], `\x1b[2J\x1b[Hservent: fake line.mp3`)
	require.Contains(t, lines[2], `\x1b]0;title\x07song.mp3`)
	require.Contains(t, lines[3], `two\r\nlines.mp3`)
	require.Contains(t, lines[4], `\u202e3pm.exe`)

	// --json stays exact.
	out, _, err = runCLI(t, "search", "--data", dir, "--wait", "10ms", "--json", "song")
	require.NoError(t, err)
	var got api.SearchResults
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	for i, r := range got.Results {
		require.Equal(t, hostileNames[i], r.Name)
	}
}

func TestHostileNamesDownloads(t *testing.T) {
	f := hostileFake()
	dir := startDaemon(t, f)
	_, _, err := runCLI(t, "search", "--data", dir, "--wait", "10ms", "song")
	require.NoError(t, err)
	for i := range hostileNames {
		out, _, err := runCLI(t, "get", "--data", dir, "--detach", string(rune('1'+i)))
		require.NoError(t, err)
		requireTerminalSafe(t, out)
	}
	out, _, err := runCLI(t, "downloads", "--data", dir)
	require.NoError(t, err)
	requireTerminalSafe(t, out)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 1+len(hostileNames), "one line per download:\n%s", out)
	require.True(t, strings.HasSuffix(lines[4], `\u202e3pm.exe`), lines[4])

	out, _, err = runCLI(t, "downloads", "--data", dir, "--json")
	require.NoError(t, err)
	var ds []api.Download
	require.NoError(t, json.Unmarshal([]byte(out), &ds))
	for i, d := range ds {
		require.Equal(t, hostileNames[i], d.Name)
	}
}

func TestHostileNamesGet(t *testing.T) {
	f := hostileFake()
	f.DownloadSteps = []api.Download{
		{State: api.StateDownloading, Done: 1 << 19, ActiveSources: 1},
		{State: api.StateComplete, Done: 1 << 20, Path: "/dl/" + setTitle},
	}
	dir := startDaemon(t, f)
	_, _, err := runCLI(t, "search", "--data", dir, "--wait", "10ms", "song")
	require.NoError(t, err)
	for i := range hostileNames {
		out, errOut, err := runCLI(t, "get", "--data", dir, string(rune('1'+i)))
		require.NoError(t, err)
		requireTerminalSafe(t, out)
		requireTerminalSafe(t, errOut)
		require.Equal(t, `downloaded /dl/\x1b]0;title\x07song.mp3 (1.0 MiB), verified `+f.Results[i].URN+"\n", out)
	}

	// The progress bar, redrawn on a terminal with \r, shows the name escaped.
	var buf bytes.Buffer
	p := newProgressBar(&buf)
	p.tty = true
	p.update(api.Download{Name: lineBreak, Size: 100, Done: 10, State: api.StateDownloading}, time.Now())
	p.finish()
	require.Equal(t, 1, strings.Count(buf.String(), "\r"), "only the bar's own carriage return")
	require.Contains(t, buf.String(), `two\r\nlines.mp3 [`)

	// An error that quotes network data is one safe line.
	f.DownloadSteps = []api.Download{{State: api.StateFailed, Error: "source said \x1b]0;pwned\x07\nbye"}}
	_, _, err = runCLI(t, "get", "--data", dir, "1")
	require.Error(t, err)
	requireTerminalSafe(t, oneLine(err))
	require.Contains(t, oneLine(err), `\x1b]0;pwned\x07`)
}

func TestHostilePeersSharesStatus(t *testing.T) {
	f := newFake()
	f.PeersV[0].UserAgent = "\x1b[31mevil\x1b[0m\nfake/1.0\tx"
	f.SharesV[0].Path = "/s/" + rtlOverride
	f.StatusV.Version = "\x1b]0;v\x07"
	dir := startDaemon(t, f)
	out, _, err := runCLI(t, "peers", "--data", dir)
	require.NoError(t, err)
	requireTerminalSafe(t, out)
	require.Len(t, strings.Split(strings.TrimRight(out, "\n"), "\n"), 2, out)
	require.Contains(t, out, `\x1b[31mevil\x1b[0m\nfake/1.0\tx`)

	out, _, err = runCLI(t, "shares", "--data", dir)
	require.NoError(t, err)
	requireTerminalSafe(t, out)
	require.Contains(t, out, `/s/\u202e3pm.exe`)

	out, _, err = runCLI(t, "status", "--data", dir)
	require.NoError(t, err)
	requireTerminalSafe(t, out)
}

// TestCJKTableAligns: columns line up on the screen when names hold wide
// (CJK, emoji) characters, which take two columns each.
func TestCJKTableAligns(t *testing.T) {
	f := newFake()
	f.Results = []api.Result{
		{N: 1, Name: "日本語の歌.mp3", Size: 4 << 20, URN: urn1, Sources: 3},
		{N: 2, Name: "abc.mp3", Size: 100, URN: urn2, Sources: 1},
		{N: 3, Name: "🎉 party " + strings.Repeat("長", 40) + ".ogg", Size: 100, URN: urn2, Sources: 1},
	}
	dir := startDaemon(t, f)
	out, _, err := runCLI(t, "search", "--data", dir, "--wait", "10ms", "song")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	require.Len(t, lines, 4)
	col := func(line, s string) int { return termsafe.Width(line[:strings.Index(line, s)]) }
	want := col(lines[0], "URN")
	for _, l := range lines[1:] {
		require.Equal(t, want, col(l, "urn:sha1:"), "URN column of %q", l)
	}
	require.Contains(t, lines[3], "…")

	var buf bytes.Buffer
	require.NoError(t, writeTable(&buf, []string{"NAME\tSIZE\tURN", "日本語の歌.mp3\t4 MiB\tx", "abc\t1 B\ty"}))
	lines = strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	require.Equal(t, col(lines[0], "URN"), col(lines[1], "x"))
	require.Equal(t, col(lines[0], "URN"), col(lines[2], "y"))
	require.Equal(t, col(lines[0], "SIZE"), col(lines[1], "4 MiB"))
}

// TestLongNetworkNamesCut: a name or user agent of thousands of characters
// from the network does not flood the terminal; --json keeps it whole.
func TestLongNetworkNamesCut(t *testing.T) {
	f := newFake()
	long := strings.Repeat("長い名前", 500) + ".mp3"
	f.Results = []api.Result{{N: 1, Name: long, Size: 1, URN: urn1, Sources: 1}}
	f.PeersV[0].UserAgent = strings.Repeat("x", 4000)
	dir := startDaemon(t, f)
	_, _, err := runCLI(t, "get", "--data", dir, "--detach", urn1)
	require.NoError(t, err)
	out, _, err := runCLI(t, "downloads", "--data", dir)
	require.NoError(t, err)
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		require.LessOrEqual(t, termsafe.Width(l), 160, l)
	}
	require.Contains(t, out, "…")
	out, _, err = runCLI(t, "peers", "--data", dir)
	require.NoError(t, err)
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		require.LessOrEqual(t, termsafe.Width(l), 160, l)
	}
	out, _, err = runCLI(t, "downloads", "--data", dir, "--json")
	require.NoError(t, err)
	require.Contains(t, out, long)
}
