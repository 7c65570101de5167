package hub

import (
	"context"
	"fmt"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// CountOverUse finds the over-use in the hub ledger l (reconcile's rule:
// the entries statements list at 0, over_limit) and credits each entry to
// the node that uploaded it, in st's OverLimit. It returns the total,
// which also counts entries journaled at the hub itself (no node). It
// reads the whole journal: fleet status calls it, not the metrics scrape.
func CountOverUse(ctx context.Context, l *ledger.Ledger, cat *tariff.Catalog, st []fleet.NodeStatus) (int, error) {
	byNode := make(map[string]*fleet.NodeStatus, len(st))
	for i := range st {
		st[i].OverLimit = 0
		byNode[st[i].Node] = &st[i]
	}
	total := 0
	var originErr error
	err := reconcile.OverLimitEntries(ctx, l, cat, reconcile.ReportOptions{}, func(rec *engine.TapRecord) {
		total++
		if originErr != nil {
			return
		}
		o, ok, err := l.Origin(rec.JournalSeq)
		if err != nil {
			originErr = fmt.Errorf("hub: the origin of journal record %d: %w", rec.JournalSeq, err)
			return
		}
		if n := byNode[o.Node]; ok && n != nil {
			n.OverLimit++
		}
	})
	if err != nil {
		return 0, err
	}
	return total, originErr
}
