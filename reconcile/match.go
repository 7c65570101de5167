package reconcile

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/shopspring/decimal"
)

// Limits on a partner scan file.
const (
	partnerRowsMax     = 1_000_000 // data rows
	partnerLineMax     = 4096      // bytes per line
	partnerBadRowsMax  = 100       // bad rows reported before giving up
	DefaultMatchWindow = 2 * time.Minute
)

// RowError is a bad row of a partner file: its 1-based line number, the
// column at fault ("" for the row as a whole) and why.
type RowError struct {
	Line   int
	Column string
	Err    error
}

func (e *RowError) Error() string {
	if e.Column == "" {
		return fmt.Sprintf("line %d: %v", e.Line, e.Err)
	}
	return fmt.Sprintf("line %d: %s: %v", e.Line, e.Column, e.Err)
}

func (e *RowError) Unwrap() error { return e.Err }

// PartnerFileError lists the bad rows of a partner file. Nothing is matched
// when a file has any bad row.
type PartnerFileError struct {
	File string
	Rows []*RowError // at most partnerBadRowsMax
	More bool        // more bad rows were not listed
}

func (e *PartnerFileError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "reconcile: partner file %s has bad rows:", e.File)
	for _, r := range e.Rows {
		fmt.Fprintf(&b, "\n  %s:%s", e.File, r.Error())
	}
	if e.More {
		b.WriteString("\n  … and more")
	}
	return b.String()
}

// Unwrap returns the row errors, for errors.As.
func (e *PartnerFileError) Unwrap() []error {
	out := make([]error, len(e.Rows))
	for i, r := range e.Rows {
		out[i] = r
	}
	return out
}

// Scan is one row of a partner's scan export.
type Scan struct {
	Line      int
	ScannedAt time.Time
	Card      string // normalized: upper-case hex
	Gate      string
}

// ParsePartnerFile reads a partner scan export: CSV with a header naming the
// columns scanned_at, card and gate (any order, any case; other columns are
// ignored). scanned_at is RFC 3339, or "YYYY-MM-DD HH:MM:SS" (also with "T")
// read in loc (UTC when nil); card is the card UID in hex (":" and spaces
// ignored). Every bad row is reported in a *PartnerFileError; then no scans
// are returned.
func ParsePartnerFile(r io.Reader, name string, loc *time.Location) ([]Scan, error) {
	if loc == nil {
		loc = time.UTC
	}
	fe := &PartnerFileError{File: name}
	bad := func(line int, col string, format string, args ...any) {
		if len(fe.Rows) >= partnerBadRowsMax {
			fe.More = true
			return
		}
		fe.Rows = append(fe.Rows, &RowError{Line: line, Column: col, Err: fmt.Errorf(format, args...)})
	}
	lr := &lineLimitReader{r: bufio.NewReader(r), max: partnerLineMax}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			bad(1, "", "empty file: want a header scanned_at,card,gate")
		} else {
			bad(csvLine(err, 1), "", "%v", csvCause(err))
		}
		return nil, fe
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		if _, dup := col[h]; dup {
			bad(1, h, "column named twice")
		}
		col[h] = i
	}
	for _, want := range []string{"scanned_at", "card", "gate"} {
		if _, ok := col[want]; !ok {
			bad(1, want, "header has no column %q (want scanned_at,card,gate)", want)
		}
	}
	if len(fe.Rows) > 0 {
		return nil, fe
	}
	width := len(header)
	var out []Scan
	for rows := 0; ; rows++ {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			bad(csvLine(err, 0), "", "%v", csvCause(err))
			break // the CSV reader cannot resynchronise reliably
		}
		line, _ := cr.FieldPos(0)
		if rows >= partnerRowsMax {
			bad(line, "", "more than %d rows", partnerRowsMax)
			break
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		if len(rec) != width {
			bad(line, "", "%d fields, header has %d", len(rec), width)
			continue
		}
		s := Scan{Line: line}
		ok := true
		at := strings.TrimSpace(rec[col["scanned_at"]])
		if s.ScannedAt, err = parseScanTime(at, loc); err != nil {
			bad(line, "scanned_at", "%q is not RFC 3339 or YYYY-MM-DD HH:MM:SS", at)
			ok = false
		}
		card := strings.TrimSpace(rec[col["card"]])
		if s.Card, err = normalizeCard(card); err != nil {
			bad(line, "card", "%q: %v", card, err)
			ok = false
		}
		s.Gate = strings.TrimSpace(rec[col["gate"]])
		if s.Gate == "" {
			bad(line, "gate", "empty")
			ok = false
		}
		if ok {
			out = append(out, s)
		}
	}
	if len(fe.Rows) > 0 {
		return nil, fe
	}
	return out, nil
}

func csvLine(err error, def int) int {
	var le *lineTooLongError
	if errors.As(err, &le) {
		return le.line
	}
	var pe *csv.ParseError
	if errors.As(err, &pe) && pe.Line > 0 {
		return pe.Line
	}
	if def < 1 {
		return 1
	}
	return def
}

func csvCause(err error) error {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// lineTooLongError is returned by lineLimitReader for a line over the limit.
type lineTooLongError struct{ line int }

func (e *lineTooLongError) Error() string {
	return fmt.Sprintf("line longer than %d bytes", partnerLineMax)
}

// lineLimitReader fails once a line exceeds max bytes. It first hands out
// the bytes before the offending line's excess so earlier lines still parse.
type lineLimitReader struct {
	r    *bufio.Reader
	max  int
	cur  int // bytes in the current line so far
	line int // 1-based number of the current line
	err  error
}

func (l *lineLimitReader) Read(p []byte) (int, error) {
	if l.err != nil {
		return 0, l.err
	}
	if l.line == 0 {
		l.line = 1
	}
	n, err := l.r.Read(p)
	for i, c := range p[:n] {
		if c == '\n' {
			l.cur = 0
			l.line++
			continue
		}
		l.cur++
		if l.cur > l.max {
			l.err = &lineTooLongError{line: l.line}
			if i == 0 {
				return 0, l.err
			}
			return i, nil
		}
	}
	return n, err
}

func parseScanTime(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("bad time")
}

// normalizeCard spells a partner's card id as we do (engine.CanonicalUID);
// a partner may scan ids of any length.
func normalizeCard(s string) (string, error) {
	uid, hex := engine.CanonicalUID(s)
	switch {
	case uid == "":
		return "", errors.New("empty")
	case !hex:
		return "", errors.New("not hex")
	}
	return uid, nil
}

// MatchOptions names a statement and a partner export.
type MatchOptions struct {
	// Statement is the statement's <id>.csv or <id>.json; both files must be
	// there and agree (csv_sha256).
	Statement string
	// PartnerFile is the partner's scan export (see ParsePartnerFile).
	PartnerFile string
	// Tolerance is the largest clock difference for a match. Zero: 2m.
	Tolerance time.Duration
	// Location reads scanned_at values without an offset. Nil: UTC.
	Location *time.Location
}

// Match statuses.
const (
	Matched    = "matched"
	OursOnly   = "ours_only"
	TheirsOnly = "theirs_only"
)

// MatchEntry is one visit on either side.
type MatchEntry struct {
	Status      string          `json:"status"`
	Line        int             `json:"line,omitempty"`         // statement line; 0 for theirs-only
	PartnerLine int             `json:"partner_line,omitempty"` // partner file line; 0 for ours-only
	At          time.Time       `json:"at,omitzero"`            // our tap time
	ScannedAt   time.Time       `json:"scanned_at,omitzero"`    // their scan time
	Card        string          `json:"card"`
	Gate        string          `json:"gate"`
	Amount      decimal.Decimal `json:"amount"` // our line amount; 0 for theirs-only
}

// MatchResult is the comparison of a statement with a partner export.
type MatchResult struct {
	Statement      string          `json:"statement"`
	Currency       string          `json:"currency"`
	Tolerance      string          `json:"tolerance"`
	Entries        []MatchEntry    `json:"entries"` // matched, then ours-only, then theirs-only
	Matched        int             `json:"matched"`
	OursOnly       int             `json:"ours_only"`
	TheirsOnly     int             `json:"theirs_only"`
	MatchedAmount  decimal.Decimal `json:"matched_amount"`
	OursOnlyAmount decimal.Decimal `json:"ours_only_amount"`
}

// Discrepancies reports whether either side has a visit the other lacks.
func (r *MatchResult) Discrepancies() bool { return r.OursOnly > 0 || r.TheirsOnly > 0 }

// Match compares a statement's visit and adjustment lines with a partner's
// scan export: a scan matches an unmatched line with the same card and gate
// (the full "VENUE/GATE" id or just its gate part) whose tap time is within
// Tolerance, the nearest in time first. Nothing is recorded anywhere.
func Match(opts MatchOptions) (*MatchResult, error) {
	tol := opts.Tolerance
	if tol == 0 {
		tol = DefaultMatchWindow
	}
	if tol < 0 {
		return nil, fmt.Errorf("reconcile: match: negative tolerance %s", tol)
	}
	base := strings.TrimSuffix(strings.TrimSuffix(opts.Statement, ".json"), ".csv")
	csvData, err := os.ReadFile(base + ".csv")
	if err != nil {
		return nil, fmt.Errorf("reconcile: match: statement: %w", err)
	}
	manData, err := os.ReadFile(base + ".json")
	if err != nil {
		return nil, fmt.Errorf("reconcile: match: statement manifest: %w", err)
	}
	var m Manifest
	if err := json.Unmarshal(manData, &m); err != nil {
		return nil, fmt.Errorf("reconcile: match: %s.json: %w", base, err)
	}
	if sha256Hex(csvData) != m.CSVSHA256 {
		return nil, fmt.Errorf("reconcile: match: %s.csv does not match csv_sha256 of %s.json", base, base)
	}
	pf, err := os.Open(opts.PartnerFile)
	if err != nil {
		return nil, fmt.Errorf("reconcile: match: partner file: %w", err)
	}
	defer pf.Close()
	scans, err := ParsePartnerFile(pf, opts.PartnerFile, opts.Location)
	if err != nil {
		return nil, err
	}
	res, err := matchLines(csvData, scans, tol)
	if err != nil {
		return nil, fmt.Errorf("reconcile: match: %s.csv: %w", base, err)
	}
	res.Statement = m.Statement
	res.Currency = m.Currency
	return res, nil
}

type ourVisit struct {
	line    int
	at      time.Time
	card    string
	gate    string
	amount  decimal.Decimal
	matched bool
}

func matchLines(csvData []byte, scans []Scan, tol time.Duration) (*MatchResult, error) {
	byCard := map[string][]*ourVisit{}
	var ours []*ourVisit
	err := eachCSVLine(csvData, func(rec map[string]string) error {
		if rec["kind"] != KindVisit && rec["kind"] != KindAdjustment {
			return nil
		}
		n, err := strconv.Atoi(rec["line"])
		if err != nil {
			return fmt.Errorf("line %q: %w", rec["line"], err)
		}
		at, err := parseRFC3339(rec["at"])
		if err != nil {
			return fmt.Errorf("line %d: at: %w", n, err)
		}
		amt, err := parseMoney(rec["amount"])
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		card, _ := normalizeCard(rec["card"])
		v := &ourVisit{line: n, at: at, card: card, gate: rec["gate"], amount: amt}
		ours = append(ours, v)
		byCard[card] = append(byCard[card], v)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sorted := append([]Scan(nil), scans...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].ScannedAt.Before(sorted[j].ScannedAt) })
	res := &MatchResult{Tolerance: tol.String()}
	var theirs []MatchEntry
	for _, s := range sorted {
		var best *ourVisit
		var bestD time.Duration
		for _, v := range byCard[s.Card] {
			if v.matched || !gateMatches(v.gate, s.Gate) {
				continue
			}
			d := v.at.Sub(s.ScannedAt).Abs()
			if d > tol {
				continue
			}
			if best == nil || d < bestD || (d == bestD && v.line < best.line) {
				best, bestD = v, d
			}
		}
		if best == nil {
			theirs = append(theirs, MatchEntry{Status: TheirsOnly, PartnerLine: s.Line, ScannedAt: s.ScannedAt,
				Card: s.Card, Gate: s.Gate, Amount: decimal.Zero})
			continue
		}
		best.matched = true
		res.Entries = append(res.Entries, MatchEntry{Status: Matched, Line: best.line, PartnerLine: s.Line,
			At: best.at, ScannedAt: s.ScannedAt, Card: best.card, Gate: best.gate, Amount: best.amount})
		res.Matched++
		res.MatchedAmount = res.MatchedAmount.Add(best.amount)
	}
	sort.SliceStable(res.Entries, func(i, j int) bool { return res.Entries[i].Line < res.Entries[j].Line })
	for _, v := range ours {
		if !v.matched {
			res.Entries = append(res.Entries, MatchEntry{Status: OursOnly, Line: v.line, At: v.at, Card: v.card,
				Gate: v.gate, Amount: v.amount})
			res.OursOnly++
			res.OursOnlyAmount = res.OursOnlyAmount.Add(v.amount)
		}
	}
	res.Entries = append(res.Entries, theirs...)
	res.TheirsOnly = len(theirs)
	return res, nil
}

func gateMatches(ours, theirs string) bool {
	if ours == theirs {
		return true
	}
	_, g, ok := strings.Cut(ours, "/")
	return ok && !strings.Contains(theirs, "/") && g == theirs
}
