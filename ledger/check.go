package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/tariff"
)

// CheckOptions tune Check.
type CheckOptions struct {
	// ProblemsMax bounds the problems listed (the count goes on); default 1000.
	ProblemsMax int
}

// Problem is one inconsistency found by Check.
type Problem struct {
	Kind string `json:"kind"` // damaged | checksum | journal | usage | posting | balance | reference
	Key  string `json:"key"`  // the record at fault, as described in messages
	Msg  string `json:"message"`
}

func (p Problem) String() string { return fmt.Sprintf("%s: %s: %s", p.Kind, p.Key, p.Msg) }

// CheckReport is what Check found: counts of what it read and the problems.
// Its JSON keys are snake_case (`citypass ledger check --json`).
type CheckReport struct {
	Epoch    uint64 `json:"epoch,string"` // the ledger's epoch (docs/fleet.md, "Identity"); a string in JSON, beyond a double's 53 bits
	Values   int    `json:"values"`       // values read and checksum-verified
	Taps     int    `json:"taps"`
	Accepted int    `json:"accepted_entries"` // accepted entries recounted into usage
	Passes   int    `json:"passes"`
	Cards    int    `json:"cards"`
	Usages   int    `json:"usages"`
	Postings int    `json:"postings"`
	Accounts int    `json:"accounts"`
	Records  int    `json:"records"` // reconcile's records (statements, payouts, settings)
	Tariffs  int    `json:"tariffs"`
	LastSeq  uint64 `json:"last_journal_seq"`
	// HubVisits, on a fleet node, are visits its usages hold from the
	// hub's state (taps journaled by other nodes).
	HubVisits   int         `json:"hub_visits,omitempty"`
	DebitMinor  int64       `json:"debit_minor"`  // Σ debits over all postings
	CreditMinor int64       `json:"credit_minor"` // Σ credits over all postings
	Fleet       FleetReport `json:"fleet"`

	Problems      []Problem `json:"problems"` // up to ProblemsMax
	ProblemsTotal int       `json:"problems_total"`
}

// OK reports whether no problem was found.
func (r *CheckReport) OK() bool { return r.ProblemsTotal == 0 }

func (r *CheckReport) add(max int, kind, key, format string, args ...any) {
	r.ProblemsTotal++
	if len(r.Problems) < max {
		r.Problems = append(r.Problems, Problem{Kind: kind, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
}

// Check verifies the ledger with the default options (see CheckWith).
func Check(l *Ledger) (*CheckReport, error) { return CheckWith(l, CheckOptions{}) }

// CheckWith reads one snapshot of the whole ledger and verifies: every
// value's checksum and decoding; the journal (seqs 1..last without gaps,
// tap-id and time indexes match the records both ways, tap ids unique);
// every tap's pass and card exist (a card is not required for INVALID taps,
// which may name unknown cards); usage equals a recount of accepted entry
// taps (the same set of visits: tap id, time, venue and gate); every posting is balanced; Σ debits = Σ credits;
// and the stored account balances equal the sums of the postings. Problems
// are reported, not returned: the error is for failing to read.
func CheckWith(l *Ledger, opts CheckOptions) (*CheckReport, error) {
	if opts.ProblemsMax <= 0 {
		opts.ProblemsMax = 1000
	}
	ref, err := l.acquire()
	if err != nil {
		return nil, err
	}
	defer ref.release()
	// A fleet node's usages also count the visits it learnt from the hub's
	// state (other nodes' taps, fleet.MergeUsage), which its own journal
	// does not hold.
	_, node, err := l.Meta(fleet.StateMeta)
	if err != nil {
		return nil, err
	}
	c := &checker{opts: opts, rep: &CheckReport{}, s: ref.s, node: node,
		tapIdx: map[uint64]engine.TapID{}, timeIdx: map[uint64]uint64{}, usage: map[string]*engine.Usage{},
		passes: map[string]bool{}, cards: map[string]bool{}, balances: map[string]*Balance{}}
	if err := c.run(); err != nil {
		return c.rep, err
	}
	return c.rep, nil
}

type checker struct {
	opts CheckOptions
	rep  *CheckReport
	s    *pebble.Snapshot
	// node: the ledger follows a hub's state; a usage may hold visits of
	// taps journaled elsewhere (every local entry must still be counted).
	node bool

	tapIdx   map[uint64]engine.TapID  // journal seq → tap id, from the tap-id index
	timeIdx  map[uint64]uint64        // journal seq → time order, from the time index
	usage    map[string]*engine.Usage // recounted
	passes   map[string]bool
	cards    map[string]bool
	balances map[string]*Balance // recomputed from postings
	taps     []tapRef
	// damaged lists, per store file that could not be read, the tables
	// found unreadable in it and the first error; the recounts and
	// cross-references then miss what it holds and are not reported.
	damaged      map[string][]string
	damagedErr   map[string]error
	damagedOrder []string
}

type tapRef struct {
	seq        uint64
	pass, card string
	reason     engine.Reason
}

func (c *checker) problem(kind string, key []byte, format string, args ...any) {
	c.rep.add(c.opts.ProblemsMax, kind, describeKey(key), format, args...)
}

// corrupt records a decoding error as a problem; other errors stop the check.
func (c *checker) corrupt(err error) error {
	var ce *CorruptionError
	if errors.As(err, &ce) {
		c.problem("checksum", ce.Key, "%s", ce.Reason)
		return nil
	}
	return err
}

// scan reads one table of the snapshot. A damaged store file becomes a
// problem naming it (the rest of the table is then not read), any other
// read error stops the check.
func (c *checker) scan(ctx context.Context, p byte, fn func(k, v []byte) error) error {
	err := scanSnap(ctx, c.s, []byte{p}, []byte{p + 1}, fn)
	var dfe *DamagedFileError
	if errors.As(err, &dfe) {
		if c.damaged == nil {
			c.damaged, c.damagedErr = map[string][]string{}, map[string]error{}
		}
		if _, seen := c.damaged[dfe.Path]; !seen {
			c.damagedOrder = append(c.damagedOrder, dfe.Path)
			c.damagedErr[dfe.Path] = dfe.Err
		}
		c.damaged[dfe.Path] = append(c.damaged[dfe.Path], tableName(p))
		return nil
	}
	return err
}

func (c *checker) run() error {
	ctx := context.Background()
	prefixes := []struct {
		p  byte
		fn func(k, v []byte) error
	}{
		{pSchema, c.schema}, {pTariff, c.tariff}, {pPass, c.pass}, {pCard, c.card},
		{pTapID, c.tapID}, {pTime, c.timeIndex}, {pPosting, c.posting},
		{pStatement, c.statement}, {pRecord, c.record}, {pMeta, c.meta},
	}
	for _, p := range prefixes {
		if err := c.scan(ctx, p.p, func(k, v []byte) error {
			c.rep.Values++
			return c.corrupt(p.fn(k, v))
		}); err != nil {
			return err
		}
	}
	// The journal after the indexes, then usage and balances against the
	// recounts.
	var expect uint64 = 1
	if err := c.scan(ctx, pJournal, func(k, v []byte) error {
		c.rep.Values++
		seq, ok := parseJournalKey(k)
		if !ok {
			c.problem("journal", k, "malformed journal key")
			return nil
		}
		if seq != expect {
			c.problem("journal", k, "journal seq %d follows %d (gap or disorder)", seq, expect-1)
		}
		expect = seq + 1
		c.rep.LastSeq = seq
		return c.corrupt(c.tap(k, v, seq))
	}); err != nil {
		return err
	}
	if c.damaged != nil {
		for _, path := range c.damagedOrder {
			c.rep.add(c.opts.ProblemsMax, "damaged", path, "unreadable, it fails its checksums (%v); %s could not be read past it; restore the ledger from a backup",
				c.damagedErr[path], strings.Join(c.damaged[path], ", "))
		}
		// What the damaged files hold is unknown: a recount or a
		// cross-reference would report its absence as problems of its own.
		c.rep.add(c.opts.ProblemsMax, "damaged", "the whole ledger", "usage recounts, balances and cross-references not checked: part of the store is unreadable")
		return nil
	}
	for seq, id := range c.tapIdx {
		c.problem("journal", tapIDKey(id.Device, id.Seq), "tap-id index points at journal seq %d, which does not exist", seq)
	}
	for seq := range c.timeIdx {
		c.problem("journal", journalKey(seq), "time index has an entry for a journal seq that does not exist")
	}
	journal := make(map[uint64]bool, len(c.taps))
	for _, t := range c.taps {
		journal[t.seq] = true
	}
	if err := c.checkFleet(ctx, journal); err != nil {
		return err
	}
	for _, t := range c.taps {
		if t.pass != "" && !c.passes[t.pass] {
			c.problem("reference", journalKey(t.seq), "names pass %s, which does not exist", t.pass)
		}
		if t.card != "" && t.reason != engine.ReasonInvalid && !c.cards[t.card] {
			c.problem("reference", journalKey(t.seq), "names card %s, which does not exist", t.card)
		}
	}
	if err := scanSnap(ctx, c.s, []byte{pUsage}, []byte{pUsage + 1}, func(k, v []byte) error {
		c.rep.Values++
		return c.corrupt(c.usageRecord(k, v))
	}); err != nil {
		return err
	}
	for id, u := range c.usage {
		c.problem("usage", strKey(pUsage, id), "no usage stored, journal has %d accepted entries", entries(u))
	}
	if err := scanSnap(ctx, c.s, []byte{pBalance}, []byte{pBalance + 1}, func(k, v []byte) error {
		c.rep.Values++
		return c.corrupt(c.balance(k, v))
	}); err != nil {
		return err
	}
	for acct, b := range c.balances {
		c.problem("balance", strKey(pBalance, acct), "no balance stored, postings sum to Dr %d Cr %d", b.DebitMinor, b.CreditMinor)
	}
	if c.rep.DebitMinor != c.rep.CreditMinor {
		c.rep.add(c.opts.ProblemsMax, "posting", "all postings", "Σ debits %d ≠ Σ credits %d", c.rep.DebitMinor, c.rep.CreditMinor)
	}
	return nil
}

func entries(u *engine.Usage) int { return u.TotalEntries() }

func (c *checker) schema(k, v []byte) error {
	switch {
	case bytes.Equal(k, keySchema):
		_, err := decodeU64(k, v, kindSchema)
		return err
	case bytes.Equal(k, keyTariffCount):
		_, err := decodeU64(k, v, kindCounter)
		return err
	case bytes.Equal(k, keyCreated):
		_, err := decodeU64(k, v, kindCounter)
		return err
	case bytes.Equal(k, keyEpoch):
		e, err := decodeU64(k, v, kindCounter)
		if err == nil && e == 0 {
			c.problem("journal", k, "the ledger epoch is 0")
		}
		c.rep.Epoch = e
		return err
	}
	c.problem("journal", k, "unknown internal key")
	return nil
}

func (c *checker) tariff(k, v []byte) error {
	t, err := decodeTariff(k, v)
	if err != nil {
		return err
	}
	c.rep.Tariffs++
	if string(k[1:]) != t.ID {
		c.problem("reference", k, "holds tariff %s", t.ID)
	}
	return nil
}

func (c *checker) pass(k, v []byte) error {
	p, err := decodePass(k, v)
	if err != nil {
		return err
	}
	c.rep.Passes++
	c.passes[p.ID] = true
	if string(k[1:]) != p.ID {
		c.problem("reference", k, "holds pass %s", p.ID)
	}
	return nil
}

func (c *checker) card(k, v []byte) error {
	cd, err := decodeCard(k, v)
	if err != nil {
		return err
	}
	c.rep.Cards++
	c.cards[cd.UID] = true
	if string(k[1:]) != cd.UID {
		c.problem("reference", k, "holds card %s", cd.UID)
	}
	return nil
}

func (c *checker) tapID(k, v []byte) error {
	dev, s, ok := parseTapIDKey(k)
	if !ok {
		c.problem("journal", k, "malformed tap-id key")
		return nil
	}
	seq, err := decodeU64(k, v, kindTapIndex)
	if err != nil {
		return err
	}
	if prev, dup := c.tapIdx[seq]; dup {
		c.problem("journal", k, "journal seq %d is also indexed for tap %s", seq, prev)
	}
	c.tapIdx[seq] = engine.TapID{Device: dev, Seq: s}
	return nil
}

func (c *checker) timeIndex(k, v []byte) error {
	order, seq, ok := parseTimeKey(k)
	if !ok {
		c.problem("journal", k, "malformed time-index key")
		return nil
	}
	if _, err := openValue(k, v, kindTimeIndex); err != nil {
		return err
	}
	c.timeIdx[seq] = order
	return nil
}

func (c *checker) tap(k, v []byte, seq uint64) error {
	rec, err := decodeTap(k, v)
	if err != nil {
		delete(c.tapIdx, seq)
		delete(c.timeIdx, seq)
		return err
	}
	c.rep.Taps++
	if c.damaged != nil {
		// The indexes may be unreadable: only the record itself is checked.
		return nil
	}
	if rec.JournalSeq != seq {
		c.problem("journal", k, "record says journal seq %d", rec.JournalSeq)
	}
	if id, ok := c.tapIdx[seq]; !ok {
		c.problem("journal", k, "tap %s is missing from the tap-id index", rec.ID)
	} else if id != rec.ID {
		c.problem("journal", k, "tap-id index names %s, record is %s", id, rec.ID)
	}
	delete(c.tapIdx, seq)
	if order, ok := c.timeIdx[seq]; !ok {
		c.problem("journal", k, "tap %s is missing from the time index", rec.ID)
	} else if order != timeOrder(rec.At) {
		c.problem("journal", k, "time index has a different time for tap %s", rec.ID)
	}
	delete(c.timeIdx, seq)
	c.taps = append(c.taps, tapRef{seq: seq, pass: rec.Pass, card: rec.Card, reason: rec.Decision.Reason})
	if !rec.Decision.Accept || rec.Direction != engine.Entry || rec.Pass == "" {
		return nil
	}
	c.rep.Accepted++
	u := c.usage[rec.Pass]
	if u == nil {
		u = &engine.Usage{}
		c.usage[rec.Pass] = u
	}
	if !u.Add(engine.Visit{Tap: rec.ID, At: rec.At, Venue: rec.Venue, Gate: rec.Gate}) {
		c.problem("journal", k, "tap %s is journaled twice as an entry of pass %s", rec.ID, rec.Pass)
	}
	return nil
}

func (c *checker) usageRecord(k, v []byte) error {
	id := string(k[1:])
	got, err := decodeUsage(k, v)
	if err != nil {
		delete(c.usage, id)
		return err
	}
	c.rep.Usages++
	want := c.usage[id]
	delete(c.usage, id)
	if want == nil {
		want = &engine.Usage{}
	}
	if !c.passes[id] {
		c.problem("reference", k, "usage of pass %s, which does not exist", id)
	}
	// Both are in canonical order: walk them together.
	i, j := 0, 0
	for i < len(got.Visits) || j < len(want.Visits) {
		switch {
		case j == len(want.Visits) || i < len(got.Visits) && engine.CompareVisits(&got.Visits[i], &want.Visits[j]) < 0:
			g := &got.Visits[i]
			if c.node {
				c.rep.HubVisits++
			} else {
				c.problem("usage", k, "visit of tap %s at %s (%s) is stored, the journal has no such entry", g.Tap, g.Gate, fmtTime(g.At))
			}
			i++
		case i == len(got.Visits) || engine.CompareVisits(&got.Visits[i], &want.Visits[j]) > 0:
			w := &want.Visits[j]
			c.problem("usage", k, "journal has an entry of tap %s at %s (%s) that usage does not count", w.Tap, w.Gate, fmtTime(w.At))
			j++
		default:
			g, w := &got.Visits[i], &want.Visits[j]
			if g.Venue != w.Venue || g.Gate != w.Gate {
				c.problem("usage", k, "visit of tap %s is stored at %s, journal says %s", g.Tap, g.Gate, w.Gate)
			}
			i++
			j++
		}
	}
	return nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "none"
	}
	return t.Format(time.RFC3339Nano)
}

func (c *checker) posting(k, v []byte) error {
	p, err := decodePosting(k, v)
	if err != nil {
		return err
	}
	c.rep.Postings++
	if string(k[1:]) != p.ID {
		c.problem("reference", k, "holds posting %s", p.ID)
	}
	if !p.Balanced() {
		c.problem("posting", k, "not balanced")
	}
	for _, ln := range p.Lines {
		c.rep.DebitMinor += ln.DebitMinor
		c.rep.CreditMinor += ln.CreditMinor
		b := c.balances[ln.Account]
		if b == nil {
			b = &Balance{Account: ln.Account}
			c.balances[ln.Account] = b
		}
		b.DebitMinor += ln.DebitMinor
		b.CreditMinor += ln.CreditMinor
		b.Postings++
	}
	return nil
}

func (c *checker) balance(k, v []byte) error {
	got, err := decodeBalance(k, v)
	if err != nil {
		delete(c.balances, string(k[1:]))
		return err
	}
	c.rep.Accounts++
	want := c.balances[got.Account]
	delete(c.balances, got.Account)
	if want == nil {
		want = &Balance{}
	}
	if got.DebitMinor != want.DebitMinor || got.CreditMinor != want.CreditMinor || got.Postings != want.Postings {
		c.problem("balance", k, "stored Dr %d Cr %d (%d lines), postings sum to Dr %d Cr %d (%d lines)",
			got.DebitMinor, got.CreditMinor, got.Postings, want.DebitMinor, want.CreditMinor, want.Postings)
	}
	return nil
}

// statement reports a statement stored by an earlier release, under the
// retired 0x40 table: this release keeps statements as records and does not
// read those.
func (c *checker) statement(k, v []byte) error {
	c.problem("reference", k, "statement stored by an earlier release (retired table 0x40): this release does not read it")
	return nil
}

func (c *checker) record(k, v []byte) error {
	if _, err := decodeBytes(k, v, kindRecord); err != nil {
		return err
	}
	if bytes.IndexByte(k[1:], 0) < 0 {
		c.problem("reference", k, "record key without a table")
	}
	c.rep.Records++
	return nil
}

func (c *checker) meta(k, v []byte) error {
	_, err := decodeBytes(k, v, kindMeta)
	return err
}

// Summary is a one-line account of the report, amounts without a
// currency (SummaryIn).
func (r *CheckReport) Summary() string { return r.SummaryIn("") }

// SummaryIn is a one-line account of the report, the postings' sums as
// amounts in currency (the tariff's: the ledger keeps minor units only),
// written as tariff.FormatAmount does ("EUR 1,234.50").
func (r *CheckReport) SummaryIn(currency string) string {
	eq := "="
	if r.DebitMinor != r.CreditMinor {
		eq = "≠"
	}
	s := fmt.Sprintf("%d values, %d taps (last seq %d, %d accepted entries), %d passes, %d cards, %d usages, %d postings (debits %s %s credits %s), %d accounts, %d records, %d tariffs",
		r.Values, r.Taps, r.LastSeq, r.Accepted, r.Passes, r.Cards, r.Usages, r.Postings,
		tariff.FormatMinorAmount(r.DebitMinor, currency), eq, tariff.FormatMinorAmount(r.CreditMinor, currency),
		r.Accounts, r.Records, r.Tariffs)
	return s + fmtFleet(&r.Fleet)
}
