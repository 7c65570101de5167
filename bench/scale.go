package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// LedgerConfig sizes the ledgers of workloads 4–6 (scale, reconcile,
// recovery). The big ledger is written once per Run and shared by the three.
type LedgerConfig struct {
	Quick bool
	// Passes and Taps size the big ledger: Taps/Passes taps per pass (it
	// must divide). Default 1,000,000 and 10,000,000; Quick 2,000 and 20,000.
	Passes, Taps int
	// SmallTaps sizes the small ledger of the scale comparison, at the same
	// taps per pass. Default 10,000; Quick 2,000.
	SmallTaps int
	// MeasureTaps is how many synced taps each scale run times. Default
	// 3000; Quick 500.
	MeasureTaps int
}

func (c LedgerConfig) withDefaults() LedgerConfig {
	if c.Passes <= 0 || c.Taps <= 0 {
		c.Passes, c.Taps = 1_000_000, 10_000_000
		if c.Quick {
			c.Passes, c.Taps = 2_000, 20_000
		}
	}
	if c.SmallTaps <= 0 {
		c.SmallTaps = 10_000
		if c.Quick {
			c.SmallTaps = 2_000
		}
	}
	if c.MeasureTaps <= 0 {
		c.MeasureTaps = 3000
		if c.Quick {
			c.MeasureTaps = 500
		}
	}
	return c
}

func (c LedgerConfig) tapsPerPass() int { return c.Taps / c.Passes }

func (c LedgerConfig) validate() error {
	if c.Taps%c.Passes != 0 {
		return fmt.Errorf("bench: %d taps do not divide over %d passes", c.Taps, c.Passes)
	}
	if c.SmallTaps%c.tapsPerPass() != 0 {
		return fmt.Errorf("bench: %d small-ledger taps do not divide by %d taps per pass", c.SmallTaps, c.tapsPerPass())
	}
	return nil
}

// Built is a ledger written by BuildLedger.
type Built struct {
	Dir           string
	Passes, Taps  int
	TapsPerPass   int
	Seconds       float64 // time to write it
	tapsPerRunMax int     // taps per card per measuring run (scale runs use fresh tap times)
}

// measurePlan says which cards a measuring child taps and from which prior
// tap count: cards 0, stride, 2·stride, … round-robin, run r starting after
// the taps of runs 0..r-1.
func (b *Built) measurePlan(measure, run int) (stride, prior int) {
	stride = max(1, b.Passes/measure)
	cards := (b.Passes + stride - 1) / stride
	perRun := (measure + cards - 1) / cards
	return stride, b.TapsPerPass + run*perRun
}

// tapsReport is what the ledger-taps child prints.
type tapsReport struct {
	P50us  float64 `json:"p50_us"`
	P99us  float64 `json:"p99_us"`
	OpenS  float64 `json:"open_s"`
	HWMMB  float64 `json:"hwm_mb"`
	RSSMB  float64 `json:"rss_mb"`
	Taps   int     `json:"taps"`
	Passes int     `json:"passes"`
}

// childTaps opens the ledger in dir (synced), times taps taps on cards
// 0, stride, … (prior taps each) and reports p50/p99 and its memory.
func childTaps(ctx context.Context, a childArgs, stdout io.Writer) error {
	t0 := time.Now()
	f, err := openFixture(a.dir, a.passes, false)
	if err != nil {
		return err
	}
	open := time.Since(t0)
	tp := f.newTapper("measure-"+strconv.Itoa(a.prior), 0, a.stride, a.prior)
	lat := NewLatencies(a.taps)
	for i := 0; i < a.taps && err == nil; i++ {
		t := time.Now()
		if err = tp.tap(ctx); err == nil {
			lat.Add(time.Since(t))
		}
	}
	m, merr := ReadMem(0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = merr
	}
	if err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(tapsReport{
		P50us: us(lat.P(50)), P99us: us(lat.P(99)), OpenS: open.Seconds(),
		HWMMB: m.MB(), RSSMB: float64(m.RSSBytes) / (1 << 20), Taps: a.taps, Passes: a.passes,
	})
}

// measureTaps runs the ledger-taps child on b for run.
func measureTaps(env Env, b *Built, measure, run int) (*tapsReport, error) {
	stride, prior := b.measurePlan(measure, run)
	c, err := startChild(env, roleLedgerTaps, "--dir", b.Dir, "--passes", strconv.Itoa(b.Passes),
		"--stride", strconv.Itoa(stride), "--prior", strconv.Itoa(prior), "--taps", strconv.Itoa(measure))
	if err != nil {
		return nil, err
	}
	var r tapsReport
	if err := c.waitJSON(&r); err != nil {
		return nil, err
	}
	return &r, nil
}

// RunScale times synced taps (p99) and the tapping process's peak RSS on
// the big ledger and on the small one, each run in a fresh child process
// that opens the ledger and taps, the two alternated run by run.
func RunScale(ctx context.Context, env Env, cfg LedgerConfig, big, small *Built) (*ScaleResult, error) {
	cfg = cfg.withDefaults()
	var p99, p99s, hwm, hwms []float64
	for run := 0; run < env.runs(); run++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rb, err := measureTaps(env, big, cfg.MeasureTaps, run)
		if err != nil {
			return nil, err
		}
		rs, err := measureTaps(env, small, cfg.MeasureTaps, run)
		if err != nil {
			return nil, err
		}
		p99, p99s = append(p99, rb.P99us), append(p99s, rs.P99us)
		hwm, hwms = append(hwm, rb.HWMMB), append(hwms, rs.HWMMB)
		env.logf("scale run %d: %d-tap ledger p99 %.0f µs (p50 %.0f) peak RSS %.0f MB; %d-tap ledger p99 %.0f µs (p50 %.0f) peak RSS %.0f MB",
			run+1, big.Taps, rb.P99us, rb.P50us, rb.HWMMB, small.Taps, rs.P99us, rs.P50us, rs.HWMMB)
	}
	r := &ScaleResult{
		P99us: round(Median(p99), 1), P99SmallUs: round(Median(p99s), 1),
		RSSMB: round(Median(hwm), 1), RSSSmallMB: round(Median(hwms), 1),
		Passes: big.Passes, Taps: big.Taps, SmallTaps: small.Taps, BuildS: big.Seconds,
	}
	if r.P99SmallUs > 0 {
		r.P99Ratio = round(r.P99us/r.P99SmallUs, 3)
	}
	return r, nil
}
