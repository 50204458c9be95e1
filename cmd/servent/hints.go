package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
)

// sameServentFlags are the flags a follow-up command needs to reach the
// servent c reached: --data, --api and --api-key as typed on the command
// line (values from SERVENT_* variables reach the next command by
// themselves). It is "" or starts with a space.
func sameServentFlags(c *cli.Context) string {
	var b strings.Builder
	for _, f := range []struct{ name, env string }{
		{"data", "SERVENT_DATA"}, {"api", "SERVENT_API"}, {"api-key", "SERVENT_API_KEY"},
	} {
		for _, x := range c.Lineage() { // --data may come before the command
			if v := x.String(f.name); v != "" && x.IsSet(f.name) && v != os.Getenv(f.env) {
				fmt.Fprintf(&b, " --%s %s", f.name, shellQuote(v))
				break
			}
		}
	}
	return b.String()
}

// command is a command line to suggest to the user: `servent NAME` with the
// flags that reach the same servent as c, then args.
func command(c *cli.Context, name string, args ...string) string {
	return strings.Join(append([]string{"servent " + name + sameServentFlags(c)}, args...), " ")
}

// shellQuote is s as one shell word.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./~+-:@%,=") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// searchSummary is the line search ends with: how to download what it
// found, or why it found nothing (peers is -1 when unknown).
func searchSummary(c *cli.Context, results, peers int, wait time.Duration) string {
	switch {
	case results == 1:
		return fmt.Sprintf("1 result; download it with `%s`", command(c, "get", "1"))
	case results > 1:
		return fmt.Sprintf("%d results; download one with `%s`", results, command(c, "get", "N"))
	case peers == 0:
		return fmt.Sprintf("no results: the servent is not connected to any peer (add one with `%s`)", command(c, "peers add", "HOST:PORT"))
	case peers == 1:
		return fmt.Sprintf("no results in %s from the 1 connected peer (try other words, or a longer --wait)", wait)
	case peers > 1:
		return fmt.Sprintf("no results in %s from the %d connected peers (try other words, or a longer --wait)", wait, peers)
	}
	return "no results (see `servent status`)"
}

// verboseUsageError answers `servent run -v`: -v used to mean verbose there
// and the version everywhere else; now it is only the version, and run says
// which flag to use instead of failing on an unknown flag.
func verboseUsageError(c *cli.Context, err error) (error, bool) {
	if c.Command == nil || c.Command.Name != "run" || strings.TrimSpace(err.Error()) != "flag provided but not defined: -v" {
		return nil, false
	}
	return usagef("-v is not a flag of `servent run`: use --verbose for verbose logs (`servent -v` prints the version)"), true
}
