package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"

	"github.com/citypass/citypass/fleet/node"
)

func init() { registerCommand("sync", newSyncCmd) }

func newSyncCmd(a *app) *cobra.Command {
	var once bool
	var timeout time.Duration
	var f obsFlags
	c := localCmd(&cobra.Command{
		Use:   "sync [--once] [--timeout DURATION]",
		Short: "Node: push the journal up to the hub (continuously, or --once until it is all acknowledged)",
		Long: `Sync a node's data dir with its hub: upload every journaled tap and wait for the hub's
acknowledgement. Without --once it runs until SIGINT or SIGTERM. With --once it exits 0 once
the hub has acknowledged every tap the node held at start, and 1 when the hub stays
unreachable for --timeout.

Structured JSON logs on stderr (warnings and errors unless --log-level says otherwise);
--metrics ADDR serves the sync's Prometheus gauges on http://ADDR/metrics, the same as a
gate on a node shows (citypass_gate_sync_*: acknowledged seq, backlog, connected, state age).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			return a.runSync(ctx, once, timeout, f)
		},
	})
	c.Flags().StringVar(&f.metrics, "metrics", "", "serve Prometheus metrics on `ADDR` (e.g. 127.0.0.1:9465)")
	logLevelFlag(c, &f.logLevel, "warn")
	c.Flags().BoolVar(&once, "once", false, "exit when caught up")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "with --once: give up after this `DURATION`")
	return c
}

// runSync runs a node's sync until ctx ends (or, once, until caught up).
// f holds --metrics and --log-level.
func (a *app) runSync(ctx context.Context, once bool, timeout time.Duration, f obsFlags) error {
	if timeout <= 0 {
		return usageErr("--timeout %s: want a positive duration", timeout)
	}
	if f.logLevel == "" {
		f.logLevel = "warn"
	}
	log, err := newLog(a.stderr, f.logLevel)
	if err != nil {
		return err
	}
	p, err := node.OpenProcess(ctx, a.dataDir, node.Options{Data: a.dataOptions(false), Log: log})
	if err != nil {
		return a.dataHint(err)
	}
	defer p.Close()
	if f.metrics != "" {
		reg := prometheus.NewRegistry()
		if err := registerSyncMetrics(reg, p, a.now); err != nil {
			return err
		}
		stopMetrics, err := serveMetrics(f.metrics, reg, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	if once {
		if err := p.SyncOnce(ctx, timeout); err != nil {
			return err
		}
		st := p.Node.Status()
		if a.json {
			return json.NewEncoder(a.stdout).Encode(map[string]any{"node": st.Node, "epoch": st.Epoch, "acknowledged": st.Acked})
		}
		fmt.Fprintf(a.stdout, "node %s: the hub has every tap up to %d\n", st.Node, st.Acked)
		return nil
	}
	fmt.Fprintf(a.stdout, "node %s syncing with %v; Ctrl-C stops\n", p.Identity.Node, p.Identity.Hub)
	<-ctx.Done()
	return nil
}
