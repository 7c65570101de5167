package engine_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// TestUsageIsASet: whatever the order visits arrive in, and however often
// each arrives, the usage holds each tap id once in canonical order.
func TestUsageIsASet(t *testing.T) {
	for seed := range uint64(200) {
		rng := rand.New(rand.NewPCG(seed, 1))
		base := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
		var all []engine.Visit
		for i := range 1 + rng.IntN(20) {
			all = append(all, engine.Visit{
				Tap: engine.TapID{Device: fmt.Sprintf("d%d", rng.IntN(3)), Seq: uint64(i)},
				// few distinct times, so ties are broken by device and seq
				At:    base.Add(time.Duration(rng.IntN(4)) * time.Minute),
				Venue: "v", Gate: "v/g",
			})
		}
		var want engine.Usage
		for _, v := range all {
			require.True(t, want.Add(v))
		}
		for i := 1; i < len(want.Visits); i++ {
			require.Negative(t, engine.CompareVisits(&want.Visits[i-1], &want.Visits[i]), "seed %d: canonical order", seed)
		}
		// shuffled, each visit one to three times, split over two usages merged
		var a, b engine.Usage
		in := slices.Clone(all)
		for _, v := range all {
			for range rng.IntN(3) {
				in = append(in, v)
			}
		}
		rng.Shuffle(len(in), func(i, j int) { in[i], in[j] = in[j], in[i] })
		for i, v := range in {
			if i%2 == 0 {
				a.Add(v)
			} else {
				b.Add(v)
			}
		}
		ab, ba := a.Clone(), b.Clone()
		ab.Merge(&b)
		ba.Merge(&a)
		assert.Equal(t, want, ab, "seed %d", seed)
		assert.Equal(t, want, ba, "seed %d", seed)
		assert.Zero(t, ab.Merge(&want), "seed %d: merging again adds nothing", seed)
	}
}

func TestUsageLastInScope(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 11, 23, h, m, 0, 0, time.UTC) }
	u := usageOf(visit("rtm-metro/a", at(11, 0)), visit("rtm-metro/b", at(11, 30)), visit("mucem/g1", at(12, 0)))
	assert.Equal(t, at(11, 0), u.LastInScope(tariff.ScopeGate, "rtm-metro", "rtm-metro/a", at(12, 30)))
	assert.Equal(t, at(11, 30), u.LastInScope(tariff.ScopeVenue, "rtm-metro", "rtm-metro/a", at(12, 30)))
	assert.Equal(t, at(12, 0), u.LastInScope(tariff.ScopeSystem, "rtm-metro", "rtm-metro/a", at(12, 30)))
	assert.Equal(t, at(11, 0), u.LastInScope(tariff.ScopeSystem, "rtm-metro", "rtm-metro/a", at(11, 29)), "later visits are not looked at")
	assert.Equal(t, at(11, 30), u.LastInScope(tariff.ScopeVenue, "rtm-metro", "", at(11, 30)), "a visit at the tap's own instant counts")
	assert.True(t, u.LastInScope(tariff.ScopeVenue, "rtm-metro", "", at(10, 59)).IsZero())
}

// TestPassbackAtTheTapsTime is issue 20 item 6: the same four taps (18 min
// hard passback at the venue) replayed out of time order (12:00, 11:00,
// 11:05, 11:10) give the decisions they get in time order. In any arrival
// order, a tap is judged against the accepted entries at or before its own
// time that were known when it arrived.
func TestPassbackAtTheTapsTime(t *testing.T) {
	const window = 18 * time.Minute
	times := []string{"11:00", "11:05", "11:10", "12:00"}
	inTimeOrder := map[string]engine.Reason{"11:00": engine.ReasonOK, "11:05": engine.ReasonPassback,
		"11:10": engine.ReasonPassback, "12:00": engine.ReasonOK}
	orders := [][]int{{0, 1, 2, 3}, {3, 0, 1, 2}}
	for seed := range uint64(50) {
		orders = append(orders, rand.New(rand.NewPCG(seed, 3)).Perm(len(times)))
	}
	for _, order := range orders {
		v, _ := newValidator(t)
		ctx := context.Background()
		_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04C00001", At: paris(t, "2026-11-23T08:00")})
		require.NoError(t, err)
		got := map[string]engine.Reason{}
		var accepted []time.Time // in arrival order
		for seq, i := range order {
			at := paris(t, "2026-11-23T"+times[i])
			res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "bus-83", Seq: uint64(seq + 1)},
				Card: "04C00001", Gate: "rtm-metro/a", At: at})
			require.NoError(t, err)
			got[times[i]] = res.Decision.Reason
			inWindow := false
			for _, a := range accepted {
				if !a.After(at) && at.Before(a.Add(window)) {
					inWindow = true
				}
			}
			if inWindow {
				assert.Equal(t, engine.ReasonPassback, res.Decision.Reason, "order %v, %s", order, times[i])
			} else {
				assert.Equal(t, engine.ReasonOK, res.Decision.Reason, "order %v, %s", order, times[i])
				accepted = append(accepted, at)
			}
		}
		if slices.Equal(order, []int{0, 1, 2, 3}) || slices.Equal(order, []int{3, 0, 1, 2}) {
			assert.Equal(t, inTimeOrder, got, "order %v", order)
		}
	}
}

// TestLaterVisitsDoNotChangeADecision: for a product without entry limits,
// a tap's decision is the same whether or not the pass has accepted
// entries later than the tap (a late upload is judged as at its time).
func TestLaterVisitsDoNotChangeADecision(t *testing.T) {
	denied := 0
	for _, product := range []string{"soft-gate", "hard-gate", "system"} {
		for seed := range uint64(300) {
			rng := rand.New(rand.NewPCG(seed, 2))
			e := newDecideEnv(t, product)
			e.pass.ActivatedAt = e.pass.SoldAt.Add(time.Hour)
			e.pass.ValidUntil, e.pass.Status = e.pass.ActivatedAt.Add(24*time.Hour), engine.PassActive
			gates := []string{"rtm-metro/a", "rtm-metro/b", "rtm-bus/83", "mucem/g1"}
			transit := gates[:3] // unlimited: only passback can deny
			for i := range rng.IntN(8) {
				g := gates[rng.IntN(len(gates))]
				e.usage.Add(engine.Visit{Tap: engine.TapID{Device: "x", Seq: uint64(i)},
					At: e.pass.ActivatedAt.Add(time.Duration(rng.IntN(300)) * time.Minute), Venue: venueOf(g), Gate: g})
			}
			g := transit[rng.IntN(len(transit))]
			tap := engine.Tap{ID: engine.TapID{Device: "late", Seq: 1}, Card: "04AA", Gate: g,
				At: e.pass.ActivatedAt.Add(time.Duration(rng.IntN(300)) * time.Minute)}
			full, _ := engine.Decide(e.input(&tap))
			var before engine.Usage
			for _, vis := range e.usage.Visits {
				if !vis.At.After(tap.At) {
					before.Add(vis)
				}
			}
			e.usage = before
			cut, _ := engine.Decide(e.input(&tap))
			require.Equal(t, cut, full, "%s seed %d", product, seed)
			if full.Reason == engine.ReasonPassback || full.Flags&engine.FlagPassbackSoft != 0 {
				denied++
			}
		}
	}
	assert.Greater(t, denied, 50, "the seeds exercise passback")
}

// TestLateTapMovesActivationEarlier: a first_use pass activated at 12:00
// that then learns of an accepted entry at 10:00 starts at 10:00, as the
// hub's merge rule says (activation = the earliest activating entry).
func TestLateTapMovesActivationEarlier(t *testing.T) {
	v, _ := newValidator(t)
	ctx := context.Background()
	sold, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04C00001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "g", Seq: 1}, Card: "04C00001", Gate: "mucem/g1", At: paris(t, "2026-11-23T12:00")})
	require.NoError(t, err)
	require.True(t, res.Decision.Accept)
	assert.True(t, res.Decision.ValidUntil.Equal(paris(t, "2026-11-24T12:00")))
	res, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "g", Seq: 2}, Card: "04C00001", Gate: "rtm-metro/a", At: paris(t, "2026-11-23T10:00")})
	require.NoError(t, err)
	require.True(t, res.Decision.Accept)
	assert.Equal(t, []string{"ACTIVATED"}, res.Decision.Flags.Names())
	assert.True(t, res.Decision.ValidUntil.Equal(paris(t, "2026-11-24T10:00")))
	view, err := v.ShowPass(ctx, sold.ID)
	require.NoError(t, err)
	assert.Equal(t, "2026-11-23T10:00:00+01:00", view.ActivatedAt)
	assert.Equal(t, "2026-11-24T10:00:00+01:00", view.ValidUntil)
	// A tap between the two is inside the earlier validity and activates nothing.
	res, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "g", Seq: 3}, Card: "04C00001", Gate: "vieux-port/g1", At: paris(t, "2026-11-23T11:00")})
	require.NoError(t, err)
	assert.True(t, res.Decision.Accept)
	assert.Empty(t, res.Decision.Flags.Names())
}

func venueOf(gate string) string {
	v, _, _ := tariff.SplitGate(gate)
	return v
}
