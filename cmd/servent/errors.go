package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"slices"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/servent/servent/servent/api"
)

// Exit codes: 1 for a failure at run time, 2 for a command line that makes
// no sense.
const (
	exitFailure = 1
	exitUsage   = 2
)

// noDaemonMsg is what every client command says when no servent runs.
const noDaemonMsg = "no running servent found (start one with `servent run`)"

// usageError marks a mistake on the command line (exit code 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// exitCode is the process exit code for err.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var u usageError
	if errors.As(err, &u) {
		return exitUsage
	}
	var ec cli.ExitCoder
	if errors.As(err, &ec) && ec.ExitCode() != 0 {
		return ec.ExitCode()
	}
	return exitFailure
}

// oneLine turns any error into the single line the user reads after
// "servent: ": the known cases get a plain sentence saying what to do, the
// rest their message with line breaks folded. Errors quote names and
// messages from the network, so the line is made terminal-safe.
func oneLine(err error) string {
	return safe(plainLine(err))
}

func plainLine(err error) string {
	if err == nil {
		return ""
	}
	var (
		op *net.OpError
		pe *fs.PathError
	)
	switch {
	case errors.Is(err, api.ErrNoDaemon):
		return noDaemonMsg
	case errors.Is(err, api.ErrAuth):
		return "the running servent refused the API key (is --data the data folder of that servent?)"
	case errors.Is(err, syscall.EADDRINUSE):
		addr := ""
		if errors.As(err, &op) && op.Addr != nil {
			addr = " " + op.Addr.String()
		}
		return fmt.Sprintf("address%s already in use (another servent running? pick another address with --listen or --api)", addr)
	case errors.Is(err, syscall.EADDRNOTAVAIL) && errors.As(err, &op):
		return fmt.Sprintf("cannot listen on %s: no such local address", op.Addr)
	case errors.Is(err, fs.ErrPermission) && errors.As(err, &pe):
		return fmt.Sprintf("%s: permission denied", pe.Path)
	}
	s := strings.TrimSpace(err.Error())
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
	// main prints "servent: " already; package errors start with it too.
	for strings.HasPrefix(s, "servent: ") {
		s = strings.TrimPrefix(s, "servent: ")
	}
	return s
}

// finishApp sets up error handling for the whole command tree: usage
// mistakes become one line instead of a help page, errors go back to main
// instead of exiting inside the library, unknown commands are refused.
func finishApp(app *cli.App) *cli.App {
	app.ExitErrHandler = func(*cli.Context, error) {} // main prints and exits
	app.OnUsageError = onUsageError
	orig := app.Action
	app.Action = func(c *cli.Context) error {
		if c.NArg() > 0 {
			return usagef("unknown command %q (see `servent --help`)", c.Args().First())
		}
		if orig != nil {
			return orig(c)
		}
		return cli.ShowAppHelp(c)
	}
	var walk func([]*cli.Command)
	walk = func(cmds []*cli.Command) {
		for _, cmd := range cmds {
			if cmd.OnUsageError == nil {
				cmd.OnUsageError = onUsageError
			}
			walk(cmd.Subcommands)
		}
	}
	walk(app.Commands)
	return app
}

func onUsageError(c *cli.Context, err error, isSubcommand bool) error {
	if e, ok := getUsageError(c, err); ok {
		return e
	}
	if e, ok := verboseUsageError(c, err); ok {
		return e
	}
	return usagef("%s (see `%s --help`)", strings.TrimSpace(err.Error()), commandPath(c))
}

// commandPath is "servent peers add" for the context of that command.
func commandPath(c *cli.Context) string {
	var names []string
	for _, x := range c.Lineage() {
		if x.Command != nil && x.Command.Name != "" {
			names = append(names, x.Command.Name)
		}
	}
	if len(names) == 0 || names[len(names)-1] != "servent" {
		names = append(names, "servent")
	}
	slices.Reverse(names)
	return strings.Join(slices.Compact(names), " ")
}

// args returns the arguments of c, applying the flags written after them
// (`servent search free song --wait 30s`), which the flag parser stops at.
// The parser swallows a "--"; an argument list that starts with a dash can
// only come from one, and is taken whole.
func args(c *cli.Context) ([]string, error) {
	in := c.Args().Slice()
	if len(in) > 0 && strings.HasPrefix(in[0], "-") {
		return in, nil
	}
	var out []string
	for i := 0; i < len(in); i++ {
		a := in[i]
		if a == "--" {
			return append(out, in[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			out = append(out, a)
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := lookupFlag(c, name)
		if f == nil {
			return nil, usagef("flag provided but not defined: -%s (see `%s --help`)", name, commandPath(c))
		}
		if !hasValue {
			if _, isBool := f.(*cli.BoolFlag); isBool {
				value = "true"
			} else if i+1 < len(in) {
				i++
				value = in[i]
			} else {
				return nil, usagef("flag needs an argument: -%s (see `%s --help`)", name, commandPath(c))
			}
		}
		if err := c.Set(f.Names()[0], value); err != nil {
			return nil, usagef("invalid value %q for flag -%s (see `%s --help`)", value, name, commandPath(c))
		}
	}
	return out, nil
}

func lookupFlag(c *cli.Context, name string) cli.Flag {
	if c.Command == nil {
		return nil
	}
	for _, f := range c.Command.Flags {
		if slices.Contains(f.Names(), name) {
			return f
		}
	}
	return nil
}
