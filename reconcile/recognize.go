package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/citypass/citypass/engine"
)

// recognitionBatch is how many recognition postings one Update stores.
const recognitionBatch = 4096

// Recognize posts the revenue recognition due by through for passes not
// recognised yet, and returns how many postings it stored: pass revenue
// "pass_revenue/<pass>" (Dr deferred_revenue / Cr pass_revenue, At the end
// of the pass's validity) for activated passes whose validity has ended by
// through, and breakage "breakage/<pass>" (Dr deferred_revenue / Cr
// breakage_revenue, At the activation deadline) for never-activated passes
// whose activation deadline has passed by through. Passes due earlier and
// not recognised yet are caught up (a late tap can activate a pass whose
// validity ended before a closed period). A pass recognised as breakage and
// later found activated by a late tap is reclassified: "pass_revenue/<pass>"
// then moves the amount from breakage_revenue to pass_revenue. Refunded
// passes are never recognised.
//
// Recognition is a step over the passes, separate from closing statements
// (Close posts none); the month end (`citypass reconcile close`) runs it
// through the period's end after a successful Close, not beside it: beside
// a close the two reads' garbage and the recognition writes' memtables meet,
// raising the peak memory for no gain in time.
//
// Recognize is idempotent: ids are deterministic and a pass already
// recognised is skipped, so a second call with the same through posts
// nothing. The postings are stored as they are found, recognitionBatch per
// atomic, durable Update, so memory does not grow with the passes due; a
// call interrupted between batches is completed by the next one. What is
// held is one entry per pass already recognised and one batch.
func Recognize(ctx context.Context, l Ledger, through time.Time) (int, error) {
	return recognize(ctx, l, through, recognitionBatch)
}

// recognize is Recognize storing batchLen postings per Update.
func recognize(ctx context.Context, l Ledger, through time.Time, batchLen int) (int, error) {
	done := map[string]string{} // "<kind>/<pass>" of recognition already posted, whatever its id
	err := l.Postings(ctx, func(po *engine.Posting) error {
		if po.Kind == "pass_revenue" || po.Kind == "breakage" {
			done[po.Kind+"/"+po.Ref] = po.Kind
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("reconcile: reading postings: %w", err)
	}
	due := func(t time.Time) bool { return !t.IsZero() && !t.After(through) }
	var batch []engine.Posting
	posted := 0
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		err := l.Update(ctx, func(tx engine.Txn) error {
			for i := range batch {
				if err := tx.PutPosting(batch[i]); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("reconcile: storing revenue recognition: %w", err)
		}
		posted += len(batch)
		batch = batch[:0]
		return nil
	}
	err = l.Passes(ctx, func(ps *engine.Pass) error {
		if ps.PriceMinor <= 0 {
			return nil
		}
		rev, brk := "pass_revenue/"+ps.ID, "breakage/"+ps.ID
		switch {
		case ps.Status == engine.PassActive && due(ps.ValidUntil) && done[rev] == "":
			from := engine.AccountDeferredRevenue
			if done[brk] != "" {
				from = engine.AccountBreakageRevenue
			}
			batch = append(batch, engine.Posting{ID: rev, At: ps.ValidUntil, Kind: "pass_revenue", Ref: ps.ID,
				Lines: []engine.PostingLine{
					{Account: from, DebitMinor: ps.PriceMinor},
					{Account: engine.AccountPassRevenue, CreditMinor: ps.PriceMinor},
				}})
		case ps.Status == engine.PassSold && due(ps.ActivateBy) && done[brk] == "":
			batch = append(batch, engine.Posting{ID: brk, At: ps.ActivateBy, Kind: "breakage", Ref: ps.ID,
				Lines: []engine.PostingLine{
					{Account: engine.AccountDeferredRevenue, DebitMinor: ps.PriceMinor},
					{Account: engine.AccountBreakageRevenue, CreditMinor: ps.PriceMinor},
				}})
		}
		if len(batch) >= batchLen {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if err != nil {
		return posted, fmt.Errorf("reconcile: revenue recognition: %w", err)
	}
	return posted, nil
}
