package bench

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// DecideConfig configures workload 1 (pure decision time).
type DecideConfig struct {
	Quick bool
	// Duration is how long each run calls engine.Decide; default 1 s,
	// 100 ms when Quick.
	Duration time.Duration
}

func (c DecideConfig) duration() time.Duration {
	switch {
	case c.Duration > 0:
		return c.Duration
	case c.Quick:
		return 100 * time.Millisecond
	}
	return time.Second
}

// decideInputs is the mix engine.Decide is timed on, against the sample
// tariff: an accepted transit entry on an active pass with usage, a first
// museum entry that activates the pass, an ALREADY_REDEEMED museum entry and
// a hard-PASSBACK transit entry. Each has a card with an authenticated
// counter that rises.
func decideInputs() ([]engine.Input, error) {
	t := tariff.SampleTariff()
	prod, ok := t.Product("cp72-adult")
	if !ok {
		return nil, fmt.Errorf("bench: sample tariff has no cp72-adult")
	}
	metro, ok := t.Venue("rtm-metro")
	if !ok {
		return nil, fmt.Errorf("bench: sample tariff has no rtm-metro")
	}
	mucem, ok := t.Venue("mucem")
	if !ok {
		return nil, fmt.Errorf("bench: sample tariff has no mucem")
	}
	sold := t.EffectiveFrom.Add(30 * 24 * time.Hour)
	at := sold.Add(26 * time.Hour)
	active := &engine.Pass{ID: "P1", TariffVersion: t.ID, Product: prod.ID, Category: prod.Category, Card: "04A1B2C3D4E5F6",
		SoldAt: sold, Status: engine.PassActive, ActivatedAt: sold.Add(time.Hour), ValidUntil: engine.ValidityEnd(t, prod, sold.Add(time.Hour))}
	fresh := *active
	fresh.Status, fresh.ActivatedAt, fresh.ValidUntil, fresh.ActivateBy = engine.PassSold, time.Time{}, time.Time{}, sold.Add(prod.ActivateWithin)
	card := &engine.Card{UID: active.Card, Passes: []string{"P1"}, LastCounter: 41, HasCounter: true}
	used := &engine.Usage{}
	for i, v := range []struct {
		gate string
		at   time.Time
	}{
		{"mucem/j4", at.Add(-5 * time.Hour)},
		{"rtm-metro/joliette", at.Add(-30 * time.Hour)},
		{"rtm-metro/joliette", at.Add(-26 * time.Hour)},
		{"rtm-metro/vieux-port", at.Add(-4 * time.Hour)},
		{"rtm-metro/noailles", at.Add(-3 * time.Hour)},
		{"rtm-metro/vieux-port", at.Add(-2 * time.Hour)},
	} {
		venue, _, _ := strings.Cut(v.gate, "/")
		used.Add(engine.Visit{Tap: engine.TapID{Device: "gate-" + venue, Seq: uint64(i + 1)}, At: v.at, Venue: venue, Gate: v.gate})
	}
	tap := func(gate string, at time.Time) *engine.Tap {
		return &engine.Tap{ID: engine.TapID{Device: "gate-1", Seq: 7}, Card: active.Card, Gate: gate, At: at, Counter: 42, HasCounter: true}
	}
	in := []engine.Input{
		{Tap: tap("rtm-metro/vieux-port", at), Tariff: t, Product: prod, Venue: metro, Pass: active, Card: card, Usage: used},
		{Tap: tap("mucem/j4", at), Tariff: t, Product: prod, Venue: mucem, Pass: &fresh, Card: card, Usage: &engine.Usage{}},
		{Tap: tap("mucem/j4", at), Tariff: t, Product: prod, Venue: mucem, Pass: active, Card: card, Usage: used},
		{Tap: tap("rtm-metro/vieux-port", at.Add(-2*time.Hour+time.Minute)), Tariff: t, Product: prod, Venue: metro, Pass: active, Card: card, Usage: used},
	}
	want := []engine.Reason{engine.ReasonOK, engine.ReasonOK, engine.ReasonAlreadyRedeemed, engine.ReasonPassback}
	for i := range in {
		if d, _ := engine.Decide(&in[i]); d.Reason != want[i] {
			return nil, fmt.Errorf("bench: decide input %d: got %s, want %s", i, d.Reason, want[i])
		}
	}
	return in, nil
}

// RunDecide times engine.Decide over a fixed mix of inputs (accept,
// activation, limit and passback denials) and returns the median ns per
// decision and allocations per decision.
func RunDecide(ctx context.Context, env Env, cfg DecideConfig) (*DecideResult, error) {
	in, err := decideInputs()
	if err != nil {
		return nil, err
	}
	var nsOp, allocs []float64
	var sink engine.Reason
	for run := 0; run < env.runs(); run++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var m0, m1 runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m0)
		n := 0
		start := time.Now()
		deadline := start.Add(cfg.duration())
		for time.Now().Before(deadline) {
			for j := 0; j < 1024; j++ {
				d, _ := engine.Decide(&in[j%len(in)])
				sink ^= d.Reason
			}
			n += 1024
		}
		elapsed := time.Since(start)
		runtime.ReadMemStats(&m1)
		nsOp = append(nsOp, float64(elapsed.Nanoseconds())/float64(n))
		allocs = append(allocs, float64(m1.Mallocs-m0.Mallocs)/float64(n))
		env.logf("decide run %d: %.0f ns/op, %d decisions", run+1, nsOp[run], n)
	}
	_ = sink
	return &DecideResult{NsPerOp: round(Median(nsOp), 1), AllocsPerOp: round(Median(allocs), 2)}, nil
}
