package reconcile

import (
	"context"
	"fmt"
	"sort"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// This file finds over-use for reports: the accepted entries beyond their
// pass's entry limit at a venue (two offline gates both admitted the pass),
// by the rule statements apply (countEntry, docs/semantics.md,
// "Reconciliation"): the entries of a pass at a venue — on one service day,
// for once_per_day — count in journal order, the first N are within and the
// rest are over_limit.

// overLimitEntries calls fn for every accepted entry with tap time in
// [from, to) that is beyond its pass's entry limit at its venue, in no
// particular order; each, when not nil, is called first for every
// journaled tap with tap time in [from, to), ascending (a report reads the
// range once for both). It reads the journal by tap time over the range
// widened by the longest validity (the entries a limit counts are those of
// one pass, so within one validity of each other), counting the entries of
// each pass and venue (fingerprints, 16 bytes a key); only when some key
// has more entries than its limit does it read the range again, collecting
// the entries of those keys alone, which it orders by journal seq. Memory
// grows with the distinct pass-venues of the range and the over-used ones'
// entries, never with its taps.
func overLimitEntries(ctx context.Context, l Ledger, cat *tariff.Catalog, from, to time.Time, each, fn func(*engine.TapRecord)) error {
	w := validityMax(cat)
	lo, hi := from.Add(-w), to.Add(w)
	if floor := time.Unix(0, 0); lo.Before(floor) {
		lo = floor
	}
	if ceil := time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC); hi.After(ceil) {
		hi = ceil
	}
	look := newLookups(cat)
	// key returns the count key of an entry that counts towards a limit,
	// and the limit.
	key := func(rec *engine.TapRecord) (fp, int32, bool, error) {
		if !countsAsVisit(rec) {
			return fp{}, 0, false, nil
		}
		t, err := versionAt(cat, rec.At)
		if err != nil {
			return fp{}, 0, false, err
		}
		ven := look.findVenue(t, rec.Venue, rec.At)
		if ven == nil {
			return fp{}, 0, false, nil
		}
		lim, ok := look.limitFor(rec, ven)
		if !ok {
			return fp{}, 0, false, nil
		}
		day := noDay
		if lim.Kind == tariff.LimitOncePerDay {
			day = look.serviceDay(t, rec.At).num
		}
		return look.fingerprint(day, rec.Pass, ven.ID), int32(max(lim.N, 1)), true, nil
	}
	var counts fpCounts
	over := map[fp]int32{} // keys with more entries than their limit → the limit
	err := l.JournalBetween(ctx, lo, hi, func(rec *engine.TapRecord) error {
		if each != nil && !rec.At.Before(from) && rec.At.Before(to) {
			each(rec)
		}
		k, n, ok, err := key(rec)
		if err != nil || !ok {
			return err
		}
		if !counts.addBelow(k, n) {
			over[k] = n
		}
		return nil
	})
	if err != nil || len(over) == 0 {
		return err
	}
	entries := map[fp][]engine.TapRecord{}
	err = l.JournalBetween(ctx, lo, hi, func(rec *engine.TapRecord) error {
		k, _, ok, err := key(rec)
		if err != nil || !ok {
			return err
		}
		if _, contested := over[k]; contested {
			entries[k] = append(entries[k], *rec)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, recs := range entries {
		sort.Slice(recs, func(i, j int) bool { return recs[i].JournalSeq < recs[j].JournalSeq })
		for i := int(over[k]); i < len(recs); i++ {
			if r := &recs[i]; !r.At.Before(from) && r.At.Before(to) {
				fn(r)
			}
		}
	}
	return nil
}

// OverLimitCount counts the accepted entries with tap time in the range
// (all time for empty options) beyond their pass's entry limit at the
// venue: the over-use that statements list at 0, marked over_limit. The
// visits report shows where it happened.
func OverLimitCount(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions) (int, error) {
	from, to, err := opts.bounds(cat)
	if err != nil {
		return 0, err
	}
	n := 0
	if err := overLimitEntries(ctx, l, cat, from, to, nil, func(*engine.TapRecord) { n++ }); err != nil {
		return 0, fmt.Errorf("reconcile: counting over-use: %w", err)
	}
	return n, nil
}
