package bench

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// closeReport is what the reconcile and raw-scan children print.
type closeReport struct {
	Seconds    float64 `json:"seconds"`
	Taps       int     `json:"taps"` // journal length (reconcile) or journal keys read (raw)
	Statements int     `json:"statements"`
	HWMMB      float64 `json:"hwm_mb"`
	// RecognizeSeconds and RecognizePostings time the month end's revenue
	// recognition, run after the close (reconcile only).
	RecognizeSeconds  float64 `json:"recognize_seconds,omitempty"`
	RecognizePostings int     `json:"recognize_postings,omitempty"`
}

// benchMonth is the month of a built ledger's taps (all in the month
// after the tariff's start), the service day a month end closes through
// (its last) and a closing instant after its end.
func benchMonth() (label string, through tariff.Date, at time.Time, err error) {
	t := tariff.SampleTariff()
	base := t.EffectiveFrom.Add(24 * time.Hour)
	p, err := t.PeriodOf(tariff.PeriodMonth, base)
	if err != nil {
		return "", tariff.Date{}, time.Time{}, err
	}
	return p.Label, t.ServiceDay(p.End.Add(-time.Nanosecond)), p.End.Add(time.Hour), nil
}

// childReconcile opens the ledger and runs the month end through the
// month's last day (reconcile.MonthEnd): it times the close and reads its
// peak RSS when the close returns, then times the revenue recognition that
// follows, outside the close's figures.
func childReconcile(ctx context.Context, a childArgs, stdout io.Writer) error {
	at, err := time.Parse(time.RFC3339, a.at)
	if err != nil {
		return fmt.Errorf("bench: child: --at: %w", err)
	}
	through, err := tariff.ParseDate(a.through)
	if err != nil {
		return fmt.Errorf("bench: child: --through: %w", err)
	}
	_, cat, err := sampleCatalog()
	if err != nil {
		return err
	}
	seed := make([]byte, ed25519.SeedSize)
	copy(seed, "citypass bench signing key seed")
	signer, err := reconcile.NewSigner(ed25519.NewKeyFromSeed(seed))
	if err != nil {
		return err
	}
	out := filepath.Join(filepath.Dir(a.dir), "statements")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	l, err := ledger.Open(a.dir, &ledger.Options{MustExist: true})
	if err != nil {
		return err
	}
	var closeS float64
	var closeMem Mem
	var memErr error
	var closed time.Time
	start := time.Now()
	res, err := reconcile.MonthEnd(ctx, l, cat, signer, reconcile.MonthEndOptions{
		CloseOptions: reconcile.CloseOptions{Through: through, At: at, OutDir: out},
		AfterClose: func(*reconcile.CloseResult) {
			closed = time.Now()
			closeS = closed.Sub(start).Seconds()
			closeMem, memErr = ReadMem(0) // the close's peak, before the recognition runs
		},
	})
	recS := time.Since(closed).Seconds()
	var taps uint64
	if err == nil {
		taps, err = l.LastJournalSeq()
	}
	if err == nil {
		err = memErr
	}
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(closeReport{Seconds: closeS, Taps: int(taps), Statements: len(res.Close.Statements), HWMMB: closeMem.MB(),
		RecognizeSeconds: recS, RecognizePostings: res.Recognized})
}

// journalPrefix is the ledger's journal table (docs/formats.md, "Ledger":
// 0x21 <journal seq:8> → tap), the keys a month's close must read.
const journalPrefix = 0x21

// childRawScan reads every journal key and value of the ledger in dir with
// raw Pebble (the ledger's options, read-only).
func childRawScan(ctx context.Context, a childArgs, stdout io.Writer) error {
	o := RawOptions()
	o.ReadOnly = true
	db, err := pebble.Open(a.dir, o)
	if err != nil {
		return fmt.Errorf("bench: opening %s: %w", a.dir, err)
	}
	defer db.Close()
	start := time.Now()
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: []byte{journalPrefix}, UpperBound: []byte{journalPrefix + 1}})
	if err != nil {
		return err
	}
	var n, bytes int
	for it.First(); it.Valid(); it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			_ = it.Close()
			return err
		}
		bytes += len(v)
		n++
		if n%65536 == 0 && ctx.Err() != nil {
			_ = it.Close()
			return ctx.Err()
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	elapsed := time.Since(start)
	m, err := ReadMem(0)
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(closeReport{Seconds: elapsed.Seconds(), Taps: n, HWMMB: m.MB()})
}

// RunReconcile runs the month end of the big ledger's taps
// (reconcile.MonthEnd through the month's last day) in a child process and
// times a raw scan of the same journal keys in another, the scan right
// before each month end; it returns the medians of the rates (journal taps
// per second of the close) and peak RSS, and of the time of the revenue
// recognition that follows the close (no target applies to it).
func RunReconcile(ctx context.Context, env Env, big *Built) (*ReconcileResult, error) {
	label, through, at, err := benchMonth() // label: the month, in the log
	if err != nil {
		return nil, err
	}
	var rate, raw, hwm, rawHWM, recS, recN []float64
	for run := 0; run < env.runs(); run++ {
		// Each run closes the month for the first time, on a checkpoint
		// (hard links) of the big ledger, right after the raw scan it is
		// compared with: the machine's speed drifts by tens of percent over
		// minutes, and the close, the recognition after it (15 s) and then
		// the scan put that drift between the two figures (a full run's
		// ratios per run spread from 0.37 to 0.69). What the last run or
		// the checkpoint left dirty is written back first, outside both.
		cp := filepath.Join(env.Dir, fmt.Sprintf("run%d", run), "ledger")
		if err := checkpoint(big.Dir, cp); err != nil {
			return nil, err
		}
		if err := flushFS(cp); err != nil {
			return nil, err
		}
		// The baseline runs under the default limits: Env's bound the close.
		rawEnv := env
		rawEnv.ChildTimeLimit, rawEnv.ChildRSSLimitMB = 0, 0
		c, err := startChild(rawEnv, roleRawScan, "--dir", big.Dir)
		if err != nil {
			return nil, err
		}
		var rs closeReport
		if err := c.waitJSON(&rs); err != nil {
			return nil, err
		}
		if c, err = startChild(env, roleReconcile, "--dir", cp, "--through", through.String(), "--at", at.Format(time.RFC3339)); err != nil {
			return nil, err
		}
		var rr closeReport
		killed, why := false, ""
		if err := c.waitJSON(&rr); errors.Is(err, ErrRSSLimit) || errors.Is(err, ErrTimeLimit) {
			env.logf("reconcile run %d: %v", run+1, err)
			killed, why = true, "rss"
			if errors.Is(err, ErrTimeLimit) {
				why = "time"
			}
		} else if err != nil {
			return nil, err
		}
		if err := os.RemoveAll(filepath.Dir(cp)); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
		if killed {
			// The close did not finish: no rate. Report the size it reached
			// beside the raw scan of the same journal, and stop.
			env.logf("reconcile: raw scan %d keys in %.2f s (%.0f keys/s, peak RSS %.0f MB)", rs.Taps, rs.Seconds, float64(rs.Taps)/rs.Seconds, rs.HWMMB)
			return &ReconcileResult{RSSMB: round(c.peakMB, 1), RawScanPerS: round(float64(rs.Taps)/rs.Seconds, 0),
				RawRSSMB: round(rs.HWMMB, 1), Taps: big.Taps, Killed: true, KilledBy: why}, nil
		}
		rate, raw = append(rate, float64(rr.Taps)/rr.Seconds), append(raw, float64(rs.Taps)/rs.Seconds)
		hwm, rawHWM = append(hwm, rr.HWMMB), append(rawHWM, rs.HWMMB)
		recS, recN = append(recS, rr.RecognizeSeconds), append(recN, float64(rr.RecognizePostings))
		env.logf("reconcile run %d: raw scan %d keys in %.2f s (%.0f keys/s, peak RSS %.0f MB); close %s over %d taps in %.2f s (%.0f taps/s, %d statements, peak RSS %.0f MB, %.3f of the scan); then recognition, %d postings in %.2f s",
			run+1, rs.Taps, rs.Seconds, raw[run], rs.HWMMB, label, rr.Taps, rr.Seconds, rate[run], rr.Statements, rr.HWMMB, rate[run]/raw[run], rr.RecognizePostings, rr.RecognizeSeconds)
	}
	r := &ReconcileResult{
		TapsPerS: round(Median(rate), 0), RawScanPerS: round(Median(raw), 0),
		RSSMB: round(Median(hwm), 1), RawRSSMB: round(Median(rawHWM), 1), Taps: big.Taps,
		RecognizeS: round(Median(recS), 3), RecognizePostings: int(Median(recN)),
	}
	if r.RawScanPerS > 0 {
		r.Ratio = round(r.TapsPerS/r.RawScanPerS, 3)
	}
	return r, nil
}

// checkpoint makes a consistent copy of the closed Pebble store src in dst
// (sstables hard-linked) with the raw options.
func checkpoint(src, dst string) error {
	db, err := pebble.Open(src, RawOptions())
	if err != nil {
		return fmt.Errorf("bench: opening %s: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		_ = db.Close()
		return fmt.Errorf("bench: %w", err)
	}
	err = db.Checkpoint(dst, pebble.WithFlushedWAL())
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: checkpoint of %s: %w", src, err)
	}
	return nil
}
