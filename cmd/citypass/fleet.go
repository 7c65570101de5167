package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

func init() { registerCommand("fleet", newFleetCmd) }

func newFleetCmd(a *app) *cobra.Command {
	c := &cobra.Command{Use: "fleet", Short: "The hub's view of its nodes"}
	c.AddCommand(&cobra.Command{
		Use:   "status",
		Short: "Per node: epochs, last contact, acknowledged and reported seqs, backlog, staleness, clock offset, quarantined taps, taps at risk",
		Args:  cobra.NoArgs,
		RunE:  func(*cobra.Command, []string) error { return a.fleetStatus() },
	})
	return c
}

func (a *app) fleetStatus() error {
	l, release, err := a.openReadLedger()
	if err != nil {
		return err
	}
	defer release()
	id, err := datadir.ReadIdentity(l)
	if err != nil {
		return err
	}
	if id.Role == fleet.Node {
		return fmt.Errorf("fleet status is the hub's view: this data dir is node %s of the hub at %v", id.Node, id.Hub)
	}
	now := a.now()
	st, err := readFleetStatus(a.ctx(), l, now)
	if err != nil {
		return err
	}
	// Over-use: entries beyond their pass's limit that offline nodes
	// admitted, listed at 0 on statements.
	loc, overLimit := time.UTC, 0 // times in the zone of the tariff in force, when the hub has one
	if cat, err := datadir.LoadCatalog(l); err == nil {
		loc = datadir.Location(cat, now)
		if overLimit, err = hub.CountOverUse(a.ctx(), l, cat, st); err != nil {
			return err
		}
	}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(map[string]any{"hub_epoch": l.Epoch(), "role": id.Role, "at": now.UTC(), "nodes": st, "over_limit": overLimit})
	}
	fmt.Fprintf(a.stdout, "%s (ledger epoch %016x): %d nodes\n", id.Role, l.Epoch(), len(st))

	tw := tabwriter.NewWriter(a.stdout, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tEPOCH\tLAST CONTACT\tACKED\tREPORTED\tBACKLOG\tSTALENESS\tCLOCK\tQUARANTINED\tAT RISK\tOVER-USE")
	for _, n := range st {
		epoch, contact := "-", "never"
		if len(n.Epochs) > 0 {
			epoch = fmt.Sprintf("%016x", n.Epochs[0].Epoch)
			contact = fmt.Sprintf("%s ago", n.SinceContact.Round(time.Second))
		}
		clock := "?"
		if n.ClockKnown {
			clock = fmtOffset(n.ClockOffset)
			if n.ClockSkewed {
				clock += " SKEWED"
			}
		}
		// How old the node's copy of the hub's state is now, and the hub
		// time it is complete up to.
		staleness := "?"
		if !n.StateAsOf.IsZero() {
			staleness = fmt.Sprintf("%s (as of %s)", n.Staleness.Round(time.Second), n.StateAsOf.In(loc).Format(tariff.TimeLayout))
		}
		var risk []string
		for _, r := range n.AtRisk {
			risk = append(risk, fmt.Sprintf("%d-%d", r.First, r.Last))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%d\n", n.Node, epoch, contact, n.Acknowledged, n.LastReported, n.Backlog,
			staleness, clock, orDash(strings.Join(n.Quarantined, " ")), orDash(strings.Join(risk, " ")), n.OverLimit)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if overLimit > 0 {
		fmt.Fprintf(a.stdout, "over-use: %d entries beyond their pass's limit at the venue, listed at 0 on statements (report visits shows where)\n", overLimit)
	}
	return nil
}

// readFleetStatus reads fleet status (hub.ReadStatus) from a hub's ledger
// l at now, every enrolled node included.
func readFleetStatus(ctx context.Context, l *ledger.Ledger, now time.Time) ([]fleet.NodeStatus, error) {
	ids, err := hub.EnrolledIDs(l)
	if err != nil {
		return nil, err
	}
	return hub.ReadStatus(ctx, l, ids, now)
}

func fmtOffset(d time.Duration) string {
	if d >= 0 {
		return "+" + d.Round(time.Millisecond).String()
	}
	return d.Round(time.Millisecond).String()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
