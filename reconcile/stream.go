package reconcile

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/internal/atomicfile"
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
)

// This file is the streaming core of Close: one ordered pass over the journal
// for every statement of a close, each tap routed to its partner by venue,
// valued in journal order against the book of its period (int64 minor units)
// and encoded straight into the statement's temp file through a SHA-256
// hasher. What is held per book is the period's paid amount plus, for
// per_pass_day and limited includes only, one 128-bit fingerprint per
// pass-day or pass-venue(-day) in an open-addressing table: no lines, no
// pass id strings.

// book is the running state of one partner period in journal order: what has
// been paid for it and the distinct pass-days and entry counts that
// per_pass_day and product limits need.
type book struct {
	gov      *tariff.Contract
	hasCap   bool
	capMinor int64
	paid     int64
	days     fpCounts // fingerprint(pass, service day) → 1: pass-days paid (per_pass_day)
	entries  fpCounts // fingerprint(pass, venue, service day or noDay) → entries within the limit
}

// noDay is the day of an entry count over the whole period (limits per
// validity).
const noDay = int32(-1 << 31)

func newBook(gov *tariff.Contract) (*book, error) {
	b := &book{gov: gov}
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

// svcDay caches the service day of the last tap per tariff version: the
// journal is nearly in time order, so most taps hit it.
type svcDay struct {
	start, end time.Time
	label      string
	num        int32
}

// run is the per-close state shared by every statement: catalog lookups
// cached by version, a fingerprint buffer.
type run struct {
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

// contractOf is t.ContractOf(partner), remembering the last answer.
func (r *run) contractOf(t *tariff.Tariff, partner string) (*tariff.Contract, bool) {
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

func newRun(cat *tariff.Catalog) *run {
	return &run{cat: cat,
		days: map[*tariff.Tariff]*svcDay{}, venue: newMemo[venueKey, *tariff.Venue](),
		limit: newMemo[limitKey, limitOf](), rate: newMemo[rateKey, int64]()}
}

// findVenue is Catalog.FindVenue cached by the version in force at the tap.
func (r *run) findVenue(t *tariff.Tariff, id string, at time.Time) *tariff.Venue {
	k := venueKey{t, id}
	if v, ok := r.venue.get(k); ok {
		return v
	}
	v, _, _ := r.cat.FindVenue(id, at, nil)
	r.venue.put(k, venueKey.owned, v)
	return v
}

// serviceDay returns the service day of at under version t.
func (r *run) serviceDay(t *tariff.Tariff, at time.Time) *svcDay {
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

func (r *run) limitFor(rec *engine.TapRecord, v *tariff.Venue) (tariff.Limit, bool) {
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
func (r *run) rateOf(c *tariff.Contract, category string, v *tariff.Venue) (int64, error) {
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

// tapLine is one tap's line: where it sits and what it is worth.
type tapLine struct {
	rec       *engine.TapRecord
	day       *svcDay
	period    string
	value     int64
	amount    int64
	overLimit bool
}

// value values an accepted entry of partner at venue v against book b, in
// journal order: entry limits first (an entry beyond the pass's limit at the
// venue is listed at 0, over_limit), then the contract in force at the tap,
// then the period cap.
func (r *run) value(b *book, partner string, t *tariff.Tariff, v *tariff.Venue, ln *tapLine) error {
	rec := ln.rec
	if lim, ok := r.limitFor(rec, v); ok {
		day := noDay
		if lim.Kind == tariff.LimitOncePerDay {
			day = ln.day.num
		}
		var k fp
		k, r.fpbuf = fingerprint(r.fpbuf, day, rec.Pass, v.ID)
		if !b.entries.addBelow(k, int32(max(lim.N, 1))) {
			ln.overLimit = true
			ln.amount = b.pay(0)
			return nil
		}
	}
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
			var k fp
			k, r.fpbuf = fingerprint(r.fpbuf, ln.day.num, rec.Pass)
			if b.days.addBelow(k, 1) { // the pass-day's first entry
				m, err := r.rateOf(c, rec.Category, v)
				if err != nil {
					return err
				}
				worth = m
			}
		}
	}
	ln.value = worth
	ln.amount = b.pay(worth)
	return nil
}

// lineSink encodes statement lines into a temp file beside the final one,
// numbering them; a hashed sink (a statement CSV) also hashes every byte
// written, both on a goroutine of its own (hashedFile); an unhashed one (a
// spill of adjustment lines) writes through a buffer.
type lineSink struct {
	f      *os.File
	out    io.Writer     // hf or bw
	hf     *hashedFile   // hashed sinks
	bw     *bufio.Writer // unhashed sinks
	w      *csv.Writer
	rec    []string
	n      int
	clock  *rfc3339Clock
	buf    []byte
	line   []byte
	device []byte    // a copy of the last tap device found to need no quoting
	where  whereText // ",<product>,<category>,<venue>,<gate>" of the last tap
	// The text of the last line number and journal seq written, and of the
	// pieces of a tap line that repeat from line to line.
	lineNo, seq decimalText
	kind        pieceText    // ",<kind>,"
	dayPeriod   pieceText    // ",<service day>,<period>,"
	amounts     amountText   // "<value>,<amount>,<reduced>,"
	slow        bytes.Buffer // csv.Writer output of a record that needs quoting
}

func newLineSink(dir, name string, loc *time.Location, hashed bool) (*lineSink, error) {
	f, err := atomicfile.CreateTemp(filepath.Join(dir, name))
	if err != nil {
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	s := &lineSink{f: f, clock: newRFC3339Clock(loc), rec: make([]string, len(csvHeader))}
	if hashed {
		s.hf = newHashedFile(f)
		s.out = s.hf
	} else {
		s.bw = bufio.NewWriterSize(f, 1<<20)
		s.out = s.bw
	}
	s.w = csv.NewWriter(&s.slow)
	return s, nil
}

func (s *lineSink) header() error { return s.encode(csvHeader) }

func (s *lineSink) write(rec []string) error {
	s.n++
	rec[0] = strconv.Itoa(s.n)
	return s.encode(rec)
}

// encode writes one record exactly as encoding/csv.Writer does (comma,
// LF): fields that need no quoting are appended as they are; a record with
// any field that might need quoting goes through csv.Writer.
func (s *lineSink) encode(rec []string) error {
	b := s.line[:0]
	for i, f := range rec {
		if mayNeedQuotes(f) {
			s.slow.Reset()
			if err := s.w.Write(rec); err != nil {
				return err
			}
			s.w.Flush()
			if err := s.w.Error(); err != nil {
				return err
			}
			_, err := s.out.Write(s.slow.Bytes())
			return err
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, f...)
	}
	b = append(b, '\n')
	s.line = b
	_, err := s.out.Write(b)
	return err
}

// mayNeedQuotes is true for every field csv.Writer quotes (and for some it
// does not: a leading non-ASCII byte).
func mayNeedQuotes(f string) bool {
	if f == "" {
		return false
	}
	if f == `\.` || f[0] == ' ' || f[0] == '\t' || f[0] == '\v' || f[0] == '\f' || f[0] >= 0x80 {
		return true
	}
	i := 0
	for ; i+8 <= len(f); i += 8 { // eight bytes at a time: card and pass ids differ on every line
		x := uint64(f[i]) | uint64(f[i+1])<<8 | uint64(f[i+2])<<16 | uint64(f[i+3])<<24 |
			uint64(f[i+4])<<32 | uint64(f[i+5])<<40 | uint64(f[i+6])<<48 | uint64(f[i+7])<<56
		if hasByte(x, ',')|hasByte(x, '"')|hasByte(x, '\r')|hasByte(x, '\n') != 0 {
			return true
		}
	}
	for ; i < len(f); i++ {
		if quoteByte[f[i]] {
			return true
		}
	}
	return false
}

// hasByte is not zero when one of the eight bytes of x is c (the bit trick
// for a zero byte in x^c: exact on whether there is one).
func hasByte(x uint64, c byte) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	v := x ^ ones*uint64(c)
	return (v - ones) &^ v & highs
}

// quoteByte marks the bytes that make csv.Writer quote a field.
var quoteByte = [256]bool{',': true, '"': true, '\r': true, '\n': true}

// plainDevice reports whether a tap's device needs no quoting. A device
// repeating the last one found plain is not scanned again. The value is
// copied, not kept: it views the ledger's read buffer.
func (s *lineSink) plainDevice(f string) bool {
	if f == string(s.device) {
		return true
	}
	if mayNeedQuotes(f) {
		return false
	}
	s.device = append(s.device[:0], f...)
	return true
}

// whereText caches ",<product>,<category>,<venue>,<gate>", four fields that
// stand together in a tap line and repeat from line to line, and whether
// any of them may need quoting: a repeating tap costs four comparisons and
// one copy, not four scans and four copies. The strings are copies, not
// kept: they view the ledger's read buffer.
type whereText struct {
	text                           []byte // nil until the first call
	product, category, venue, gate []byte
	plain                          bool
}

// of returns the cached text for the four fields, valid until the next
// call, and whether none of them may need quoting.
func (w *whereText) of(product, category, venue, gate string) ([]byte, bool) {
	if w.text != nil && product == string(w.product) && category == string(w.category) && venue == string(w.venue) && gate == string(w.gate) {
		return w.text, w.plain
	}
	w.product = append(w.product[:0], product...)
	w.category = append(w.category[:0], category...)
	w.venue = append(w.venue[:0], venue...)
	w.gate = append(w.gate[:0], gate...)
	w.plain = !mayNeedQuotes(product) && !mayNeedQuotes(category) && !mayNeedQuotes(venue) && !mayNeedQuotes(gate)
	t := w.text[:0]
	for _, f := range [...]string{product, category, venue, gate} {
		t = append(append(t, ','), f...)
	}
	w.text = t
	return w.text, w.plain
}

// flat writes the flat fee line of a period.
func (s *lineSink) flat(period string, value, amount int64) error {
	r := s.rec
	r[1] = KindFlatFee
	for i := 2; i <= 12; i++ {
		r[i] = ""
	}
	return s.tail(period, value, amount, false)
}

func (s *lineSink) tail(period string, value, amount int64, overLimit bool) error {
	r := s.rec
	r[13], r[14], r[15] = period, minorString(value), minorString(amount)
	r[16] = strconv.FormatBool(amount < value)
	r[17] = ""
	if overLimit {
		r[17] = NoteOverLimit
	}
	return s.write(r)
}

// tap writes a visit or adjustment line. The line is appended field by
// field; only the fields that come from the tap (device, card, pass,
// product, category, venue, gate) can need quoting, and a line with such a
// field goes through the record path (tapRecord) and csv.Writer.
func (s *lineSink) tap(kind string, ln *tapLine) error {
	rec := ln.rec
	where, plain := s.where.of(rec.Product, rec.Category, rec.Venue, rec.Gate)
	if !plain || !s.plainDevice(rec.ID.Device) || mayNeedQuotes(rec.Card) || mayNeedQuotes(rec.Pass) {
		return s.tapRecord(kind, ln)
	}
	s.n++
	day, period := ln.day.label, ln.period
	// The whole line is formatted in place, in the CSV's chunk (hashed
	// sinks) or s.line, with copies at an index, not appends: a line is
	// about 170 bytes in some twenty pieces. The five numbers, the time and the
	// separators take at most 200 bytes (a time of a year beyond 9999 is 35).
	n := 200 + len(kind) + len(rec.ID.Device) + len(rec.Card) + len(rec.Pass) + len(where) + len(day) + len(period) + len(NoteOverLimit)
	b := s.line[:0]
	if s.hf != nil {
		var err error
		if b, err = s.hf.reserve(n); err != nil {
			return err
		}
	}
	i := len(b)
	b = slices.Grow(b, n)[:i+n] // reserve's chunk has the room, unless the line outgrows a chunk
	i += copy(b[i:], s.lineNo.of(uint64(s.n)))
	i += copy(b[i:], s.kind.of(kind, ""))
	i += copy(b[i:], s.seq.of(rec.JournalSeq))
	b[i] = ','
	i += 1 + copy(b[i+1:], rec.ID.Device)
	b[i] = ','
	i = len(appendUint(b[:i+1], rec.ID.Seq))
	b[i] = ','
	i = len(s.clock.append(b[:i+1], rec.At))
	b[i] = ','
	i += 1 + copy(b[i+1:], rec.Card)
	b[i] = ','
	i += 1 + copy(b[i+1:], rec.Pass)
	i += copy(b[i:], where)
	i += copy(b[i:], s.dayPeriod.of(day, period))
	i += copy(b[i:], s.amounts.of(ln.value, ln.amount))
	if ln.overLimit {
		i += copy(b[i:], NoteOverLimit)
	}
	b[i] = '\n'
	b = b[:i+1]
	if s.hf != nil {
		s.hf.commit(b)
		return nil
	}
	s.line = b
	_, err := s.out.Write(b)
	return err
}

// tapRecord writes a visit or adjustment line through the record path.
func (s *lineSink) tapRecord(kind string, ln *tapLine) error {
	rec, r := ln.rec, s.rec
	s.buf = s.clock.append(s.buf[:0], rec.At)
	r[1], r[2], r[3], r[4] = kind, strconv.FormatUint(rec.JournalSeq, 10), rec.ID.Device, strconv.FormatUint(rec.ID.Seq, 10)
	r[5], r[6], r[7], r[8], r[9] = string(s.buf), rec.Card, rec.Pass, rec.Product, rec.Category
	r[10], r[11], r[12] = rec.Venue, rec.Gate, ln.day.label
	return s.tail(ln.period, ln.value, ln.amount, ln.overLimit)
}

// appendFrom copies the lines of a spill sink (closed, unhashed) after this
// sink's lines, renumbering them.
func (s *lineSink) appendFrom(spill *lineSink) error {
	if _, err := spill.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	cr := csv.NewReader(bufio.NewReaderSize(spill.f, 1<<20))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = len(csvHeader)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.write(rec); err != nil {
			return err
		}
	}
}

// flush writes out the buffered lines of an unhashed sink.
func (s *lineSink) flush() error {
	if s.bw == nil {
		return nil
	}
	return s.bw.Flush()
}

// finish writes out every line of a hashed sink, syncs and closes the temp
// file and returns the hex SHA-256 of its bytes.
func (s *lineSink) finish() (string, error) {
	if s.hf == nil {
		return "", fmt.Errorf("reconcile: finishing %s: not a hashed sink", s.f.Name())
	}
	sum, err := s.hf.close()
	if err != nil {
		return "", fmt.Errorf("reconcile: writing %s: %w", s.f.Name(), err)
	}
	if err := atomicfile.Finish(s.f, 0o644); err != nil {
		return "", fmt.Errorf("reconcile: %w", err)
	}
	return hex.EncodeToString(sum), nil
}

// commit renames the finished temp file to path and syncs the directory.
func (s *lineSink) commit(path string) error {
	if err := atomicfile.Rename(s.f.Name(), path); err != nil {
		return fmt.Errorf("reconcile: %w", err)
	}
	return nil
}

// discard closes and removes the temp file (after a failure, or a spill).
func (s *lineSink) discard() {
	if s == nil {
		return
	}
	if s.hf != nil {
		_, _ = s.hf.close() // stops its goroutine
	}
	_ = s.f.Close()
	_ = os.Remove(s.f.Name())
}

// journalUpTo calls fn for every journal record with seq in [from, to], in
// journal order, through Ledger.JournalBatches, whose goroutines read and
// decode the records after fn's while fn runs. fn must not keep a
// record, or any of its strings, past its return, nor return errStop.
// fn's first error stops the read and is returned.
func journalUpTo(ctx context.Context, l Ledger, from, to uint64, fn func(*engine.TapRecord) error) error {
	err := l.JournalBatches(ctx, from, func(batch []engine.TapRecord) error {
		for i := range batch {
			if batch[i].JournalSeq > to {
				return errStop // past to
			}
			if err := fn(&batch[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if errors.Is(err, errStop) {
		return nil
	}
	return err
}
