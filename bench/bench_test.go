package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// childEnv carries a child's args (joined by \x1f) to the re-executed test
// binary.
const childEnv = "CITYPASS_BENCH_CHILD_ARGS"

func TestMain(m *testing.M) {
	if a, ok := os.LookupEnv(childEnv); ok {
		if err := RunChild(context.Background(), strings.Split(a, "\x1f"), os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testChild re-executes the test binary in child mode.
func testChild(args []string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+strings.Join(args, "\x1f"))
	return cmd
}

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestBenchPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = ms(i + 1)
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample any p", []time.Duration{ms(7)}, 99, ms(7)},
		{"p50 of 1..100 is 50", hundred, 50, ms(50)},
		{"p99 of 1..100 is 99", hundred, 99, ms(99)},
		{"p100 is the max", hundred, 100, ms(100)},
		{"tiny p is the min", hundred, 0.001, ms(1)},
		{"p50 of 4 is the 2nd", []time.Duration{ms(1), ms(2), ms(3), ms(4)}, 50, ms(2)},
		{"p99 of 10 is the max", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 99, 10},
		{"p90 of 10 is the 9th", []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 90, 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Percentile(tc.sorted, tc.p))
		})
	}
}

func TestBenchLatenciesSortsOnDemand(t *testing.T) {
	l := NewLatencies(4)
	for _, d := range []int{40, 10, 30, 20} {
		l.Add(ms(d))
	}
	assert.Equal(t, 4, l.Len())
	assert.Equal(t, ms(20), l.P(50))
	l.Add(ms(5))
	assert.Equal(t, ms(5), l.P(1), "a sample added after a query is seen")
	assert.Equal(t, ms(40), l.P(100))
}

func TestBenchMedian(t *testing.T) {
	in := []float64{3, 1, 2}
	assert.Equal(t, 2.0, Median(in))
	assert.Equal(t, []float64{3, 1, 2}, in, "input left unsorted")
	assert.Equal(t, 2.5, Median([]float64{4, 1, 3, 2}))
	assert.Equal(t, 0.0, Median(nil))
	assert.Equal(t, 9.0, Median([]float64{9}))
}

func TestBenchParseStatus(t *testing.T) {
	m, err := parseStatus([]byte("Name:\tx\nVmPeak:\t  999 kB\nVmHWM:\t   2048 kB\nVmRSS:\t    1024 kB\nThreads: 3\n"))
	require.NoError(t, err)
	assert.Equal(t, Mem{RSSBytes: 1 << 20, HWMBytes: 2 << 20}, m)
	assert.Equal(t, 2.0, m.MB())

	_, err = parseStatus([]byte("VmRSS:\t1 kB\n"))
	assert.Error(t, err, "VmHWM missing")
	_, err = parseStatus([]byte("VmRSS:\t1 MB\nVmHWM:\t1 kB\n"))
	assert.Error(t, err, "unit other than kB")

	self, err := ReadMem(0)
	require.NoError(t, err)
	assert.Positive(t, self.RSSBytes)
	assert.GreaterOrEqual(t, self.HWMBytes, self.RSSBytes)
}

// fullResult has every workload filled in, as a real full run does.
func fullResult() *Result {
	rec := 0.4
	r := &Result{
		Decide:    &DecideResult{NsPerOp: 900},
		Gate1:     &Gate1Result{P50us: 200, P99us: 500, RawP50us: 180, RawP99us: 400, P50Ratio: 200.0 / 180},
		Gates:     map[string]*GatesPoint{"1": {TapsPerS: 4000, RawPerS: 5000}, "8": {TapsPerS: 15000, RawPerS: 20000}, "64": {TapsPerS: 40000, RawPerS: 80000}},
		Scale:     &ScaleResult{P99us: 900, P99SmallUs: 500, RSSMB: 120},
		Reconcile: &ReconcileResult{TapsPerS: 600000, RawScanPerS: 1000000, RSSMB: 300},
		RecoveryS: &rec,
		Card:      &CardResult{NTAG424us: 300, DESFireus: 900},
	}
	r.Evaluate()
	return r
}

func TestBenchJSONShape(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, fullResult().WriteJSON(&buf))
	var m map[string]any
	dec := json.NewDecoder(&buf)
	require.NoError(t, dec.Decode(&m))
	assert.False(t, dec.More(), "exactly one JSON object")

	obj := func(v any) map[string]any {
		o, ok := v.(map[string]any)
		require.True(t, ok, "%v is an object", v)
		return o
	}
	assert.Contains(t, obj(m["decide"]), "ns_per_op")
	for _, k := range []string{"p50_us", "p99_us", "raw_p50_us", "raw_p99_us"} {
		assert.Contains(t, obj(m["gate1"]), k)
	}
	gates := obj(m["gates"])
	for _, n := range []string{"1", "8", "64"} {
		assert.Contains(t, obj(gates[n]), "taps_per_s")
		assert.Contains(t, obj(gates[n]), "raw_per_s")
	}
	for _, k := range []string{"p99_us", "p99_small_us", "rss_mb"} {
		assert.Contains(t, obj(m["scale"]), k)
	}
	for _, k := range []string{"taps_per_s", "raw_scan_per_s", "rss_mb", "recognize_s", "recognize_postings"} {
		assert.Contains(t, obj(m["reconcile"]), k)
	}
	assert.IsType(t, float64(0), m["recovery_s"])
	assert.Contains(t, obj(m["card"]), "ntag424_sun_us")
	assert.Contains(t, obj(m["card"]), "desfire_us")
	assert.Len(t, m["checks"], 9)

	var empty bytes.Buffer
	require.NoError(t, (&Result{}).WriteJSON(&empty))
	assert.NotContains(t, empty.String(), "gate1", "a workload not run is absent")
}

func TestBenchEvaluate(t *testing.T) {
	r := fullResult()
	got := map[string]bool{}
	for _, c := range r.Checks {
		got[c.Name] = c.Pass
	}
	assert.Equal(t, map[string]bool{
		"decide ns/op":     true,
		"gate1 p50 µs":     true,  // 200 ≤ 1.5×180
		"gate1 p99 µs":     true,  // 500 ≤ 2000
		"gates 64 taps/s":  false, // 40000 < 0.6×80000
		"scale p99 µs":     true,  // 900 ≤ 2×500
		"scale RSS MB":     true,
		"reconcile taps/s": true,  // 600k ≥ 0.5×1M
		"reconcile RSS MB": false, // 300 > 256
		"recovery s":       true,
	}, got)
	assert.False(t, r.Passed())

	var buf bytes.Buffer
	require.NoError(t, r.WriteTable(&buf))
	out := buf.String()
	assert.Contains(t, out, "PASS")
	assert.Contains(t, out, "FAIL")
	assert.Equal(t, 2, strings.Count(out, "FAIL"))
}

func TestBenchCheckOnly(t *testing.T) {
	assert.NoError(t, CheckOnly([]string{"gate1", "card"}))
	assert.Error(t, CheckOnly([]string{"gate2"}))
	_, err := Run(context.Background(), Config{Only: []string{"nope"}})
	assert.Error(t, err)
	assert.NoError(t, CheckFleetParts([]string{"catchup", "block", "behind"}))
	assert.Error(t, CheckFleetParts([]string{"blocks"}))
}

// TestBenchChildKill runs a raw holder child, kills it with SIGKILL and
// checks that every commit it reported durable is there after reopening.
func TestBenchChildKill(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "raw")
	c, err := startChild(Env{Child: testChild}, roleRawHold, "--dir", dir)
	require.NoError(t, err)
	n, err := c.killAfter(50, 0)
	require.NoError(t, err)
	require.GreaterOrEqual(t, n, 50)

	raw, err := openRaw(dir, Shape{})
	require.NoError(t, err)
	defer raw.Close()
	it, err := raw.db.NewIter(nil)
	require.NoError(t, err)
	var keys int
	for it.First(); it.Valid(); it.Next() {
		keys++
	}
	require.NoError(t, it.Close())
	assert.GreaterOrEqual(t, keys, n*Shape{}.withDefaults().Keys, "every acknowledged batch survived kill -9")
}

func TestBenchBuildLedger(t *testing.T) {
	ctx := context.Background()
	b, err := BuildLedger(ctx, Env{}, filepath.Join(t.TempDir(), "ledger"), 50, 500)
	require.NoError(t, err)
	assert.Equal(t, 10, b.TapsPerPass)
	f, err := openFixture(b.Dir, 50, false)
	require.NoError(t, err)
	defer f.Close()
	seq, err := f.l.LastJournalSeq()
	require.NoError(t, err)
	assert.Equal(t, uint64(500), seq)
	// The next tap of a built card continues its history: accepted.
	tp := f.newTapper("after-build", 7, 50, b.TapsPerPass)
	require.NoError(t, tp.tap(ctx))
	_, err = BuildLedger(ctx, Env{}, filepath.Join(t.TempDir(), "bad"), 3, 10)
	assert.Error(t, err, "taps must divide over passes")
}

func TestBenchCalibrateShape(t *testing.T) {
	s, err := CalibrateShape(context.Background(), Env{Dir: t.TempDir()})
	require.NoError(t, err)
	// A steady-state tap journals (tap id, journal, time index) and updates
	// the card counter and the usage.
	assert.GreaterOrEqual(t, s.Keys, 4)
	assert.Positive(t, s.ValueBytes)
}

// TestBenchQuick is the --quick smoke run of everything this machine can
// run but the fleet (TestBenchFleetQuick).
func TestBenchQuick(t *testing.T) {
	var progress bytes.Buffer
	var only []string
	for _, w := range Workloads {
		if w != WorkFleet {
			only = append(only, w)
		}
	}
	res, err := Run(context.Background(), Config{Quick: true, Only: only, Child: testChild, Progress: &progress, TempDir: t.TempDir()})
	require.NoError(t, err)
	t.Log(progress.String())
	require.NotNil(t, res.Decide)
	assert.Positive(t, res.Decide.NsPerOp)
	require.NotNil(t, res.Gate1)
	assert.Positive(t, res.Gate1.P50us)
	assert.GreaterOrEqual(t, res.Gate1.P99us, res.Gate1.P50us)
	assert.Positive(t, res.Gate1.RawP50us)
	assert.GreaterOrEqual(t, res.Gate1.RawP99us, res.Gate1.RawP50us)
	for _, n := range []string{"1", "8", "64"} {
		require.Contains(t, res.Gates, n)
		assert.Positive(t, res.Gates[n].TapsPerS)
		assert.Positive(t, res.Gates[n].RawPerS)
	}
	require.NotNil(t, res.Scale)
	assert.Positive(t, res.Scale.P99us)
	assert.Positive(t, res.Scale.P99SmallUs)
	assert.Positive(t, res.Scale.RSSMB)
	require.NotNil(t, res.Reconcile)
	assert.Positive(t, res.Reconcile.RawScanPerS)
	assert.Positive(t, res.Reconcile.RSSMB)
	assert.Positive(t, res.Reconcile.RecognizePostings, "recognition timed after the close")
	assert.Positive(t, res.Reconcile.RecognizeS)
	require.NotNil(t, res.RecoveryS)
	assert.Positive(t, *res.RecoveryS)
	assert.Greater(t, res.Recovery.Taps, 20_000, "the killed children's acknowledged taps were recovered")
	require.NotNil(t, res.Card)
	assert.Positive(t, res.Card.NTAG424us)
	assert.Positive(t, res.Card.DESFireus)
	if vpcdAvailable() == "" {
		assert.Positive(t, res.Card.NTAG424VpcdUs, "pcscd and vpcd are here: measured over PC/SC")
		assert.Positive(t, res.Card.DESFireVpcdUs)
	} else {
		assert.NotEmpty(t, res.Card.VpcdNote)
	}
	assert.Len(t, res.Checks, 9, "every target evaluated")
	for _, c := range res.Checks {
		assert.NotEmpty(t, c.Target, c.Name)
	}
	assert.Equal(t, MinRuns, res.Meta.Runs)
	assert.True(t, res.Meta.Quick)
	assert.NotEmpty(t, res.Meta.CPU)
	var buf bytes.Buffer
	require.NoError(t, res.WriteTable(&buf))
	assert.Contains(t, buf.String(), fmt.Sprintf("revenue recognition, %d postings", res.Reconcile.RecognizePostings))
	t.Log("\n" + buf.String())
}

func TestBenchDecideInputs(t *testing.T) {
	in, err := decideInputs()
	require.NoError(t, err, "every input decides as the mix says")
	assert.Len(t, in, 4)
	res, err := RunDecide(context.Background(), Env{}, DecideConfig{Duration: 20 * time.Millisecond})
	require.NoError(t, err)
	assert.Positive(t, res.NsPerOp)
}

func TestBenchCard(t *testing.T) {
	res, err := RunCard(context.Background(), Env{}, CardConfig{Reads: 20})
	require.NoError(t, err, "every read authenticates, NTAG counters rise")
	assert.Positive(t, res.NTAG424us)
	assert.Positive(t, res.DESFireus)
}

// TestBenchReconcileRSSLimit checks that a close whose memory passes the
// limit is killed and reported as failing both reconcile targets.
func TestBenchReconcileRSSLimit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := BuildLedger(ctx, Env{}, filepath.Join(dir, "big", "ledger"), 1000, 10_000)
	require.NoError(t, err)
	self, err := ReadMem(0)
	require.NoError(t, err)
	// Below any Go process running Pebble: the child is killed at its first poll.
	limit := max(1, float64(self.RSSBytes)/(1<<20)/4)
	res, err := RunReconcile(ctx, Env{Dir: filepath.Join(dir, "rec"), Child: testChild, ChildRSSLimitMB: limit}, b)
	require.NoError(t, err)
	assert.True(t, res.Killed)
	assert.Equal(t, "rss", res.KilledBy)
	assert.Zero(t, res.TapsPerS)
	assert.Positive(t, res.RawScanPerS, "the raw scan still ran")
	r := &Result{Reconcile: res}
	r.Evaluate()
	for _, c := range r.Checks {
		if c.Name == "reconcile taps/s" {
			assert.False(t, c.Pass)
		}
	}
	assert.False(t, r.Passed())
}

func TestBenchReconcileTimeLimit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	b, err := BuildLedger(ctx, Env{}, filepath.Join(dir, "big", "ledger"), 1000, 10_000)
	require.NoError(t, err)
	res, err := RunReconcile(ctx, Env{Dir: filepath.Join(dir, "rec"), Child: testChild, ChildTimeLimit: time.Millisecond}, b)
	require.NoError(t, err)
	assert.True(t, res.Killed)
	assert.Equal(t, "time", res.KilledBy)
	r := &Result{Reconcile: res}
	r.Evaluate()
	assert.False(t, r.Passed(), "a close that did not finish fails")
}

// TestBenchFleetQuick is the --quick smoke run of the fleet workload: a
// hub child, nodes catching up, tapping online and joining, and the node
// cost; every figure is reported and every target evaluated.
func TestBenchFleetQuick(t *testing.T) {
	var progress bytes.Buffer
	res, err := Run(context.Background(), Config{Quick: true, Only: []string{WorkFleet}, Child: testChild, Progress: &progress, TempDir: t.TempDir()})
	t.Log(progress.String())
	require.NoError(t, err)
	f := res.Fleet
	require.NotNil(t, f)
	assert.Equal(t, 8*500, f.CatchupTaps)
	assert.Positive(t, f.CatchupTapsPerS)
	assert.Positive(t, f.CatchupS)
	assert.Positive(t, f.OnlineTaps)
	assert.Positive(t, f.OnlineP50ms)
	assert.GreaterOrEqual(t, f.OnlineP99ms, f.OnlineP50ms)
	assert.GreaterOrEqual(t, f.OnlineMaxMs, f.OnlineP99ms)
	assert.Equal(t, 20, f.RSSNodes)
	assert.Positive(t, f.HubRSSMB)
	assert.GreaterOrEqual(t, f.HubPeakRSSMB, f.HubRSSMB)
	assert.Positive(t, f.CostP50us)
	assert.Positive(t, f.CostSyncP50us)
	assert.Positive(t, f.CostRatio)
	assert.Equal(t, 300, f.CostTaps)
	assert.Equal(t, 20, f.BlockNodes)
	assert.Equal(t, 20*2, f.BlockSamples, "every node denied every blocked card")
	assert.Positive(t, f.BlockP50ms)
	assert.GreaterOrEqual(t, f.BlockP99ms, f.BlockP50ms)
	assert.GreaterOrEqual(t, f.BlockMaxMs, f.BlockP99ms)
	assert.Positive(t, f.BlockHubRSSMB)
	assert.GreaterOrEqual(t, f.BlockHubPeakRSSMB, f.BlockHubRSSMB)
	assert.Equal(t, 2000, f.BehindUpdates)
	assert.GreaterOrEqual(t, f.BehindMessages, uint64(2000), "one state message per sale at least")
	assert.Positive(t, f.BehindS)
	assert.Len(t, f.LoadAvg, MinRuns)
	assert.Len(t, f.StateLoadAvg, 2*MinRuns)
	names := map[string]bool{}
	for _, c := range res.Checks {
		names[c.Name] = true
	}
	assert.Equal(t, map[string]bool{"fleet catch-up taps/s": true, "fleet online p99 ms": true, "fleet hub peak RSS MB": true,
		"fleet hub peak RSS MB, nodes following state": true, "fleet node gate1 p50 µs": true,
		"fleet block to every node p99 ms": true, "fleet node behind, current in s": true}, names)
	var buf bytes.Buffer
	require.NoError(t, res.WriteTable(&buf))
	assert.Contains(t, buf.String(), "catch-up, 8 nodes × 500 taps")
	assert.Contains(t, buf.String(), "block to 20 nodes")
	assert.Contains(t, buf.String(), "node 2000 updates behind")
	t.Log("\n" + buf.String())
}
