package engine_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// decideEnv is one pass on the "paris" fixture tariff, ready for Decide.
type decideEnv struct {
	t     *tariff.Tariff
	prod  *tariff.Product
	pass  engine.Pass
	card  engine.Card
	usage engine.Usage
}

// visit is an accepted entry through gate at t, by a tap of its own.
func visit(gate string, t time.Time) engine.Visit {
	venue, _, _ := strings.Cut(gate, "/")
	return engine.Visit{Tap: engine.TapID{Device: "v-" + gate, Seq: uint64(t.Unix())}, At: t, Venue: venue, Gate: gate}
}

func usageOf(vs ...engine.Visit) engine.Usage {
	var u engine.Usage
	for _, v := range vs {
		u.Add(v)
	}
	return u
}

func newDecideEnv(tb testing.TB, product string) *decideEnv {
	tb.Helper()
	t := fixtureTariff("paris")
	var prod *tariff.Product
	for i := range t.Products {
		if t.Products[i].ID == product {
			prod = &t.Products[i]
		}
	}
	require.NotNil(tb, prod, product)
	sold := time.Date(2026, 11, 23, 8, 0, 0, 0, t.Location)
	return &decideEnv{t: t, prod: prod,
		pass: engine.Pass{ID: "P-1", TariffVersion: t.ID, Product: prod.ID, Category: prod.Category, Card: "04AA",
			Cards: []string{"04AA"}, SoldAt: sold, Status: engine.PassSold, ActivateBy: sold.Add(prod.ActivateWithin)},
		card: engine.Card{UID: "04AA", Passes: []string{"P-1"}}}
}

func (e *decideEnv) venue(id string) *tariff.Venue {
	for i := range e.t.Venues {
		if e.t.Venues[i].ID == id {
			return &e.t.Venues[i]
		}
	}
	return nil
}

func (e *decideEnv) input(tap *engine.Tap) *engine.Input {
	v, _, _ := tariff.SplitGate(tap.Gate)
	return &engine.Input{Tap: tap, Tariff: e.t, Product: e.prod, Venue: e.venue(v), Pass: &e.pass, Card: &e.card, Usage: &e.usage}
}

// decide decides a tap and applies its effects, as the Validator does.
func (e *decideEnv) decide(tap engine.Tap) engine.Decision {
	d, eff := engine.Decide(e.input(&tap))
	eff.Apply(&e.pass, &e.card, &e.usage)
	return d
}

func TestDecide(t *testing.T) {
	paris := fixtureTariff("paris").Location
	at := func(day, h, m int) time.Time { return time.Date(2026, 11, day, h, m, 0, 0, paris) }
	tap := func(gate string, when time.Time) engine.Tap {
		return engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04AA", Gate: gate, At: when}
	}
	tests := []struct {
		name    string
		product string
		setup   func(e *decideEnv)
		tap     engine.Tap
		accept  bool
		reason  engine.Reason
		flags   engine.Flags
	}{
		{name: "first use activates", product: "cp24-adult", tap: tap("mucem/g1", at(23, 10, 0)),
			accept: true, flags: engine.FlagActivated},
		{name: "child attention", product: "cp24-child", tap: tap("mucem/g1", at(23, 10, 0)),
			accept: true, flags: engine.FlagActivated | engine.FlagAttention},
		{name: "unknown card", product: "cp24-adult", setup: func(e *decideEnv) {}, tap: tap("mucem/g1", at(23, 10, 0)),
			reason: engine.ReasonInvalid},
		{name: "proof failed beats everything", product: "cp24-adult",
			setup:  func(e *decideEnv) { e.card.Blocked = true },
			tap:    engine.Tap{Card: "04AA", Gate: "mucem/g1", At: at(23, 10, 0), ProofFailed: true, Direction: engine.Exit},
			reason: engine.ReasonInvalid},
		{name: "replayed before exit", product: "cp24-adult",
			setup:  func(e *decideEnv) { e.card.LastCounter, e.card.HasCounter = 5, true },
			tap:    engine.Tap{Card: "04AA", Gate: "mucem/g1", At: at(23, 10, 0), Counter: 5, HasCounter: true, Direction: engine.Exit},
			reason: engine.ReasonReplayed},
		{name: "exit of revoked card", product: "cp24-adult",
			setup:  func(e *decideEnv) { e.card.Revoked = true },
			tap:    engine.Tap{Card: "04AA", Gate: "zoo/g1", At: at(20, 10, 0), Direction: engine.Exit},
			accept: true},
		{name: "revoked before blocked", product: "cp24-adult",
			setup: func(e *decideEnv) { e.card.Revoked, e.card.Blocked = true, true },
			tap:   tap("mucem/g1", at(23, 10, 0)), reason: engine.ReasonRevoked},
		{name: "blocked before canceled", product: "cp24-adult",
			setup: func(e *decideEnv) { e.card.Blocked, e.pass.Status = true, engine.PassRefunded },
			tap:   tap("mucem/g1", at(23, 10, 0)), reason: engine.ReasonBlocked},
		{name: "canceled before product", product: "cp24-adult",
			setup: func(e *decideEnv) { e.pass.Status = engine.PassRefunded },
			tap:   tap("zoo/g1", at(23, 10, 0)), reason: engine.ReasonCanceled},
		{name: "product before not yet valid", product: "cp24-adult",
			tap: tap("zoo/g1", at(20, 10, 0)), reason: engine.ReasonProduct},
		{name: "zone not listed", product: "cp24-adult",
			tap: tap("airport-shuttle/1", at(23, 10, 0)), reason: engine.ReasonProduct},
		{name: "before sale", product: "cp24-adult",
			tap: tap("mucem/g1", at(23, 7, 59)), reason: engine.ReasonNotYetValid},
		{name: "at the sale instant", product: "cp24-adult",
			tap: tap("mucem/g1", at(23, 8, 0)), accept: true, flags: engine.FlagActivated},
		{name: "not yet valid before expired", product: "fixed48",
			setup: func(e *decideEnv) {
				e.pass.FixedStart, e.pass.ValidUntil = at(27, 0, 0), at(29, 0, 0)
				e.pass.ActivatedAt, e.pass.Status = at(27, 0, 0), engine.PassActive
			},
			tap: tap("mucem/g1", at(26, 23, 0)), reason: engine.ReasonNotYetValid},
		{name: "activation deadline", product: "short",
			setup: func(e *decideEnv) { e.pass.ActivateBy = at(25, 8, 0) },
			tap:   tap("mucem/g1", at(25, 8, 0)), reason: engine.ReasonExpired},
		{name: "expired before passback", product: "cp24-adult",
			setup: func(e *decideEnv) {
				e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = at(23, 10, 0), at(24, 10, 0), engine.PassActive
				e.usage = usageOf(visit("rtm-metro/a", at(24, 9, 55)))
			},
			tap: tap("rtm-metro/a", at(24, 10, 0)), reason: engine.ReasonExpired},
		{name: "passback before limit", product: "system",
			setup: func(e *decideEnv) {
				e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = at(23, 10, 0), at(24, 10, 0), engine.PassActive
				e.usage = usageOf(visit("mucem/g2", at(23, 10, 0)))
			},
			tap: tap("mucem/g1", at(23, 10, 10)), reason: engine.ReasonPassback},
		{name: "soft passback then limit", product: "soft-gate",
			setup: func(e *decideEnv) {
				e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = at(23, 10, 0), at(24, 10, 0), engine.PassActive
				e.usage = usageOf(visit("rtm-metro/a", at(23, 10, 0)))
			},
			tap: tap("rtm-metro/a", at(23, 10, 5)), accept: true, flags: engine.FlagPassbackSoft},
		{name: "once used", product: "cp24-adult",
			setup: func(e *decideEnv) {
				e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = at(23, 10, 0), at(24, 10, 0), engine.PassActive
				e.usage = usageOf(visit("mucem/g1", at(23, 10, 0)))
			},
			tap: tap("mucem/g2", at(23, 15, 0)), reason: engine.ReasonAlreadyRedeemed},
		{name: "once per day, other day", product: "daily3",
			setup: func(e *decideEnv) {
				e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = at(23, 10, 0), at(26, 0, 0), engine.PassActive
				e.usage = usageOf(visit("mucem/g1", at(23, 10, 0)))
			},
			tap: tap("mucem/g1", at(24, 0, 0)), accept: true},
		{name: "once per day, same day", product: "daily3",
			setup: func(e *decideEnv) {
				e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = at(23, 10, 0), at(26, 0, 0), engine.PassActive
				e.usage = usageOf(visit("mucem/g1", at(23, 10, 0)))
			},
			tap: tap("mucem/g1", at(23, 23, 59)), reason: engine.ReasonAlreadyRedeemed},
		{name: "first venue: transit does not activate", product: "venue48",
			tap: tap("rtm-metro/a", at(23, 10, 0)), accept: true},
		{name: "at sale never activated", product: "atsale24",
			setup: func(e *decideEnv) {
				e.pass.FixedStart, e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = at(23, 8, 0), at(23, 8, 0), at(24, 8, 0), engine.PassActive
			},
			tap: tap("mucem/g1", at(24, 7, 30)), accept: true, flags: engine.FlagWarnExpiring},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDecideEnv(t, tt.product)
			if tt.setup != nil {
				tt.setup(e)
			}
			in := e.input(&tt.tap)
			if tt.name == "unknown card" {
				in.Card, in.Pass, in.Product, in.Tariff, in.Usage = nil, nil, nil, nil, nil
			}
			d, eff := engine.Decide(in)
			assert.Equal(t, tt.accept, d.Accept, "accept")
			assert.Equal(t, tt.reason, d.Reason, "reason %s", d.Reason)
			assert.Equal(t, tt.flags.Names(), d.Flags.Names(), "flags")
			if !d.Accept || tt.tap.Direction == engine.Exit {
				assert.False(t, eff.CountEntry || eff.Activate, "a deny or exit counts nothing")
			} else {
				assert.True(t, eff.CountEntry)
				assert.Equal(t, d.Flags&engine.FlagActivated != 0, eff.Activate)
			}
		})
	}
}

// TestDecideStale: check 6a and the flag STALE (docs/semantics.md, "Offline
// policy") at their edges: staleness = tap time − state_as_of, stale only
// beyond max_staleness; exits and the list checks before it; zero
// state_as_of (the hub, a standalone ledger) is never stale.
func TestDecideStale(t *testing.T) {
	paris := fixtureTariff("paris").Location
	asOf := time.Date(2026, 11, 23, 9, 0, 0, 0, paris) // the pass is sold at 08:00
	tap := func(gate string, staleness time.Duration) engine.Tap {
		return engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04AA", Gate: gate, At: asOf.Add(staleness)}
	}
	exit := func(tp engine.Tap) engine.Tap { tp.Direction = engine.Exit; return tp }
	used := func(e *decideEnv) {
		e.pass.ActivatedAt, e.pass.ValidUntil, e.pass.Status = asOf, asOf.Add(24*time.Hour), engine.PassActive
		e.usage = usageOf(visit("mucem/g1", asOf))
	}
	const ns = time.Nanosecond
	tests := []struct {
		name    string
		product string
		zero    bool // no state_as_of (the hub, a standalone ledger)
		setup   func(e *decideEnv)
		tap     engine.Tap
		accept  bool
		reason  engine.Reason
		flags   engine.Flags
	}{
		// when_stale = "deny", max_staleness = 30m
		{name: "deny: fresh", product: "offline-deny", tap: tap("mucem/g1", time.Minute), accept: true, flags: engine.FlagActivated},
		{name: "deny: exactly max_staleness", product: "offline-deny", tap: tap("mucem/g1", 30*time.Minute), accept: true, flags: engine.FlagActivated},
		{name: "deny: one ns over", product: "offline-deny", tap: tap("mucem/g1", 30*time.Minute+ns), reason: engine.ReasonStale},
		{name: "deny: a day over", product: "offline-deny", tap: tap("rtm-metro/a", 25*time.Hour), reason: engine.ReasonStale},
		{name: "deny: tap before state_as_of", product: "offline-deny", tap: tap("mucem/g1", -30*time.Minute), accept: true, flags: engine.FlagActivated},
		{name: "deny: standalone, never stale", product: "offline-deny", zero: true, tap: tap("mucem/g1", 20*time.Hour), accept: true, flags: engine.FlagActivated},
		{name: "deny: exit never stale", product: "offline-deny", tap: exit(tap("mucem/g1", 5*time.Hour)), accept: true},
		{name: "deny: exit of a blocked card never stale", product: "offline-deny", setup: func(e *decideEnv) { e.card.Blocked = true },
			tap: exit(tap("mucem/g1", 5*time.Hour)), accept: true},
		{name: "deny: replayed first", product: "offline-deny", setup: func(e *decideEnv) { e.card.LastCounter, e.card.HasCounter = 9, true },
			tap: engine.Tap{Card: "04AA", Gate: "mucem/g1", At: asOf.Add(5 * time.Hour), Counter: 9, HasCounter: true}, reason: engine.ReasonReplayed},
		{name: "deny: revoked first", product: "offline-deny", setup: func(e *decideEnv) { e.card.Revoked = true },
			tap: tap("mucem/g1", 5*time.Hour), reason: engine.ReasonRevoked},
		{name: "deny: blocked first", product: "offline-deny", setup: func(e *decideEnv) { e.card.Blocked = true },
			tap: tap("mucem/g1", 5*time.Hour), reason: engine.ReasonBlocked},
		{name: "deny: canceled first", product: "offline-deny", setup: func(e *decideEnv) { e.pass.Status = engine.PassRefunded },
			tap: tap("mucem/g1", 5*time.Hour), reason: engine.ReasonCanceled},
		{name: "deny: stale before product", product: "offline-deny", tap: tap("zoo/g1", 5*time.Hour), reason: engine.ReasonStale},
		{name: "deny: product when fresh", product: "offline-deny", tap: tap("zoo/g1", 5*time.Minute), reason: engine.ReasonProduct},
		{name: "deny: stale before already redeemed", product: "offline-deny", setup: used, tap: tap("mucem/g2", 31*time.Minute), reason: engine.ReasonStale},
		{name: "deny: stale before expired", product: "offline-deny", setup: used, tap: tap("rtm-metro/a", 48*time.Hour), reason: engine.ReasonStale},
		// when_stale = "accept", max_staleness = 2h
		{name: "accept: exactly max_staleness", product: "offline-accept", tap: tap("mucem/g1", 2*time.Hour), accept: true, flags: engine.FlagActivated},
		{name: "accept: one ns over", product: "offline-accept", tap: tap("mucem/g1", 2*time.Hour+ns), accept: true, flags: engine.FlagActivated | engine.FlagStale},
		{name: "accept: stale decides on the local state", product: "offline-accept", setup: used, tap: tap("mucem/g2", 3*time.Hour), reason: engine.ReasonAlreadyRedeemed},
		{name: "accept: stale and not included", product: "offline-accept", tap: tap("zoo/g1", 3*time.Hour), reason: engine.ReasonProduct},
		{name: "accept: stale exit carries no flag", product: "offline-accept", tap: exit(tap("mucem/g1", 3*time.Hour)), accept: true},
		{name: "accept: standalone", product: "offline-accept", zero: true, tap: tap("mucem/g1", 3*time.Hour), accept: true, flags: engine.FlagActivated},
		// no [product.offline]: 24h, accept
		{name: "default: exactly 24h", product: "cp24-adult", tap: tap("mucem/g1", 24*time.Hour), accept: true, flags: engine.FlagActivated},
		{name: "default: one ns over", product: "cp24-adult", tap: tap("mucem/g1", 24*time.Hour+ns), accept: true, flags: engine.FlagActivated | engine.FlagStale},
		{name: "default: with other flags", product: "cp24-child", tap: tap("mucem/g1", 25*time.Hour), accept: true,
			flags: engine.FlagActivated | engine.FlagAttention | engine.FlagStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newDecideEnv(t, tt.product)
			if tt.setup != nil {
				tt.setup(e)
			}
			in := e.input(&tt.tap)
			if !tt.zero {
				in.StateAsOf = asOf
			}
			d, eff := engine.Decide(in)
			assert.Equal(t, tt.accept, d.Accept, "accept (reason %s)", d.Reason)
			assert.Equal(t, tt.reason, d.Reason, "reason %s", d.Reason)
			assert.Equal(t, tt.flags.Names(), d.Flags.Names(), "flags")
			if !d.Accept || tt.tap.Direction == engine.Exit {
				assert.False(t, eff.CountEntry || eff.Activate, "a deny or exit counts nothing")
			}
			// The same tap without state_as_of is never STALE.
			in.StateAsOf = time.Time{}
			d0, _ := engine.Decide(in)
			assert.NotEqual(t, engine.ReasonStale, d0.Reason)
			assert.Zero(t, d0.Flags&engine.FlagStale)
			if d.Reason != engine.ReasonStale {
				assert.Equal(t, d.Reason, d0.Reason, "staleness changes only check 6a and the flag")
				assert.Equal(t, d.Flags&^engine.FlagStale, d0.Flags)
			}
		})
	}
}

// TestDecideSequence applies effects tap after tap, as the Validator does.
func TestDecideSequence(t *testing.T) {
	e := newDecideEnv(t, "cp24-adult")
	start := e.pass.SoldAt.Add(2 * time.Hour)
	d := e.decide(engine.Tap{Card: "04AA", Gate: "mucem/g1", At: start})
	require.True(t, d.Accept)
	assert.Equal(t, start.Add(24*time.Hour), d.ValidUntil)
	assert.Equal(t, engine.PassActive, e.pass.Status)
	assert.Equal(t, 1, e.usage.VenueEntries("mucem"))
	assert.Equal(t, 1, e.usage.VenueDayEntries("mucem", e.t, e.t.ServiceDay(start)))
	assert.Equal(t, start, e.usage.LastInScope(tariff.ScopeGate, "mucem", "mucem/g1", start))
	d = e.decide(engine.Tap{Card: "04AA", Gate: "mucem/g1", At: start.Add(time.Hour), Direction: engine.Exit})
	assert.True(t, d.Accept)
	assert.Equal(t, 1, e.usage.VenueEntries("mucem"), "exits count nothing")
	d = e.decide(engine.Tap{Card: "04AA", Gate: "mucem/g1", At: start.Add(2 * time.Hour)})
	assert.Equal(t, engine.ReasonAlreadyRedeemed, d.Reason)
	assert.Equal(t, 1, e.usage.VenueEntries("mucem"), "denies count nothing")
}

func TestValidityEnd(t *testing.T) {
	paris := fixtureTariff("paris")
	early := fixtureTariff("paris-0430")
	loc := paris.Location
	cd3 := &tariff.Product{Clock: tariff.ClockCalendarDays, Days: 3}
	h72 := &tariff.Product{Clock: tariff.ClockElapsed, Duration: 72 * time.Hour}
	spring := time.Date(2026, 3, 28, 12, 0, 0, 0, loc)
	assert.Equal(t, time.Date(2026, 3, 31, 13, 0, 0, 0, loc), engine.ValidityEnd(paris, h72, spring))
	assert.Equal(t, time.Date(2026, 3, 31, 0, 0, 0, 0, loc), engine.ValidityEnd(paris, cd3, spring))
	night := time.Date(2026, 11, 26, 2, 0, 0, 0, loc)
	assert.Equal(t, time.Date(2026, 11, 28, 4, 30, 0, 0, loc), engine.ValidityEnd(early, cd3, night))
	assert.Equal(t, time.Date(2026, 11, 29, 0, 0, 0, 0, loc), engine.ValidityEnd(paris, cd3, night))
}

// BenchmarkDecide measures one accepted entry on a pass with some history.
func BenchmarkDecide(b *testing.B) {
	e := newDecideEnv(b, "daily3")
	start := e.pass.SoldAt.Add(time.Hour)
	for i, g := range []string{"mucem/g1", "chateau-if/quai", "vieux-port/g1"} {
		e.decide(engine.Tap{Card: "04AA", Gate: g, At: start.Add(time.Duration(i) * time.Hour)})
	}
	tap := engine.Tap{ID: engine.TapID{Device: "d", Seq: 9}, Card: "04AA", Gate: "mucem/g1", At: start.Add(25 * time.Hour),
		Counter: 7, HasCounter: true}
	in := e.input(&tap)
	b.ReportAllocs()
	for b.Loop() {
		d, _ := engine.Decide(in)
		if !d.Accept {
			b.Fatal(d.Reason)
		}
	}
}
