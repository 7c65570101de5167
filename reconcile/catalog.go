package reconcile

import (
	"fmt"
	"sort"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/reconcile/stmtfile"
	"github.com/citypass/citypass/tariff"
)

// Line kinds of a statement CSV.
const (
	KindFlatFee    = "flat_fee"   // the flat amount of a flat contract's period
	KindVisit      = "visit"      // an accepted entry in the statement's own period
	KindAdjustment = "adjustment" // a late tap of an earlier period
)

// NoteOverLimit is the note of an entry beyond its pass's entry limit at
// the venue, listed at 0 (stmtfile.NoteOverLimit).
const NoteOverLimit = stmtfile.NoteOverLimit

// countsAsVisit reports whether a journaled tap is a payable visit: an
// accepted entry. Exits and denials are never paid.
func countsAsVisit(r *engine.TapRecord) bool {
	return r.Decision.Accept && r.Direction == engine.Entry
}

// versionAt returns the tariff version in force at instant at (the oldest
// when at precedes every version).
func versionAt(cat *tariff.Catalog, at time.Time) (*tariff.Tariff, error) {
	t, ok := cat.At(at)
	if !ok {
		return nil, fmt.Errorf("reconcile: no tariff version loaded")
	}
	return t, nil
}

// partnerName is the partner's name in the newest version naming it, or "".
func partnerName(cat *tariff.Catalog, id string) string {
	if p, ok := cat.LatestPartner(id); ok {
		return p.Name
	}
	return ""
}

// governing is Catalog.GoverningContract, and whether the contract was in
// force at the period's start: a flat fee is due only then (a fee is for a
// whole period), not for a period its contract came into force during.
func governing(cat *tariff.Catalog, partner string, p tariff.Period) (c *tariff.Contract, t *tariff.Tariff, atStart, ok bool) {
	c, t, ok = cat.GoverningContract(partner, p)
	return c, t, ok && !t.EffectiveFrom.After(p.Start), ok
}

// periodOfKind parses a stored period label of a known kind.
func periodOfKind(cat *tariff.Catalog, kind tariff.PeriodKind, label string) (tariff.Period, error) {
	p, _, err := cat.ParsePeriod(label)
	if err != nil {
		return tariff.Period{}, err
	}
	if p.Kind != kind {
		return tariff.Period{}, fmt.Errorf("reconcile: period %q is not a %s", label, kind)
	}
	return p, nil
}

// contractPartners returns, sorted, every partner that has a contract in
// some version.
func contractPartners(cat *tariff.Catalog) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range cat.Versions() {
		for _, c := range t.Contracts {
			if !seen[c.Partner] {
				seen[c.Partner] = true
				out = append(out, c.Partner)
			}
		}
	}
	sort.Strings(out)
	return out
}

// periodAt returns the partner's clearing period that contains at: of the
// kind of the contract in force at at (contracts apply by tap date).
// ok is false when the partner has no contract then.
func periodAt(cat *tariff.Catalog, partner string, at time.Time) (tariff.Period, bool) {
	t, ok := cat.At(at)
	if !ok {
		return tariff.Period{}, false
	}
	c, ok := t.ContractOf(partner)
	if !ok {
		return tariff.Period{}, false
	}
	p, err := t.PeriodOf(c.Period, at)
	return p, err == nil
}

// partnerPeriods returns the partner's clearing periods from the one
// holding from (or, when the partner has no contract then, from the first
// contract after it) while more(p) holds, in order. Each is of the kind of
// the contract in force at its start. A contract whose kind changes in the
// middle of a period of the new kind is refused (ErrPeriodOrder): its
// periods would overlap.
func partnerPeriods(cat *tariff.Catalog, partner string, from time.Time, more func(tariff.Period) bool) ([]tariff.Period, error) {
	var out []tariff.Period
	s := from
	for range 100_000 { // bound: a daily partner over 270 years
		p, ok := periodAt(cat, partner, s)
		if !ok {
			next, found := nextContract(cat, partner, s)
			if !found {
				return out, nil
			}
			s = next
			continue
		}
		if n := len(out); n > 0 && p.Start.Before(out[n-1].End) {
			return nil, fmt.Errorf("%w: partner %s's contract changes to %s periods in the middle of %s (%s): its periods would overlap",
				ErrPeriodOrder, partner, p.Kind, p.Label, out[n-1].Label)
		}
		if !more(p) {
			return out, nil
		}
		out = append(out, p)
		s = p.End
	}
	return nil, fmt.Errorf("reconcile: partner %s: more than 100000 periods to close", partner)
}

// nextContract returns the effective instant of the first version after s
// with a contract for the partner.
func nextContract(cat *tariff.Catalog, partner string, s time.Time) (time.Time, bool) {
	for _, t := range cat.Versions() {
		if t.EffectiveFrom.After(s) {
			if _, ok := t.ContractOf(partner); ok {
				return t.EffectiveFrom, true
			}
		}
	}
	return time.Time{}, false
}

// firstContract returns the effective instant of the first version with a
// contract for the partner.
func firstContract(cat *tariff.Catalog, partner string) (time.Time, bool) {
	for _, t := range cat.Versions() {
		if _, ok := t.ContractOf(partner); ok {
			return t.EffectiveFrom, true
		}
	}
	return time.Time{}, false
}

// validityMax is the longest validity of any product of any version: an
// entry limit per validity counts the entries of one pass at one venue,
// which all lie within this span of each other.
func validityMax(cat *tariff.Catalog) time.Duration {
	var w time.Duration
	for _, t := range cat.Versions() {
		for i := range t.Products {
			p := &t.Products[i]
			w = max(w, p.Duration, time.Duration(p.Days)*25*time.Hour)
		}
	}
	return w
}
