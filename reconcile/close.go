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
	// read so far, every progressEvery records and once at the end of the
	// read (for a progress bar). It must not block; calls come one at a
	// time, not necessarily from the caller's goroutine.
	Progress func(scanned uint64)
}

// progressCount counts the journal records a close scans and reports every
// progressEvery-th to report, when set. tick is inlined, not a call per
// record through a closure.
type progressCount struct {
	n      uint64
	report func(scanned uint64)
}

func (p *progressCount) tick() {
	p.n++
	if p.n%progressEvery == 0 && p.report != nil {
		p.report(p.n)
	}
}

// progressEvery is how many scanned journal records separate Progress calls.
const progressEvery = 1 << 16

// CloseResult lists the statements written, in partner order.
type CloseResult struct {
	Period string
	// PeriodEnd is the end of the closed period: what a month end
	// recognises revenue through (Recognize) after the close.
	PeriodEnd  time.Time
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

// errStop ends a journal read early on purpose (past the records wanted);
// the reads that use it return nil for it.
var errStop = errors.New("stop")

// Close closes the statements of a period (docs/semantics.md,
// "Reconciliation"): for every partner whose
// governing contract has Period's kind (or opts.Partner only), it values the
// accepted entries at the partner's venues with tap time in the period and
// journaled up to now (data_as_of), adds as adjustments the taps of the
// partner's already closed periods that were journaled since its previous
// statement, signs the manifest, chains it to the previous one, stores the
// statement (manifest, net, data_as_of) and the postings in the ledger
// atomically (PutStatement) and writes both files to OutDir atomically. A
// statement that is already stored is written again byte for byte and
// nothing is posted: its CSV is regenerated from the journal up to its
// data_as_of and must hash to the stored manifest's csv_sha256
// (ErrRegenerate otherwise).
//
// Close posts no revenue recognition: that is Recognize, a separate step
// over the passes (the CLI's month end runs Recognize through the period's
// end after a successful Close).
//
// Memory: the journal is read in one ordered pass for all the statements of
// the call; lines go straight to their files; what is held is described in
// the package doc (Invariants).
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
	p, _, err := cat.ParsePeriod(opts.Period)
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
	closed, err := closedByPartner(ctx, l, cat)
	if err != nil {
		return nil, err
	}

	// One job per statement: new ones cover the journal up to asOf, stored
	// ones are regenerated up to their own data_as_of.
	var jobs []*job
	defer func() {
		for _, j := range jobs {
			j.discard()
		}
	}()
	stored := map[string]*StoredStatement{}
	for _, partner := range partners {
		id := StatementID(partner, p.Label)
		if err := checkFileID(id); err != nil {
			return nil, err
		}
		st, exists, err := l.Statement(id)
		if err != nil {
			return nil, fmt.Errorf("reconcile: reading statement %s: %w", id, err)
		}
		if exists {
			stored[partner] = &st
			if st.CSV != nil {
				continue // stored with its CSV bytes: written back as they are
			}
		}
		j, err := newJob(cat, p, partner, id, closed[partner], asOf, stored[partner])
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, j)
	}
	for _, j := range jobs {
		if j.csv, err = newLineSink(opts.OutDir, j.id+".csv", j.tv.Location, true); err != nil {
			return nil, err
		}
		if err := j.start(); err != nil {
			return nil, err
		}
	}
	scanned := &progressCount{report: opts.Progress}
	if err := scanJournal(ctx, l, cat, jobs, opts.OutDir, scanned); err != nil {
		return nil, err
	}
	if opts.Progress != nil {
		opts.Progress(scanned.n)
	}

	res := &CloseResult{Period: p.Label, PeriodEnd: p.End}
	byPartner := map[string]*job{}
	for _, j := range jobs {
		byPartner[j.partner] = j
	}
	for _, partner := range partners {
		id := StatementID(partner, p.Label)
		j := byPartner[partner]
		if j == nil { // stored with its CSV bytes
			sum, err := writeStatementFiles(opts.OutDir, stored[partner])
			if err != nil {
				return nil, err
			}
			sum.Reclosed = true
			res.Statements = append(res.Statements, *sum)
			continue
		}
		csvSHA, err := j.finish()
		if err != nil {
			return nil, err
		}
		st := j.stored
		if st == nil {
			built, postings, err := j.statement(s, at, csvSHA)
			if err != nil {
				return nil, err
			}
			if err := l.PutStatement(ctx, built, postings...); err != nil {
				return nil, fmt.Errorf("reconcile: storing statement %s: %w", id, err)
			}
			res.Postings += len(postings)
			st = &built
		}
		sum, err := summarize(st)
		if err != nil {
			return nil, err
		}
		if j.stored != nil {
			sum.Reclosed = true
			var m Manifest
			_ = json.Unmarshal(st.Manifest, &m) // summarize parsed it
			if m.CSVSHA256 != csvSHA {
				return nil, fmt.Errorf("%w: statement %s: the journal up to seq %d gives a CSV with SHA-256 %s, the stored manifest says %s",
					ErrRegenerate, id, st.AsOfSeq, csvSHA, m.CSVSHA256)
			}
		}
		sum.AdjustmentLines = j.adjLines
		sum.CSVPath, sum.ManifestPath = filepath.Join(opts.OutDir, id+".csv"), filepath.Join(opts.OutDir, id+".json")
		// CSV first: a manifest on disk always has its CSV beside it.
		if err := j.csv.commit(sum.CSVPath); err != nil {
			return nil, err
		}
		j.csv = nil
		if err := writeFileAtomic(sum.ManifestPath, st.Manifest, 0o644); err != nil {
			return nil, err
		}
		res.Statements = append(res.Statements, *sum)
	}
	return res, nil
}

// ErrRegenerate: a stored statement's CSV, regenerated from the journal for
// a re-close, does not hash to its manifest's csv_sha256 (the journal or the
// tariff versions it was valued under changed).
var ErrRegenerate = errors.New("reconcile: stored statement cannot be regenerated byte for byte")

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
		gov, _, ok := cat.GoverningContract(id, p)
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
	id       string
	period   tariff.Period
	asOfSeq  uint64
	manifest []byte
}

// closedByPartner returns every partner's stored statements, oldest period
// first.
func closedByPartner(ctx context.Context, l Ledger, cat *tariff.Catalog) (map[string][]closedPeriod, error) {
	out := map[string][]closedPeriod{}
	err := l.Statements(ctx, func(st *StoredStatement) error {
		per, err := periodOfKind(cat, st.PeriodKind, st.Period)
		if err != nil {
			return fmt.Errorf("statement %s: %w", st.ID, err)
		}
		out[st.Partner] = append(out[st.Partner], closedPeriod{id: st.ID, period: per, asOfSeq: st.AsOfSeq,
			manifest: append([]byte(nil), st.Manifest...)})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reconcile: reading statements: %w", err)
	}
	for _, cs := range out {
		sort.Slice(cs, func(i, j int) bool { return cs[i].period.Start.Before(cs[j].period.Start) })
	}
	return out, nil
}

// job is one statement of a close: a new one, or a stored one regenerated.
type job struct {
	id, partner string
	p           tariff.Period
	gov         *tariff.Contract
	tv          *tariff.Tariff
	asOf        uint64         // last journal seq covered
	prevAsOf    uint64         // the previous statement's (0: none)
	prevSHA     string         // SHA-256 of the previous manifest
	closed      []closedPeriod // the partner's statements before p, oldest first
	stored      *StoredStatement

	own   *book
	qbook []*book // per closed period with late taps on this statement

	csv, adj     *lineSink
	recordedAt   string
	seenAsOf     bool
	visits       int
	adjLines     int
	gross, capRd int64 // own lines
	adjSum, net  int64
}

func newJob(cat *tariff.Catalog, p tariff.Period, partner, id string, closed []closedPeriod, asOf uint64, stored *StoredStatement) (*job, error) {
	gov, tv, ok := cat.GoverningContract(partner, p)
	if !ok {
		return nil, fmt.Errorf("%w: partner %s", ErrNoStatement, partner)
	}
	j := &job{id: id, partner: partner, p: p, gov: gov, tv: tv, asOf: asOf, stored: stored, prevSHA: ZeroSHA256}
	if stored != nil {
		j.asOf = stored.AsOfSeq
	}
	var before []closedPeriod
	for _, cp := range closed {
		if cp.period.Start.Before(p.Start) {
			before = append(before, cp)
		}
	}
	if stored == nil && len(closed) > 0 {
		if last := closed[len(closed)-1]; p.Start.Before(last.period.End) {
			return nil, fmt.Errorf("%w: %s starts before %s ends (statement %s)",
				ErrPeriodOrder, p.Label, last.period.Label, last.id)
		}
	}
	if n := len(before); n > 0 {
		j.prevAsOf = before[n-1].asOfSeq
		j.prevSHA = sha256Hex(before[n-1].manifest)
	}
	j.closed = before
	j.qbook = make([]*book, len(before))
	return j, nil
}

// start writes the header and the flat fee.
func (j *job) start() error {
	if err := j.csv.header(); err != nil {
		return err
	}
	var err error
	if j.own, err = newBook(j.gov); err != nil {
		return err
	}
	if j.gov.Model == tariff.ModelFlat {
		fee, err := toMinor(j.gov.Amount)
		if err != nil {
			return err
		}
		amt := j.own.pay(fee)
		j.gross += fee
		j.capRd += fee - amt
		j.net += amt
		return j.csv.flat(j.p.Label, fee, amt)
	}
	return nil
}

// closedIndex returns the index of the closed period holding at, or -1.
func (j *job) closedIndex(at time.Time) int {
	i := sort.Search(len(j.closed), func(i int) bool { return j.closed[i].period.End.After(at) })
	if i == len(j.closed) || at.Before(j.closed[i].period.Start) {
		return -1
	}
	return i
}

// scanJournal reads the journal once, in journal order, up to the highest
// data_as_of of the jobs, and routes every accepted entry to its partner's
// job: a visit when its tap time is in the job's period, an adjustment when
// it is in one of the partner's closed periods and was journaled after the
// previous statement. Every period's book is folded in journal order, so a
// closed period's book at a late tap is exactly what its statement and
// earlier adjustments paid. A first, shorter pass over the journal since the
// oldest previous statement finds which closed periods have late taps; only
// those get a book.
func scanJournal(ctx context.Context, l Ledger, cat *tariff.Catalog, jobs []*job, dir string, scanned *progressCount) error {
	if len(jobs) == 0 {
		return nil
	}
	r := newRun(cat)
	byPartner := map[string]*job{}
	var maxAsOf uint64
	late, fromLate := false, ^uint64(0)
	for _, j := range jobs {
		byPartner[j.partner] = j
		maxAsOf = max(maxAsOf, j.asOf)
		if len(j.closed) > 0 && j.prevAsOf < j.asOf {
			late, fromLate = true, min(fromLate, j.prevAsOf+1)
		}
	}
	if maxAsOf == 0 {
		return nil
	}
	// route returns the job of a payable tap's partner, with the tap's
	// version and venue. lastJob is the job of lastJobVenue's partner.
	var lastJob *job
	var lastJobVenue *tariff.Venue
	route := func(rec *engine.TapRecord) (*job, *tariff.Tariff, *tariff.Venue, error) {
		if !countsAsVisit(rec) {
			return nil, nil, nil, nil
		}
		t, err := versionAt(cat, rec.At)
		if err != nil {
			return nil, nil, nil, err
		}
		v := r.findVenue(t, rec.Venue, rec.At)
		if v == nil {
			return nil, nil, nil, nil
		}
		j := lastJob
		if v != lastJobVenue {
			j, lastJob, lastJobVenue = byPartner[v.Partner], byPartner[v.Partner], v
		}
		if j == nil || rec.JournalSeq > j.asOf {
			return nil, nil, nil, nil
		}
		return j, t, v, nil
	}
	if late {
		err := l.Journal(ctx, fromLate, func(rec *engine.TapRecord) error {
			scanned.tick()
			if rec.JournalSeq > maxAsOf {
				return errStop
			}
			j, _, _, err := route(rec)
			if err != nil || j == nil || rec.JournalSeq <= j.prevAsOf {
				return err
			}
			if i := j.closedIndex(rec.At); i >= 0 && j.qbook[i] == nil {
				gov, _, _ := cat.GoverningContract(j.partner, j.closed[i].period)
				b, err := newBook(gov)
				if err != nil {
					return err
				}
				if gov != nil && gov.Model == tariff.ModelFlat {
					fee, err := toMinor(gov.Amount)
					if err != nil {
						return err
					}
					b.pay(fee)
				}
				j.qbook[i] = b
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStop) {
			return fmt.Errorf("reconcile: reading journal: %w", err)
		}
	}
	// nextAsOf is the lowest data_as_of of the jobs that have not yet seen
	// the record there (whose journaling time their manifest states).
	nextAsOf := func() uint64 {
		next := ^uint64(0)
		for _, j := range jobs {
			if !j.seenAsOf && j.asOf > 0 {
				next = min(next, j.asOf)
			}
		}
		return next
	}
	pendingAsOf := nextAsOf()
	var ln tapLine
	err := journalUpTo(ctx, l, 1, maxAsOf, func(rec *engine.TapRecord) error {
		scanned.tick()
		if rec.JournalSeq >= pendingAsOf {
			for _, j := range jobs {
				if !j.seenAsOf && j.asOf > 0 && rec.JournalSeq >= j.asOf {
					j.seenAsOf = true
					j.recordedAt = rec.RecordedAt.UTC().Format(time.RFC3339Nano)
				}
			}
			pendingAsOf = nextAsOf()
		}
		j, t, v, err := route(rec)
		if err != nil || j == nil {
			return err
		}
		ln = tapLine{rec: rec}
		if !rec.At.Before(j.p.Start) && rec.At.Before(j.p.End) {
			ln.day, ln.period = r.serviceDay(t, rec.At), j.p.Label
			if err := r.value(j.own, j.partner, t, v, &ln); err != nil {
				return err
			}
			j.visits++
			j.gross += ln.value
			j.capRd += ln.value - ln.amount
			j.net += ln.amount
			return j.csv.tap(KindVisit, &ln)
		}
		i := j.closedIndex(rec.At)
		if i < 0 || j.qbook[i] == nil {
			return nil // not in a closed period (its own statement will have it), or no late tap there
		}
		ln.day, ln.period = r.serviceDay(t, rec.At), j.closed[i].period.Label
		if err := r.value(j.qbook[i], j.partner, t, v, &ln); err != nil {
			return err
		}
		if rec.JournalSeq <= j.prevAsOf {
			return nil // on an earlier statement: folded into the book only
		}
		if j.adj == nil {
			if j.adj, err = newLineSink(dir, j.id+".adj", j.tv.Location, false); err != nil {
				return err
			}
		}
		j.adjLines++
		j.adjSum += ln.amount
		j.net += ln.amount
		return j.adj.tap(KindAdjustment, &ln)
	})
	if err != nil {
		return fmt.Errorf("reconcile: reading journal: %w", err)
	}
	return nil
}

// finish appends the adjustment lines after the statement's own and closes
// the CSV temp file; it returns its SHA-256.
func (j *job) finish() (string, error) {
	if j.adj != nil {
		if err := j.adj.flush(); err != nil {
			return "", fmt.Errorf("reconcile: writing adjustments of %s: %w", j.id, err)
		}
		if err := j.csv.appendFrom(j.adj); err != nil {
			return "", fmt.Errorf("reconcile: copying adjustments of %s: %w", j.id, err)
		}
		j.adj.discard()
		j.adj = nil
	}
	return j.csv.finish()
}

func (j *job) discard() {
	if j.csv != nil {
		j.csv.discard()
	}
	if j.adj != nil {
		j.adj.discard()
	}
}

// statement signs the manifest of a new statement and returns it with its
// close posting.
func (j *job) statement(s *Signer, at time.Time, csvSHA string) (StoredStatement, []engine.Posting, error) {
	m := &Manifest{
		Statement:      j.id,
		Partner:        j.partner,
		Period:         j.p.Label,
		PeriodStart:    j.p.Start.In(j.tv.Location).Format(time.RFC3339),
		PeriodEnd:      j.p.End.In(j.tv.Location).Format(time.RFC3339),
		DataAsOf:       DataAsOf{JournalSeq: j.asOf, RecordedAt: j.recordedAt},
		Contract:       termsOf(j.gov, j.tv),
		Currency:       j.tv.Currency,
		Visits:         j.visits,
		Gross:          minorString(j.gross),
		CapReduction:   minorString(j.capRd),
		Adjustments:    minorString(j.adjSum),
		Net:            minorString(j.net),
		CSVSHA256:      csvSHA,
		PreviousSHA256: j.prevSHA,
	}
	manifest, err := signManifest(m, s)
	if err != nil {
		return StoredStatement{}, nil, err
	}
	st := StoredStatement{ID: j.id, Partner: j.partner, Period: j.p.Label, PeriodKind: string(j.p.Kind),
		ClosedAt: at, AsOfSeq: j.asOf, NetMinor: j.net, Manifest: manifest}
	var postings []engine.Posting
	if j.net > 0 {
		postings = append(postings, engine.Posting{ID: "close/" + j.id, At: j.p.End, Kind: "statement", Ref: j.id,
			Lines: []engine.PostingLine{
				{Account: engine.AccountPartnerCost + ":" + j.partner, DebitMinor: j.net},
				{Account: engine.AccountPartnerPayable + ":" + j.partner, CreditMinor: j.net},
			}})
	}
	return st, postings, nil
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

// writeStatementFiles writes a statement stored with its CSV bytes to dir
// and summarises its manifest.
func writeStatementFiles(dir string, st *StoredStatement) (*StatementSummary, error) {
	sum, err := summarize(st)
	if err != nil {
		return nil, err
	}
	sum.CSVPath, sum.ManifestPath = filepath.Join(dir, st.ID+".csv"), filepath.Join(dir, st.ID+".json")
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

// summarize reads a stored statement's manifest.
func summarize(st *StoredStatement) (*StatementSummary, error) {
	var m Manifest
	if err := json.Unmarshal(st.Manifest, &m); err != nil {
		return nil, fmt.Errorf("reconcile: statement %s: stored manifest: %w", st.ID, err)
	}
	sum := &StatementSummary{ID: st.ID, Partner: st.Partner, Period: st.Period, Visits: m.Visits,
		Currency: m.Currency, AsOfSeq: st.AsOfSeq}
	var err error
	for _, f := range []struct {
		s   string
		dst *decimal.Decimal
	}{{m.Gross, &sum.Gross}, {m.CapReduction, &sum.CapReduction}, {m.Adjustments, &sum.Adjustments}, {m.Net, &sum.Net}} {
		if *f.dst, err = parseMoney(f.s); err != nil {
			return nil, fmt.Errorf("reconcile: statement %s: %w", st.ID, err)
		}
	}
	return sum, nil
}

// checkFileID refuses statement ids that are not safe file names.
func checkFileID(id string) error {
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, "/\\\x00") || len(id) > 200 {
		return fmt.Errorf("reconcile: statement id %q is not a safe file name (check the partner id)", id)
	}
	return nil
}
