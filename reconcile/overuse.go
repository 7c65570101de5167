package reconcile

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// This file finds over-use for reports: the accepted entries beyond their
// pass's entry limit at a venue (two offline gates both admitted the pass),
// by the rule statements apply (countEntry, docs/semantics.md,
// "Reconciliation"): the entries of a pass at a venue — on one service day,
// for once_per_day — count in entry order (entryOrder), the first N are
// within and the rest are over_limit.

// overLimitEntries calls fn for every accepted entry with tap time in
// [from, to) that is beyond its pass's entry limit at its venue, in no
// particular order; each, when not nil, is called first for every
// journaled tap with tap time in [from, to), ascending (a report reads the
// range once for both). It reads the journal by tap time over the range
// widened by the longest validity (the entries a limit counts are those of
// one pass, so within one validity of each other), counting the entries of
// each pass and venue (fingerprints, 16 bytes a key); only when some key
// has more entries than its limit does it read the range again, collecting
// the entries of those keys alone, which it puts in entry order under the
// cuts of the statements stored now (a later close may cut the last batch
// differently: the count is the statements' as of now). Memory
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
	// The venue of the last keyed entry (its partner's statements cut the
	// journal into the batches of entry order).
	var ven *tariff.Venue
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
		ven = look.findVenue(t, rec.Venue, rec.At)
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
	cuts := map[string][]uint64{} // partner → its statements' data_as_of, ascending
	err = Statements(ctx, l, func(st *Statement) error {
		cuts[st.Partner] = append(cuts[st.Partner], st.AsOfSeq)
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range cuts {
		slices.Sort(c)
	}
	type entry struct {
		rec   engine.TapRecord
		order entryOrder
	}
	entries := map[fp][]entry{}
	err = l.JournalBetween(ctx, lo, hi, func(rec *engine.TapRecord) error {
		k, _, ok, err := key(rec)
		if err != nil || !ok {
			return err
		}
		if _, contested := over[k]; contested {
			e := entry{rec: *rec}
			e.order = entryOrder{batch: batchOf(cuts[ven.Partner], rec.JournalSeq), at: rec.At, tap: rec.ID}
			entries[k] = append(entries[k], e)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, es := range entries {
		sort.Slice(es, func(i, j int) bool { return es[i].order.before(es[j].order) })
		for i := int(over[k]); i < len(es); i++ {
			if r := &es[i].rec; !r.At.Before(from) && r.At.Before(to) {
				fn(r)
			}
		}
	}
	return nil
}

// OverLimitEntries calls fn for every accepted entry with tap time in the
// range (all time for empty options) beyond its pass's entry limit at the
// venue: the over-use that statements list at 0, marked over_limit.
func OverLimitEntries(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions, fn func(*engine.TapRecord)) error {
	from, to, err := opts.bounds(cat)
	if err != nil {
		return err
	}
	if err := overLimitEntries(ctx, l, cat, from, to, nil, fn); err != nil {
		return fmt.Errorf("reconcile: finding over-use: %w", err)
	}
	return nil
}

// OverLimitCount counts OverLimitEntries. The visits report shows where
// they happened.
func OverLimitCount(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions) (int, error) {
	n := 0
	err := OverLimitEntries(ctx, l, cat, opts, func(*engine.TapRecord) { n++ })
	return n, err
}

// entryOrder is the order in which the entries of a pass at a venue count
// towards its limit (docs/semantics.md, "Reconciliation"): first the batch
// of the journal an entry was journaled in — the data_as_of of the
// partner's statements cut the journal into batches, so what a statement
// judged is never judged again — then, within a batch, canonical order:
// tap time, device, seq (engine.CompareVisits). Two entries that reach the
// hub before the same close are settled the same way whatever order they
// arrived in.
type entryOrder struct {
	batch int
	at    time.Time
	tap   engine.TapID
}

func (a entryOrder) before(b entryOrder) bool {
	if a.batch != b.batch {
		return a.batch < b.batch
	}
	return engine.CompareVisits(&engine.Visit{Tap: a.tap, At: a.at}, &engine.Visit{Tap: b.tap, At: b.at}) < 0
}

// batchOf is the batch of journal seq under cuts (the partner's
// statements' data_as_of, ascending): the index of the first cut at or
// above seq, len(cuts) past them all.
func batchOf(cuts []uint64, seq uint64) int {
	return sort.Search(len(cuts), func(i int) bool { return cuts[i] >= seq })
}

// ErrUsageMismatch: a pass's usage does not hold an accepted entry the
// journal holds (ledger check reports it), so its entry limits cannot be
// judged.
var ErrUsageMismatch = errors.New("reconcile: a pass's usage does not match the journal")

// passReader reads what the limits of a close need beyond the journal: a
// pass's usage (every accepted entry of the pass, from whatever node) and
// the journal seq of a tap.
type passReader interface {
	Usage(passID string) (engine.Usage, error)
	JournalSeq(id engine.TapID) (uint64, bool, error)
	Usages(fn func(passID string, u *engine.Usage) error) error
}

// limits judges a close's entries against their limits in entry order
// through a passReader. At the first limited entry it reads every pass's
// usage once, in key order, and keeps the (pass, venue) pairs with more
// than one entry at a venue that some product limits ("crowded"): an
// entry of any other pair is alone at its venue, so within. Only a crowded
// pair's entry reads its pass's usage, and only one over its limit the
// journal seqs of its visits there. It keeps the crowded pairs (a
// fingerprint each: over-use, and passes allowed more than once at a venue
// that used it) and the last pass's usage.
type limits struct {
	rd       passReader
	look     *lookups
	limited  map[string]bool // venue ids that an include of some product limits
	crowded  map[fp]struct{} // nil until loaded
	lastPass string
	lastU    engine.Usage
}

// newLimits returns the limits of a close under cat, reading through rd.
func newLimits(cat *tariff.Catalog, look *lookups, rd passReader) *limits {
	o := &limits{rd: rd, look: look, limited: map[string]bool{}}
	vs := cat.Versions()
	for _, t := range vs {
		for i := range t.Products {
			p := &t.Products[i]
			for _, tv := range vs { // a pass's product meets venues of every version
				for j := range tv.Venues {
					v := &tv.Venues[j]
					if in, ok := p.IncludeFor(v); ok && in.Limit.Kind != tariff.LimitUnlimited && in.Limit.Kind != "" {
						o.limited[v.ID] = true
					}
				}
			}
		}
	}
	return o
}

// load finds the crowded pairs.
func (o *limits) load() error {
	o.crowded = map[fp]struct{}{}
	n := map[string]int{}
	return o.rd.Usages(func(passID string, u *engine.Usage) error {
		clear(n)
		for _, v := range u.Visits {
			if o.limited[v.Venue] {
				if n[v.Venue]++; n[v.Venue] == 2 {
					o.crowded[o.look.fingerprint(noDay, passID, v.Venue)] = struct{}{}
				}
			}
		}
		return nil
	})
}

// within reports whether rec, an accepted entry at venue ven limited to
// lim, is within the limit: fewer than lim.N entries of its pass at the
// venue (on its service day, for once_per_day) journaled up to asOf come
// before it in entry order under cuts.
func (o *limits) within(cuts []uint64, asOf uint64, rec *engine.TapRecord, ven *tariff.Venue, lim tariff.Limit, day int32) (bool, error) {
	if o.crowded == nil {
		if err := o.load(); err != nil {
			return false, fmt.Errorf("reading the passes' usage: %w", err)
		}
	}
	if _, ok := o.crowded[o.look.fingerprint(noDay, rec.Pass, ven.ID)]; !ok {
		return true, nil // the only entry of its pass at the venue
	}
	if rec.Pass != o.lastPass || o.lastPass == "" {
		u, err := o.rd.Usage(rec.Pass)
		if err != nil {
			return false, fmt.Errorf("reading the usage of pass %s: %w", rec.Pass, err)
		}
		o.lastPass, o.lastU = strings.Clone(rec.Pass), u // rec's strings may view a reused buffer
	}
	n := max(lim.N, 1)
	var same []engine.Visit
	mine := false
	for _, v := range o.lastU.Visits {
		mine = mine || v.Tap == rec.ID
		if v.Venue != ven.ID {
			continue
		}
		if lim.Kind == tariff.LimitOncePerDay {
			t, err := versionAt(o.look.cat, v.At)
			if err != nil {
				return false, err
			}
			if o.look.serviceDay(t, v.At).num != day {
				continue
			}
		}
		same = append(same, v)
	}
	if !mine {
		// A usage that misses a journaled entry would hide the others:
		// never value on it.
		return false, fmt.Errorf("%w: the usage of pass %s lacks its entry %s (journal seq %d): run citypass ledger check",
			ErrUsageMismatch, rec.Pass, rec.ID, rec.JournalSeq)
	}
	if len(same) <= n {
		return true, nil
	}
	me := entryOrder{batch: batchOf(cuts, rec.JournalSeq), at: rec.At, tap: rec.ID}
	ahead := 0
	for _, v := range same {
		if v.Tap == rec.ID {
			continue
		}
		seq, ok, err := o.rd.JournalSeq(v.Tap)
		if err != nil {
			return false, fmt.Errorf("reading tap %s: %w", v.Tap, err)
		}
		if !ok || seq > asOf {
			continue // not journaled by the statement's data_as_of
		}
		if (entryOrder{batch: batchOf(cuts, seq), at: v.At, tap: v.Tap}).before(me) {
			ahead++
		}
	}
	return ahead < n, nil
}

// viewReader is a passReader over a Ledger's View.
type viewReader struct {
	ctx context.Context
	l   Ledger
}

func (r viewReader) Usage(passID string) (u engine.Usage, err error) {
	err = r.l.View(r.ctx, func(rd engine.Reader) error { u, err = rd.Usage(passID); return err })
	return u, err
}

func (r viewReader) Usages(fn func(passID string, u *engine.Usage) error) error {
	return r.l.Usages(r.ctx, fn)
}

func (r viewReader) JournalSeq(id engine.TapID) (seq uint64, ok bool, err error) {
	err = r.l.View(r.ctx, func(rd engine.Reader) error {
		rec, found, err := rd.Tap(id)
		seq, ok = rec.JournalSeq, found
		return err
	})
	return seq, ok, err
}
