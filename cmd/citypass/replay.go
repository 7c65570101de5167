package main

import (
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/spf13/cobra"
)

func init() { registerCommand("replay", newReplayCmd) }

// replayHeader is the required header of a replay file.
var replayHeader = []string{"device", "seq", "at", "card", "gate", "direction"}

// replayLinesMax bounds a replay file (one in-memory tap each).
const replayLinesMax = 5_000_000

func newReplayCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "replay FILE.csv",
		Short: "Replay taps from a CSV file (device,seq,at,card,gate,direction); one JSON decision per line",
		Args:  cobra.ExactArgs(1),
		RunE:  func(_ *cobra.Command, args []string) error { return a.runReplay(args[0]) },
	}
}

// replayRowError names the line of a bad replay row.
type replayRowError struct {
	File string
	Line int
	Err  error
}

func (e *replayRowError) Error() string { return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err) }
func (e *replayRowError) Unwrap() error { return e.Err }

func (a *app) runReplay(path string) error {
	s, err := a.openSession()
	if err != nil {
		return err
	}
	defer s.Close()
	// Read and check every row before the first tap: a bad file is refused
	// whole, with every bad line named, and nothing is journaled.
	taps, err := readReplay(path, s)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(a.stdout)
	for _, tap := range taps {
		res, err := s.Validator.Validate(a.ctx(), tap)
		if err != nil {
			return fmt.Errorf("tap %s: %w", tap.ID, err)
		}
		if err := enc.Encode(res); err != nil {
			return err
		}
	}
	return nil
}

func readReplay(path string, s *session) ([]engine.Tap, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("replay file: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.FieldsPerRecord = len(replayHeader)
	r.ReuseRecord = true
	head, err := r.Read()
	if err != nil {
		return nil, &replayRowError{path, 1, fmt.Errorf("reading header: %w", err)}
	}
	if strings.Join(head, ",") != strings.Join(replayHeader, ",") {
		return nil, &replayRowError{path, 1, fmt.Errorf("header %q: want %q", strings.Join(head, ","), strings.Join(replayHeader, ","))}
	}
	var taps []engine.Tap
	var problems []error
	loc := s.Location(time.Now())
	seen := map[engine.TapID]int{}
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		line, _ := r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			problems = append(problems, &replayRowError{path, line, err})
			if len(problems) >= 20 || !errors.As(err, &pe) {
				break
			}
			continue
		}
		if len(taps) >= replayLinesMax {
			problems = append(problems, &replayRowError{path, line, fmt.Errorf("more than %d taps in one file", replayLinesMax)})
			break
		}
		tap, err := parseReplayRow(rec, loc, s)
		if err == nil {
			if first, dup := seen[tap.ID]; dup {
				err = fmt.Errorf("tap %s already on line %d", tap.ID, first)
			}
		}
		if err != nil {
			problems = append(problems, &replayRowError{path, line, err})
			if len(problems) >= 20 {
				break
			}
			continue
		}
		seen[tap.ID] = line
		taps = append(taps, tap)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("replay file refused, nothing journaled:\n%w", errors.Join(problems...))
	}
	return taps, nil
}

func parseReplayRow(rec []string, loc *time.Location, s *session) (engine.Tap, error) {
	var t engine.Tap
	t.ID.Device = strings.TrimSpace(rec[0])
	if t.ID.Device == "" {
		return t, errors.New("device is empty")
	}
	seq, err := strconv.ParseUint(strings.TrimSpace(rec[1]), 10, 64)
	if err != nil {
		return t, fmt.Errorf("seq %q: want a whole number", rec[1])
	}
	t.ID.Seq = seq
	if t.At, err = parseTime("at", strings.TrimSpace(rec[2]), loc, time.Time{}); err != nil || t.At.IsZero() {
		return t, fmt.Errorf("at %q: want RFC 3339 or a local date-time", rec[2])
	}
	if t.Card, err = engine.NormalizeUID(strings.TrimSpace(rec[3])); err != nil {
		return t, fmt.Errorf("card %q: %v", rec[3], err)
	}
	t.Gate = strings.TrimSpace(rec[4])
	if tv, ok := s.Catalog().At(t.At); ok {
		if _, err := tv.VenueOfGate(t.Gate); err != nil {
			return t, err
		}
	}
	switch strings.ToLower(strings.TrimSpace(rec[5])) {
	case "entry", "":
		t.Direction = engine.Entry
	case "exit":
		t.Direction = engine.Exit
	default:
		return t, fmt.Errorf("direction %q: want entry or exit", rec[5])
	}
	return t, nil
}
