package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// Gate1Config configures workload 2 (one gate).
type Gate1Config struct {
	Quick bool
	// Taps is the taps (and raw batches) measured per run; default 3000,
	// 300 when Quick.
	Taps int
	// Passes is how many passes (one per card) the ledger holds; the taps go
	// round-robin over them. Default 1000, 150 when Quick.
	Passes int
	// Shape of the raw batches; zero: Shape's defaults (Run passes the
	// calibrated one).
	Shape Shape
}

func (c Gate1Config) taps() int {
	switch {
	case c.Taps > 0:
		return c.Taps
	case c.Quick:
		return 300
	}
	return 3000
}

func (c Gate1Config) passes() int {
	switch {
	case c.Passes > 0:
		return c.Passes
	case c.Quick:
		return 150
	}
	return 1000
}

// setupFixture creates a ledger in dir with passes sold (without fsync, as
// setup, not measurement), closes it and reopens it with every commit
// synced.
func setupFixture(ctx context.Context, dir string, passes int) (*fixture, error) {
	f, err := openFixture(dir, passes, true)
	if err != nil {
		return nil, err
	}
	err = f.storeTariff(ctx)
	if err == nil {
		err = f.sell(ctx, 0, passes, 16)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return openFixture(dir, passes, false)
}

// RunGate1 measures one gate's tap latency (engine.Validator.Validate:
// read state, decide, journal durably) on a ledger beside one raw writer
// committing synced batches of the same shape, and returns the medians of
// p50 and p99 over the runs. Within a run the two alternate, one tap then
// one raw batch: each figure then meets the same machine (its speed drifts
// by tens of percent within minutes), and the ratio does not depend on
// which side ran in a fast or slow minute.
func RunGate1(ctx context.Context, env Env, cfg Gate1Config) (*Gate1Result, error) {
	n, passes := cfg.taps(), cfg.passes()
	if (n+passes-1)/passes > maxTapsPerCard {
		return nil, fmt.Errorf("bench: gate1: %d taps over %d passes exceed %d taps per card", n, passes, maxTapsPerCard)
	}
	var p50, p99, rawP50, rawP99 []float64
	for run := 0; run < env.runs(); run++ {
		dir := filepath.Join(env.Dir, "run"+strconv.Itoa(run))
		lat, rlat, err := gate1Run(ctx, dir, n, passes, cfg.Shape)
		if err != nil {
			return nil, err
		}
		p50, p99 = append(p50, us(lat.P(50))), append(p99, us(lat.P(99)))
		rawP50, rawP99 = append(rawP50, us(rlat.P(50))), append(rawP99, us(rlat.P(99)))
		env.logf("gate1 run %d: tap p50 %.0f µs p99 %.0f µs; raw p50 %.0f µs p99 %.0f µs",
			run+1, us(lat.P(50)), us(lat.P(99)), us(rlat.P(50)), us(rlat.P(99)))
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	r := &Gate1Result{
		P50us:    round(Median(p50), 1),
		P99us:    round(Median(p99), 1),
		RawP50us: round(Median(rawP50), 1),
		RawP99us: round(Median(rawP99), 1),
		Taps:     n,
	}
	if r.RawP50us > 0 {
		r.P50Ratio = round(r.P50us/r.RawP50us, 3)
	}
	return r, nil
}

// gate1Run makes n taps on a fresh ledger of passes in dir, each followed by
// one synced raw batch of shape on a raw store beside it, and returns both
// latencies.
func gate1Run(ctx context.Context, dir string, n, passes int, shape Shape) (taps, raws *Latencies, err error) {
	f, err := setupFixture(ctx, filepath.Join(dir, "ledger"), passes)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	raw, err := openRaw(filepath.Join(dir, "raw"), shape)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if cerr := raw.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	tp, w := f.newTapper("gate1", 0, 1, 0), raw.writer(0)
	taps, raws = NewLatencies(n), NewLatencies(n)
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		t := time.Now()
		if err := tp.tap(ctx); err != nil {
			return nil, nil, err
		}
		taps.Add(time.Since(t))
		t = time.Now()
		if err := w.commit(true); err != nil {
			return nil, nil, fmt.Errorf("bench: raw commit: %w", err)
		}
		raws.Add(time.Since(t))
	}
	return taps, raws, nil
}

// GatesConfig configures workload 3 (concurrent gates).
type GatesConfig struct {
	Quick bool
	// Concurrency lists the numbers of gates; default 1, 8, 64.
	Concurrency []int
	// Duration is how long each side runs at each concurrency per run;
	// default 3 s, 500 ms when Quick.
	Duration time.Duration
	// Passes is how many passes (one per card) the ledger holds; gate g taps
	// cards g, g+G, … Default 6000, 1280 when Quick.
	Passes int
	// Shape of the raw batches; zero: Shape's defaults.
	Shape Shape
}

func (c GatesConfig) duration() time.Duration {
	switch {
	case c.Duration > 0:
		return c.Duration
	case c.Quick:
		return 500 * time.Millisecond
	}
	return 3 * time.Second
}

func (c GatesConfig) concurrency() []int {
	if len(c.Concurrency) > 0 {
		return c.Concurrency
	}
	return []int{1, 8, 64}
}

func (c GatesConfig) passes() int {
	switch {
	case c.Passes > 0:
		return c.Passes
	case c.Quick:
		return 1280
	}
	return 6000
}

// RunGates measures durable taps per second with 1, 8 and 64 concurrent
// gates (each a goroutine calling Validate in a loop on one shared ledger)
// beside as many raw writers committing synced batches of the same shape,
// and returns the medians keyed by concurrency.
func RunGates(ctx context.Context, env Env, cfg GatesConfig) (map[string]*GatesPoint, error) {
	d := cfg.duration()
	out := map[string]*GatesPoint{}
	for _, g := range cfg.concurrency() {
		var taps, raws []float64
		for run := 0; run < env.runs(); run++ {
			dir := filepath.Join(env.Dir, fmt.Sprintf("g%d-run%d", g, run))
			f, err := setupFixture(ctx, filepath.Join(dir, "ledger"), cfg.passes())
			if err != nil {
				return nil, err
			}
			rate, err := concurrently(ctx, g, d, func(i int) (func() error, error) {
				tp := f.newTapper("gate-"+strconv.Itoa(i), i, g, 0)
				return func() error { return tp.tap(ctx) }, nil
			})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
			taps = append(taps, rate)

			raw, err := openRaw(filepath.Join(dir, "raw"), cfg.Shape)
			if err != nil {
				return nil, err
			}
			rawRate, err := raw.rawThroughput(ctx, g, d)
			if cerr := raw.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
			raws = append(raws, rawRate)
			env.logf("gates %d run %d: %.0f taps/s; raw %.0f batches/s", g, run+1, rate, rawRate)
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
		}
		p := &GatesPoint{TapsPerS: round(Median(taps), 0), RawPerS: round(Median(raws), 0)}
		if p.RawPerS > 0 {
			p.Ratio = round(p.TapsPerS/p.RawPerS, 3)
		}
		out[strconv.Itoa(g)] = p
	}
	return out, nil
}
