package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/fleet/node"
)

func init() { registerCommand("sync", newSyncCmd) }

func newSyncCmd(a *app) *cobra.Command {
	var once bool
	var timeout time.Duration
	c := localCmd(&cobra.Command{
		Use:   "sync [--once] [--timeout DURATION]",
		Short: "Node: push the journal up to the hub (continuously, or --once until it is all acknowledged)",
		Long: `Sync a node's data dir with its hub: upload every journaled tap and wait for the hub's
acknowledgement. Without --once it runs until SIGINT or SIGTERM. With --once it exits 0 once
the hub has acknowledged every tap the node held at start, and 1 when the hub stays
unreachable for --timeout.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error { return a.runSync(once, timeout) },
	})
	c.Flags().BoolVar(&once, "once", false, "exit when caught up")
	c.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "with --once: give up after this `DURATION`")
	return c
}

func (a *app) runSync(once bool, timeout time.Duration) error {
	if timeout <= 0 {
		return usageErr("--timeout %s: want a positive duration", timeout)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	p, err := node.OpenProcess(ctx, a.dataDir, node.Options{Data: a.dataOptions(false), Log: slog.New(slog.NewJSONHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		return a.dataHint(err)
	}
	defer p.Close()
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
