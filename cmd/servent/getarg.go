package main

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/servent/servent/protocol"
	"github.com/servent/servent/protocol/magnet"
	"github.com/servent/servent/servent/api"
)

// exitInterrupted is the exit code after Ctrl-C, 128+SIGINT as shells use.
const exitInterrupted = 130

// getTarget is what `servent get` was asked for: a result number of the
// last search, or a file by its SHA-1.
type getTarget struct {
	n      int           // result number, from 1; 0 when sha is set
	sha    protocol.SHA1 // zero when n is set
	magnet string        // a magnet link, checked; n and sha unset
}

const (
	sha1Prefix   = "urn:sha1:"
	urnSHA1Shape = "32 characters A-Z and 2-7 after urn:sha1:"
	numberHint   = "use a number `servent search` printed, or an urn:sha1:..."
)

// parseGetArg reads the argument of `servent get`; a bad one gets a usage
// error that says what a good one looks like.
func parseGetArg(arg string) (getTarget, error) {
	if len(arg) >= 7 && strings.EqualFold(arg[:7], "magnet:") {
		if _, err := magnet.Parse(arg); err != nil {
			return getTarget{}, usagef("%v", err)
		}
		return getTarget{magnet: arg}, nil
	}
	if len(arg) >= 4 && strings.EqualFold(arg[:4], "urn:") {
		sha, err := protocol.ParseSHA1URN(arg)
		if err == nil {
			return getTarget{sha: sha}, nil
		}
		if len(arg) < len(sha1Prefix) || !strings.EqualFold(arg[:len(sha1Prefix)], sha1Prefix) {
			return getTarget{}, usagef("%s: only urn:sha1: urns can be downloaded, as `servent search` shows them", arg)
		}
		digits := arg[len(sha1Prefix):]
		if len(digits) != 32 {
			return getTarget{}, usagef("%s: an urn:sha1 has %s, this one has %d", arg, urnSHA1Shape, len(digits))
		}
		for _, r := range digits {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '2' && r <= '7') {
				return getTarget{}, usagef("%s: %q is not a base32 character (an urn:sha1 has %s)", arg, r, urnSHA1Shape)
			}
		}
		return getTarget{}, usagef("%s: not an urn:sha1 (it has %s)", arg, urnSHA1Shape)
	}
	n, err := strconv.Atoi(arg)
	if err != nil {
		return getTarget{}, usagef("%q is neither a result number of the last search nor an urn:sha1:...", arg)
	}
	if n < 1 {
		return getTarget{}, usagef("result numbers start at 1, %d is not one: %s", n, numberHint)
	}
	return getTarget{n: n}, nil
}

// numericFlag matches the parser's complaint about `servent get -1`, which
// it reads as a flag named "1".
var numericFlag = regexp.MustCompile(`^flag provided but not defined: -(\d+)$`)

// getUsageError turns the parser's error for `servent get -N` into the one
// parseGetArg gives for it; ok is false for any other error.
func getUsageError(c *cli.Context, err error) (error, bool) {
	m := numericFlag.FindStringSubmatch(strings.TrimSpace(err.Error()))
	if m == nil || c.Command == nil || c.Command.Name != "get" {
		return nil, false
	}
	_, e := parseGetArg("-" + m[1])
	return e, true
}

// interrupted is the error `servent get` ends with on Ctrl-C: the servent
// goes on downloading d, and the exit code says the command did not finish.
func interrupted(c *cli.Context, d api.Download) error {
	return cli.Exit(fmt.Sprintf("interrupted: the download of %s goes on in the servent (follow it with `%s`, stop it with `%s`)",
		safe(d.Name), command(c, "downloads"), command(c, "downloads cancel", safe(d.ID))), exitInterrupted)
}
