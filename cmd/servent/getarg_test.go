package main

import (
	"bufio"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/urfave/cli/v2"

	"github.com/servent/servent/servent/api"
)

// TestGetArgErrors: a bad argument to `servent get` says what a good one
// looks like, before looking for a servent, with exit code 2.
func TestGetArgErrors(t *testing.T) {
	dir := t.TempDir() // no servent: the argument is checked first
	for _, tc := range []struct{ arg, want string }{
		{"-1", "result numbers start at 1, -1 is not one: use a number `servent search` printed, or an urn:sha1:..."},
		{"0", "result numbers start at 1, 0 is not one: use a number `servent search` printed, or an urn:sha1:..."},
		{"urn:sha1:XYZ", "urn:sha1:XYZ: an urn:sha1 has 32 characters A-Z and 2-7 after urn:sha1:, this one has 3"},
		{"urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPF1", "urn:sha1:PLSTHIPQGSSZTS5FJUPAKUZWUGYQYPF1: '1' is not a base32 character (an urn:sha1 has 32 characters A-Z and 2-7 after urn:sha1:)"},
		{"urn:md5:abc", "urn:md5:abc: only urn:sha1: urns can be downloaded, as `servent search` shows them"},
		{"song", `"song" is neither a result number of the last search nor an urn:sha1:...`},
	} {
		_, _, err := runCLI(t, "get", "--data", dir, tc.arg)
		require.Error(t, err, tc.arg)
		require.Equal(t, tc.want, oneLine(err), tc.arg)
		require.Equal(t, exitUsage, exitCode(err), tc.arg)
	}
	// "--" lets a dash through to the same check.
	_, _, err := runCLI(t, "get", "--data", dir, "--", "-1")
	require.Equal(t, "result numbers start at 1, -1 is not one: use a number `servent search` printed, or an urn:sha1:...", oneLine(err))
}

// TestGetInterrupted: Ctrl-C while `servent get` follows a download exits
// 130, as shells do, and says the download goes on.
func TestGetInterrupted(t *testing.T) {
	f := newFake()
	f.DownloadSteps = []api.Download{{State: api.StateDownloading, Done: 1 << 20, ActiveSources: 1}} // never ends
	dir := startDaemon(t, f)
	cmd := exec.Command(os.Args[0], "get", "--data", dir, urn1)
	cmd.Env = append(os.Environ(), "SERVENT_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	r := bufio.NewReader(stderr)
	line, err := r.ReadString('\n') // the first progress line: the download is followed
	require.NoError(t, err)
	require.Contains(t, line, "a song.ogg [")
	require.NoError(t, cmd.Process.Signal(syscall.SIGINT))
	var rest strings.Builder
	_, _ = bufio.NewReader(r).WriteTo(&rest)
	err = cmd.Wait()
	var ee *exec.ExitError
	require.True(t, errors.As(err, &ee), "%v", err)
	require.Equal(t, 130, ee.ExitCode())
	require.Contains(t, rest.String(), "servent: interrupted: the download of a song.ogg goes on in the servent (follow it with `servent downloads --data "+dir+"`, stop it with `servent downloads cancel --data "+dir+" d1`)\n")
}

// TestSearchHintNamesTheServent: the `servent get` hint that search prints
// works as typed: it carries --data when the search was given one, so it
// reaches the same servent (the two-servent tour's hint failed without it).
func TestSearchHintNamesTheServent(t *testing.T) {
	f := newFake()
	dir := startDaemon(t, f)
	_, errOut, err := runCLI(t, "search", "--data", dir, "--wait", "10ms", "song")
	require.NoError(t, err)
	require.Contains(t, errOut, "2 results; download one with `servent get --data "+dir+" N`")

	f.Results = f.Results[:1]
	_, errOut, err = runCLI(t, "--data", dir, "search", "--wait", "10ms", "song")
	require.NoError(t, err)
	require.Contains(t, errOut, "1 result; download it with `servent get --data "+dir+" 1`")

	// From the environment, the next command sees it too.
	t.Setenv("SERVENT_DATA", dir)
	_, errOut, err = runCLI(t, "search", "--wait", "10ms", "song")
	require.NoError(t, err)
	require.Contains(t, errOut, "1 result; download it with `servent get 1`")

	require.Equal(t, `'/tmp/a b/it'\''s'`, shellQuote("/tmp/a b/it's"))
	require.Equal(t, "/tmp/bob/data", shellQuote("/tmp/bob/data"))

}

// TestSearchNoResultsWhileConnected: with peers and no results, search says
// so instead of asking whether the servent is connected.
func TestSearchNoResultsWhileConnected(t *testing.T) {
	f := newFake()
	f.Results = nil
	dir := startDaemon(t, f)
	_, errOut, err := runCLI(t, "search", "--data", dir, "--wait", "10ms", "zzz")
	require.NoError(t, err)
	require.NotContains(t, errOut, "connected?")
	require.Contains(t, errOut, "no results in 10ms from the 2 connected peers (try other words, or a longer --wait)")

	f.Lock()
	f.StatusV.Peers = 0
	f.Unlock()
	_, errOut, err = runCLI(t, "search", "--data", dir, "--wait", "10ms", "zzz")
	require.NoError(t, err)
	require.Contains(t, errOut, "warning: not connected to any peer yet, the search reaches no one (add a peer with `servent peers add --data "+dir+" HOST:PORT`)")
	require.Contains(t, errOut, "no results: the servent is not connected to any peer (add one with `servent peers add --data "+dir+" HOST:PORT`)")
}

// TestVersionAndVerbose: -v means one thing, the version; `servent run`
// logs more with --verbose only, and `run -v` says so instead of guessing.
func TestVersionAndVerbose(t *testing.T) {
	for _, args := range [][]string{{"-v"}, {"--version"}} {
		out, _, err := runCLI(t, args...)
		require.NoError(t, err, args)
		require.Equal(t, "servent version "+version+"\n", out, args)
	}
	dir := t.TempDir()
	_, _, err := runCLI(t, "run", "-v", "--listen", "127.0.0.1:notaport", "--data", dir, "--share", dir, "--downloads", dir)
	require.Error(t, err)
	require.Equal(t, "-v is not a flag of `servent run`: use --verbose for verbose logs (`servent -v` prints the version)", oneLine(err))
	require.Equal(t, exitUsage, exitCode(err))

	var verbose cli.Flag
	for _, f := range runCommand().Flags {
		if slices.Contains(f.Names(), "verbose") {
			verbose = f
		}
	}
	require.NotNil(t, verbose)
	require.Equal(t, []string{"verbose"}, verbose.Names())
}
