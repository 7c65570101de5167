package demo

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/citypass/citypass/fleet/sim"
	"github.com/citypass/citypass/tariff"
)

// The demo's fleet day: a hub and FleetNodes nodes at FleetSites sites for
// FleetHours simulated hours, one site cut off and healed.
const (
	FleetNodes = 6
	FleetSites = 3
	FleetHours = 3
)

// FleetDay plays the demo's fleet day on the simulation library
// (fleet/sim): an embedded hub on loopback, its nodes each with its own
// ledger, passes sold at the hub, taps decided at the nodes, one site
// partitioned and healed, the month-end close at the hub once every node
// is back, every fleet invariant checked. The same seed plays the same
// day. A broken invariant is a *sim.Violation (the report is returned
// too).
func FleetDay(ctx context.Context, seed int64, progress io.Writer) (*sim.Report, error) {
	p, err := sim.NewPlan(sim.Config{Seed: uint64(seed), Nodes: FleetNodes, Sites: FleetSites, Hours: FleetHours, Faults: sim.FaultsPartition})
	if err != nil {
		return nil, err
	}
	return sim.Run(ctx, p, sim.Options{Progress: progress})
}

// WriteFleetSummary prints the fleet day for a person: what was sold and
// tapped, what the partition did, what the hub holds and the statement
// closed at the hub for the partitioned site's partner, beside a
// standalone ledger's.
func WriteFleetSummary(w io.Writer, rep *sim.Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	t := tariff.SampleTariff()
	fmt.Fprintf(tw, "\nFleet day (seed %d): a hub and %d nodes at %d sites, %s, on one simulated clock\n", rep.Seed, rep.Nodes, rep.Sites,
		rep.Start.In(t.Location).Format("Mon 2 Jan 15:04")+fmt.Sprintf(" for %d h", rep.Hours))
	fmt.Fprintf(tw, "  sold at the hub\t%d passes\n", rep.Sales)
	fmt.Fprintf(tw, "  tapped at the nodes\t%d taps (%d accepted, %d denied), each decided on its node\n", rep.Taps, rep.Accepted, rep.Denied)
	partner := ""
	for _, f := range rep.Faults {
		if f.Kind != "partition" {
			continue
		}
		fmt.Fprintf(tw, "  partition\t%s from %s: %s; back in %.1f s (its taps at the hub, the hub's state on its nodes)\n",
			f.Detail, f.At.In(t.Location).Format("15:04"), f.Effect, f.CatchUpS)
		if v, ok := t.Venue(f.Venue); ok {
			partner = v.Partner
		}
	}
	fmt.Fprintf(tw, "  at the hub\tevery tap once; ledger check clean on the hub and the %d nodes\n", rep.Nodes)
	st := pickStatement(rep.Statements, partner)
	if st != nil {
		fmt.Fprintf(tw, "  closed at the hub\t%s: %d visits, %s EUR (a standalone ledger fed the same taps: %d visits, %s)\n",
			st.ID, st.Visits, st.Net, st.ReplayVisits, st.ReplayNet)
	}
	if rep.OverUse.OfflineAccepted+rep.OverUse.OfflineDenied > 0 {
		fmt.Fprintf(tw, "  offline decisions\t%d accepted that the hub would have denied, %d denied that it would have accepted\n",
			rep.OverUse.OfflineAccepted, rep.OverUse.OfflineDenied)
	}
	if rep.Violation != "" {
		fmt.Fprintf(tw, "  VIOLATION\t%s\n", rep.Violation)
	} else {
		fmt.Fprintf(tw, "  invariants\tall %d hold (%.1f s)\n", len(rep.Invariants), rep.Timing.WallSeconds)
	}
	return tw.Flush()
}

// pickStatement: the partner's statement with visits, else the one with
// the most visits.
func pickStatement(sts []sim.StatementLine, partner string) *sim.StatementLine {
	var best *sim.StatementLine
	byVisits := append([]sim.StatementLine(nil), sts...)
	sort.SliceStable(byVisits, func(a, b int) bool { return byVisits[a].Visits > byVisits[b].Visits })
	for i := range byVisits {
		s := &byVisits[i]
		if partner != "" && strings.HasPrefix(s.ID, partner+"-") && s.Visits > 0 {
			return s
		}
		if best == nil && s.Visits > 0 {
			best = s
		}
	}
	return best
}
