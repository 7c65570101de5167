package main

import (
	"context"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/bench"
)

func init() { registerCommand("bench", newBenchCmd) }

// newBenchCmd binds `citypass bench [--json] [--quick] [--only a,b] [--runs n]`
// to bench.Run: the table (or one JSON object) on stdout, progress on stderr.
// It exits 1 when a target fails. The hidden `bench child` sub-command is the
// child mode the scale, reconcile and recovery workloads re-execute.
func newBenchCmd(a *app) *cobra.Command {
	var cfg bench.Config
	cmd := localCmd(&cobra.Command{
		Use:   "bench",
		Short: "Measure citypass against raw Pebble on this machine",
		Long: "Runs the workloads of issue 7 (decide, gate1, gates, scale, reconcile, recovery, card),\n" +
			"each beside its raw-Pebble baseline in the same run, and of issues 15 and 16 (fleet: a hub\n" +
			"and its nodes on 127.0.0.1), the median of at least 3 runs, and prints PASS/FAIL per target.\n" +
			"Data lives in a temporary directory removed afterwards.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := bench.CheckFleetParts(cfg.Fleet.Parts); err != nil {
				return withCode(exitUsage, err)
			}
			if err := bench.CheckOnly(cfg.Only); err != nil {
				return withCode(exitUsage, err)
			}
			cfg.Progress = a.stderr
			cfg.Child = selfChild
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runBench(ctx, a, cfg)
		},
	})
	f := cmd.Flags()
	f.BoolVar(&cfg.Quick, "quick", false, "small sizes: the whole run takes under a minute")
	f.StringSliceVar(&cfg.Only, "only", nil, "run only these `WORKLOADS` (comma-separated)")
	f.IntVar(&cfg.Runs, "runs", bench.MinRuns, "`N` runs per figure; the median is reported (at least 3)")
	f.StringVar(&cfg.ProfileDir, "cpuprofile-dir", "", "write CPU profiles of the bench and of every measuring child process into `DIR`")
	f.IntVar(&cfg.Ledger.Passes, "passes", 0, "`N` passes in the big ledger of scale/reconcile/recovery (default 1,000,000; --quick 2,000)")
	f.IntVar(&cfg.Ledger.Taps, "taps", 0, "`N` taps in the big ledger, a multiple of --passes (default 10,000,000; --quick 20,000)")
	f.IntVar(&cfg.Fleet.Nodes, "fleet-nodes", 0, "fleet: `N` nodes that catch up and tap online (default 200; --quick 8)")
	f.IntVar(&cfg.Fleet.Backlog, "fleet-backlog", 0, "fleet: `N` offline taps per node, a multiple of 10 (default 5,000; --quick 500)")
	f.IntVar(&cfg.Fleet.RSSNodes, "fleet-rss-nodes", 0, "fleet: `N` nodes connected when the hub's memory is read (default 500; --quick 20)")
	f.IntVar(&cfg.Fleet.BlockNodes, "fleet-block-nodes", 0, "fleet: `N` nodes following the hub's state when a card is blocked (default 500; --quick 20)")
	f.IntVar(&cfg.Fleet.BehindUpdates, "fleet-behind-updates", 0, "fleet: `N` state updates a node that was away catches up with (default 100,000; --quick 2,000)")
	f.StringSliceVar(&cfg.Fleet.Parts, "fleet-parts", nil, "fleet: run only these `PARTS`: catchup, online, rss, cost, block, behind (default all)")
	cmd.AddCommand(&cobra.Command{
		Use:    "child",
		Short:  "internal: the child process of the bench workloads",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return bench.RunChild(cmd.Context(), args, a.stdout)
		},
		DisableFlagParsing: true,
	})
	return cmd
}

func runBench(ctx context.Context, a *app, cfg bench.Config) error {
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if a.json {
		err = res.WriteJSON(a.stdout)
	} else {
		err = res.WriteTable(a.stdout)
	}
	if err != nil {
		return err
	}
	if !res.Passed() {
		return withCode(exitError, nil)
	}
	return nil
}

// selfChild re-executes this binary as `citypass bench child args…`.
func selfChild(args []string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, append([]string{"bench", "child"}, args...)...)
}
