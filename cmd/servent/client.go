package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/servent/servent/servent/api"
	"github.com/servent/servent/servent/bwlimit"
)

// pollInterval is how often client commands ask the servent for news.
var pollInterval = 500 * time.Millisecond

// globalFlags are the flags valid before any command.
func globalFlags() []cli.Flag {
	return []cli.Flag{dataFlag()}
}

func dataFlag() cli.Flag {
	return &cli.StringFlag{
		Name:    "data",
		Usage:   "`DIR` for the servent's state: API key, host cache, partial downloads (default: $XDG_DATA_HOME/servent or ~/.local/share/servent)",
		EnvVars: []string{"SERVENT_DATA"},
	}
}

// clientFlags are the flags of every command that talks to a running servent.
func clientFlags(extra ...cli.Flag) []cli.Flag {
	return append([]cli.Flag{
		dataFlag(),
		&cli.StringFlag{
			Name:    "api",
			Usage:   "`ADDR` of the control API (default: read from the data folder)",
			EnvVars: []string{"SERVENT_API"},
		},
		&cli.StringFlag{
			Name:    "api-key",
			Usage:   "API `KEY` (default: read from the data folder)",
			EnvVars: []string{"SERVENT_API_KEY"},
		},
		&cli.BoolFlag{
			Name:    "json",
			Usage:   "print JSON instead of text",
			EnvVars: []string{"SERVENT_JSON"},
		},
	}, extra...)
}

// clientCommands are the commands that talk to a running `servent run`.
func clientCommands() []*cli.Command {
	return []*cli.Command{
		{
			Name:      "search",
			Usage:     "search the network and print results as they arrive",
			ArgsUsage: "KEYWORDS...",
			Flags: clientFlags(&cli.IntFlag{
				Name:    "count",
				Usage:   "stop once `N` results arrived (0: collect for the whole --wait)",
				EnvVars: []string{"SERVENT_COUNT"},
			}, &cli.DurationFlag{
				Name:    "wait",
				Aliases: []string{"w"},
				Usage:   "how long to collect results, e.g. 30s or 2m",
				Value:   10 * time.Second,
				EnvVars: []string{"SERVENT_WAIT"},
			}, &cli.BoolFlag{
				Name:    "show-filtered",
				Usage:   "also list the results the spam and hostile filter dropped, with the reason",
				EnvVars: []string{"SERVENT_SHOW_FILTERED"},
			}),
			Action: searchCmd,
		},
		{
			Name:      "browse",
			Usage:     "list the files a host shares (then `servent get N` downloads one); N browses the host of result N of the last search, by push when it is firewalled",
			ArgsUsage: "HOST:PORT|N",
			Flags: clientFlags(&cli.DurationFlag{
				Name:    "wait",
				Aliases: []string{"w"},
				Usage:   "how long to wait for the host's whole list",
				Value:   time.Minute,
				EnvVars: []string{"SERVENT_WAIT"},
			}),
			Action: browseCmd,
		},
		{
			Name:      "get",
			Usage:     "download result N of the last search, a file by urn, or a magnet link, showing progress",
			ArgsUsage: "N|urn:sha1:...|'magnet:?...'",
			Flags: clientFlags(&cli.BoolFlag{
				Name:    "detach",
				Usage:   "start the download and return at once",
				EnvVars: []string{"SERVENT_DETACH"},
			}),
			Action: getCmd,
		},
		{
			Name:   "status",
			Usage:  "show mode, uptime, peers, shared files and traffic",
			Flags:  clientFlags(),
			Action: statusCmd,
		},
		{
			Name:   "limits",
			Usage:  "show the bandwidth caps and what each class uses now",
			Flags:  clientFlags(),
			Action: limitsCmd,
			Subcommands: []*cli.Command{{
				Name:  "set",
				Usage: "change caps now (KiB/s, or 100k, 1.5MiB; off for none); the others stay",
				Flags: clientFlags(
					&cli.StringFlag{Name: "max-upload", Usage: "uploads' cap"},
					&cli.StringFlag{Name: "max-download", Usage: "downloads' cap"},
					&cli.StringFlag{Name: "max-gnet-in", Usage: "Gnutella traffic in"},
					&cli.StringFlag{Name: "max-gnet-out", Usage: "Gnutella traffic out"},
				),
				Action: limitsSetCmd,
			}},
		},
		{
			Name:  "ui",
			Usage: "print a one-time link to the web UI (valid 2 minutes) and open it in a browser when there is one",
			Flags: clientFlags(&cli.BoolFlag{
				Name:    "no-open",
				Usage:   "only print the link",
				EnvVars: []string{"SERVENT_NO_OPEN"},
			}),
			Action: uiCmd,
		},
		{
			Name:   "doctor",
			Usage:  "check now whether others can reach this servent, and say what to do if not (exit 1 when not reachable)",
			Flags:  clientFlags(),
			Action: doctorCmd,
		},
		{
			Name:   "peers",
			Usage:  "list connected peers (add or drop one with the subcommands)",
			Flags:  clientFlags(),
			Action: peersCmd,
			Subcommands: []*cli.Command{
				{
					Name:      "add",
					Usage:     "connect to a peer and wait for the first outcome",
					ArgsUsage: "HOST:PORT",
					Flags: clientFlags(
						&cli.DurationFlag{Name: "wait", Value: 10 * time.Second, Usage: "wait up to `DURATION` for the connection or its failure (0: do not wait)"},
						&cli.BoolFlag{Name: "detach", Usage: "return at once, as --wait 0"},
					),
					Action: peerAddCmd,
				},
				{
					Name:      "drop",
					Usage:     "disconnect a peer",
					ArgsUsage: "HOST:PORT",
					Flags:     clientFlags(),
					Action:    peerDropCmd,
				},
			},
		},
		{
			Name:  "shares",
			Usage: "list shared files (rescan the folder with the subcommand)",
			Flags: clientFlags(&cli.BoolFlag{
				Name:  "magnet",
				Usage: "print a magnet link per shared file (with this servent as its source)",
			}),
			Action: sharesCmd,
			Subcommands: []*cli.Command{{
				Name:   "rescan",
				Usage:  "scan the shared folder again now",
				Flags:  clientFlags(),
				Action: rescanCmd,
			}},
		},
		{
			Name:   "downloads",
			Usage:  "list downloads with their progress (cancel one with the subcommand)",
			Flags:  clientFlags(),
			Action: downloadsCmd,
			Subcommands: []*cli.Command{{
				Name:      "cancel",
				Usage:     "cancel a download",
				ArgsUsage: "ID",
				Flags:     clientFlags(),
				Action:    cancelCmd,
			}},
		},
		{
			Name:   "hosts",
			Usage:  "list the host cache",
			Flags:  clientFlags(),
			Action: hostsCmd,
		},
	}
}

// connect finds the running servent: --api/--api-key if given, else the
// address and key files in the data folder.
func connect(c *cli.Context) (*api.Client, string, error) {
	dataDir, err := resolveDataDir(c)
	if err != nil {
		return nil, "", err
	}
	addr, key := c.String("api"), c.String("api-key")
	if addr == "" || key == "" {
		a, k, err := api.Discover(dataDir)
		if err != nil {
			if errors.Is(err, api.ErrNoDaemon) && addr != "" {
				return nil, "", errors.New("no API key: give --api-key or --data of the running servent")
			}
			return nil, "", err
		}
		if addr == "" {
			addr = a
		}
		if key == "" {
			key = k
		}
	}
	return api.NewClient(api.ClientAddr(addr), key), dataDir, nil
}

// interruptible is c's context, also cancelled by Ctrl-C.
func interruptible(c *cli.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func searchCmd(c *cli.Context) error {
	words, err := args(c)
	if err != nil {
		return err
	}
	criteria := strings.TrimSpace(strings.Join(words, " "))
	if criteria == "" {
		return usagef("give keywords to search for: servent search KEYWORDS...")
	}
	if c.Duration("wait") <= 0 {
		return usagef("--wait must be positive, e.g. --wait 10s")
	}
	cl, dataDir, err := connect(c)
	if err != nil {
		return err
	}
	ctx, stop := interruptible(c)
	defer stop()
	asJSON := c.Bool("json")
	if st, err := cl.Status(ctx); err != nil {
		return err
	} else if st.Peers == 0 && !asJSON {
		fmt.Fprintf(c.App.ErrWriter, "warning: not connected to any peer yet, the search reaches no one (add a peer with `%s`)\n", safe(command(c, "peers add", "HOST:PORT")))
	}
	si, err := cl.StartSearch(ctx, criteria)
	if err != nil {
		return fmt.Errorf("starting the search: %w", err)
	}
	return collectResults(c, ctx, cl, dataDir, si, false)
}

// browseCmd lists the files a host shares; they are then numbered like a
// search's results, for `servent get N`.
func browseCmd(c *cli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return usagef("give one host to browse: servent browse HOST:PORT, or N for the host of result N of the last search")
	}
	req := api.BrowseRequest{Addr: as[0]}
	n, numErr := strconv.Atoi(as[0])
	if numErr != nil {
		if _, _, err := splitHostPort(as[0]); err != nil {
			return usagef("%q: want HOST:PORT, e.g. 192.0.2.7:6346, or a result number of the last search", as[0])
		}
	} else if n < 1 {
		return usagef("result numbers start at 1, %d is not one", n)
	}
	cl, dataDir, err := connect(c)
	if err != nil {
		return err
	}
	if numErr == nil {
		ls, err := loadLastSearch(dataDir)
		if err != nil {
			return err
		}
		if _, ok := ls.result(n); !ok {
			return fmt.Errorf("no result %d in the last search for %q (it has %d)", n, ls.Criteria, len(ls.Results))
		}
		req = api.BrowseRequest{SearchID: ls.SearchID, Result: n}
	}
	ctx, stop := interruptible(c)
	defer stop()
	si, err := cl.Browse(ctx, req)
	if err != nil {
		return fmt.Errorf("starting the browse: %w", err)
	}
	return collectResults(c, ctx, cl, dataDir, si, true)
}

// collectResults prints a search's (or a browse's) results as they come,
// until --wait, --count or, for a browse, the end of the host's list.
func collectResults(c *cli.Context, ctx context.Context, cl *api.Client, dataDir string, si api.SearchInfo, browse bool) error {
	criteria := si.Criteria
	asJSON := c.Bool("json")
	ls := lastSearch{SearchID: si.ID, Criteria: criteria, Results: []api.Result{}}
	if err := saveLastSearch(dataDir, ls); err != nil {
		return err
	}
	out, errOut := c.App.Writer, c.App.ErrWriter
	if !asJSON && browse {
		fmt.Fprintf(errOut, "%s for up to %s (Ctrl-C to stop)\n", safe(strings.Replace(criteria, "browse", "browsing", 1)), c.Duration("wait"))
	} else if !asJSON {
		fmt.Fprintf(errOut, "searching for %q for %s (Ctrl-C to stop)\n", criteria, c.Duration("wait"))
	}
	deadline := time.NewTimer(c.Duration("wait"))
	defer deadline.Stop()
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	after, header, last := 0, false, false
	for {
		res, err := cl.SearchResults(ctx, si.ID, after)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			return fmt.Errorf("reading results: %w", err)
		}
		si = res.Search
		if len(res.Results) > 0 {
			for _, r := range res.Results {
				if !asJSON {
					if !header {
						fmt.Fprintf(out, "%4s  %s  %9s  %3s  %s\n", "N", padRight("NAME", 40), "SIZE", "SRC", "URN")
						header = true
					}
					fmt.Fprintf(out, "%4d  %s  %9s  %3d  %s\n", r.N, padRight(truncate(safe(r.Name), 40), 40), humanBytes(r.Size), r.Sources, safe(r.URN))
				}
				after = max(after, r.N)
			}
			ls.Results = append(ls.Results, res.Results...)
			if err := saveLastSearch(dataDir, ls); err != nil {
				return err
			}
		}
		if last || (c.Int("count") > 0 && len(ls.Results) >= c.Int("count")) {
			break
		}
		if browse && si.Stopped {
			last = true // the list ended: one more look for its last results
			continue
		}
		select {
		case <-ctx.Done():
		case <-deadline.C:
			last = true // one more look for what arrived meanwhile
			continue
		case <-tick.C:
			continue
		}
		break
	}
	if browse && si.Error != "" {
		return errors.New(si.Error)
	}
	var filtered []api.FilteredResult
	if c.Bool("show-filtered") {
		fr, err := cl.FilteredResults(c.Context, si.ID)
		if err != nil {
			return fmt.Errorf("reading the filtered results: %w", err)
		}
		filtered = fr.Results
	}
	if asJSON {
		if c.Bool("show-filtered") {
			return printJSON(out, struct {
				api.SearchResults
				Filtered []api.FilteredResult `json:"filtered"`
			}{api.SearchResults{Search: si, Results: ls.Results}, filtered})
		}
		return printJSON(out, api.SearchResults{Search: si, Results: ls.Results})
	}
	if len(filtered) > 0 {
		fmt.Fprintf(out, "\nfiltered out:\n%-20s  %s  %9s  %s\n", "REASON", padRight("NAME", 40), "SIZE", "FROM")
		for _, r := range filtered {
			fmt.Fprintf(out, "%-20s  %s  %9s  %s\n", safe(r.Reason), padRight(truncate(safe(r.Name), 40), 40), humanBytes(r.Size), safe(r.From))
		}
	}
	if browse {
		if len(ls.Results) == 0 {
			fmt.Fprintln(errOut, "the host shares no file")
		} else {
			fmt.Fprintln(errOut, safe(searchSummary(c, len(ls.Results), -1, 0)))
		}
		return nil
	}
	peers := -1
	if len(ls.Results) == 0 {
		// Peers may have come or gone during the wait: ask again.
		if st, err := cl.Status(c.Context); err == nil {
			peers = st.Peers
		}
	}
	fmt.Fprintln(errOut, safe(searchSummary(c, len(ls.Results), peers, c.Duration("wait"))))
	if line := filteredLine(si.Filtered); line != "" {
		fmt.Fprintln(errOut, safe(line))
	}
	return nil
}

// filteredLine says how many results the spam and hostile filter dropped,
// and why, most frequent reason first.
func filteredLine(f map[string]int) string {
	total := 0
	reasons := make([]string, 0, len(f))
	for r, n := range f {
		total += n
		reasons = append(reasons, r)
	}
	if total == 0 {
		return ""
	}
	slices.SortFunc(reasons, func(a, b string) int {
		if f[a] != f[b] {
			return f[b] - f[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(reasons))
	for i, r := range reasons {
		parts[i] = fmt.Sprintf("%s %d", r, f[r])
	}
	noun := "results"
	if total == 1 {
		noun = "result"
	}
	return fmt.Sprintf("filtered out as spam or hostile: %d %s (%s)", total, noun, strings.Join(parts, ", "))
}

func getCmd(c *cli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return usagef("give one result number of the last `servent search`, or an urn:sha1:...")
	}
	target, err := parseGetArg(as[0])
	if err != nil {
		return err
	}
	cl, dataDir, err := connect(c)
	if err != nil {
		return err
	}
	var req api.DownloadRequest
	if target.magnet != "" {
		req.Magnet = target.magnet
	} else if !target.sha.IsZero() {
		req.URN = target.sha.URN()
		// The last search may know where to get it.
		if ls, err := loadLastSearch(dataDir); err == nil {
			for _, r := range ls.Results {
				if r.URN == req.URN {
					req.SearchID, req.Result, req.Name, req.Size = ls.SearchID, r.N, r.Name, r.Size
					break
				}
			}
		}
	} else {
		n := target.n
		ls, err := loadLastSearch(dataDir)
		if err != nil {
			return err
		}
		r, ok := ls.result(n)
		if !ok {
			return fmt.Errorf("no result %d in the last search for %q (it has %d)", n, ls.Criteria, len(ls.Results))
		}
		req = api.DownloadRequest{SearchID: ls.SearchID, Result: n, URN: r.URN, Name: r.Name, Size: r.Size}
	}
	ctx, stop := interruptible(c)
	defer stop()
	d, err := cl.StartDownload(ctx, req)
	if err != nil {
		return fmt.Errorf("starting the download: %w", err)
	}
	out, errOut := c.App.Writer, c.App.ErrWriter
	if c.Bool("detach") {
		if c.Bool("json") {
			return printJSON(out, d)
		}
		fmt.Fprintf(out, "downloading %s (%s) as %s; follow it with `%s`\n", safe(d.Name), humanBytes(d.Size), safe(d.ID), safe(command(c, "downloads")))
		return nil
	}
	bar := newProgressBar(errOut)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		bar.update(d, time.Now())
		if d.Finished() || d.Stuck() {
			break
		}
		select {
		case <-ctx.Done():
			bar.finish()
			return interrupted(c, d)
		case <-tick.C:
		}
		nd, err := cl.Download(ctx, d.ID)
		if err != nil {
			if ctx.Err() != nil {
				continue
			}
			bar.finish()
			return fmt.Errorf("following the download: %w", err)
		}
		d = nd
	}
	bar.finish()
	if c.Bool("json") {
		if err := printJSON(out, d); err != nil {
			return err
		}
	}
	switch d.State {
	case api.StateComplete:
		if !c.Bool("json") {
			fmt.Fprintf(out, "downloaded %s (%s), verified %s\n", safe(d.Path), humanBytes(d.Size), safe(d.URN))
		}
		return nil
	case api.StateGone:
		return fmt.Errorf("%s is gone: %s; to fetch it again: `%s`, then `servent get` again", safe(d.Name), safe(d.Error), safe(command(c, "downloads cancel", d.ID)))
	case api.StateStalled:
		return fmt.Errorf("download of %s stalled: %s (it stays in `%s`)", safe(d.Name), safe(d.Error), safe(command(c, "downloads")))
	case api.StateDiskError:
		return fmt.Errorf("download of %s paused: %s (it resumes by itself; see `%s`)", safe(d.Name), safe(d.Error), safe(command(c, "downloads")))
	}
	msg := d.Error
	if msg == "" {
		msg = "no source could deliver it"
	}
	return fmt.Errorf("download of %s failed: %s", safe(d.Name), safe(msg))
}

func limitsCmd(c *cli.Context) error {
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	l, err := cl.Limits(c.Context)
	if err != nil {
		return err
	}
	return printLimits(c, l)
}

func limitsSetCmd(c *cli.Context) error {
	caps := map[string]int64{}
	for _, class := range bwlimit.Classes() {
		name := "max-" + class.String()
		if !c.IsSet(name) {
			continue
		}
		v, err := bwlimit.ParseRate(c.String(name))
		if err != nil {
			return usagef("--%s: %v", name, err)
		}
		caps[class.String()] = v
	}
	if len(caps) == 0 {
		return usagef("say which cap to change: --max-upload, --max-download, --max-gnet-in or --max-gnet-out")
	}
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	l, err := cl.SetLimits(c.Context, caps)
	if err != nil {
		return err
	}
	return printLimits(c, l)
}

func printLimits(c *cli.Context, l map[string]api.Limit) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, l)
	}
	for _, class := range bwlimit.Classes() {
		fmt.Fprintf(c.App.Writer, "%-9s %s\n", class, limitText(l[class.String()]))
	}
	return nil
}

// limitText is "12.0 KiB/s of 100.0 KiB/s", or "… (no cap)".
func limitText(l api.Limit) string {
	if l.Cap == 0 {
		return bwlimit.Format(l.Rate) + " (no cap)"
	}
	return bwlimit.Format(l.Rate) + " of " + bwlimit.Format(float64(l.Cap))
}

func uiCmd(c *cli.Context) error {
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	t, err := cl.LoginToken(c.Context)
	if err != nil {
		return fmt.Errorf("asking the servent for a login link: %w", err)
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, t)
	}
	fmt.Fprintln(c.App.Writer, safe(t.URL))
	if c.Bool("no-open") {
		return nil
	}
	if err := openBrowser(t.URL); err != nil {
		fmt.Fprintf(c.App.ErrWriter, "open the link above in a browser on this machine (%v); it logs in once, within 2 minutes\n", err)
	}
	return nil
}

// openBrowser starts the desktop's browser on url, when there is a desktop.
func openBrowser(url string) error {
	if os.Getenv("DISPLAY") == "" && os.Getenv("WAYLAND_DISPLAY") == "" {
		return errors.New("no graphical session")
	}
	for _, b := range []string{"xdg-open", "sensible-browser", "x-www-browser"} {
		if path, err := exec.LookPath(b); err == nil {
			cmd := exec.Command(path, url)
			if err := cmd.Start(); err != nil {
				return fmt.Errorf("%s: %w", b, err)
			}
			go func() { _ = cmd.Wait() }() // reap it
			return nil
		}
	}
	return errors.New("no browser opener (xdg-open) found")
}

func statusCmd(c *cli.Context) error {
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	st, err := cl.Status(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, st)
	}
	w := c.App.Writer
	fmt.Fprintf(w, "servent %s, %s, up %s, listening on %s\n", safe(st.Version), safe(st.Mode), humanDuration(time.Duration(st.UptimeSeconds)*time.Second), safe(st.Listen))
	if st.IPv4 != "" || st.IPv6 != "" {
		fmt.Fprintf(w, "address:   %s\n", strings.Join(slices.DeleteFunc([]string{safe(st.IPv4), safe(st.IPv6)}, func(s string) bool { return s == "" }), ", "))
	}
	fmt.Fprintf(w, "peers:     %d", st.Peers)
	if st.Leaves > 0 || st.Mode == "ultrapeer" {
		fmt.Fprintf(w, " (+%d leaves)", st.Leaves)
	}
	if links := linksText(st.Links); links != "" {
		fmt.Fprintf(w, "; links %s", links)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "shared:    %d files, %s\n", st.SharedFiles, humanBytes(st.SharedKB*1024))
	fmt.Fprintf(w, "traffic:   in %s (%d messages), out %s (%d messages)\n", humanBytes(st.BytesIn), st.MsgsIn, humanBytes(st.BytesOut), st.MsgsOut)
	fmt.Fprintf(w, "searches:  %d, downloads: %d\n", st.Searches, st.Downloads)
	if len(st.Limits) > 0 {
		fmt.Fprintf(w, "bandwidth: upload %s, download %s, gnet in %s, out %s\n", limitText(st.Limits["upload"]), limitText(st.Limits["download"]),
			limitText(st.Limits["gnet-in"]), limitText(st.Limits["gnet-out"]))
	}
	if line := dqLine(st.DynamicQueries); line != "" {
		fmt.Fprintln(w, line)
	}
	printUDP(w, st.UDP)
	printReach(w, st.Reachable)
	printReachability(w, st.Reachability)
	return nil
}

// maxAgentWidth cuts a peer's user agent so its line stays within 160
// columns.
const maxAgentWidth = 64

// linksText is "2 ipv4, 1 ipv6, 1 over tls" ("" without links).
func linksText(l map[string]int) string {
	var parts []string
	for _, k := range []string{"ipv4", "ipv6"} {
		if l[k] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", l[k], k))
		}
	}
	if l["tls"] > 0 {
		parts = append(parts, fmt.Sprintf("%d over tls", l["tls"]))
	}
	return strings.Join(parts, ", ")
}

// dqLine sums up the dynamic queries an ultrapeer ran ("" when none).
func dqLine(d api.DQ) string {
	if d.Started == 0 {
		return ""
	}
	ends := slices.Sorted(maps.Keys(d.Ended))
	parts := make([]string, len(ends))
	for i, why := range ends {
		parts[i] = fmt.Sprintf("%s %d", safe(why), d.Ended[why])
	}
	line := fmt.Sprintf("dynamic queries: %d started, %d running, %d ultrapeers queried one by one, leaves asked %d times and answered %d",
		d.Started, d.Running, d.Steps, d.StatusAsked, d.Guidance)
	if len(parts) > 0 {
		line += "; ended: " + strings.Join(parts, ", ")
	}
	return line
}

// printReachability is the verdict in words: a line for the state, one
// for why, one for what to do.
func printReachability(w io.Writer, r api.Reachability) {
	fmt.Fprintf(w, "verdict:   tcp %s, udp %s", safe(r.TCP), safe(r.UDP))
	if r.ExternalAddr != "" {
		fmt.Fprintf(w, ", seen as %s", safe(r.ExternalAddr))
	}
	if r.Mapping != "" {
		fmt.Fprintf(w, ", port mapped by %s", safe(r.Mapping))
	}
	fmt.Fprintf(w, "\nwhy:       %s\n", safe(r.Reason))
	if r.Advice != "" {
		fmt.Fprintf(w, "advice:    %s\n", safe(r.Advice))
	}
}

// doctorCmd checks now whether others can reach us and says so; exit 0
// when reachable over TCP, 1 otherwise.
func doctorCmd(c *cli.Context) error {
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, "asking peers to connect back (up to 20 s)...")
	r, err := cl.CheckReachability(c.Context)
	if err != nil {
		return err
	}
	w := c.App.Writer
	switch {
	case r.TCP == "reachable" && r.UDP == "reachable":
		fmt.Fprintln(w, "reachable over TCP and UDP: others can download from you and send you results directly")
	case r.TCP == "reachable":
		fmt.Fprintf(w, "reachable over TCP; UDP %s\n", safe(r.UDP))
	case r.Asked == 0 && r.TCP == "unknown":
		fmt.Fprintln(w, "unknown: no connected peer offers a connect-back test (connect to a peer first, e.g. `servent peers add HOST:PORT`)")
	case r.TCP == "firewalled":
		fmt.Fprintln(w, "firewalled: others cannot connect to you; downloads from you go through pushes")
	default:
		fmt.Fprintf(w, "not reachable yet: %d peers asked to connect back, none did within 20 s\n", r.Asked)
	}
	printReachability(w, r)
	if r.TCP != "reachable" {
		return cli.Exit("not reachable over TCP (see the advice above)", exitFailure)
	}
	return nil
}

// printReach is the status line of the reachability facts.
func printReach(w io.Writer, r api.Reachable) {
	one := func(name string, p api.ReachProof) string {
		if p.LastProof == nil {
			return name + " unknown"
		}
		state := "expired" // proven once, not within the last 30 min
		if p.Reachable {
			state = "yes"
		}
		return fmt.Sprintf("%s %s (%s from %s at %s)", name, state, safe(p.Source), safe(p.From), p.LastProof.UTC().Format(time.DateTime))
	}
	fmt.Fprintf(w, "reachable: %s; %s; %s\n", one("tcp", r.TCP), one("udp solicited", r.UDPSolicited), one("udp unsolicited", r.UDPUnsolicited))
}

// printUDP is the status line of the UDP socket.
func printUDP(w io.Writer, u api.UDP) {
	if !u.Enabled {
		fmt.Fprintf(w, "udp:       off (%s)\n", safe(u.Error))
		return
	}
	fmt.Fprintf(w, "udp:       on %s, in %d (%s), out %d (%s), dropped %d rate-limited, %d malformed, %d not taken; %d not sent (budget)\n",
		safe(u.Addr), u.Received, humanBytes(u.BytesIn), u.Sent, humanBytes(u.BytesOut),
		u.RateLimited, u.Malformed, u.NotAccepted, u.SendBudget)
}

func peersCmd(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("unknown peers command %q (use `servent peers add HOST:PORT` or `servent peers drop HOST:PORT`)", c.Args().First())
	}
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	peers, err := cl.Peers(c.Context)
	if err != nil {
		return err
	}
	return printList(c, peers, "no peers connected (add one with `servent peers add HOST:PORT`)", "", func(p api.Peer) string {
		if p.State == api.PeerConnecting || p.State == api.PeerWaiting {
			row := p.Addr + "\tnot connected\t" + p.State
			if p.LastError != "" {
				row += fmt.Sprintf("\t%s ago\t%s", humanDuration(time.Since(p.LastErrorAt)), p.LastError)
			}
			return row
		}
		dir := "inbound"
		if p.Outbound {
			dir = "outbound"
		}
		if p.Family != "" {
			dir += " " + p.Family
		}
		if p.TLS {
			dir += " tls"
		}
		return fmt.Sprintf("%s\t%s\t%s\tup %s\tin %s\tout %s\t%s", p.Addr, p.Mode, dir,
			humanDuration(time.Duration(p.UptimeSeconds)*time.Second), humanBytes(p.BytesIn), humanBytes(p.BytesOut), truncate(safe(p.UserAgent), maxAgentWidth))
	})
}

// peerArg is the HOST:PORT argument of peers add/drop.
func peerArg(c *cli.Context) (string, error) {
	as, err := args(c)
	if err != nil {
		return "", err
	}
	if len(as) != 1 {
		return "", usagef("give one peer as HOST:PORT")
	}
	a := as[0]
	host, port, err := splitHostPort(a)
	if err != nil || host == "" || port == "" {
		return "", usagef("%q is not HOST:PORT", a)
	}
	return a, nil
}

func peerAddCmd(c *cli.Context) error {
	addr, err := peerArg(c)
	if err != nil {
		return err
	}
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	wait := c.Duration("wait")
	if c.Bool("detach") {
		wait = 0
	}
	// An error older than this add is not its outcome: remember the last one.
	var before time.Time
	var aliases []string
	if wait > 0 {
		aliases = peerAliases(c.Context, addr)
		peers, err := cl.Peers(c.Context)
		if err != nil {
			return err
		}
		if p, ok := findPeer(peers, aliases); ok {
			before = p.LastErrorAt
		}
	}
	if err := cl.AddPeer(c.Context, addr); err != nil {
		return err
	}
	if wait <= 0 {
		fmt.Fprintf(c.App.Writer, "connecting to %s (see `servent peers`)\n", safe(addr))
		return nil
	}
	p, done, err := waitPeer(c, cl, aliases, before, wait)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		if err := printJSON(c.App.Writer, p); err != nil {
			return err
		}
	}
	switch {
	case !done:
		if !c.Bool("json") {
			fmt.Fprintf(c.App.Writer, "still connecting to %s (see `servent peers`)\n", safe(addr))
		}
		return nil
	case p.State == api.PeerConnected:
		if !c.Bool("json") {
			fmt.Fprintf(c.App.Writer, "connected to %s (%s, %s)\n", safe(addr), safe(p.Mode), safe(p.UserAgent))
		}
		return nil
	default:
		msg := fmt.Sprintf("could not connect to %s: %s", addr, p.LastError)
		if !p.NextTry.IsZero() {
			msg += fmt.Sprintf("; retrying in %s", humanDuration(time.Until(p.NextTry).Round(time.Second)))
		}
		return cli.Exit(safe(msg+" (see `servent peers`)"), exitFailure)
	}
}

// peerAliases is addr and, for a host name, HOST:PORT for each address it
// resolves to: the API lists a connected peer by its address, not by the
// name it was added with. Names under .invalid are never looked up (RFC
// 6761), as the node does.
func peerAliases(ctx context.Context, addr string) []string {
	aliases := []string{addr}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil || strings.HasSuffix(strings.TrimSuffix(host, "."), ".invalid") {
		return aliases
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return aliases
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return aliases
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return aliases // the node will say why in its last error
	}
	for _, ip := range ips {
		aliases = append(aliases, netip.AddrPortFrom(ip.Unmap(), uint16(port)).String())
	}
	return aliases
}

// peerPoll is how often `peers add` asks how its dial went.
const peerPoll = 100 * time.Millisecond

// waitPeer polls the API until the peer (any of its aliases) is connected
// or has failed since before, or wait passes (done false).
func waitPeer(c *cli.Context, cl *api.Client, aliases []string, before time.Time, wait time.Duration) (api.Peer, bool, error) {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(peerPoll)
	defer tick.Stop()
	var last api.Peer
	for {
		peers, err := cl.Peers(c.Context)
		if err != nil {
			return last, false, err
		}
		if p, ok := findPeer(peers, aliases); ok {
			last = p
			if p.State == api.PeerConnected || p.LastErrorAt.After(before) {
				return p, true, nil
			}
		}
		select {
		case <-c.Context.Done():
			return last, false, c.Context.Err()
		case <-deadline.C:
			return last, false, nil
		case <-tick.C:
		}
	}
}

// findPeer is the entry for addr, a connected one first.
func findPeer(peers []api.Peer, aliases []string) (api.Peer, bool) {
	var found api.Peer
	ok := false
	for _, p := range peers {
		if !slices.Contains(aliases, p.Addr) {
			continue
		}
		if p.State == api.PeerConnected {
			return p, true
		}
		found, ok = p, true
	}
	return found, ok
}

func peerDropCmd(c *cli.Context) error {
	addr, err := peerArg(c)
	if err != nil {
		return err
	}
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	if err := cl.DropPeer(c.Context, addr); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "dropped %s\n", addr)
	return nil
}

func sharesCmd(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("unknown shares command %q (use `servent shares rescan`)", c.Args().First())
	}
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	files, err := cl.Shares(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("magnet") && !c.Bool("json") {
		hashing := 0
		for _, f := range files {
			if f.Magnet == "" {
				hashing++
				continue
			}
			fmt.Fprintln(c.App.Writer, safe(f.Magnet))
		}
		if hashing > 0 {
			fmt.Fprintf(c.App.ErrWriter, "%d files are still being hashed: no magnet yet\n", hashing)
		}
		return nil
	}
	return printList(c, files, "no shared files (put some in the shared folder, then `servent shares rescan`)", "INDEX\tSIZE\tURN\tPATH", func(f api.SharedFile) string {
		urn := f.URN
		if urn == "" {
			urn = "(hashing)"
		}
		return fmt.Sprintf("%d\t%s\t%s\t%s", f.Index, humanBytes(uint64(max(f.Size, 0))), safe(urn), safe(f.Path))
	})
}

func rescanCmd(c *cli.Context) error {
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	st, err := cl.Rescan(c.Context)
	if err != nil {
		return err
	}
	if c.Bool("json") {
		return printJSON(c.App.Writer, st)
	}
	fmt.Fprintf(c.App.Writer, "rescanned: %d files, %s\n", st.SharedFiles, humanBytes(st.SharedKB*1024))
	return nil
}

func downloadsCmd(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("unknown downloads command %q (use `servent downloads cancel ID`)", c.Args().First())
	}
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	ds, err := cl.Downloads(c.Context)
	if err != nil {
		return err
	}
	return printList(c, ds, "no downloads (start one with `servent get N` after `servent search`)", "ID\tSTATE\tDONE\tSIZE\tSOURCES\tNAME", func(d api.Download) string {
		pct := 0
		if d.Size > 0 {
			pct = int(d.Done * 100 / d.Size)
		}
		state := safe(d.State)
		if d.QueuePosition > 0 && d.ActiveSources == 0 {
			state += fmt.Sprintf(" (queued #%d)", d.QueuePosition)
		}
		if d.CorruptBytes > 0 {
			state += fmt.Sprintf(" (%s failed the Tiger tree, fetched again)", humanBytes(uint64(d.CorruptBytes)))
		}
		if d.Error != "" {
			state += ": " + safe(d.Error)
		}
		return fmt.Sprintf("%s\t%s\t%d%%\t%s\t%d/%d\t%s", safe(d.ID), state, pct, humanBytes(d.Size), d.ActiveSources, d.Sources, truncate(safe(d.Name), maxNameWidth))
	})
}

func cancelCmd(c *cli.Context) error {
	as, err := args(c)
	if err != nil {
		return err
	}
	if len(as) != 1 {
		return usagef("give the ID of the download to cancel (see `servent downloads`)")
	}
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	if err := cl.CancelDownload(c.Context, as[0]); err != nil {
		return err
	}
	fmt.Fprintf(c.App.Writer, "cancelled %s\n", as[0])
	return nil
}

func hostsCmd(c *cli.Context) error {
	cl, _, err := connect(c)
	if err != nil {
		return err
	}
	hosts, err := cl.Hosts(c.Context)
	if err != nil {
		return err
	}
	return printList(c, hosts, "the host cache is empty", "ADDRESS\tKIND\tLAST SEEN\tFAILURES", func(h api.Host) string {
		kind := "leaf"
		if h.Ultrapeer {
			kind = "ultrapeer"
		}
		seen := "never"
		if !h.LastSeen.IsZero() {
			seen = humanDuration(time.Since(h.LastSeen)) + " ago"
		}
		return fmt.Sprintf("%s\t%s\t%s\t%d", h.Addr, kind, seen, h.Failures)
	})
}

// printList prints items as JSON with --json, exact; otherwise as a table
// under header (none when empty), or the empty message when there are none.
// Rows are tab-separated cells; writeTable makes each cell terminal-safe, but
// a network string should still go through safe() in row so that a tab in
// it cannot split its cell.
func printList[T any](c *cli.Context, items []T, empty, header string, row func(T) string) error {
	if c.Bool("json") {
		return printJSON(c.App.Writer, items)
	}
	if len(items) == 0 {
		fmt.Fprintln(c.App.Writer, empty)
		return nil
	}
	rows := make([]string, 0, len(items)+1)
	if header != "" {
		rows = append(rows, header)
	}
	for _, it := range items {
		rows = append(rows, row(it))
	}
	return writeTable(c.App.Writer, rows)
}
