package stmtfile

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/citypass/citypass/engine"
)

// Columns is the statement CSV header. The columns are stable: partners
// read them by name.
var Columns = []string{"line", "kind", "journal_seq", "tap_device", "tap_seq", "at", "card", "pass",
	"product", "category", "venue", "gate", "service_day", "original_period", "value", "amount", "capped", "note"}

// NoteOverLimit is the note column of an entry beyond its pass's entry
// limit at the venue.
const NoteOverLimit = "over_limit"

// Line is one statement line: a tap's (Rec set) or a flat fee's (Rec nil).
// Amounts are minor units; capped is written as Amount < Value.
type Line struct {
	Kind       string            // visit, adjustment, flat_fee
	Rec        *engine.TapRecord // the journaled tap; nil for a flat fee
	ServiceDay string            // the tap's service day
	Period     string            // the period the line is valued in (original_period)
	Value      int64
	Amount     int64
	OverLimit  bool
}

// Writer writes statement lines into a temp file beside the final one,
// numbering them, exactly as encoding/csv.Writer would (comma, LF). A
// hashed Writer (a statement CSV) also hashes every byte written, both on a
// goroutine of its own (hashedFile); an unhashed one (a spill of adjustment
// lines, appended to the CSV at the end) writes through a buffer.
// Not safe for concurrent use.
type Writer struct {
	fsys   FS
	f      File          // nil once finished
	tmp    string        // the temp file's name; "" once committed or discarded
	out    io.Writer     // hf or bw
	hf     *hashedFile   // hashed writers
	bw     *bufio.Writer // unhashed writers
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

// Create starts a statement file named name in dir (a temp file there until
// Commit), with times written in loc. A hashed Writer writes the header
// first; an unhashed one (a spill) writes lines only.
func Create(fsys FS, dir, name string, loc *time.Location, hashed bool) (*Writer, error) {
	f, err := fsys.CreateTemp(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	s := &Writer{fsys: fsys, f: f, tmp: f.Name(), clock: newRFC3339Clock(loc), rec: make([]string, len(Columns))}
	s.w = csv.NewWriter(&s.slow)
	if !hashed {
		s.bw = bufio.NewWriterSize(f, 1<<20)
		s.out = s.bw
		return s, nil
	}
	s.hf = newHashedFile(f)
	s.out = s.hf
	if err := s.encode(Columns); err != nil {
		s.Discard()
		return nil, err
	}
	return s, nil
}

// Lines is the number of lines written so far (the header not counted).
func (s *Writer) Lines() int { return s.n }

func (s *Writer) write(rec []string) error {
	s.n++
	rec[0] = strconv.Itoa(s.n)
	return s.encode(rec)
}

// encode writes one record exactly as encoding/csv.Writer does (comma,
// LF): fields that need no quoting are appended as they are; a record with
// any field that might need quoting goes through csv.Writer.
func (s *Writer) encode(rec []string) error {
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
func (s *Writer) plainDevice(f string) bool {
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

// Write writes a line: a flat fee (ln.Rec nil) or a tap's.
func (s *Writer) Write(ln *Line) error {
	if ln.Rec == nil {
		r := s.rec
		r[1] = ln.Kind
		for i := 2; i <= 12; i++ {
			r[i] = ""
		}
		return s.tail(ln)
	}
	return s.tap(ln)
}

func (s *Writer) tail(ln *Line) error {
	r := s.rec
	r[13], r[14], r[15] = ln.Period, MinorString(ln.Value), MinorString(ln.Amount)
	r[16] = strconv.FormatBool(ln.Amount < ln.Value)
	r[17] = ""
	if ln.OverLimit {
		r[17] = NoteOverLimit
	}
	return s.write(r)
}

// tap writes a visit or adjustment line. The line is formatted field by
// field in place; only the fields that come from the tap (device, card,
// pass, product, category, venue, gate) can need quoting, and a line with
// such a field goes through the record path (tapRecord) and csv.Writer.
func (s *Writer) tap(ln *Line) error {
	rec := ln.Rec
	where, plain := s.where.of(rec.Product, rec.Category, rec.Venue, rec.Gate)
	if !plain || !s.plainDevice(rec.ID.Device) || mayNeedQuotes(rec.Card) || mayNeedQuotes(rec.Pass) {
		return s.tapRecord(ln)
	}
	s.n++
	day, period := ln.ServiceDay, ln.Period
	// The whole line is formatted in place, in the CSV's chunk (hashed
	// writers) or s.line, with copies at an index: a line is about 170
	// bytes in some twenty pieces, and appending them one by one costs more
	// than formatting. The five numbers, the time and the separators take
	// at most 200 bytes (a time of a year beyond 9999 is 35).
	n := 200 + len(ln.Kind) + len(rec.ID.Device) + len(rec.Card) + len(rec.Pass) + len(where) + len(day) + len(period) + len(NoteOverLimit)
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
	i += copy(b[i:], s.kind.of(ln.Kind, ""))
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
	i += copy(b[i:], s.amounts.of(ln.Value, ln.Amount))
	if ln.OverLimit {
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
func (s *Writer) tapRecord(ln *Line) error {
	rec, r := ln.Rec, s.rec
	s.buf = s.clock.append(s.buf[:0], rec.At)
	r[1], r[2], r[3], r[4] = ln.Kind, strconv.FormatUint(rec.JournalSeq, 10), rec.ID.Device, strconv.FormatUint(rec.ID.Seq, 10)
	r[5], r[6], r[7], r[8], r[9] = string(s.buf), rec.Card, rec.Pass, rec.Product, rec.Category
	r[10], r[11], r[12] = rec.Venue, rec.Gate, ln.ServiceDay
	return s.tail(ln)
}

// AppendFrom copies the lines of a spill (an unhashed Writer, flushed)
// after this Writer's lines, renumbering them.
func (s *Writer) AppendFrom(spill *Writer) error {
	if err := spill.Flush(); err != nil {
		return err
	}
	if _, err := spill.f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	cr := csv.NewReader(bufio.NewReaderSize(spill.f, 1<<20))
	cr.ReuseRecord = true
	cr.FieldsPerRecord = len(Columns)
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

// Flush writes out the buffered lines of an unhashed Writer.
func (s *Writer) Flush() error {
	if s.bw == nil {
		return nil
	}
	return s.bw.Flush()
}

// Finish writes out every line of a hashed Writer, syncs and closes the
// temp file and returns the hex SHA-256 of its bytes.
func (s *Writer) Finish() (string, error) {
	if s.hf == nil {
		return "", fmt.Errorf("stmtfile: finishing %s: not a hashed writer", s.f.Name())
	}
	sum, err := s.hf.close()
	if err != nil {
		return "", fmt.Errorf("writing %s: %w", s.f.Name(), err)
	}
	f := s.f
	s.f = nil // closed by Finish, even when it fails
	if err := s.fsys.Finish(f, 0o644); err != nil {
		return "", err
	}
	return hex.EncodeToString(sum), nil
}

// Commit renames the finished temp file to path and syncs the directory.
func (s *Writer) Commit(path string) error {
	if s.f != nil || s.tmp == "" {
		return fmt.Errorf("stmtfile: committing %s: not finished", path)
	}
	if err := s.fsys.Rename(s.tmp, path); err != nil {
		return err
	}
	s.tmp = ""
	return nil
}

// Discard stops the Writer and removes its temp file, unless committed
// (after a failure, or for a spill). Safe to call more than once, and on a
// nil Writer.
func (s *Writer) Discard() {
	if s == nil {
		return
	}
	if s.hf != nil {
		_, _ = s.hf.close() // stops its goroutine
	}
	if s.f != nil {
		_ = s.f.Close()
		s.f = nil
	}
	if s.tmp != "" {
		_ = s.fsys.Remove(s.tmp)
		s.tmp = ""
	}
}
