package bench

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
)

// holdTapsPerRun bounds the taps per card a ledger-hold child makes; run r
// starts its cards' taps after those of runs 0..r-1.
const holdTapsPerRun = 20

// childHold opens the ledger in dir and taps cards 1, 1+stride, … (prior
// taps each) with synced commits until it is killed, printing "ready <n>"
// after its first and every 50th acknowledged tap. It taps each card at most
// holdTapsPerRun times: a fast machine would otherwise use up the counters
// the next run starts from (its first tap would be REPLAYED); having done
// so, it holds the ledger open, idle (still reporting), until it is killed.
func childHold(ctx context.Context, a childArgs, stdout io.Writer) error {
	f, err := openFixture(a.dir, a.passes, false)
	if err != nil {
		return err
	}
	defer f.Close()
	tp := f.newTapper("hold-"+strconv.Itoa(a.prior), 1, a.stride, a.prior)
	limit := holdTapsPerRun * len(tp.cards)
	for n := 1; ctx.Err() == nil; n++ {
		if n > limit {
			// Idle: keep reporting, so that the parent's hold time runs.
			for ctx.Err() == nil {
				fmt.Fprintf(stdout, "ready %d\n", limit)
				time.Sleep(50 * time.Millisecond)
			}
			break
		}
		if err := tp.tap(ctx); err != nil {
			return err
		}
		if n == 1 || n%50 == 0 {
			fmt.Fprintf(stdout, "ready %d\n", n)
		}
	}
	return ctx.Err()
}

// RunRecovery measures, Runs times, how long ledger.Open plus the first read
// take after SIGKILL of a child process that held the big ledger open and was
// tapping it (synced) for a second; it checks that every tap the child had
// acknowledged is in the journal after recovery. It returns the median
// seconds and the details of the median run.
func RunRecovery(ctx context.Context, env Env, cfg LedgerConfig, big *Built) (*RecoveryResult, error) {
	cfg = cfg.withDefaults()
	stride, _ := big.measurePlan(cfg.MeasureTaps, 0)
	if stride < 2 {
		return nil, fmt.Errorf("bench: recovery needs a ledger with at least twice %d passes", cfg.MeasureTaps)
	}
	l, err := ledger.Open(big.Dir, &ledger.Options{MustExist: true})
	if err != nil {
		return nil, err
	}
	last, err := l.LastJournalSeq()
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	var runs []RecoveryResult
	var total []float64
	for run := 0; run < env.runs(); run++ {
		// Cards 1, 1+stride, … are tapped by no other workload.
		prior := big.TapsPerPass + run*holdTapsPerRun
		c, err := startChild(env, roleLedgerHold, "--dir", big.Dir, "--passes", strconv.Itoa(big.Passes),
			"--stride", strconv.Itoa(stride), "--prior", strconv.Itoa(prior))
		if err != nil {
			return nil, err
		}
		acked, err := c.killAfter(100, time.Second)
		if err != nil {
			return nil, err
		}
		t0 := time.Now()
		l, err := ledger.Open(big.Dir, &ledger.Options{MustExist: true})
		if err != nil {
			return nil, fmt.Errorf("bench: recovery open: %w", err)
		}
		open := time.Since(t0)
		seq, err := l.LastJournalSeq()
		if err == nil {
			err = l.View(ctx, func(r engine.Reader) error {
				_, ok, err := r.Card(cardUID(1))
				if err == nil && !ok {
					err = fmt.Errorf("bench: card %s missing after recovery", cardUID(1))
				}
				return err
			})
		}
		read := time.Since(t0)
		if cerr := l.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		if seq < last+uint64(acked) {
			return nil, fmt.Errorf("bench: recovery lost acknowledged taps: journal ends at %d, want ≥ %d + %d acknowledged", seq, last, acked)
		}
		env.logf("recovery run %d: killed after %d acknowledged taps; open %.3f s, open + first read %.3f s; journal %d → %d",
			run+1, acked, open.Seconds(), read.Seconds(), last, seq)
		last = seq
		runs = append(runs, RecoveryResult{OpenS: round(open.Seconds(), 4), FirstReadS: round(read.Seconds(), 4), TapsBefore: acked, Taps: int(seq)})
		total = append(total, read.Seconds())
	}
	med := Median(total)
	best := runs[0]
	for _, r := range runs { // the run whose total is the median (odd run counts)
		if abs(r.FirstReadS-med) < abs(best.FirstReadS-med) {
			best = r
		}
	}
	best.FirstReadS = round(med, 4)
	return &best, nil
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
