package reconcile

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/reconcile/stmtfile"
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
)

// This file is the valuation core of a close: journal records in, in the
// order they are handed over (journal order), statement lines and totals
// out. It reads no clock and does no I/O of its own (entry limits read a
// pass's usage through the passReader it is given); Close is the loop
// around it that reads the journal, writes the lines and stores the
// statements.
//
// Every partner period being valued has a book: what has been paid for it
// (the cap bounds it) and the distinct pass-days that per_pass_day needs,
// kept as 96-bit fingerprints in an open-addressing table (no lines, no
// pass id strings).

// book is the running state of one partner period in valuation order.
type book struct {
	p        tariff.Period
	gov      *tariff.Contract
	hasCap   bool
	capMinor int64
	paid     int64
	days     fpCounts // fingerprint(pass, service day) → 1: pass-days paid (per_pass_day)
}

// noDay is the day of an entry count over a whole validity.
const noDay = int32(-1 << 31)

func newBook(p tariff.Period, gov *tariff.Contract) (*book, error) {
	b := &book{p: p, gov: gov}
	if gov != nil && gov.HasCap {
		m, err := toMinor(gov.Cap)
		if err != nil {
			return nil, err
		}
		b.hasCap, b.capMinor = true, m
	}
	return b, nil
}

// pay applies the period cap to value and records what is paid.
func (b *book) pay(value int64) (amount int64) {
	amount = value
	if b.hasCap {
		remaining := max(b.capMinor-b.paid, 0)
		amount = min(amount, remaining)
	}
	b.paid += amount
	return amount
}

// sheet is one statement of a close: a partner's period, new or stored
// (regenerated for a re-close), with its running totals.
type sheet struct {
	id       string
	p        tariff.Period
	gov      *tariff.Contract
	tv       *tariff.Tariff // the version holding gov
	feeMinor int64          // the flat fee due (flat contracts in force at the period's start)
	feePaid  int64          // what the cap left of it
	hasFee   bool
	stored   *Statement // a re-close
	book     *book
	n        int // the sheet's index in its close (set by the close loop)

	visits, adjLines          int
	gross, capRd, adjSum, net int64
}

// due reports whether the sheet has anything to state: a line or a fee.
func (s *sheet) due() bool { return s.visits > 0 || s.adjLines > 0 || s.hasFee }

// partnerRun is one partner's part of a close: the sheets of consecutive
// periods being closed, and the partner's statements before them.
type partnerRun struct {
	partner  string
	asOf     uint64         // the last journal seq the sheets cover
	prevAsOf uint64         // data_as_of of the statement before the first sheet (0: none)
	prevSHA  string         // SHA-256 of that statement's manifest
	closed   []closedPeriod // the partner's statements before the first sheet, oldest first
	sheets   []*sheet       // by period
	// late holds the books of earlier periods that have taps journaled
	// since prevAsOf (noted by noteLate), by period label.
	late map[string]*book
	last *sheet // the sheet of the last visit (taps come in runs)
	// cuts are the data_as_of of the partner's statements before the
	// sheets, then asOf: they cut the journal into the batches of entry
	// order (countEntry).
	cuts []uint64
}

// newSheet prepares a sheet for partner's period p.
func newSheet(cat *tariff.Catalog, partner string, p tariff.Period, stored *Statement) (*sheet, error) {
	gov, tv, atStart, ok := governing(cat, partner, p)
	if !ok {
		return nil, fmt.Errorf("%w: partner %s has no contract in force for %s", ErrNoStatement, partner, p.Label)
	}
	id := StatementID(partner, p.Label)
	if err := checkFileID(id); err != nil {
		return nil, err
	}
	s := &sheet{id: id, p: p, gov: gov, tv: tv, stored: stored}
	var err error
	if s.book, err = newBook(p, gov); err != nil {
		return nil, err
	}
	if gov.Model == tariff.ModelFlat && atStart {
		if s.feeMinor, err = toMinor(gov.Amount); err != nil {
			return nil, err
		}
		s.hasFee = true
		s.feePaid = s.book.pay(s.feeMinor)
		s.gross += s.feeMinor
		s.capRd += s.feeMinor - s.feePaid
		s.net += s.feePaid
	}
	return s, nil
}

// feeLine is the flat fee line of a sheet that has a fee.
func (s *sheet) feeLine() stmtfile.Line {
	return stmtfile.Line{Kind: KindFlatFee, Period: s.p.Label, Value: s.feeMinor, Amount: s.feePaid}
}

// valuation routes journal records to the partner runs of a close and
// values them. Records must come in journal order; every method is pure.
type valuation struct {
	cat     *tariff.Catalog
	runs    map[string]*partnerRun
	look    *lookups
	limits  *limits
	maxAsOf uint64
	// The run of the last routed venue's partner (consecutive taps mostly
	// share their venue).
	lastVenue *tariff.Venue
	lastRun   *partnerRun
}

func newValuation(cat *tariff.Catalog, runs []*partnerRun, rd passReader) *valuation {
	v := &valuation{cat: cat, runs: map[string]*partnerRun{}, look: newLookups(cat)}
	v.limits = newLimits(cat, v.look, rd)
	for _, r := range runs {
		v.runs[r.partner] = r
		v.maxAsOf = max(v.maxAsOf, r.asOf)
		r.late = map[string]*book{}
		r.cuts = r.cuts[:0]
		for _, c := range r.closed {
			r.cuts = append(r.cuts, c.st.AsOfSeq)
		}
		slices.Sort(r.cuts)
		r.cuts = append(r.cuts, r.asOf)
	}
	return v
}

// lateFrom is the first journal seq that can hold a late tap (one of a
// period before a run's first sheet, journaled after its previous
// statement), or 0 when no run can have one.
func (v *valuation) lateFrom() uint64 {
	from := ^uint64(0)
	for _, r := range v.runs {
		if len(r.closed) > 0 && r.prevAsOf < r.asOf {
			from = min(from, r.prevAsOf+1)
		}
	}
	if from == ^uint64(0) {
		return 0
	}
	return from
}

// route returns the run and the version and venue of a payable record, or
// a nil run.
func (v *valuation) route(rec *engine.TapRecord) (*partnerRun, *tariff.Tariff, *tariff.Venue, error) {
	if !countsAsVisit(rec) {
		return nil, nil, nil, nil
	}
	t, err := versionAt(v.cat, rec.At)
	if err != nil {
		return nil, nil, nil, err
	}
	ven := v.look.findVenue(t, rec.Venue, rec.At)
	if ven == nil {
		return nil, nil, nil, nil
	}
	r := v.lastRun
	if ven != v.lastVenue {
		r = v.runs[ven.Partner]
		v.lastRun, v.lastVenue = r, ven
	}
	if r == nil || rec.JournalSeq > r.asOf {
		return nil, nil, nil, nil
	}
	return r, t, ven, nil
}

// earlierPeriod returns the period before the run's first sheet that holds
// at: a stored statement's, or (a period skipped because nothing was due
// when a later one closed) the partner's period of that time.
func (v *valuation) earlierPeriod(r *partnerRun, at time.Time) (tariff.Period, bool) {
	i := sort.Search(len(r.closed), func(i int) bool { return r.closed[i].period.End.After(at) })
	if i < len(r.closed) && !at.Before(r.closed[i].period.Start) {
		return r.closed[i].period, true
	}
	return periodAt(v.cat, r.partner, at)
}

// noteLate is the first pass, over the records from lateFrom: it gives a
// book to every earlier period that has a late tap on the run's first
// sheet. Only those periods are valued again (their books folded from the
// start of the journal), so memory does not grow with the periods that
// have none.
func (v *valuation) noteLate(rec *engine.TapRecord) error {
	r, _, _, err := v.route(rec)
	if err != nil || r == nil || rec.JournalSeq <= r.prevAsOf || !rec.At.Before(r.sheets[0].p.Start) {
		return err
	}
	p, ok := v.earlierPeriod(r, rec.At)
	if !ok || r.late[p.Label] != nil {
		return nil
	}
	gov, _, atStart, _ := governing(v.cat, r.partner, p)
	b, err := newBook(p, gov)
	if err != nil {
		return err
	}
	if gov != nil && gov.Model == tariff.ModelFlat && atStart {
		fee, err := toMinor(gov.Amount)
		if err != nil {
			return err
		}
		b.pay(fee)
	}
	r.late[p.Label] = b
	return nil
}

// value is the main pass, over every record up to the highest data_as_of
// in journal order. For a payable entry of a run's partner it fills ln and
// returns the sheet the line goes on: a visit of a sheet's period, or an
// adjustment (ln.Kind) of an earlier period journaled after the first
// sheet's previous statement, which goes on the first sheet. It returns
// nil when the record makes no line (it may still count towards a book).
func (v *valuation) value(rec *engine.TapRecord, ln *stmtfile.Line) (*sheet, error) {
	r, t, ven, err := v.route(rec)
	if err != nil || r == nil {
		return nil, err
	}
	at := rec.At
	s := r.last
	if s == nil || at.Before(s.p.Start) || !at.Before(s.p.End) {
		s = nil
		if i := sort.Search(len(r.sheets), func(i int) bool { return r.sheets[i].p.End.After(at) }); i < len(r.sheets) && !at.Before(r.sheets[i].p.Start) {
			s = r.sheets[i]
			r.last = s
		}
	}
	var b *book
	adjust := false
	switch {
	case s != nil:
		b = s.book
	case at.Before(r.sheets[0].p.Start):
		if len(r.late) > 0 {
			if p, ok := v.earlierPeriod(r, at); ok {
				b = r.late[p.Label]
			}
		}
		adjust = b != nil && rec.JournalSeq > r.prevAsOf
	}
	day := v.look.serviceDay(t, at)
	*ln = stmtfile.Line{Rec: rec, ServiceDay: day.label}
	within, err := v.countEntry(r, rec, ven, day)
	if err != nil || b == nil {
		return nil, err
	}
	ln.Period = b.p.Label
	if !within {
		ln.OverLimit = true
		ln.Amount = b.pay(0)
	} else if err := v.look.value(b, r.partner, t, ven, rec, day, ln); err != nil {
		return nil, err
	}
	switch {
	case s != nil:
		ln.Kind = KindVisit
		s.visits++
		s.gross += ln.Value
		s.capRd += ln.Value - ln.Amount
		s.net += ln.Amount
		return s, nil
	case adjust:
		ln.Kind = KindAdjustment
		first := r.sheets[0]
		first.adjLines++
		first.adjSum += ln.Amount
		first.net += ln.Amount
		return first, nil
	}
	return nil, nil // on an earlier statement: folded into its book only
}

// countEntry applies the entry limits, the one rule of over-use: an
// accepted entry of a pass at a venue is within its product's limit when
// fewer than N entries of the same pass at the venue (on the same service
// day, for once_per_day) come before it in entry order (entryOrder: the
// journal's batches between the partner's statements, then tap time,
// device, seq), whatever period they were paid in. Entries beyond are
// listed at 0, over_limit: two offline devices both accepted them, and the
// venue is paid once. Entries journaled after an earlier statement never
// come before those it covered, so a statement never changes what an
// earlier one paid; those a close sees together are settled in canonical
// order, whatever order they reached the hub in.
func (v *valuation) countEntry(r *partnerRun, rec *engine.TapRecord, ven *tariff.Venue, day *svcDay) (bool, error) {
	lim, ok := v.look.limitFor(rec, ven)
	if !ok {
		return true, nil
	}
	return v.limits.within(r.cuts, r.asOf, rec, ven, lim, day.num)
}

// svcDay caches the service day of the last tap per tariff version: the
// journal is nearly in time order, so most taps hit it.
type svcDay struct {
	start, end time.Time
	label      string
	num        int32
}

// lookups are a close's catalog lookups, cached by version, and a
// fingerprint buffer.
type lookups struct {
	cat   *tariff.Catalog
	fpbuf []byte
	days  map[*tariff.Tariff]*svcDay
	venue memo[venueKey, *tariff.Venue]
	limit memo[limitKey, limitOf]
	rate  memo[rateKey, int64]
	// The contract of the last tap's partner under its version.
	lastContractOf    contractKey
	lastContract      *tariff.Contract
	lastContractFound bool
}

type contractKey struct {
	t       *tariff.Tariff
	partner string
}

func newLookups(cat *tariff.Catalog) *lookups {
	return &lookups{cat: cat,
		days: map[*tariff.Tariff]*svcDay{}, venue: newMemo[venueKey, *tariff.Venue](),
		limit: newMemo[limitKey, limitOf](), rate: newMemo[rateKey, int64]()}
}

// contractOf is t.ContractOf(partner), remembering the last answer.
func (r *lookups) contractOf(t *tariff.Tariff, partner string) (*tariff.Contract, bool) {
	k := contractKey{t, partner}
	if k != r.lastContractOf || t == nil {
		r.lastContract, r.lastContractFound = t.ContractOf(partner)
		r.lastContractOf = k
	}
	return r.lastContract, r.lastContractFound
}

type venueKey struct {
	t  *tariff.Tariff
	id string
}

func (k venueKey) owned() venueKey { k.id = strings.Clone(k.id); return k }

type limitKey struct {
	version, product string
	v                *tariff.Venue
}

func (k limitKey) owned() limitKey {
	k.version, k.product = strings.Clone(k.version), strings.Clone(k.product)
	return k
}

type limitOf struct {
	lim tariff.Limit
	ok  bool
}

// rateKey caches a contract's worth of one entry: by category, or (v set)
// percent_of_gate of a venue.
type rateKey struct {
	c        *tariff.Contract
	category string
	v        *tariff.Venue
}

func (k rateKey) owned() rateKey { k.category = strings.Clone(k.category); return k }

// findVenue is Catalog.FindVenue cached by the version in force at the tap.
func (r *lookups) findVenue(t *tariff.Tariff, id string, at time.Time) *tariff.Venue {
	k := venueKey{t, id}
	if v, ok := r.venue.get(k); ok {
		return v
	}
	v, _, _ := r.cat.FindVenue(id, at, nil)
	r.venue.put(k, venueKey.owned, v)
	return v
}

// serviceDay returns the service day of at under version t.
func (r *lookups) serviceDay(t *tariff.Tariff, at time.Time) *svcDay {
	d := r.days[t]
	if d != nil && !at.Before(d.start) && at.Before(d.end) {
		return d
	}
	sd := t.ServiceDay(at)
	d = &svcDay{start: t.DayStart(sd), end: t.DayEnd(sd), label: sd.String(),
		num: int32(time.Date(sd.Year, sd.Month, sd.Day, 12, 0, 0, 0, time.UTC).Unix() / 86400)}
	r.days[t] = d
	return d
}

// limitFor returns the entry limit of the tap's product at venue v, under
// the version the pass was sold under; ok is false when unlimited.
func (r *lookups) limitFor(rec *engine.TapRecord, v *tariff.Venue) (tariff.Limit, bool) {
	if rec.Pass == "" {
		return tariff.Limit{}, false
	}
	k := limitKey{rec.TariffVersion, rec.Product, v}
	if l, ok := r.limit.get(k); ok {
		return l.lim, l.ok
	}
	var out limitOf
	if _, p, err := r.cat.ProductAsSold(rec.TariffVersion, rec.Product); err == nil {
		if in, ok := p.IncludeFor(v); ok && in.Limit.Kind != tariff.LimitUnlimited && in.Limit.Kind != "" {
			out = limitOf{in.Limit, true}
		}
	}
	r.limit.put(k, limitKey.owned, out)
	return out.lim, out.ok
}

// rateOf is the worth of one accepted entry under contract c (before
// per_pass_day's distinct-day rule): rates by category, or percent_of_gate
// of the venue's gate price rounded per entry to 2 places, half away from
// zero.
func (r *lookups) rateOf(c *tariff.Contract, category string, v *tariff.Venue) (int64, error) {
	k := rateKey{c: c, category: category}
	if c.Model == tariff.ModelPercentOfGate {
		k = rateKey{c: c, v: v}
	}
	if m, ok := r.rate.get(k); ok {
		return m, nil
	}
	var d decimal.Decimal
	switch c.Model {
	case tariff.ModelPerVisit, tariff.ModelPerPassDay:
		d = c.Rates[category]
	case tariff.ModelPercentOfGate:
		d = v.GatePrice.Mul(c.Percent).Div(hundred).Round(moneyPlaces)
	}
	m, err := toMinor(d)
	if err != nil {
		return 0, err
	}
	r.rate.put(k, rateKey.owned, m)
	return m, nil
}

// fingerprint keys a count by the parts and n.
func (r *lookups) fingerprint(n int32, parts ...string) fp {
	var k fp
	k, r.fpbuf = fingerprint(r.fpbuf, n, parts...)
	return k
}

// value values an accepted entry within its limits of partner at venue v
// against book b: the contract in force at the tap, per_pass_day's first
// entry of a pass-day, then the period cap. It sets ln.Value and ln.Amount.
func (r *lookups) value(b *book, partner string, t *tariff.Tariff, v *tariff.Venue, rec *engine.TapRecord, day *svcDay, ln *stmtfile.Line) error {
	c, ok := r.contractOf(t, partner)
	var worth int64
	if ok {
		switch c.Model {
		case tariff.ModelPerVisit, tariff.ModelPercentOfGate:
			m, err := r.rateOf(c, rec.Category, v)
			if err != nil {
				return err
			}
			worth = m
		case tariff.ModelPerPassDay:
			if b.days.addBelow(r.fingerprint(day.num, rec.Pass), 1) { // the pass-day's first entry
				m, err := r.rateOf(c, rec.Category, v)
				if err != nil {
					return err
				}
				worth = m
			}
		}
	}
	ln.Value = worth
	ln.Amount = b.pay(worth)
	return nil
}
