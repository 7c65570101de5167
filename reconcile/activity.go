package reconcile

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
)

// ActivityRow counts the taps of one local hour at one venue with one
// outcome: accepted entries (Reason "OK", Direction "entry") are visits.
type ActivityRow struct {
	Day       string    // service day, "2026-05-31"
	Hour      time.Time // start of the local hour, in the tariff's zone
	Venue     string
	Direction string // entry | exit
	Accept    bool
	Reason    string // "OK" or the denial code
	Count     int
}

// ActivityReport is every tap with tap time in the range, counted by hour,
// venue, direction and outcome: the operators' view of the gates (the
// dashboard's charts, `citypass today`).
type ActivityReport struct {
	Options ReportOptions
	Rows    []ActivityRow // by hour, venue, direction, reason
	// Totals over the rows.
	Taps, Accepted, Denied, Exits int
	Visits                        int            // accepted entries
	DeniedBy                      map[string]int // reason code → denied taps
	Flags                         map[string]int // flag → accepted entries carrying it
	VisitsByVenue                 map[string]int
}

// Activity reads the journal's taps with tap time in the range (by the time
// index) and counts them.
func Activity(ctx context.Context, l Ledger, cat *tariff.Catalog, opts ReportOptions) (*ActivityReport, error) {
	from, to, err := opts.bounds(cat)
	if err != nil {
		return nil, err
	}
	type key struct {
		hour      int64
		day       string
		venue     string
		direction engine.Direction
		reason    engine.Reason
		accept    bool
	}
	counts := map[key]int{}
	r := &ActivityReport{Options: opts, DeniedBy: map[string]int{}, Flags: map[string]int{}, VisitsByVenue: map[string]int{}}
	err = l.JournalBetween(ctx, from, to, func(rec *engine.TapRecord) error {
		loc := time.UTC
		day := rec.At.UTC().Format("2006-01-02")
		if t, ok := cat.At(rec.At); ok {
			loc, day = t.Location, t.ServiceDay(rec.At).String()
		}
		lt := rec.At.In(loc)
		h := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), 0, 0, 0, loc)
		counts[key{h.Unix(), day, rec.Venue, rec.Direction, rec.Decision.Reason, rec.Decision.Accept}]++
		r.Taps++
		switch {
		case !rec.Decision.Accept:
			r.Denied++
			r.DeniedBy[rec.Decision.Reason.String()]++
		case rec.Direction == engine.Exit:
			r.Accepted++
			r.Exits++
		default:
			r.Accepted++
			r.Visits++
			r.VisitsByVenue[rec.Venue]++
			for _, f := range rec.Decision.Flags.Names() {
				r.Flags[f]++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: activity report: %w", err)
	}
	for k, n := range counts {
		loc := time.UTC
		if t, ok := cat.At(time.Unix(k.hour, 0)); ok {
			loc = t.Location
		}
		r.Rows = append(r.Rows, ActivityRow{Day: k.day, Hour: time.Unix(k.hour, 0).In(loc), Venue: k.venue,
			Direction: k.direction.String(), Accept: k.accept, Reason: k.reason.String(), Count: n})
	}
	sort.Slice(r.Rows, func(i, j int) bool {
		a, b := r.Rows[i], r.Rows[j]
		if !a.Hour.Equal(b.Hour) {
			return a.Hour.Before(b.Hour)
		}
		if a.Venue != b.Venue {
			return a.Venue < b.Venue
		}
		if a.Direction != b.Direction {
			return a.Direction < b.Direction
		}
		return a.Reason < b.Reason
	})
	return r, nil
}

// Table renders the activity report: one row per hour, venue, direction
// and outcome.
func (r *ActivityReport) Table() Table {
	t := Table{Title: "Taps " + rangeLabel(r.Options), Columns: []Column{colText("day"), colText("hour"), colText("venue"),
		colText("direction"), colText("decision"), colText("reason"), colCount("taps")}}
	for _, x := range r.Rows {
		dec := "deny"
		if x.Accept {
			dec = "accept"
		}
		t.Rows = append(t.Rows, []string{x.Day, x.Hour.Format("15:04"), x.Venue, x.Direction, dec, x.Reason, fmt.Sprint(x.Count)})
	}
	t.Totals = []string{"TOTAL", "", "", "", "", "", fmt.Sprint(r.Taps)}
	return t
}

// DaySummary is one service day at a glance (`citypass today`, the
// dashboard's first page): sales, refunds, taps by outcome, visits by venue.
type DaySummary struct {
	Day      tariff.Date
	Currency string
	// Start and End bound the service day: [Start, End) in the tariff's
	// zone.
	Start, End time.Time
	// Sales of the day (the sales report's total and its rows by product).
	Sales         int
	SalesGross    decimal.Decimal
	SalesVAT      decimal.Decimal
	SalesByProd   map[string]int
	Refunds       int
	RefundedGross decimal.Decimal
	// Taps of the day (the activity report).
	Activity *ActivityReport
}

// Today summarizes service day day: the sales and activity reports of that
// day and the refunds made on it.
func Today(ctx context.Context, l Ledger, cat *tariff.Catalog, day tariff.Date) (*DaySummary, error) {
	opts := ReportOptions{From: day, To: day}
	from, to, err := opts.bounds(cat)
	if err != nil {
		return nil, err
	}
	s := &DaySummary{Day: day, SalesByProd: map[string]int{}, Start: from, End: to}
	if t, ok := cat.At(from); ok {
		s.Currency = t.Currency
		s.Start, s.End = from.In(t.Location), to.In(t.Location)
	}
	sales, err := Sales(ctx, l, cat, opts)
	if err != nil {
		return nil, err
	}
	s.Sales, s.SalesGross, s.SalesVAT = sales.Total.Count, sales.Total.Gross, sales.Total.VAT
	for _, row := range sales.Rows {
		s.SalesByProd[row.Product] += row.Count
	}
	err = l.Passes(ctx, func(p *engine.Pass) error {
		if p.Status == engine.PassRefunded && in(p.RefundedAt, from, to) {
			s.Refunds++
			s.RefundedGross = s.RefundedGross.Add(fromMinor(p.PriceMinor))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: refunds of %s: %w", day, err)
	}
	if s.Activity, err = Activity(ctx, l, cat, opts); err != nil {
		return nil, err
	}
	return s, nil
}

// WriteText prints the day for people, as `citypass today` and the demo
// show it: one line each for the sales, the refunds, the taps by outcome
// (accepted by flag, denied by reason) and the visits by venue; counts and
// amounts grouped by thousands (Thousands, tariff.FormatAmount).
func (s *DaySummary) WriteText(w io.Writer) error {
	var b strings.Builder
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	a := s.Activity
	if a == nil {
		a = &ActivityReport{}
	}
	p("Day        %s: the service day from %s to %s\n", s.Day, s.Start.Format("2006-01-02 15:04 -07:00"), s.End.Format("2006-01-02 15:04 -07:00"))
	p("Sales      %s passes, %s gross (VAT %s)\n", Thousands(s.Sales),
		tariff.FormatAmount(s.SalesGross, s.Currency), tariff.FormatAmount(s.SalesVAT, s.Currency))
	if len(s.SalesByProd) > 0 {
		p("           %s\n", Counts(s.SalesByProd))
	}
	p("Refunds    %s passes refunded, %s\n", Thousands(s.Refunds), tariff.FormatAmount(s.RefundedGross, s.Currency))
	p("Taps       %s taps: %s accepted, %s denied\n", Thousands(a.Taps), Thousands(a.Accepted), Thousands(a.Denied))
	if a.Exits > 0 {
		p("           %s of the accepted are exits\n", Thousands(a.Exits))
	}
	if len(a.Flags) > 0 {
		p("           accepted with flags: %s\n", Counts(a.Flags))
	}
	if len(a.DeniedBy) > 0 {
		p("           denied: %s\n", Counts(a.DeniedBy))
	}
	p("Visits     %s", Thousands(a.Visits))
	if len(a.VisitsByVenue) > 0 {
		p(": %s", Counts(a.VisitsByVenue))
	}
	p("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// Thousands writes a count with commas between thousands: "12,345".
func Thousands(n int) string {
	if n < 0 {
		return "-" + Thousands(-n)
	}
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// Counts writes a map of counts as "KEY n, KEY n", by decreasing count,
// then key, the counts as Thousands writes them.
func Counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + Thousands(m[k])
	}
	return strings.Join(parts, ", ")
}
