package main

import (
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/servent/servent/servent"
	"github.com/servent/servent/servent/bwlimit"
	"github.com/servent/servent/servent/uhc"
)

// runCommand is `servent run`: start a node from flags and run it until
// SIGINT or SIGTERM, then close it gracefully (Bye to peers, host cache
// saved).
func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the servent: join the mesh, share a folder, answer searches",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "[::]:6346", Usage: "`ADDR:PORT` for Gnutella and HTTP ([::] takes IPv4 and IPv6; or one address per family: 192.0.2.1:6346,[2001:db8::1]:6346)", EnvVars: []string{"SERVENT_LISTEN"}},
			&cli.StringFlag{Name: "ipv6", Value: "on", Usage: "`on` listens, dials and advertises IPv6 beside IPv4; off keeps to IPv4", EnvVars: []string{"SERVENT_IPV6"}},
			&cli.StringFlag{Name: "share", Usage: "shared `DIR` (default: ~/Servent/Shared)", EnvVars: []string{"SERVENT_SHARE"}},
			dataFlag(),
			&cli.StringSliceFlag{Name: "peer", Usage: "`HOST:PORT` to connect to (repeatable)", EnvVars: []string{"SERVENT_PEER"}},
			&cli.StringFlag{Name: "nat", Value: "auto", Usage: "map the Gnutella port on the home router: auto (UPnP, then NAT-PMP), upnp, natpmp or off", EnvVars: []string{"SERVENT_NAT"}},
			&cli.BoolFlag{Name: "no-udp", Usage: "no UDP socket (UDP pings, host caches, GUESS, out-of-band hits, connect-back)", EnvVars: []string{"SERVENT_NO_UDP"}},
			&cli.StringFlag{Name: "max-upload", Usage: "cap uploads at `RATE` (KiB/s, or 100k, 1.5MiB; off)", EnvVars: []string{"SERVENT_MAX_UPLOAD"}},
			&cli.StringFlag{Name: "max-download", Usage: "cap downloads at `RATE`", EnvVars: []string{"SERVENT_MAX_DOWNLOAD"}},
			&cli.StringFlag{Name: "max-gnet-in", Usage: "cap Gnutella traffic in at `RATE`", EnvVars: []string{"SERVENT_MAX_GNET_IN"}},
			&cli.StringFlag{Name: "max-gnet-out", Usage: "cap Gnutella traffic out at `RATE` (the least useful descriptors are dropped first)", EnvVars: []string{"SERVENT_MAX_GNET_OUT"}},
			&cli.IntFlag{Name: "upload-slots", Value: 4, Usage: "`N` uploads at once (one per client address)", EnvVars: []string{"SERVENT_UPLOAD_SLOTS"}},
			&cli.StringFlag{Name: "tls", Value: "prefer", Usage: "`prefer` accepts TLS and dials it to hosts that said they speak it (plain when it fails); on dials only TLS; off neither", EnvVars: []string{"SERVENT_TLS"}},
			&cli.StringFlag{Name: "browse", Value: "on", Usage: "`on` lets other servents list the shared files (browse host), off answers 403", EnvVars: []string{"SERVENT_BROWSE"}},
			&cli.StringFlag{Name: "mode", Value: "leaf", Usage: "`MODE`: leaf, ultrapeer or auto (starts as leaf, becomes ultrapeer once reachable and up 10 min)", EnvVars: []string{"SERVENT_MODE"}},
			// No -v: that is `servent -v`, the version (see verboseUsageError).
			&cli.BoolFlag{Name: "verbose", Usage: "log connections and routing events", EnvVars: []string{"SERVENT_VERBOSE"}},
			&cli.StringSliceFlag{Name: "uhc", Usage: "UDP host cache `HOST:PORT` to bootstrap from (repeatable, saved)", EnvVars: []string{"SERVENT_UHC"}},
			&cli.StringSliceFlag{Name: "gwc", Usage: "GWebCache `URL` to bootstrap from (repeatable, saved)", EnvVars: []string{"SERVENT_GWC"}},
			&cli.StringSliceFlag{Name: "spam-list", Usage: "`FILE` in gtk-gnutella's spam.txt format whose results are dropped from searches (repeatable; <data>/spam.txt is read too)", EnvVars: []string{"SERVENT_SPAM_LIST"}},
			&cli.StringSliceFlag{Name: "hostiles", Usage: "`FILE` in gtk-gnutella's hostiles.txt format: addresses refused, never dialled, their results dropped (repeatable; <data>/hostiles.txt is read too)", EnvVars: []string{"SERVENT_HOSTILES"}},
		}, runAPIFlags()...),
		Action: runAction,
	}
}

func runAction(c *cli.Context) error {
	cfg, err := runConfig(c)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
	defer stop()
	n, err := servent.New(cfg)
	if err != nil {
		return err
	}
	if err := n.Start(ctx); err != nil {
		_ = n.Close()
		return err
	}
	srv, err := startRunAPI(ctx, c, n, cfg) // prints the startup banner
	if err != nil {
		_ = n.Close()
		return err
	}
	<-ctx.Done()
	fmt.Fprintln(c.App.Writer, "shutting down")
	_ = srv.Close() // no API request may reach a closing node
	return n.Close()
}

// runConfig maps the flags onto servent.DefaultConfig.
func runConfig(c *cli.Context) (servent.Config, error) {
	cfg := servent.DefaultConfig()
	cfg.Listen = c.String("listen")
	switch c.String("ipv6") {
	case "on":
	case "off":
		cfg.NoIPv6 = true
		if !c.IsSet("listen") {
			cfg.Listen = "0.0.0.0:6346"
		}
	default:
		return cfg, usagef("--ipv6 %q: want on or off", c.String("ipv6"))
	}
	cfg.Mode = servent.Mode(c.String("mode"))
	switch cfg.Mode {
	case servent.ModeLeaf, servent.ModeUltrapeer, servent.ModeAuto:
	default:
		return cfg, usagef("--mode %q: want leaf, ultrapeer or auto", c.String("mode"))
	}
	cfg.Peers = c.StringSlice("peer")
	cfg.NoUDP = c.Bool("no-udp")
	for _, class := range bwlimit.Classes() {
		name := "max-" + class.String()
		v, err := bwlimit.ParseRate(c.String(name))
		if err != nil {
			return cfg, usagef("--%s: %v", name, err)
		}
		cfg.Caps[class] = v
	}
	if n := c.Int("upload-slots"); n < 1 || n > 1000 {
		return cfg, usagef("--upload-slots %d: want 1 to 1000", n)
	}
	cfg.UploadSlots = c.Int("upload-slots")
	mode, err := servent.ParseTLSMode(c.String("tls"))
	if err != nil {
		return cfg, usagef("--%v", err)
	}
	cfg.TLS = mode
	switch c.String("browse") {
	case "on":
	case "off":
		cfg.NoBrowse = true
	default:
		return cfg, usagef("--browse %q: want on or off", c.String("browse"))
	}
	cfg.NAT = c.String("nat")
	share := c.String("share")

	if share == "" {
		share, err = defaultShareDir()
	} else {
		share, err = expandHome(share)
	}
	if err != nil {
		return cfg, err
	}
	if err := os.MkdirAll(share, 0o755); err != nil {
		return cfg, fmt.Errorf("shared folder: %w", err)
	}
	cfg.ShareDir = share
	if cfg.DataDir, err = resolveDataDir(c); err != nil {
		return cfg, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return cfg, fmt.Errorf("data folder: %w", err)
	}
	cfg.UHC, cfg.GWC = c.StringSlice("uhc"), c.StringSlice("gwc")
	cfg.SpamLists, cfg.HostileLists = c.StringSlice("spam-list"), c.StringSlice("hostiles")
	for _, s := range cfg.UHC {
		if uhc.CheckName(uhc.UDP, s) != nil {
			return cfg, usagef("--uhc %q: want HOST:PORT, e.g. 192.0.2.7:6346", s)
		}
	}
	for _, s := range cfg.GWC {
		if uhc.CheckName(uhc.Web, s) != nil {
			return cfg, usagef("--gwc %q: want an http:// or https:// URL", s)
		}
	}
	level := slog.LevelWarn
	if c.Bool("verbose") {
		level = slog.LevelDebug
	}
	cfg.Logger = slog.New(slog.NewTextHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	if err := applyRunAPIFlags(c, &cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}
