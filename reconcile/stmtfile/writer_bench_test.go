package stmtfile

import (
	"bufio"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
)

// BenchmarkTapLine formats statement lines of taps shaped like the bench's
// (repeating device, product, category, venue and gate; a card, pass and
// time of their own) into a sink that discards them: the close's per-line
// formatting cost, without the hashing and writing that run beside it.
func BenchmarkTapLine(b *testing.B) {
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		b.Fatal(err)
	}
	s := &Writer{clock: newRFC3339Clock(loc), rec: make([]string, len(Columns)), bw: bufio.NewWriterSize(io.Discard, 1<<20)}
	s.out = s.bw
	const n = 4096
	recs := make([]engine.TapRecord, n)
	day := "2026-01-02"
	start := time.Date(2026, 1, 2, 6, 0, 0, 0, time.UTC)
	for i := range recs {
		recs[i] = engine.TapRecord{Tap: engine.Tap{ID: engine.TapID{Device: "build-7", Seq: uint64(1000000 + i)},
			At: start.Add(time.Duration(i) * 7 * time.Second), Card: fmt.Sprintf("04%012X", i*7919), Gate: "rtm-metro/g"},
			Pass: fmt.Sprintf("BP%014d", i*104729), Product: "cp72-adult", Category: "adult",
			Venue: "rtm-metro", JournalSeq: uint64(5000000 + i)}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		ln := Line{Kind: "visit", Rec: &recs[i%n], ServiceDay: day, Period: "2026-01", Value: 420, Amount: 420}
		if err := s.Write(&ln); err != nil {
			b.Fatal(err)
		}
	}
}
