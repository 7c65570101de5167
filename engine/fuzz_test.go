package engine_test

import (
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

var fuzzGates = []string{"mucem/g1", "mucem/g2", "vieux-port/g1", "chateau-if/quai", "zoo/g1",
	"rtm-metro/a", "rtm-metro/b", "rtm-bus/83", "airport-shuttle/1"}

// FuzzDecide drives one pass of any fixture product through a sequence of
// taps, list changes and state_as_of changes (a fleet node hearing from its
// hub), applying effects as the Validator does, and checks the invariants of
// docs/semantics.md ("Order of checks", "Offline policy") after every
// decision.
func FuzzDecide(f *testing.F) {
	f.Add(uint8(0), []byte{0, 0, 10, 0, 5, 20, 1, 0, 30, 0, 0, 200})
	f.Add(uint8(5), []byte{0, 5, 1, 0, 3, 5, 0, 0, 255, 0, 0, 255, 0, 0, 255})
	f.Add(uint8(6), []byte{0, 0, 60, 0, 0, 60, 0, 0, 200, 0, 0, 200, 0, 0, 200})
	f.Add(uint8(7), []byte{0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1, 0, 0, 1})
	f.Add(uint8(8), []byte{0, 5, 1, 0, 5, 9, 0, 6, 9, 0, 5, 9})
	f.Add(uint8(11), []byte{2, 0, 0, 0, 0, 10, 3, 0, 0, 0, 0, 10, 4, 0, 0, 0, 1, 5})
	f.Add(uint8(16), []byte{6, 1, 0, 0, 0, 10, 0, 0, 30, 0, 5, 30, 1, 0, 40, 6, 0, 0, 0, 0, 1})
	f.Add(uint8(17), []byte{6, 11, 0, 0, 0, 60, 0, 1, 1, 0, 2, 1, 0, 3, 90, 6, 0, 5, 0, 0, 1})
	f.Fuzz(func(t *testing.T, prodIdx uint8, ops []byte) {
		tt := fixtureTariff("paris")
		if len(ops) > 600 {
			ops = ops[:600]
		}
		prod := &tt.Products[int(prodIdx)%len(tt.Products)]
		e := &decideEnv{t: tt, prod: prod}
		sold := time.Date(2026, 10, 23, 8, 0, 0, 0, tt.Location)
		e.pass = engine.Pass{ID: "P-1", Product: prod.ID, Category: prod.Category, SoldAt: sold, Status: engine.PassSold}
		e.card = engine.Card{UID: "04AA", Passes: []string{"P-1"}}
		switch {
		case prod.Clock == tariff.ClockFixed || prod.Activation == tariff.ActivationFixedStart:
			start := tt.DayStart(tt.ServiceDay(sold).AddDays(1))
			e.pass.FixedStart, e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = start, start, engine.ValidityEnd(tt, prod, start), engine.PassActive
		case prod.Activation == tariff.ActivationAtSale:
			e.pass.FixedStart, e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = sold, sold, engine.ValidityEnd(tt, prod, sold), engine.PassActive
		default:
			e.pass.ActivateBy = sold.Add(prod.ActivateWithin)
		}
		at := sold.Add(-time.Hour)
		counter := uint32(0)
		var asOf time.Time // zero: standalone
		for i := 0; i+2 < len(ops); i += 3 {
			op, arg, step := ops[i], ops[i+1], ops[i+2]
			// steps from a few seconds to about a day and a half
			at = at.Add(time.Duration(step) * time.Duration(step) * 2 * time.Second)
			switch op % 8 {
			case 2:
				e.card.Blocked = true
				continue
			case 3:
				e.card.Blocked = false
				continue
			case 4:
				if e.usage.TotalEntries() == 0 {
					e.pass.Status = engine.PassRefunded
				}
				continue
			case 5:
				e.card.Revoked = arg%4 == 0
				continue
			case 6:
				// The node hears from the hub: its state is complete up
				// to arg² minutes before now (0 to 45 days; arg 0: the
				// hub itself, or a standalone ledger).
				asOf = time.Time{}
				if arg != 0 {
					asOf = at.Add(-time.Duration(arg) * time.Duration(arg) * time.Minute)
				}
				continue
			}
			tap := engine.Tap{ID: engine.TapID{Device: "fuzz", Seq: uint64(i)}, Card: "04AA", Gate: fuzzGates[int(arg)%len(fuzzGates)], At: at}
			if op%8 == 1 {
				tap.Direction = engine.Exit
			}
			if op&0x80 != 0 {
				counter += uint32(op&0x40) / 0x40 // sometimes does not rise
				tap.Counter, tap.HasCounter = counter, true
			}
			tap.ProofFailed = op&0x20 != 0 && arg%7 == 0
			before := e.pass
			blocked, revoked := e.card.Blocked, e.card.Revoked
			in := e.input(&tap)
			in.StateAsOf = asOf
			d, eff := engine.Decide(in)
			// Staleness changes only check 6a and the flag: without it,
			// the same tap decides the same otherwise.
			in.StateAsOf = time.Time{}
			d0, eff0 := engine.Decide(in)
			stale := !asOf.IsZero() && at.Sub(asOf) > prod.Offline.Max()
			if d0.Reason == engine.ReasonStale || d0.Flags&engine.FlagStale != 0 {
				t.Fatalf("STALE without state_as_of: %s %v", d0.Reason, d0.Flags.Names())
			}
			if d.Reason == engine.ReasonStale {
				if !stale || !prod.Offline.Deny() || tap.Direction == engine.Exit {
					t.Fatalf("denied STALE: stale=%v policy=%q direction=%s", stale, prod.Offline.WhenStale, tap.Direction)
				}
				if listed(d0.Reason) {
					t.Fatalf("STALE before %s", d0.Reason)
				}
				if eff.SetCounter != eff0.SetCounter || eff.Counter != eff0.Counter {
					t.Fatal("a STALE denial stores the counter as any tap past REPLAYED does")
				}
			} else {
				if d.Accept != d0.Accept || d.Reason != d0.Reason || d.Flags&^engine.FlagStale != d0.Flags || eff != eff0 {
					t.Fatalf("staleness changed more than the flag: %v %s %v / %v %s %v", d.Accept, d.Reason, d.Flags.Names(), d0.Accept, d0.Reason, d0.Flags.Names())
				}
				if stale && prod.Offline.Deny() && tap.Direction == engine.Entry && !listed(d0.Reason) {
					t.Fatalf("a stale entry decided %s under when_stale = deny", d0.Reason)
				}
				if (d.Flags&engine.FlagStale != 0) != (d.Accept && tap.Direction == engine.Entry && stale) {
					t.Fatalf("flag STALE %v on %s %v, stale=%v", d.Flags.Names(), tap.Direction, d.Accept, stale)
				}
			}
			eff.Apply(&e.pass, &e.card, &e.usage)
			if !d.Accept {
				if eff.CountEntry || eff.Activate {
					t.Fatalf("deny %s with entry effects", d.Reason)
				}
				continue
			}
			if d.Reason != engine.ReasonOK {
				t.Fatalf("accept with reason %s", d.Reason)
			}
			if tap.ProofFailed {
				t.Fatal("accepted a failed proof")
			}
			if tap.Direction == engine.Exit {
				if eff.CountEntry || eff.Activate || d.Flags != 0 {
					t.Fatalf("exit counted or flagged: %+v %v", eff, d.Flags.Names())
				}
				continue
			}
			if blocked || revoked || before.Status == engine.PassRefunded {
				t.Fatalf("accepted an entry: blocked=%v revoked=%v status=%s", blocked, revoked, before.Status)
			}
			if at.Before(e.pass.SoldAt) || (!e.pass.FixedStart.IsZero() && at.Before(e.pass.FixedStart)) {
				t.Fatalf("accepted an entry at %s before validity", at)
			}
			if !e.pass.ValidUntil.IsZero() && !at.Before(e.pass.ValidUntil) {
				t.Fatalf("accepted an entry at %s after validity end %s", at, e.pass.ValidUntil)
			}
			if before.ValidUntil.IsZero() && !before.ActivateBy.IsZero() && !at.Before(before.ActivateBy) {
				t.Fatalf("accepted an entry at %s after the activation deadline %s", at, before.ActivateBy)
			}
			if (d.Flags&engine.FlagActivated != 0) != (before.ValidUntil.IsZero() && !e.pass.ValidUntil.IsZero()) {
				t.Fatalf("ACTIVATED flag %v but validity %s → %s", d.Flags.Names(), before.ValidUntil, e.pass.ValidUntil)
			}
			if d.Flags&engine.FlagWarnExpiring != 0 && d.ValidUntil.Sub(at) >= time.Hour {
				t.Fatal("WARN_EXPIRING with an hour or more left")
			}
			if (d.Flags&engine.FlagAttention != 0) != (prod.Category == "child") {
				t.Fatal("ATTENTION flag does not match the category")
			}
			v, _, _ := tariff.SplitGate(tap.Gate)
			inc, ok := prod.IncludeFor(e.venue(v))
			if !ok {
				t.Fatalf("accepted an entry at %s, not in the product", tap.Gate)
			}
			switch n := e.usage.VenueEntries(v); inc.Limit.Kind {
			case tariff.LimitOnce:
				if n > 1 {
					t.Fatalf("once exceeded at %s: %d", v, n)
				}
			case tariff.LimitN:
				if n > inc.Limit.N {
					t.Fatalf("limit %d exceeded at %s: %d", inc.Limit.N, v, n)
				}
			case tariff.LimitOncePerDay:
				days := map[tariff.Date]int{}
				for _, vis := range e.usage.Visits {
					if vis.Venue == v {
						days[tt.ServiceDay(vis.At)]++
					}
				}
				for day, n := range days {
					if n > 1 {
						t.Fatalf("once_per_day exceeded at %s on %s: %d", v, day, n)
					}
				}
			}
		}
	})
}

// listed reports whether r is decided before check 6a (STALE): by the
// credential or the lists.
func listed(r engine.Reason) bool {
	switch r {
	case engine.ReasonInvalid, engine.ReasonReplayed, engine.ReasonRevoked, engine.ReasonBlocked, engine.ReasonCanceled:
		return true
	}
	return false
}
