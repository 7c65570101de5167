package engine_test

// TestDecidePure holds Decide to being a pure function of its input: no
// clock, no hidden state, no writes to what it is given, no output that
// shares memory with its input.

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// spare returns a copy of s with room for three more elements, that room
// filled with sentinel: a write through a slice that aliases s's array (an
// append to an input) lands there and shows.
func spare[T any](s []T, sentinel T) []T {
	out := make([]T, len(s), len(s)+3)
	copy(out, s)
	full := out[:cap(out)]
	for i := len(s); i < len(full); i++ {
		full[i] = sentinel
	}
	return out
}

// state is a pass, its card and its usage, as the Validator holds them.
type state struct {
	pass  engine.Pass
	card  engine.Card
	usage engine.Usage
}

// copyState returns a deep copy of s whose slices have sentinel-filled
// spare room.
func copyState(s *state) *state {
	c := &state{pass: s.pass, card: s.card}
	c.pass.Cards = spare(s.pass.Cards, "SENTINEL")
	c.card.Passes = spare(s.card.Passes, "SENTINEL")
	c.usage.Visits = spare(s.usage.Visits, engine.Visit{Venue: "SENTINEL"})
	return c
}

// full is s with every slice extended to its capacity, so that a
// comparison sees the spare room too.
func full(s *state) state {
	c := *s
	c.pass.Cards = c.pass.Cards[:cap(c.pass.Cards)]
	c.card.Passes = c.card.Passes[:cap(c.card.Passes)]
	c.usage.Visits = c.usage.Visits[:cap(c.usage.Visits)]
	return c
}

// scribble overwrites every element of s's slices, spare room included.
func scribble(s *state) {
	f := full(s)
	for i := range f.pass.Cards {
		f.pass.Cards[i] = "SCRIBBLED"
	}
	for i := range f.card.Passes {
		f.card.Passes[i] = "SCRIBBLED"
	}
	for i := range f.usage.Visits {
		f.usage.Visits[i] = engine.Visit{Venue: "SCRIBBLED", At: time.Unix(1, 0)}
	}
}

func TestDecidePure(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 6))
	gates := []string{"mucem/g1", "mucem/g2", "vieux-port/a", "chateau-if/a", "rtm-metro/a", "rtm-bus/7", "zoo/a"}
	products := []string{"cp24-adult", "cp24-child", "cp72-adult", "cd4-adult", "venue48", "daily3", "multi", "soft-gate", "hard-gate"}
	checked := map[engine.Reason]int{}
	for _, product := range products {
		e := newDecideEnv(t, product)
		tariffBefore := loadFixture("paris")
		s := &state{pass: e.pass.Clone(), card: e.card.Clone(), usage: e.usage.Clone()}
		at := e.pass.SoldAt.Add(time.Hour)
		var counter uint32 = 10
		for i := range 60 {
			at = at.Add(time.Duration(rng.IntN(240)) * time.Minute)
			tap := engine.Tap{ID: engine.TapID{Device: fmt.Sprintf("d%d", rng.IntN(3)), Seq: uint64(i + 1)},
				Card: "04AA", Gate: gates[rng.IntN(len(gates))], At: at}
			if rng.IntN(5) == 0 {
				tap.Direction = engine.Exit
			}
			if rng.IntN(3) > 0 {
				counter += uint32(rng.IntN(3)) // sometimes the same: REPLAYED
				tap.Counter, tap.HasCounter = counter, true
			}
			tap.ProofFailed = rng.IntN(20) == 0
			if rng.IntN(10) == 0 {
				s.card.Blocked = !s.card.Blocked
			}

			ref := copyState(s)
			a, b := copyState(s), copyState(s)
			tapRef, tapA, tapB := tap, tap, tap
			input := func(st *state, tp *engine.Tap) *engine.Input {
				in := e.input(tp)
				in.Pass, in.Card, in.Usage = &st.pass, &st.card, &st.usage
				return in
			}
			var dA, dB engine.Decision
			var effA, effB engine.Effects
			// The two calls see clocks thirty years apart (synctest's fake
			// time starts in 2000; the taps are in 2026): a clock read
			// anywhere in Decide changes an answer.
			synctest.Test(t, func(t *testing.T) {
				dA, effA = engine.Decide(input(a, &tapA))
				time.Sleep(30 * 365 * 24 * time.Hour)
				dB, effB = engine.Decide(input(b, &tapB))
			})
			require.Equal(t, dA, dB, "seed %d, %s tap %d: the answer depends on the clock or on hidden state", seed, product, i)
			require.Equal(t, effA, effB, "seed %d, %s tap %d", seed, product, i)

			// Nothing it was given changed, the spare room of its slices
			// included.
			require.Equal(t, full(ref), full(a), "seed %d, %s tap %d: Decide wrote to its input", seed, product, i)
			require.Equal(t, tapRef, tapA, "seed %d, %s tap %d: Decide wrote to the tap", seed, product, i)
			require.True(t, reflect.DeepEqual(tariffBefore, e.t), "seed %d, %s tap %d: Decide wrote to the tariff", seed, product, i)

			// Its output shares no memory with its input.
			wantD, wantEff := dA, effA
			scribble(a)
			tapA = engine.Tap{Card: "SCRIBBLED"}
			require.Equal(t, wantD, dA, "seed %d, %s tap %d: the decision shares memory with the input", seed, product, i)
			require.Equal(t, wantEff, effA, "seed %d, %s tap %d: the effects share memory with the input", seed, product, i)

			checked[dB.Reason]++
			effB.Apply(&s.pass, &s.card, &s.usage)
		}
	}
	t.Logf("decisions checked by reason: %v", checked)
	require.Greater(t, checked[engine.ReasonOK], 20, "too few accepts to prove anything")
	require.Greater(t, len(checked), 4, "too few kinds of decision to prove anything")
}
