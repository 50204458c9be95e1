package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v2"

	"github.com/servent/servent/sim"
)

// simCommand runs the routing core on a simulated network (sim/).
func simCommand() *cli.Command {
	d := sim.Defaults()
	return &cli.Command{
		Name:  "sim",
		Usage: "simulate a Gnutella network of N nodes running this servent's routing, and compare routing policies",
		Description: "Every node is the servent's real routing core, on a virtual clock with link latencies.\n" +
			"Policies: " + strings.Join(sim.PolicyNames(true), ", ") + ". See docs/simulation.md.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "nodes", Value: d.Nodes, Usage: "nodes in the network"},
			&cli.IntFlag{Name: "queries", Value: d.Queries, Usage: "queries per policy"},
			&cli.Uint64Flag{Name: "seed", Value: d.Seed, Usage: "random seed: the same seed gives the same network, content and queries"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of the table"},
			&cli.StringFlag{Name: "out", Usage: "write SVG plots into `DIR`"},
			&cli.StringFlag{Name: "policies", Value: strings.Join(d.Policies, ","), Usage: "policies to run, comma separated"},
			&cli.IntFlag{Name: "ttl", Value: d.TTL, Usage: "two-tier max TTL (a leaf's query travels at TTL-1)"},
			&cli.IntFlag{Name: "flood-ttl", Value: d.FloodTTL, Usage: "TTL of the flat flood"},
			&cli.Float64Flag{Name: "up-share", Value: d.UltrapeerShare, Usage: "share of nodes that are ultrapeers"},
			&cli.IntFlag{Name: "up-degree", Value: d.UpDegree, Usage: "ultrapeer-ultrapeer links per ultrapeer"},
			&cli.IntFlag{Name: "leaf-ups", Value: d.LeafUps, Usage: "ultrapeers per leaf"},
			&cli.IntFlag{Name: "flat-degree", Usage: "links per node in the flat network (0: as many links as the two-tier network)"},
			&cli.Float64Flag{Name: "free-riders", Value: d.FreeRiders, Usage: "share of leaves that share nothing"},
			&cli.IntFlag{Name: "files-per-sharer", Value: d.FilesPerSharer, Usage: "files a sharing node holds on average"},
			&cli.Float64Flag{Name: "rare", Value: d.RareShare, Usage: "share of queries for a rare file"},
			&cli.IntFlag{Name: "rare-replicas", Value: 1, Usage: "nodes holding a rare file"},
			&cli.Float64Flag{Name: "churn", Usage: "share of leaves leaving (back a minute later) per virtual minute"},
			&cli.Float64Flag{Name: "spammers", Usage: "share of leaves answering every query with fake results"},
			&cli.Float64Flag{Name: "spam-ultrapeers", Usage: "share of ultrapeers answering every query with fake results"},
			&cli.DurationFlag{Name: "query-every", Value: d.QueryEvery, Usage: "virtual time between queries"},
		},
		Action: simCmd,
	}
}

func simCmd(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("sim takes no arguments, got %q", c.Args().First())
	}
	cfg := sim.Defaults()
	cfg.Nodes, cfg.Queries, cfg.Seed = c.Int("nodes"), c.Int("queries"), c.Uint64("seed")
	cfg.TTL, cfg.FloodTTL = c.Int("ttl"), c.Int("flood-ttl")
	cfg.UltrapeerShare, cfg.UpDegree, cfg.LeafUps = c.Float64("up-share"), c.Int("up-degree"), c.Int("leaf-ups")
	cfg.FlatDegree = c.Int("flat-degree")
	cfg.FreeRiders, cfg.FilesPerSharer, cfg.RareShare = c.Float64("free-riders"), c.Int("files-per-sharer"), c.Float64("rare")
	cfg.Churn, cfg.Spammers, cfg.QueryEvery = c.Float64("churn"), c.Float64("spammers"), c.Duration("query-every")
	cfg.SpamUltrapeers, cfg.RareReplicas = c.Float64("spam-ultrapeers"), c.Int("rare-replicas")
	cfg.Policies = strings.Split(c.String("policies"), ",")
	cfg.Progress = c.App.ErrWriter
	rep, err := sim.Run(cfg)
	if err != nil {
		return usagef("sim: %v", err)
	}
	if dir := c.String("out"); dir != "" {
		files, err := sim.WritePlots(dir, rep)
		if err != nil {
			return fmt.Errorf("sim: plots: %w", err)
		}
		fmt.Fprintf(c.App.ErrWriter, "plots: %s\n", strings.Join(files, ", "))
	}
	if c.Bool("json") {
		e := json.NewEncoder(c.App.Writer)
		e.SetIndent("", "  ")
		return e.Encode(rep)
	}
	printSim(c.App.Writer, rep)
	return nil
}

func printSim(w io.Writer, r *sim.Report) {
	fmt.Fprintf(w, "%d nodes (%d ultrapeers, %d leaves), %d queries per policy, seed %d: %.1f s wall, %.1f s CPU, peak RSS %d MiB\n\n",
		r.Nodes, r.Ultrapeers, r.Leaves, r.Queries, r.Seed, r.WallS, r.CPUS, r.PeakRSS>>20)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tsuccess\trare ok\tresults/q\tspam/q\tmsgs/q\tKB/q\tdup ratio\treached\tlast hop\tfirst hit ms\t2nd step pop/rare\t")
	for _, p := range r.Policies {
		fmt.Fprintf(tw, "%s\t%.1f%%\t%.1f%%\t%.1f\t%.1f\t%.0f\t%.1f\t%.2f\t%.0f\t%.1f%%\t%.0f\t%.0f%%/%.0f%%\t\n",
			p.Name, 100*p.SuccessRate, 100*p.RareSuccess, p.ResultsPerQuery, p.SpamPerQuery, p.MessagesPerQuery, p.BytesPerQuery/1024,
			p.DuplicateRatio, p.NodesReached, 100*p.LastHopShare, p.FirstHitMsMedian, 100*p.SecondStepPopular, 100*p.SecondStepRare)
	}
	_ = tw.Flush()
	if r.FloodToBest > 0 {
		fmt.Fprintf(w, "\nflood sends %.1fx the messages per query of dq\n", r.FloodToBest)
	}
	fmt.Fprintln(w, "\nflood reach on the ultrapeer graph, by TTL (measured / tree formula):")
	for _, p := range r.ReachVsTTL {
		fmt.Fprintf(w, "  TTL %d: %.0f / %.0f\n", p.TTL, p.Measured, p.Tree)
	}
}
