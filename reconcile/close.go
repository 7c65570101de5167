package reconcile

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
)

// Errors of Close.
var (
	// ErrPeriodOpen: the period has not ended at CloseOptions.At.
	ErrPeriodOpen = errors.New("reconcile: period has not ended")
	// ErrNoStatement: no partner has a contract of the period's kind (or the
	// partner asked for has none).
	ErrNoStatement = errors.New("reconcile: no partner contract for this period")
	// ErrPeriodOrder: a partner's periods close in order; this one starts
	// before the end of the partner's last closed statement.
	ErrPeriodOrder = errors.New("reconcile: period precedes the partner's last closed statement")
)

// CloseOptions says what to close. The zero value is not enough: Period and
// OutDir are required.
type CloseOptions struct {
	// Period is the label: "2026-11" (month), "2026-W48" (ISO week) or
	// "2026-11-27" (day), in service days of the tariff's zone.
	Period string
	// Partner, when set, closes only this partner's statement; otherwise every
	// partner whose contract period is of Period's kind.
	Partner string
	// At is the closing time; the period must have ended by then. Zero: now.
	At time.Time
	// OutDir receives <id>.csv and <id>.json for every statement.
	OutDir string
	// Progress, when set, is called with the number of journal records
	// scanned so far, every progressEvery records and once at the end of each
	// statement (for a progress bar). It must not block.
	Progress func(scanned uint64)
}

// progressEvery is how many scanned journal records separate Progress calls.
const progressEvery = 1 << 16

// CloseResult lists the statements written, in partner order.
type CloseResult struct {
	Period     string
	Statements []StatementSummary
	// Postings counts the postings stored by this close (0 on a re-close).
	Postings int
}

// StatementSummary describes one closed statement.
type StatementSummary struct {
	ID, Partner, Period string
	// Reclosed is true when the statement existed and its stored bytes were
	// written again.
	Reclosed        bool
	Visits          int
	AdjustmentLines int
	Currency        string
	Gross           decimal.Decimal
	CapReduction    decimal.Decimal
	Adjustments     decimal.Decimal
	Net             decimal.Decimal
	AsOfSeq         uint64
	CSVPath         string
	ManifestPath    string
}

// StatementID is the deterministic id of a partner's statement for a period.
func StatementID(partner, period string) string { return partner + "-" + period }

var errStop = errors.New("stop")

// Close closes the statements of a period (SPEC §6): for every partner whose
// governing contract has Period's kind (or opts.Partner only), it values the
// accepted entries at the partner's venues with tap time in the period and
// journaled up to now (data_as_of), adds as adjustments the taps of the
// partner's already closed periods that were journaled since its previous
// statement, signs the manifest, chains it to the previous one, stores both
// files and the postings in the ledger atomically (PutStatement) and writes
// them to OutDir atomically. A statement that is already stored is written
// again byte for byte and nothing is posted.
//
// The first new statement of the call also carries the revenue recognition
// due by the period's end (see recognitionPostings): pass revenue for
// activated passes whose validity ended, breakage for never-activated passes
// whose activation deadline passed, each posted once per pass.
//
// Memory: the journal is streamed; what is held is one partner-period's lines.
func Close(ctx context.Context, l Ledger, cat *tariff.Catalog, s *Signer, opts CloseOptions) (*CloseResult, error) {
	if opts.Period == "" {
		return nil, fmt.Errorf("reconcile: close: no period given")
	}
	if opts.OutDir == "" {
		return nil, fmt.Errorf("reconcile: close: no output directory given")
	}
	if s == nil {
		return nil, fmt.Errorf("reconcile: close: no signing key")
	}
	at := opts.At
	if at.IsZero() {
		at = time.Now()
	}
	p, _, err := parsePeriod(cat, opts.Period)
	if err != nil {
		return nil, fmt.Errorf("reconcile: close: %w", err)
	}
	if at.Before(p.End) {
		return nil, fmt.Errorf("%w: %s ends %s, closing at %s", ErrPeriodOpen, p.Label,
			p.End.Format(time.RFC3339), at.Format(time.RFC3339))
	}
	partners, err := partnersToClose(cat, p, opts.Partner)
	if err != nil {
		return nil, err
	}
	asOf, err := l.LastJournalSeq()
	if err != nil {
		return nil, fmt.Errorf("reconcile: close: reading journal seq: %w", err)
	}
	res := &CloseResult{Period: p.Label}
	recognized := false
	var scanned uint64
	for _, partner := range partners {
		c := closer{ctx: ctx, l: l, cat: cat, s: s, p: p, partner: partner, asOf: asOf, at: at,
			progress: opts.Progress, scanned: &scanned}
		id := StatementID(partner, p.Label)
		if err := checkFileID(id); err != nil {
			return nil, err
		}
		st, exists, err := l.Statement(id)
		if err != nil {
			return nil, fmt.Errorf("reconcile: reading statement %s: %w", id, err)
		}
		var postings []engine.Posting
		if !exists {
			st, postings, err = c.build(id)
			if err != nil {
				return nil, err
			}
			if !recognized {
				rec, err := recognitionPostings(ctx, l, p)
				if err != nil {
					return nil, err
				}
				postings = append(postings, rec...)
				recognized = true
			}
			if err := l.PutStatement(ctx, st, postings...); err != nil {
				return nil, fmt.Errorf("reconcile: storing statement %s: %w", id, err)
			}
			res.Postings += len(postings)
		}
		sum, err := writeStatementFiles(opts.OutDir, &st)
		if err != nil {
			return nil, err
		}
		sum.Reclosed = exists
		res.Statements = append(res.Statements, *sum)
	}
	return res, nil
}

// partnersToClose returns, sorted, the partners whose governing contract for
// p has p's period kind.
func partnersToClose(cat *tariff.Catalog, p tariff.Period, only string) ([]string, error) {
	seen := map[string]bool{}
	for _, t := range cat.Versions() {
		for _, c := range t.Contracts {
			seen[c.Partner] = true
		}
	}
	var out []string
	for id := range seen {
		if only != "" && id != only {
			continue
		}
		gov, _, ok := governing(cat, id, p)
		if !ok {
			continue
		}
		if gov.Period != p.Kind {
			if only != "" {
				return nil, fmt.Errorf("%w: partner %s settles by %s, not by %s", ErrNoStatement, id, gov.Period, p.Kind)
			}
			continue
		}
		out = append(out, id)
	}
	if len(out) == 0 {
		if only != "" {
			return nil, fmt.Errorf("%w: partner %s has no contract in force for %s", ErrNoStatement, only, p.Label)
		}
		return nil, fmt.Errorf("%w: no partner settles by %s (%s)", ErrNoStatement, p.Kind, p.Label)
	}
	sort.Strings(out)
	return out, nil
}

// closedPeriod is a stored statement of the partner being closed.
type closedPeriod struct {
	id      string
	period  tariff.Period
	asOfSeq uint64
}

type closer struct {
	ctx     context.Context
	l       Ledger
	cat     *tariff.Catalog
	s       *Signer
	p       tariff.Period
	partner string
	asOf    uint64
	at      time.Time

	progress func(uint64)
	scanned  *uint64
}

// tick counts a scanned journal record for Progress.
func (c *closer) tick() {
	*c.scanned++
	if c.progress != nil && *c.scanned%progressEvery == 0 {
		c.progress(*c.scanned)
	}
}

// checkFileID refuses statement ids that are not safe file names.
func checkFileID(id string) error {
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\\\x00") || len(id) > 200 {
		return fmt.Errorf("reconcile: statement id %q is not a safe file name (check the partner id)", id)
	}
	return nil
}

// partnerOf returns the partner of a tap's venue, or "".
func partnerOf(cat *tariff.Catalog, r *engine.TapRecord) string {
	v, ok := findVenue(cat, r.Venue, r.At)
	if !ok {
		return ""
	}
	return v.Partner
}

func (c *closer) build(id string) (StoredStatement, []engine.Posting, error) {
	gov, tv, ok := governing(c.cat, c.partner, c.p)
	if !ok {
		return StoredStatement{}, nil, fmt.Errorf("%w: partner %s", ErrNoStatement, c.partner)
	}
	// The partner's closed statements, oldest period first.
	var closed []closedPeriod
	var prevManifest []byte
	err := c.l.Statements(c.ctx, func(st *StoredStatement) error {
		if st.Partner != c.partner {
			return nil
		}
		per, err := periodOfKind(c.cat, st.PeriodKind, st.Period)
		if err != nil {
			return fmt.Errorf("statement %s: %w", st.ID, err)
		}
		closed = append(closed, closedPeriod{id: st.ID, period: per, asOfSeq: st.AsOfSeq})
		return nil
	})
	if err != nil {
		return StoredStatement{}, nil, fmt.Errorf("reconcile: reading statements: %w", err)
	}
	sort.Slice(closed, func(i, j int) bool { return closed[i].period.Start.Before(closed[j].period.Start) })
	var prevAsOf uint64
	prevSHA := ZeroSHA256
	if n := len(closed); n > 0 {
		last := closed[n-1]
		if c.p.Start.Before(last.period.End) {
			return StoredStatement{}, nil, fmt.Errorf("%w: %s starts before %s ends (statement %s)",
				ErrPeriodOrder, c.p.Label, last.period.Label, last.id)
		}
		prevAsOf = last.asOfSeq
		st, ok, err := c.l.Statement(last.id)
		if err != nil || !ok {
			return StoredStatement{}, nil, fmt.Errorf("reconcile: reading statement %s: %v", last.id, err)
		}
		prevManifest = st.Manifest
		prevSHA = sha256Hex(prevManifest)
	}

	// Own lines, streamed: the flat fee, then the period's visits in journal
	// time order (tap time, then journal seq), each valued and capped as it
	// comes and written straight to the CSV; no line is kept in memory.
	out := newStatementWriter(tv.Location)
	book := newPeriodBook(c.cat, c.partner, gov)
	if gov.Model == tariff.ModelFlat {
		fee := Line{Kind: KindFlatFee, OriginalPeriod: c.p.Label}
		book.pay(&fee, gov.Amount)
		out.add(&fee)
	}
	err = c.l.JournalBetween(c.ctx, c.p.Start, c.p.End, func(r *engine.TapRecord) error {
		c.tick()
		if r.JournalSeq > c.asOf || !countsAsVisit(r) || partnerOf(c.cat, r) != c.partner {
			return nil
		}
		t, err := versionAt(c.cat, r.At)
		if err != nil {
			return err
		}
		ln := lineOf(r, t, KindVisit, c.p.Label)
		book.pay(&ln, book.visitValue(&ln))
		out.add(&ln)
		return nil
	})
	if err != nil {
		return StoredStatement{}, nil, fmt.Errorf("reconcile: reading journal: %w", err)
	}

	// Adjustments: taps of closed periods journaled since the previous statement.
	var adjs []Line
	if len(closed) > 0 && prevAsOf < c.asOf {
		err = c.l.Journal(c.ctx, prevAsOf+1, func(r *engine.TapRecord) error {
			c.tick()
			if r.JournalSeq > c.asOf {
				return errStop
			}
			if !countsAsVisit(r) || partnerOf(c.cat, r) != c.partner {
				return nil
			}
			i := sort.Search(len(closed), func(i int) bool { return closed[i].period.End.After(r.At) })
			if i == len(closed) || r.At.Before(closed[i].period.Start) {
				return nil // not in a closed period: its own statement will have it
			}
			t, err := versionAt(c.cat, r.At)
			if err != nil {
				return err
			}
			adjs = append(adjs, lineOf(r, t, KindAdjustment, closed[i].period.Label))
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return StoredStatement{}, nil, fmt.Errorf("reconcile: reading journal: %w", err)
		}
	}

	if c.progress != nil {
		c.progress(*c.scanned)
	}

	if err := c.valueAdjustments(adjs, closed); err != nil {
		return StoredStatement{}, nil, err
	}
	for i := range adjs {
		out.add(&adjs[i])
	}
	csvBytes, err := out.finish()
	if err != nil {
		return StoredStatement{}, nil, err
	}
	gross, capRed, adjSum, net := out.gross, out.capRed, out.adj, out.net
	asOf, err := c.dataAsOf()
	if err != nil {
		return StoredStatement{}, nil, err
	}
	m := &Manifest{
		Statement:      id,
		Partner:        c.partner,
		Period:         c.p.Label,
		PeriodStart:    c.p.Start.In(tv.Location).Format(time.RFC3339),
		PeriodEnd:      c.p.End.In(tv.Location).Format(time.RFC3339),
		DataAsOf:       asOf,
		Contract:       termsOf(gov, tv),
		Currency:       tv.Currency,
		Visits:         out.visits,
		Gross:          formatMoney(gross),
		CapReduction:   formatMoney(capRed),
		Adjustments:    formatMoney(adjSum),
		Net:            formatMoney(net),
		CSVSHA256:      sha256Hex(csvBytes),
		PreviousSHA256: prevSHA,
	}
	manifest, err := signManifest(m, c.s)
	if err != nil {
		return StoredStatement{}, nil, err
	}
	netMinor, err := toMinor(net)
	if err != nil {
		return StoredStatement{}, nil, err
	}
	st := StoredStatement{ID: id, Partner: c.partner, Period: c.p.Label, PeriodKind: string(c.p.Kind),
		ClosedAt: c.at, AsOfSeq: c.asOf, NetMinor: netMinor, CSV: csvBytes, Manifest: manifest}
	var postings []engine.Posting
	if netMinor > 0 {
		postings = append(postings, engine.Posting{ID: "close/" + id, At: c.p.End, Kind: "statement", Ref: id,
			Lines: []engine.PostingLine{
				{Account: engine.AccountPartnerCost + ":" + c.partner, DebitMinor: netMinor},
				{Account: engine.AccountPartnerPayable + ":" + c.partner, CreditMinor: netMinor},
			}})
	}
	return st, postings, nil
}

// valueAdjustments values late taps under their original period's contract
// and cap, after everything already paid for that period on stored
// statements (its own and earlier adjustments).
func (c *closer) valueAdjustments(adjs []Line, closed []closedPeriod) error {
	if len(adjs) == 0 {
		return nil
	}
	books := map[string]*periodBook{}
	var first time.Time
	for i := range adjs {
		lbl := adjs[i].OriginalPeriod
		if books[lbl] != nil {
			continue
		}
		for _, cp := range closed {
			if cp.period.Label != lbl {
				continue
			}
			gov, _, _ := governing(c.cat, c.partner, cp.period)
			books[lbl] = newPeriodBook(c.cat, c.partner, gov)
			if first.IsZero() || cp.period.Start.Before(first) {
				first = cp.period.Start
			}
		}
	}
	// Replay what stored statements paid for those periods.
	for _, cp := range closed {
		if cp.period.Start.Before(first) {
			continue
		}
		st, ok, err := c.l.Statement(cp.id)
		if err != nil || !ok {
			return fmt.Errorf("reconcile: reading statement %s: %v", cp.id, err)
		}
		if err := eachCSVLine(st.CSV, func(rec map[string]string) error {
			b := books[rec["original_period"]]
			if b == nil {
				return nil
			}
			amt, err := parseMoney(rec["amount"])
			if err != nil {
				return err
			}
			b.note(rec, amt)
			return nil
		}); err != nil {
			return fmt.Errorf("reconcile: statement %s: %w", cp.id, err)
		}
	}
	sort.SliceStable(adjs, func(i, j int) bool {
		if adjs[i].OriginalPeriod != adjs[j].OriginalPeriod {
			return adjs[i].At.Before(adjs[j].At) // periods do not overlap
		}
		return lineLess(&adjs[i], &adjs[j])
	})
	for i := range adjs {
		b := books[adjs[i].OriginalPeriod]
		b.pay(&adjs[i], b.visitValue(&adjs[i]))
	}
	return nil
}

// dataAsOf names the last journaled tap covered.
func (c *closer) dataAsOf() (DataAsOf, error) {
	d := DataAsOf{JournalSeq: c.asOf}
	if c.asOf == 0 {
		return d, nil
	}
	err := c.l.Journal(c.ctx, c.asOf, func(r *engine.TapRecord) error {
		d.RecordedAt = r.RecordedAt.UTC().Format(time.RFC3339Nano)
		return errStop
	})
	if err != nil && !errors.Is(err, errStop) {
		return d, fmt.Errorf("reconcile: reading journal: %w", err)
	}
	return d, nil
}

func termsOf(c *tariff.Contract, t *tariff.Tariff) ContractTerms {
	ct := ContractTerms{Tariff: t.ID, Model: string(c.Model), Period: string(c.Period)}
	switch c.Model {
	case tariff.ModelPerVisit, tariff.ModelPerPassDay:
		ct.Rates = map[string]string{}
		for k, v := range c.Rates {
			ct.Rates[k] = formatMoney(v)
		}
	case tariff.ModelPercentOfGate:
		ct.Percent = c.Percent.String()
	case tariff.ModelFlat:
		ct.Amount = formatMoney(c.Amount)
	}
	if c.HasCap {
		ct.Cap = formatMoney(c.Cap)
	}
	return ct
}

// statementWriter encodes statement lines as they come, numbering them and
// adding up the manifest's totals.
type statementWriter struct {
	buf    bytes.Buffer
	w      *csv.Writer
	loc    *time.Location
	n      int
	visits int
	// gross and capRed cover the period's own lines, adj the adjustments;
	// net is every amount.
	gross, capRed, adj, net decimal.Decimal
}

func newStatementWriter(loc *time.Location) *statementWriter {
	sw := &statementWriter{loc: loc}
	sw.w = csv.NewWriter(&sw.buf)
	_ = sw.w.Write(csvHeader) // writes to a bytes.Buffer do not fail
	return sw
}

func (sw *statementWriter) add(l *Line) {
	sw.n++
	l.No = sw.n
	_ = sw.w.Write(l.record(sw.loc))
	sw.net = sw.net.Add(l.Amount)
	switch l.Kind {
	case KindAdjustment:
		sw.adj = sw.adj.Add(l.Amount)
	default:
		if l.Kind == KindVisit {
			sw.visits++
		}
		sw.gross = sw.gross.Add(l.Value)
		sw.capRed = sw.capRed.Add(l.Value.Sub(l.Amount))
	}
}

func (sw *statementWriter) finish() ([]byte, error) {
	sw.w.Flush()
	if err := sw.w.Error(); err != nil {
		return nil, fmt.Errorf("reconcile: encoding statement CSV: %w", err)
	}
	return sw.buf.Bytes(), nil
}

// eachCSVLine calls fn with every data row of a statement CSV, by column name.
func eachCSVLine(data []byte, fn func(map[string]string) error) error {
	r := csv.NewReader(bytes.NewReader(data))
	r.ReuseRecord = true
	header, err := r.Read()
	if err != nil {
		return fmt.Errorf("csv header: %w", err)
	}
	header = append([]string(nil), header...)
	row := make(map[string]string, len(header))
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if len(rec) != len(header) {
			return fmt.Errorf("csv: row has %d fields, header %d", len(rec), len(header))
		}
		for i, h := range header {
			row[h] = rec[i]
		}
		if err := fn(row); err != nil {
			return err
		}
	}
}

// recognitionPostings returns the revenue postings due by the end of p for
// passes not recognised yet: pass revenue (Dr deferred_revenue / Cr
// pass_revenue) for activated passes whose validity has ended, and breakage
// (Dr deferred_revenue / Cr breakage_revenue) for never-activated passes whose
// activation deadline has passed. Passes ending in earlier periods are caught
// up (a late tap can activate a pass whose validity ended before a closed
// period). A pass recognised as breakage and later found activated by a late
// tap is reclassified: "pass_revenue/<pass>" then moves the amount from
// breakage_revenue to pass_revenue. Refunded passes are never recognised.
// Memory is one entry per recognised pass.
func recognitionPostings(ctx context.Context, l Ledger, p tariff.Period) ([]engine.Posting, error) {
	done := map[string]string{} // "<kind>/<pass>" of recognition already posted, whatever its id
	err := l.Postings(ctx, func(po *engine.Posting) error {
		if po.Kind == "pass_revenue" || po.Kind == "breakage" {
			done[po.Kind+"/"+po.Ref] = po.Kind
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: reading postings: %w", err)
	}
	due := func(t time.Time) bool { return !t.IsZero() && !t.After(p.End) }
	var out []engine.Posting
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
			out = append(out, engine.Posting{ID: rev, At: ps.ValidUntil, Kind: "pass_revenue", Ref: ps.ID,
				Lines: []engine.PostingLine{
					{Account: from, DebitMinor: ps.PriceMinor},
					{Account: engine.AccountPassRevenue, CreditMinor: ps.PriceMinor},
				}})
		case ps.Status == engine.PassSold && due(ps.ActivateBy) && done[brk] == "":
			out = append(out, engine.Posting{ID: brk, At: ps.ActivateBy, Kind: "breakage", Ref: ps.ID,
				Lines: []engine.PostingLine{
					{Account: engine.AccountDeferredRevenue, DebitMinor: ps.PriceMinor},
					{Account: engine.AccountBreakageRevenue, CreditMinor: ps.PriceMinor},
				}})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: reading passes: %w", err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// writeStatementFiles writes a stored statement's bytes to dir and
// summarises its manifest.
func writeStatementFiles(dir string, st *StoredStatement) (*StatementSummary, error) {
	var m Manifest
	if err := json.Unmarshal(st.Manifest, &m); err != nil {
		return nil, fmt.Errorf("reconcile: statement %s: stored manifest: %w", st.ID, err)
	}
	sum := &StatementSummary{ID: st.ID, Partner: st.Partner, Period: st.Period, Visits: m.Visits,
		Currency: m.Currency, AsOfSeq: st.AsOfSeq,
		CSVPath: filepath.Join(dir, st.ID+".csv"), ManifestPath: filepath.Join(dir, st.ID+".json")}
	var err error
	for _, f := range []struct {
		s   string
		dst *decimal.Decimal
	}{{m.Gross, &sum.Gross}, {m.CapReduction, &sum.CapReduction}, {m.Adjustments, &sum.Adjustments}, {m.Net, &sum.Net}} {
		if *f.dst, err = parseMoney(f.s); err != nil {
			return nil, fmt.Errorf("reconcile: statement %s: %w", st.ID, err)
		}
	}
	if err := eachCSVLine(st.CSV, func(rec map[string]string) error {
		if rec["kind"] == KindAdjustment {
			sum.AdjustmentLines++
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("reconcile: statement %s: %w", st.ID, err)
	}
	// CSV first: a manifest on disk always has its CSV beside it.
	if err := writeFileAtomic(sum.CSVPath, st.CSV, 0o644); err != nil {
		return nil, err
	}
	if err := writeFileAtomic(sum.ManifestPath, st.Manifest, 0o644); err != nil {
		return nil, err
	}
	return sum, nil
}
