package reconcile

import (
	"strconv"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
)

// Line kinds of a statement CSV.
const (
	KindFlatFee    = "flat_fee"   // the flat amount of a flat contract's period
	KindVisit      = "visit"      // an accepted entry in the statement's own period
	KindAdjustment = "adjustment" // a late tap of an earlier, closed period
)

// Line is one statement line. Value is what the line is worth under its
// contract; Amount is what is paid after the cap (Capped when Amount < Value).
type Line struct {
	No             int
	Kind           string
	JournalSeq     uint64
	Device         string
	Seq            uint64
	At             time.Time
	Card           string
	Pass           string
	Product        string
	TariffVersion  string // the pass's version (its product's limits)
	Category       string
	Venue          string
	Gate           string
	ServiceDay     string
	OriginalPeriod string
	Value          decimal.Decimal
	Amount         decimal.Decimal
	Capped         bool
	// OverLimit marks an accepted entry beyond the product's entry limit at
	// the venue (two offline devices both accepted it): listed at 0.
	OverLimit bool
}

// NoteOverLimit is the note column of an entry beyond the product's limit.
const NoteOverLimit = "over_limit"

// csvHeader is the statement CSV header; columns are stable.
var csvHeader = []string{"line", "kind", "journal_seq", "tap_device", "tap_seq", "at", "card", "pass",
	"product", "category", "venue", "gate", "service_day", "original_period", "value", "amount", "capped", "note"}

func (l *Line) record(loc *time.Location) []string {
	r := make([]string, 0, len(csvHeader))
	r = append(r, strconv.Itoa(l.No), l.Kind)
	if l.Kind == KindFlatFee {
		r = append(r, "", "", "", "", "", "", "", "", "", "", "")
	} else {
		r = append(r, strconv.FormatUint(l.JournalSeq, 10), l.Device, strconv.FormatUint(l.Seq, 10),
			l.At.In(loc).Format(time.RFC3339), l.Card, l.Pass, l.Product, l.Category, l.Venue, l.Gate, l.ServiceDay)
	}
	note := ""
	if l.OverLimit {
		note = NoteOverLimit
	}
	return append(r, l.OriginalPeriod, formatMoney(l.Value), formatMoney(l.Amount), strconv.FormatBool(l.Capped), note)
}

// countsAsVisit reports whether a journaled tap is a payable visit: an
// accepted entry. Exits and denials are never paid.
func countsAsVisit(r *engine.TapRecord) bool {
	return r.Decision.Accept && r.Direction == engine.Entry
}

type passDay struct{ pass, day string }

type passVenueDay struct{ pass, venue, day string }

// periodBook values the lines of one partner period: contract by tap date,
// distinct pass-days, and the period's cap over everything paid for it so far
// (on its own statement and on adjustments).
type periodBook struct {
	cat      *tariff.Catalog
	partner  string
	gov      *tariff.Contract
	paid     decimal.Decimal
	seenDays map[passDay]bool
	// Paid entries per pass and venue (day "" = the whole period), for the
	// products' entry limits.
	entries map[passVenueDay]int
}

func newPeriodBook(cat *tariff.Catalog, partner string, gov *tariff.Contract) *periodBook {
	return &periodBook{cat: cat, partner: partner, gov: gov, seenDays: map[passDay]bool{},
		entries: map[passVenueDay]int{}}
}

// visitValue is what one accepted entry is worth under the contract in force
// at its tap time. percent_of_gate rounds each entry to 2 places, half away
// from zero, so lines add up exactly.
func (b *periodBook) visitValue(l *Line) decimal.Decimal {
	if !b.withinLimit(l) {
		l.OverLimit = true
		return decimal.Zero
	}
	c, ok := b.cat.ContractAt(b.partner, l.At)
	if !ok {
		return decimal.Zero
	}
	switch c.Model {
	case tariff.ModelPerVisit:
		return c.Rates[l.Category]
	case tariff.ModelPercentOfGate:
		v, ok := findVenue(b.cat, l.Venue, l.At)
		if !ok {
			return decimal.Zero
		}
		return v.GatePrice.Mul(c.Percent).Div(hundred).Round(moneyPlaces)
	case tariff.ModelPerPassDay:
		k := passDay{l.Pass, l.ServiceDay}
		if b.seenDays[k] {
			return decimal.Zero
		}
		b.seenDays[k] = true
		return c.Rates[l.Category]
	}
	return decimal.Zero // flat: visits are listed, the period fee pays them
}

// pay applies the period cap to a value and records what is paid.
func (b *periodBook) pay(l *Line, value decimal.Decimal) {
	l.Value = value
	l.Amount = value
	if b.gov != nil && b.gov.HasCap {
		remaining := b.gov.Cap.Sub(b.paid)
		if remaining.IsNegative() {
			remaining = decimal.Zero
		}
		if l.Amount.GreaterThan(remaining) {
			l.Amount = remaining
		}
	}
	l.Capped = l.Amount.LessThan(l.Value)
	b.paid = b.paid.Add(l.Amount)
}

// withinLimit counts an accepted entry against its product's entry limit at
// the venue (SPEC §3: once, once_per_day, n per validity) and reports whether
// it is within. The engine enforces limits online; two offline devices can
// both accept, and the venue is paid once. Limits are counted within the
// period (and its adjustments); an unknown product or include is unlimited.
func (b *periodBook) withinLimit(l *Line) bool {
	lim, ok := b.limitOf(l)
	if !ok {
		return true
	}
	k := passVenueDay{l.Pass, l.Venue, ""}
	if lim.Kind == tariff.LimitOncePerDay {
		k.day = l.ServiceDay
	}
	if b.entries[k] >= max(lim.N, 1) {
		return false
	}
	b.entries[k]++
	return true
}

func (b *periodBook) limitOf(l *Line) (tariff.Limit, bool) {
	if l.Pass == "" {
		return tariff.Limit{}, false
	}
	t, ok := b.cat.Version(l.TariffVersion)
	if !ok {
		return tariff.Limit{}, false
	}
	v, ok := findVenue(b.cat, l.Venue, l.At)
	if !ok {
		return tariff.Limit{}, false
	}
	for i := range t.Products {
		if t.Products[i].ID != l.Product {
			continue
		}
		in, ok := t.Products[i].IncludeFor(v)
		if !ok || in.Limit.Kind == tariff.LimitUnlimited || in.Limit.Kind == "" {
			return tariff.Limit{}, false
		}
		return in.Limit, true
	}
	return tariff.Limit{}, false
}

// note records a line already on a stored statement for this period.
func (b *periodBook) note(rec map[string]string, amount decimal.Decimal) {
	pass, day := rec["pass"], rec["service_day"]
	if pass != "" && day != "" && rec["note"] != NoteOverLimit {
		b.seenDays[passDay{pass, day}] = true
		b.entries[passVenueDay{pass, rec["venue"], ""}]++
		b.entries[passVenueDay{pass, rec["venue"], day}]++
	}
	b.paid = b.paid.Add(amount)
}

// lineOf builds the tap part of a line.
func lineOf(r *engine.TapRecord, t *tariff.Tariff, kind, period string) Line {
	return Line{Kind: kind, JournalSeq: r.JournalSeq, Device: r.ID.Device, Seq: r.ID.Seq, At: r.At,
		Card: r.Card, Pass: r.Pass, Product: r.Product, TariffVersion: r.TariffVersion, Category: r.Category, Venue: r.Venue, Gate: r.Gate,
		ServiceDay: t.ServiceDay(r.At).String(), OriginalPeriod: period}
}

// lineLess orders lines by tap time, then journal seq (the order of the
// ledger's time index, so streamed and sorted lines agree).
func lineLess(a, b *Line) bool {
	if !a.At.Equal(b.At) {
		return a.At.Before(b.At)
	}
	return a.JournalSeq < b.JournalSeq
}
