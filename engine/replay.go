package engine

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/citypass/citypass/tariff"
)

// TapError is one tap of a batch that cannot be replayed: its place in the
// batch (Index, from 0) and why. Its message is Err's, which names the tap.
type TapError struct {
	Index int
	Err   error
}

func (e *TapError) Error() string { return e.Err.Error() }
func (e *TapError) Unwrap() error { return e.Err }

// ReplayError is Replay's failure: the taps at fault, in batch order, and
// how many taps of the batch were journaled (0 when the batch was refused
// before any was: a bad tap, a conflicting id).
type ReplayError struct {
	Taps      []*TapError
	Journaled int
}

func (e *ReplayError) Error() string {
	var b strings.Builder
	if e.Journaled == 0 {
		b.WriteString("batch refused, nothing journaled")
	} else {
		fmt.Fprintf(&b, "batch stopped after %d journaled taps", e.Journaled)
	}
	for _, t := range e.Taps {
		fmt.Fprintf(&b, "\ntap %d: %v", t.Index+1, t.Err)
	}
	return b.String()
}

// Unwrap returns the taps' errors, so that errors.Is and errors.As look
// into them.
func (e *ReplayError) Unwrap() []error {
	errs := make([]error, len(e.Taps))
	for i, t := range e.Taps {
		errs[i] = t
	}
	return errs
}

// ReplayProblemsMax bounds the problems a refused batch lists.
const ReplayProblemsMax = 50

// replayChunk is how many taps Replay decides and journals per store
// transaction: one commit (and one fsync) for all of them.
const replayChunk = 256

// Replay decides and journals a batch of taps in order (a node's buffer, a
// replay file), all or nothing for bad input: before anything is journaled,
// every tap is checked — an instant in range, device and gate ids within
// the limits, a seq (from 1; Replay numbers nothing), a gate whose venue is
// in the tariff, and a tap id that is new or carries the same content as
// the tap journaled, or earlier in the batch, under it. A batch with any
// problem is refused whole with a *ReplayError listing them (up to
// ReplayProblemsMax) by index. A tap id seen before with the same content is
// a duplicate: its result is the original decision with Duplicate set
// (docs/semantics.md, "Taps": a re-sent tap returns the original decision).
//
// The checked batch is then journaled in transactions of a few hundred taps,
// each durable before the next. If one fails (a storage error, or a
// conflicting tap journaled by another writer since the check), the taps of
// the transactions before it stay journaled: the *ReplayError says how
// many, and names the tap that failed. Running the same batch again then
// returns those as duplicates and journals the rest.
func (v *Validator) Replay(ctx context.Context, taps []Tap) ([]Result, error) {
	cat := v.catalog.Load()
	checked, err := v.checkReplay(ctx, cat, taps)
	if err != nil {
		return nil, err
	}
	results := make([]Result, 0, len(checked))
	for lo := 0; lo < len(checked); lo += replayChunk {
		hi := min(lo+replayChunk, len(checked))
		steps := make([]tapStep, hi-lo)
		failed := -1
		asOf, err := v.stateAsOf()
		if err != nil {
			return results, &ReplayError{Journaled: lo, Taps: []*TapError{{Index: lo, Err: err}}}
		}
		err = v.store.Update(ctx, func(tx Txn) error {
			for k := range steps {
				steps[k] = tapStep{tap: checked[lo+k], seqFloor: v.seqFloor, stateAsOf: asOf}
				if err := steps[k].run(tx, cat); err != nil {
					failed = lo + k
					return err
				}
			}
			return nil
		})
		if err != nil {
			if failed < 0 {
				failed = lo // the commit failed: the whole transaction
			}
			return results, &ReplayError{Journaled: lo, Taps: []*TapError{{Index: failed, Err: err}}}
		}
		for k := range steps {
			results = append(results, steps[k].result())
		}
	}
	return results, nil
}

// CheckReplay runs Replay's checks on a batch and journals nothing: it
// returns nil, or a *ReplayError listing the problems (up to
// ReplayProblemsMax), or the error that kept it from reading the store.
func (v *Validator) CheckReplay(ctx context.Context, taps []Tap) error {
	_, err := v.checkReplay(ctx, v.catalog.Load(), taps)
	return err
}

// checkReplay returns the batch checked (card UIDs canonical), or what is
// wrong with it.
func (v *Validator) checkReplay(ctx context.Context, cat *tariff.Catalog, taps []Tap) ([]Tap, error) {
	problems := &ReplayError{}
	add := func(i int, err error) bool {
		problems.Taps = append(problems.Taps, &TapError{Index: i, Err: err})
		return len(problems.Taps) < ReplayProblemsMax
	}
	checked := make([]Tap, len(taps))
	first := make(map[TapID]int, len(taps)) // first index of each id
	for i := range taps {
		tap := taps[i]
		err := checkTap(&tap)
		if err == nil && tap.ID.Seq == 0 {
			err = fmt.Errorf("tap of device %s: seq missing (seqs start at 1): %w", tap.ID.Device, ErrBadRequest)
		}
		if err == nil {
			// resolveVenue fails only when no version has the venue.
			vid, _, _ := tariff.SplitGate(tap.Gate)
			if _, _, ok := cat.FindVenue(vid, tap.At, nil); !ok {
				err = fmt.Errorf("tap %s: %w", tap.ID, &tariff.ErrUnknownGate{Gate: tap.Gate})
			}
		}
		if err == nil {
			if j, seen := first[tap.ID]; !seen {
				first[tap.ID] = i
			} else if !checked[j].SameContent(&tap) {
				err = fmt.Errorf("tap %s: %w: tap %d has the same id and a different content", tap.ID, ErrTapConflict, j+1)
			}
		}
		checked[i] = tap
		if err != nil && !add(i, err) {
			return nil, problems
		}
	}
	// Ids journaled before: the same content is a duplicate, another is a
	// conflict.
	if err := v.store.View(ctx, func(r Reader) error {
		for id, i := range first {
			prev, seen, err := r.Tap(id)
			if err != nil {
				return fmt.Errorf("reading tap %s: %w", id, err)
			}
			if seen && !prev.Tap.SameContent(&checked[i]) {
				if !add(i, fmt.Errorf("tap %s: %w: the ledger holds a different tap under this id", id, ErrTapConflict)) {
					return nil
				}
			}
		}
		return nil
	}); err != nil {
		return nil, err
	}
	if len(problems.Taps) > 0 {
		// The store's conflicts come after the per-tap problems: by index.
		slices.SortFunc(problems.Taps, func(a, b *TapError) int { return a.Index - b.Index })
		return nil, problems
	}
	return checked, nil
}
