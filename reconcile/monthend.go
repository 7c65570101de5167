package reconcile

import (
	"context"
	"fmt"
	"time"

	"github.com/citypass/citypass/tariff"
)

// MonthEndOptions are a month end's: the close's options, and a hook.
type MonthEndOptions struct {
	CloseOptions
	// AfterClose, when set, is called with the close's result before the
	// revenue recognition starts (the bench times the two apart).
	AfterClose func(*CloseResult)
}

// MonthEndResult is what a month end did: the statements closed, and the
// revenue recognition postings stored through RecognizedThrough.
type MonthEndResult struct {
	Close             *CloseResult
	Recognized        int
	RecognizedThrough time.Time
}

// MonthEnd is the finance month end, in its order: Close (opts.Through or
// opts.Period), then, only when the close succeeded, Recognize through
// what the close covers (CloseResult.Until). A refused close posts
// nothing. Both steps are idempotent: after a failed recognition, running
// the month end again completes it (a re-close rewrites the same files,
// or, with Through, finds nothing more to close).
func MonthEnd(ctx context.Context, l Ledger, cat *tariff.Catalog, s *Signer, opts MonthEndOptions) (*MonthEndResult, error) {
	res, err := Close(ctx, l, cat, s, opts.CloseOptions)
	if err != nil {
		return nil, err
	}
	if opts.AfterClose != nil {
		opts.AfterClose(res)
	}
	out := &MonthEndResult{Close: res, RecognizedThrough: res.Until}
	if out.Recognized, err = Recognize(ctx, l, res.Until); err != nil {
		return out, fmt.Errorf("statements closed; revenue recognition failed (run the month end again to complete it): %w", err)
	}
	return out, nil
}
