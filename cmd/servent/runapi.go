package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/servent/servent/servent"
	"github.com/servent/servent/servent/api"
)

// The part of `servent run` that issue 6 adds to issue 4's command: the
// --downloads, --max-peers and --api flags, the control API and the
// startup banner. run.go calls, in order:
//
//	Flags: append(flags, runAPIFlags()...)
//	applyRunAPIFlags(c, &cfg)                    // after the other flags
//	srv, err := startRunAPI(ctx, c, n, cfg)       // after n.Start; prints the banner
//	defer srv.Close()                             // nil-safe

// runAPIFlags are --downloads, --max-peers and --api.
func runAPIFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{
			Name:    "downloads",
			Usage:   "`DIR` where finished downloads go (default: ~/Servent/Downloads)",
			EnvVars: []string{"SERVENT_DOWNLOADS"},
		},
		&cli.IntFlag{
			Name:    "max-peers",
			Usage:   "`N` ultrapeer connections to keep (default: the node's)",
			EnvVars: []string{"SERVENT_MAX_PEERS"},
		},
		&cli.StringFlag{
			Name:    "api",
			Value:   api.DefaultAddr,
			Usage:   "`ADDR` of the control API and the web UI (\"off\" to disable); keep it on loopback",
			EnvVars: []string{"SERVENT_API"},
		},
		&cli.BoolFlag{
			Name:    "metrics-open",
			Usage:   "serve /metrics on the API address without the key (for a Prometheus on this machine)",
			EnvVars: []string{"SERVENT_METRICS_OPEN"},
		},
	}
}

// applyRunAPIFlags puts --downloads (created if missing) and --max-peers
// into cfg, and checks that every --peer in cfg.Peers is HOST:PORT.
func applyRunAPIFlags(c *cli.Context, cfg *servent.Config) error {
	for _, p := range cfg.Peers {
		if _, _, err := splitHostPort(p); err != nil {
			return usagef("--peer %q: want HOST:PORT, e.g. 192.0.2.7:6346", p)
		}
	}
	dl := c.String("downloads")
	var err error
	if dl == "" {
		dl, err = defaultDownloadDir()
	} else {
		dl, err = expandHome(dl)
	}
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dl, 0o755); err != nil {
		return fmt.Errorf("downloads folder: %w", err)
	}
	cfg.DownloadDir = dl
	if c.IsSet("max-peers") {
		n := c.Int("max-peers")
		if n < 1 {
			return usagef("--max-peers %d: want at least 1", n)
		}
		cfg.MaxPeers = n
	}
	return nil
}

// startRunAPI starts the control API of n (unless --api off) and prints the
// startup banner. The server stops with ctx; its Close is nil-safe.
func startRunAPI(ctx context.Context, c *cli.Context, n *servent.Node, cfg servent.Config) (*api.Server, error) {
	var (
		srv *api.Server
		err error
	)
	if a := c.String("api"); a != "" && a != "off" {
		srv, err = startAPI(ctx, n, a, cfg.DataDir, c.Bool("metrics-open"), cfg.Logger)
		if err != nil {
			return nil, err
		}
	}
	fmt.Fprint(c.App.Writer, startupBanner(runBanner(n, cfg, srv)))
	if srv != nil {
		if ap, err := netip.ParseAddrPort(srv.Addr()); err == nil && !ap.Addr().IsLoopback() {
			fmt.Fprintf(c.App.ErrWriter, "warning: the control API on %s is reachable from other machines; anyone with the key controls this servent\n", srv.Addr())
		}
	}
	return srv, nil
}

// runBanner gathers what the banner says about a started node.
func runBanner(n *servent.Node, cfg servent.Config, srv *api.Server) bannerInfo {
	b := bannerInfo{
		Version: version, Mode: string(cfg.Mode), Listen: n.Addr().String(),
		ShareDir: cfg.ShareDir, DownloadDir: cfg.DownloadDir, DataDir: cfg.DataDir,
		Peers: cfg.Peers, CachedHosts: len(n.Hosts()),
	}
	if lib := n.Library(); lib != nil {
		for _, f := range lib.Files() {
			b.SharedFiles++
			b.SharedBytes += uint64(max(f.Size, 0))
			if f.SHA1.IsZero() {
				b.Hashing = true
			}
		}
	}
	if srv != nil {
		b.API, b.KeyFile = srv.Addr(), srv.KeyFile()
	}
	return b
}
