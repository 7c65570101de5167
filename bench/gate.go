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
	// Shape of the raw batches; zero: Shape's defaults.
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

// RunGate1 measures one gate's tap latency (decision plus durable journal)
// beside one raw writer committing synced batches of the same shape, the two
// interleaved run by run, and returns the medians of p50 and p99.
func RunGate1(ctx context.Context, env Env, cfg Gate1Config) (*Gate1Result, error) {
	n := cfg.taps()
	var rawP50, rawP99 []float64
	for run := 0; run < env.runs(); run++ {
		dir := filepath.Join(env.Dir, "run"+strconv.Itoa(run))
		raw, err := openRaw(filepath.Join(dir, "raw"), cfg.Shape)
		if err != nil {
			return nil, err
		}
		lat, err := raw.rawLatencies(ctx, n)
		if cerr := raw.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, err
		}
		rawP50 = append(rawP50, us(lat.P(50)))
		rawP99 = append(rawP99, us(lat.P(99)))
		env.logf("gate1 run %d: raw p50 %.0f µs p99 %.0f µs", run+1, us(lat.P(50)), us(lat.P(99)))
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	return &Gate1Result{
		RawP50us: round(Median(rawP50), 1),
		RawP99us: round(Median(rawP99), 1),
		Taps:     n,
	}, nil
}

// GatesConfig configures workload 3 (concurrent gates).
type GatesConfig struct {
	Quick bool
	// Concurrency lists the numbers of gates; default 1, 8, 64.
	Concurrency []int
	// Duration is how long each side runs at each concurrency per run;
	// default 3 s, 500 ms when Quick.
	Duration time.Duration
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

// RunGates measures durable taps per second with 1, 8 and 64 concurrent
// gates beside as many raw writers committing synced batches, and returns
// the medians keyed by concurrency.
func RunGates(ctx context.Context, env Env, cfg GatesConfig) (map[string]*GatesPoint, error) {
	d := cfg.duration()
	out := map[string]*GatesPoint{}
	for _, g := range cfg.concurrency() {
		var raws []float64
		for run := 0; run < env.runs(); run++ {
			dir := filepath.Join(env.Dir, fmt.Sprintf("g%d-run%d", g, run))
			raw, err := openRaw(filepath.Join(dir, "raw"), cfg.Shape)
			if err != nil {
				return nil, err
			}
			rate, err := raw.rawThroughput(ctx, g, d)
			if cerr := raw.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, err
			}
			raws = append(raws, rate)
			env.logf("gates %d run %d: raw %.0f batches/s", g, run+1, rate)
			if err := os.RemoveAll(dir); err != nil {
				return nil, fmt.Errorf("bench: %w", err)
			}
		}
		out[strconv.Itoa(g)] = &GatesPoint{RawPerS: round(Median(raws), 0)}
	}
	return out, nil
}
