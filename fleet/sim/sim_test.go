package sim_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/fleet/sim"
)

var (
	seeds     = flag.Int("sim.seeds", 0, "run the simulation for this many seeds (from -sim.first), 30 nodes, 2 hours, harsh faults")
	firstSeed = flag.Uint64("sim.first", 1, "the first seed of -sim.seeds")
	simNodes  = flag.Int("sim.nodes", 30, "nodes of each run of -sim.seeds")
	simHours  = flag.Int("sim.hours", 2, "simulated hours of each run of -sim.seeds")
)

// simulate plans and runs cfg; on a failure it prints the report.
func simulate(t *testing.T, cfg sim.Config) (*sim.Report, error) {
	p, err := sim.NewPlan(cfg)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep, err := sim.Run(ctx, p, sim.Options{Dir: t.TempDir()})
	if err != nil && rep != nil {
		_ = rep.WriteText(os.Stderr)
	}
	return rep, err
}

func runSim(t *testing.T, cfg sim.Config) *sim.Report {
	t.Helper()
	rep, err := simulate(t, cfg)
	require.NoError(t, err, "seed %d", cfg.Seed)
	return rep
}

// TestSimSmall runs a small simulated day (30 nodes, 2 hours, the default
// faults) for two seeds, and the first seed twice, all at once (the runs
// mostly wait on the network): every invariant holds and the same seed
// gives the same report.
func TestSimSmall(t *testing.T) {
	if *seeds > 0 {
		t.Skip("-sim.seeds: TestSimSweep runs")
	}
	runs := []uint64{1, 2, 1}
	reps := make([]*sim.Report, len(runs))
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, seed := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], errs[i] = simulate(t, sim.Config{Seed: seed, Nodes: 30, Sites: 6, Hours: 2})
		}()
	}
	wg.Wait()
	var dets [][]byte
	for i, rep := range reps {
		require.NoError(t, errs[i], "seed %d", runs[i])
		t.Logf("seed %d: %d taps, %d offline, %d statements, wall %.1f s", runs[i], rep.Taps, rep.Offline, len(rep.Statements), rep.Timing.WallSeconds)
		assert.Empty(t, rep.Violation)
		assert.Positive(t, rep.Taps)
		assert.Positive(t, rep.Offline, "seed %d: some taps are decided offline", runs[i])
		assert.NotEmpty(t, rep.Statements)
		det, err := json.Marshal(rep.Deterministic())
		require.NoError(t, err)
		dets = append(dets, det)
	}
	assert.JSONEq(t, string(dets[0]), string(dets[2]), "the same seed gives the same report")
	// A 2-hour day has no outage of 6 hours (and seed 1's one outage ends
	// while the hub is down, so its catch-up counts as the hub's, seed 2's
	// does not): the report says so rather than print a percentile of
	// nothing.
	for i, want := range map[int]string{0: "no outage in this run", 1: "no 6 h outage in this run"} {
		rep := reps[i]
		assert.Zero(t, rep.Timing.Outages6h, "seed %d", runs[i])
		var text bytes.Buffer
		require.NoError(t, rep.WriteText(&text))
		assert.Contains(t, text.String(), want, "seed %d", runs[i])
		assert.NotContains(t, text.String(), "after a 6 h outage", "seed %d", runs[i])
	}
	assert.Zero(t, reps[0].Timing.Outages)
	assert.Positive(t, reps[1].Timing.Outages)
	assert.NotEqual(t, string(dets[0]), string(dets[1]), "another seed, another day")
}

// TestSimSweep is the long run: go test ./fleet/sim -sim.seeds=200.
func TestSimSweep(t *testing.T) {
	if *seeds == 0 {
		t.Skip("run with -sim.seeds=N")
	}
	for s := range uint64(*seeds) {
		seed := *firstSeed + s
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			runSim(t, sim.Config{Seed: seed, Nodes: *simNodes, Sites: max(1, *simNodes/5), Hours: *simHours, Faults: sim.FaultsHarsh})
		})
	}
}
