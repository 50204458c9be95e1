// Command servent is a Gnutella 0.6 servent: it joins the mesh, answers and
// routes searches, shares a folder and downloads files.
package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "servent:", oneLine(err))
		os.Exit(exitCode(err))
	}
}

func newApp() *cli.App {
	return finishApp(&cli.App{
		Name:     "servent",
		Usage:    "a Gnutella 0.6 servent: search the mesh, share a folder, download files",
		Version:  version,
		Flags:    globalFlags(),
		Commands: append([]*cli.Command{runCommand(), simCommand()}, clientCommands()...),
		Action: func(c *cli.Context) error {
			return cli.ShowAppHelp(c)
		},
	})
}
