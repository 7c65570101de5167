package main

import (
	"encoding/json"
	"errors"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/fleet/sim"
)

func init() { registerCommand("sim", newSimCmd) }

// newSimCmd binds `citypass sim` to fleet/sim: the plan of a seeded day,
// its run on loopback, the report (a table, or one JSON object).
func newSimCmd(a *app) *cobra.Command {
	var cfg sim.Config
	var faults, disk string
	var cluster bool
	cmd := localCmd(&cobra.Command{
		Use:   "sim",
		Short: "A whole city on one machine: a seeded day of a hub and its nodes under load and faults, checked as it goes",
		Long: "Plays a simulated service day of a fleet in one process, on loopback: an embedded hub (or a 3-server\n" +
			"JetStream cluster with --cluster) and --nodes nodes at --sites sites, each with its own ledger in memory\n" +
			"behind its own link. Passes are sold at the hub through the day, cards tap at the nodes in a morning and\n" +
			"an afternoon peak, and the faults of --faults strike: buses offline for hours, a site cut off, crashes, a\n" +
			"disk that dies, a hub restart, skewed clocks, cards blocked. Simulated time runs as fast as the network\n" +
			"lets it. The invariants of the fleet are checked as it goes and at the end (every tap at the hub once,\n" +
			"lost disks' taps at risk, ledger check clean everywhere, statements equal to a standalone replay but for\n" +
			"offline decisions); the month-end close runs once every node is back. A broken invariant prints the seed\n" +
			"and exits 1; the same --seed plays the same day again.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg.Faults = sim.Profile(faults)
			p, err := sim.NewPlan(cfg)
			if errors.Is(err, sim.ErrConfig) {
				return withCode(exitUsage, err)
			}
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			rep, runErr := sim.Run(ctx, p, sim.Options{Dir: disk, Cluster: cluster, Progress: a.stderr})
			if rep != nil {
				if a.json {
					if err := json.NewEncoder(a.stdout).Encode(rep); err != nil {
						return err
					}
				} else if err := rep.WriteText(a.stdout); err != nil {
					return err
				}
			}
			return runErr
		},
	})
	f := cmd.Flags()
	f.Uint64Var(&cfg.Seed, "seed", 1, "the random `SEED` of the day: the same seed plays the same schedule")
	f.IntVar(&cfg.Nodes, "nodes", 500, "`N` nodes (gates, validators, buses)")
	f.IntVar(&cfg.Sites, "sites", 0, "`N` sites the nodes stand at, a site cut off as a whole (default 20, at most --nodes)")
	f.IntVar(&cfg.Hours, "hours", 24, "`N` simulated hours")
	f.StringVar(&faults, "faults", "default", "the fault `MIX`: a usual day's, none (load only), harsh (three times as many, longer) or partition (one site cut off, then healed)")
	f.BoolVar(&cluster, "cluster", false, "run the hub on an embedded 3-server JetStream cluster")
	f.StringVar(&disk, "disk", "", "keep the hub's ledger, JetStream store and statements in `DIR` (default: a temporary directory, removed)")
	return cmd
}
