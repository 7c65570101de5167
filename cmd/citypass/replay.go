package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
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
	"github.com/citypass/citypass/tariff"
	"github.com/spf13/cobra"
)

func init() { registerCommand("replay", newReplayCmd) }

// replayHeader is the required header of a replay file.
var replayHeader = []string{"device", "seq", "at", "card", "gate", "direction"}

// Limits on a replay file: taps (one in memory each), bytes, field length.
const (
	replayLinesMax = 5_000_000
	replayBytesMax = 1 << 30
	replayFieldMax = 256
)

// replayProblemsMax bounds the problems listed for a refused file.
const replayProblemsMax = 20

func newReplayCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "replay FILE.csv",
		Short: "Replay taps from a CSV file (device,seq,at,card,gate,direction); one JSON decision per line; all or nothing",
		Args:  cobra.ExactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return a.runReplay(args[0]) },
	}
}

// replayLineError names the line of a replay file at fault.
type replayLineError struct {
	File string
	Line int
	Err  error
}

func (e *replayLineError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *replayLineError) Unwrap() error { return e.Err }

// replayRefused is a replay file refused (or stopped): every problem on a
// line of its own.
type replayRefused struct {
	head     string
	problems []error
}

func (e *replayRefused) Error() string {
	var b strings.Builder
	b.WriteString(e.head)
	for _, p := range e.problems {
		b.WriteString("\n")
		b.WriteString(p.Error())
	}
	return b.String()
}
func (e *replayRefused) Unwrap() []error { return e.problems }

// sortByLine orders the problems by line (stable: a line's own order stays).
func (e *replayRefused) sortByLine() {
	line := func(err error) int {
		var le *replayLineError
		if errors.As(err, &le) {
			return le.Line
		}
		return 0
	}
	slices.SortStableFunc(e.problems, func(a, b error) int { return line(a) - line(b) })
}

// runReplay reads the whole file, then hands its taps to the engine's
// Replay: a file with any bad line is refused whole, naming each line, and
// nothing is journaled; a tap repeated with the same content (in the file,
// or journaled by an earlier run) comes back as a duplicate.
func (a *app) runReplay(path string) error {
	s, err := a.openSession()
	if err != nil {
		return err
	}
	defer s.Close()
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("replay file: %w", err)
	}
	defer f.Close()
	name := filepath.Base(path)
	rows, refused := readReplay(f, name, s.Location(a.now()), a.stderr)
	taps := make([]engine.Tap, len(rows))
	for i, r := range rows {
		taps[i] = r.tap
	}
	if refused != nil {
		// Name the engine's problems with the good rows too, so one run
		// lists every bad line.
		if len(refused.problems) < replayProblemsMax {
			var re *engine.ReplayError
			if err := s.Validator.CheckReplay(a.ctx(), taps); errors.As(err, &re) {
				for _, p := range re.Taps {
					refused.problems = append(refused.problems, &replayLineError{name, rows[p.Index].line, p.Err})
				}
				refused.sortByLine()
			} else if err != nil {
				return err
			}
		}
		return withCode(exitError, refused)
	}
	results, err := s.Validator.Replay(a.ctx(), taps)
	enc := json.NewEncoder(a.stdout)
	for _, res := range results {
		if werr := enc.Encode(res); werr != nil {
			return werr
		}
	}
	var re *engine.ReplayError
	if errors.As(err, &re) {
		out := &replayRefused{head: "replay file refused, nothing journaled:"}
		if re.Journaled > 0 {
			out.head = fmt.Sprintf("replay stopped: the taps of lines %d to %d are journaled (their decisions are printed); run it again to go on:",
				rows[0].line, rows[re.Journaled-1].line)
		}
		for _, p := range re.Taps {
			out.problems = append(out.problems, &replayLineError{name, rows[p.Index].line, p.Err})
		}
		return withCode(exitError, out)
	}
	return err
}

// replayRow is one tap of a replay file and the line it starts on.
type replayRow struct {
	tap  engine.Tap
	line int
}

// utf8BOM is the byte order mark some spreadsheets write first.
var utf8BOM = []byte("\xef\xbb\xbf")

// readReplay reads a replay file (CSV with replayHeader, an optional UTF-8
// byte order mark first) into taps, checking each row's syntax: a whole
// seq from 1, a time (tariff.ParseTime in loc: a local time repeated by a
// daylight-saving change is read as the first, with a warning on warn), a
// card UID, a direction. The engine checks the rest (gates, ids, limits,
// conflicts). It returns the good rows and, when there is any problem, the
// refusal naming every bad line (up to replayProblemsMax); name is the
// file's name in messages.
func readReplay(r io.Reader, name string, loc *time.Location, warn io.Writer) ([]replayRow, *replayRefused) {
	br := bufio.NewReader(&limitedReader{r: r, left: replayBytesMax})
	if b, err := br.Peek(len(utf8BOM)); err == nil && bytes.Equal(b, utf8BOM) {
		_, _ = br.Discard(len(utf8BOM))
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = len(replayHeader)
	cr.ReuseRecord = true
	refused := &replayRefused{head: "replay file refused, nothing journaled:"}
	problem := func(line int, err error) bool {
		refused.problems = append(refused.problems, &replayLineError{name, line, err})
		return len(refused.problems) < replayProblemsMax
	}
	head, err := cr.Read()
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = errors.New("the file is empty: want the header " + strings.Join(replayHeader, ","))
		}
		problem(1, fmt.Errorf("reading the header: %w", csvCause(err)))
		return nil, refused
	}
	if strings.Join(head, ",") != strings.Join(replayHeader, ",") {
		problem(1, fmt.Errorf("header %q: want %q", tariff.ShortText(strings.Join(head, ",")), strings.Join(replayHeader, ",")))
		return nil, refused
	}
	var rows []replayRow
	lastLine := 1
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				problem(lastLine+1, err) // reading failed (too large, I/O)
				break
			}
			line := pe.StartLine
			if line == 0 {
				line = pe.Line
			}
			if !problem(line, csvCause(err)) {
				break
			}
			if errors.Is(err, csv.ErrQuote) || errors.Is(err, csv.ErrBareQuote) {
				break // the rest of the file is inside the quote
			}
			continue
		}
		line, _ := cr.FieldPos(0)
		lastLine = line
		if len(rows) >= replayLinesMax {
			problem(line, fmt.Errorf("more than %d taps in one file: split it", replayLinesMax))
			break
		}
		tap, err := parseReplayRow(rec, loc, func(note string) {
			fmt.Fprintf(warn, "citypass: %s:%d: warning: %s\n", name, line, note)
		})
		if err != nil {
			if !problem(line, err) {
				break
			}
			continue
		}
		rows = append(rows, replayRow{tap: tap, line: line})
	}
	if len(refused.problems) > 0 {
		return rows, refused
	}
	return rows, nil
}

// csvCause is a csv.ParseError's cause in words, without the position the
// caller gives as FILE:LINE.
func csvCause(err error) error {
	var pe *csv.ParseError
	if !errors.As(err, &pe) {
		return err
	}
	switch {
	case errors.Is(pe.Err, csv.ErrQuote):
		return errors.New("a quoted field is never closed (a \" is missing)")
	case errors.Is(pe.Err, csv.ErrBareQuote):
		return errors.New("a \" inside a field that is not quoted")
	case errors.Is(pe.Err, csv.ErrFieldCount):
		return fmt.Errorf("want %d fields (%s)", len(replayHeader), strings.Join(replayHeader, ","))
	}
	return pe.Err
}

// parseReplayRow reads one row's fields; note receives a time's warning.
func parseReplayRow(rec []string, loc *time.Location, note func(string)) (engine.Tap, error) {
	var t engine.Tap
	for i, f := range rec {
		if len(f) > replayFieldMax {
			return t, fmt.Errorf("%s: %d bytes long, the most is %d", replayHeader[i], len(f), replayFieldMax)
		}
	}
	t.ID.Device = strings.TrimSpace(rec[0])
	if t.ID.Device == "" {
		return t, errors.New("device is empty")
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(rec[1]), 10, 64)
	if err != nil || seq == 0 {
		return t, fmt.Errorf("seq %q: want a whole number from 1", tariff.ShortText(rec[1]))
	}
	t.ID.Seq = seq
	at, warning, err := tariff.ParseTime(strings.TrimSpace(rec[2]), loc)
	if err != nil {
		return t, fmt.Errorf("at: %w", err)
	}
	if warning != "" {
		note(warning)
	}
	t.At = at
	if t.Card, err = engine.NormalizeUID(strings.TrimSpace(rec[3])); err != nil {
		return t, err
	}
	t.Gate = strings.TrimSpace(rec[4])
	switch strings.ToLower(strings.TrimSpace(rec[5])) {
	case "entry", "":
		t.Direction = engine.Entry
	case "exit":
		t.Direction = engine.Exit
	default:
		return t, fmt.Errorf("direction %q: want entry or exit", tariff.ShortText(rec[5]))
	}
	return t, nil
}

// limitedReader reads at most left bytes, then fails with a clear error
// (io.LimitReader would end the file silently).
type limitedReader struct {
	r    io.Reader
	left int64
}

func (l *limitedReader) Read(p []byte) (int, error) {
	if l.left <= 0 {
		return 0, fmt.Errorf("the file is larger than %d bytes: split it", int64(replayBytesMax))
	}
	if int64(len(p)) > l.left {
		p = p[:l.left]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	return n, err
}
