package engine

import (
	"time"

	"github.com/citypass/citypass/tariff"
)

// WarnExpiringWithin is how close to the end of validity an accepted entry
// carries FlagWarnExpiring: valid_until - at < 1h (docs/semantics.md, "Order
// of checks").
const WarnExpiringWithin = time.Hour

// Input is everything Decide looks at. Nothing in it is modified.
type Input struct {
	Tap *Tap
	// Tariff and Product are the version and product the pass was sold under;
	// nil when there is no pass.
	Tariff  *tariff.Tariff
	Product *tariff.Product
	// Venue is the gate's venue. It is required for entries.
	Venue *tariff.Venue
	// Pass is the pass the card resolves to; nil for an unknown credential.
	Pass *Pass
	// Card is the card record; nil for an unknown card.
	Card *Card
	// Usage is the pass's usage; nil means none.
	Usage *Usage
	// StateAsOf is the hub time up to which a fleet node's copy of the
	// hub's state is complete (docs/semantics.md, "Offline policy"):
	// staleness at the tap is Tap.At − StateAsOf. Zero on the hub and on a
	// standalone ledger: no staleness.
	StateAsOf time.Time
}

// Effects are the state changes a decision implies. Decide only describes them;
// Apply performs them on copies the caller then stores.
type Effects struct {
	// SetCounter: store Counter as the card's last authenticated counter.
	SetCounter bool
	Counter    uint32
	// Activate: the pass's validity starts at ActivatedAt and ends (exclusive)
	// at ValidUntil.
	Activate    bool
	ActivatedAt time.Time
	ValidUntil  time.Time
	// CountEntry: Visit is an accepted entry to add to the pass's usage; Day
	// is its service day.
	CountEntry bool
	Visit      Visit
	Day        tariff.Date
}

// Changed reports whether applying the effects changes anything.
func (e *Effects) Changed() bool { return e.SetCounter || e.Activate || e.CountEntry }

// Apply performs the effects on a pass, its card and its usage. Nil arguments
// are skipped. Every effect merges rather than overwrites, so applying the
// effects of the same entries in any order, or twice, gives the same state
// (docs/semantics.md, "Usage"): the counter only rises, activation moves
// only earlier, and usage is a set of entries.
func (e *Effects) Apply(p *Pass, c *Card, u *Usage) {
	if e.SetCounter && c != nil && (!c.HasCounter || e.Counter > c.LastCounter) {
		c.LastCounter, c.HasCounter = e.Counter, true
	}
	if e.Activate && p != nil && (p.ActivatedAt.IsZero() || e.ActivatedAt.Before(p.ActivatedAt)) {
		p.ActivatedAt, p.ValidUntil = e.ActivatedAt, e.ValidUntil
		if p.Status == PassSold {
			p.Status = PassActive
		}
	}
	if e.CountEntry && u != nil {
		u.Add(e.Visit)
	}
}

// ValidityEnd returns the exclusive end of validity of a product whose validity
// starts at start (docs/semantics.md, "Validity"): elapsed and fixed clocks add
// Duration of physical time; calendar_days ends at the start of service day
// Days+1, counting the day of start as day 1.
func ValidityEnd(t *tariff.Tariff, p *tariff.Product, start time.Time) time.Time {
	if p.Clock == tariff.ClockCalendarDays {
		return t.DayStart(t.ServiceDay(start).AddDays(p.Days))
	}
	return start.Add(p.Duration)
}

// Decide answers a tap. It is a pure function of its input: no clock, no I/O, no
// allocation on the common paths. Checks run in the order of docs/semantics.md
// ("Order of checks") and the first that fails decides. The returned Effects say
// what to store.
func Decide(in *Input) (Decision, Effects) {
	var d Decision
	var eff Effects
	tap := in.Tap
	deny := func(r Reason) (Decision, Effects) {
		d.Accept, d.Reason, d.Flags = false, r, 0
		return d, eff
	}

	// 1. INVALID: unknown credential or failed proof.
	if tap.ProofFailed || in.Card == nil || in.Pass == nil || in.Product == nil || in.Tariff == nil {
		return deny(ReasonInvalid)
	}
	p, c, prod := in.Pass, in.Card, in.Product
	d.Pass, d.Product, d.ValidUntil = p.ID, p.Product, p.ValidUntil

	// 2. REPLAYED: the authenticated counter must rise.
	if tap.HasCounter {
		if c.HasCounter && tap.Counter <= c.LastCounter {
			return deny(ReasonReplayed)
		}
		eff.SetCounter, eff.Counter = true, tap.Counter
	}

	// 3. Exits never trap and count nothing.
	if tap.Direction == Exit {
		d.Accept, d.Reason = true, ReasonOK
		return d, eff
	}

	// 4–6. Lists.
	if c.Revoked {
		return deny(ReasonRevoked)
	}
	if c.Blocked {
		return deny(ReasonBlocked)
	}
	if p.Status == PassRefunded {
		return deny(ReasonCanceled)
	}

	// 6a. STALE: a node's state older at the tap than the product allows;
	// under when_stale = "accept" the tap goes on and an accept is flagged.
	stale := !in.StateAsOf.IsZero() && tap.At.Sub(in.StateAsOf) > prod.Offline.Max()
	if stale && prod.Offline.Deny() {
		return deny(ReasonStale)
	}

	// 7. PRODUCT.
	v := in.Venue
	if v == nil {
		return deny(ReasonProduct)
	}
	inc, ok := prod.IncludeFor(v)
	if !ok {
		return deny(ReasonProduct)
	}

	// 8. NOT_YET_VALID. A tap at the sale instant is after the sale.
	at := tap.At
	if at.Before(p.SoldAt) || (!p.FixedStart.IsZero() && at.Before(p.FixedStart)) {
		return deny(ReasonNotYetValid)
	}

	// 9. EXPIRED. An activated pass ends at ValidUntil; one not yet activated
	// ends at its activation deadline.
	activated := !p.ValidUntil.IsZero()
	if activated {
		if !at.Before(p.ValidUntil) {
			return deny(ReasonExpired)
		}
	} else if !p.ActivateBy.IsZero() && !at.Before(p.ActivateBy) {
		return deny(ReasonExpired)
	}

	u := in.Usage
	if u == nil {
		u = &Usage{}
	}

	// 10. PASSBACK: from the latest accepted entry in scope at or before the
	// tap, end exclusive. Entries later than the tap (a late upload, a replay
	// out of time order) do not count: the tap is judged as at its time.
	if inc.Passback > 0 {
		last := u.LastInScope(inc.PassbackScope, v.ID, tap.Gate, at)
		if !last.IsZero() && at.Before(last.Add(inc.Passback)) {
			if inc.PassbackMode == tariff.ModeSoft {
				d.Flags |= FlagPassbackSoft
			} else {
				return deny(ReasonPassback)
			}
		}
	}

	// 11. ALREADY_REDEEMED: the venue's limit counts every accepted entry of
	// the pass at the venue, whatever its time.
	day := in.Tariff.ServiceDay(at)
	switch inc.Limit.Kind {
	case tariff.LimitOnce:
		if u.VenueEntries(v.ID) >= 1 {
			return deny(ReasonAlreadyRedeemed)
		}
	case tariff.LimitN:
		if u.VenueEntries(v.ID) >= inc.Limit.N {
			return deny(ReasonAlreadyRedeemed)
		}
	case tariff.LimitOncePerDay:
		if u.VenueDayEntries(v.ID, in.Tariff, day) >= 1 {
			return deny(ReasonAlreadyRedeemed)
		}
	}

	// 12. ACCEPT.
	d.Accept, d.Reason = true, ReasonOK
	// A first_use or first_venue pass starts at its earliest activating
	// entry: a tap earlier than the recorded activation (uploaded late, or
	// replayed out of time order) moves it earlier.
	starts := prod.Activation == tariff.ActivationFirstUse ||
		(prod.Activation == tariff.ActivationFirstVenue && v.Kind != tariff.KindTransit)
	if starts && (!activated || at.Before(p.ActivatedAt)) {
		{
			eff.Activate, eff.ActivatedAt = true, at
			eff.ValidUntil = ValidityEnd(in.Tariff, prod, at)
			d.ValidUntil = eff.ValidUntil
			d.Flags |= FlagActivated
		}
	}
	if prod.Category == "child" {
		d.Flags |= FlagAttention
	}
	if !d.ValidUntil.IsZero() && d.ValidUntil.Sub(at) < WarnExpiringWithin {
		d.Flags |= FlagWarnExpiring
	}
	if stale {
		d.Flags |= FlagStale
	}
	eff.CountEntry, eff.Day = true, day
	eff.Visit = Visit{Tap: tap.ID, At: at, Venue: v.ID, Gate: tap.Gate}
	return d, eff
}

// PassbackEnd returns when the hard anti-passback window that applies to
// the tap of in ends (exclusive): the instant from which the visitor may
// enter, as Decide's check 10 sees it. It is zero when the tap's include has
// no passback or nothing in its scope came before the tap. Pure, like Decide;
// Validate calls it for a PASSBACK denial (Result.RetryAt).
func PassbackEnd(in *Input) time.Time {
	if in.Tap == nil || in.Product == nil || in.Venue == nil {
		return time.Time{}
	}
	inc, ok := in.Product.IncludeFor(in.Venue)
	if !ok || inc.Passback <= 0 {
		return time.Time{}
	}
	u := in.Usage
	if u == nil {
		u = &Usage{}
	}
	last := u.LastInScope(inc.PassbackScope, in.Venue.ID, in.Tap.Gate, in.Tap.At)
	if last.IsZero() {
		return time.Time{}
	}
	return last.Add(inc.Passback)
}

// EffectsOf returns the effects a journaled decision implies, as Decide
// returned them when the tap was decided: the counter of a tap that passed
// the REPLAYED check, the activation of an ACTIVATED entry (from its time to
// its ValidUntil), and the visit of an accepted entry of a pass. A ledger
// that learns another ledger's records (the hub, docs/fleet.md) applies
// these with Effects.Apply, whose merge rules make the result independent
// of the order the records arrive in.
func EffectsOf(rec *TapRecord) Effects {
	var eff Effects
	d := &rec.Decision
	if rec.HasCounter && !rec.ProofFailed && d.Reason != ReasonInvalid && d.Reason != ReasonReplayed {
		eff.SetCounter, eff.Counter = true, rec.Counter
	}
	if !d.Accept || rec.Direction != Entry || rec.Pass == "" {
		return eff
	}
	if d.Flags&FlagActivated != 0 && !d.ValidUntil.IsZero() {
		eff.Activate, eff.ActivatedAt, eff.ValidUntil = true, rec.At, d.ValidUntil
	}
	eff.CountEntry = true
	eff.Visit = Visit{Tap: rec.ID, At: rec.At, Venue: rec.Venue, Gate: rec.Gate}
	return eff
}
