package engine

import (
	"time"

	"github.com/citypass/citypass/tariff"
)

// WarnExpiringWithin is how close to the end of validity an accepted entry
// carries FlagWarnExpiring (SPEC §3: valid_until - at < 1h).
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
	// CountEntry: an accepted entry at Venue through Gate, at At, on service
	// day Day.
	CountEntry bool
	Venue      string
	Gate       string
	At         time.Time
	Day        tariff.Date
}

// Changed reports whether applying the effects changes anything.
func (e *Effects) Changed() bool { return e.SetCounter || e.Activate || e.CountEntry }

// Apply performs the effects on a pass, its card and its usage. Nil arguments
// are skipped. Maps inside u are allocated as needed; callers that must not
// share them with a stored value pass a copy (see Usage.Clone).
func (e *Effects) Apply(p *Pass, c *Card, u *Usage) {
	if e.SetCounter && c != nil {
		c.LastCounter, c.HasCounter = e.Counter, true
	}
	if e.Activate && p != nil {
		p.ActivatedAt, p.ValidUntil = e.ActivatedAt, e.ValidUntil
		if p.Status == PassSold {
			p.Status = PassActive
		}
	}
	if e.CountEntry && u != nil {
		if u.Venues == nil {
			u.Venues = make(map[string]*VenueUsage)
		}
		vu := u.Venues[e.Venue]
		if vu == nil {
			vu = &VenueUsage{}
			u.Venues[e.Venue] = vu
		}
		vu.Entries++
		if vu.DayEntries == nil {
			vu.DayEntries = make(map[string]int)
		}
		vu.DayEntries[e.Day.String()]++
		if e.At.After(vu.LastEntry) {
			vu.LastEntry = e.At
		}
		if vu.LastByGate == nil {
			vu.LastByGate = make(map[string]time.Time)
		}
		if last := vu.LastByGate[e.Gate]; e.At.After(last) {
			vu.LastByGate[e.Gate] = e.At
		}
		if e.At.After(u.LastEntry) {
			u.LastEntry = e.At
		}
	}
}

// Clone returns a deep copy of u.
func (u Usage) Clone() Usage {
	out := Usage{LastEntry: u.LastEntry}
	if u.Venues != nil {
		out.Venues = make(map[string]*VenueUsage, len(u.Venues))
		for id, vu := range u.Venues {
			c := &VenueUsage{Entries: vu.Entries, LastEntry: vu.LastEntry}
			if vu.DayEntries != nil {
				c.DayEntries = make(map[string]int, len(vu.DayEntries))
				for d, n := range vu.DayEntries {
					c.DayEntries[d] = n
				}
			}
			if vu.LastByGate != nil {
				c.LastByGate = make(map[string]time.Time, len(vu.LastByGate))
				for g, t := range vu.LastByGate {
					c.LastByGate[g] = t
				}
			}
			out.Venues[id] = c
		}
	}
	return out
}

// TotalEntries returns the pass's accepted entries over all venues.
func (u *Usage) TotalEntries() int {
	n := 0
	for _, vu := range u.Venues {
		n += vu.Entries
	}
	return n
}

// ValidityEnd returns the exclusive end of validity of a product whose
// validity starts at start (SPEC §3): elapsed and fixed clocks add Duration of
// physical time; calendar_days ends at the start of service day Days+1,
// counting the day of start as day 1.
func ValidityEnd(t *tariff.Tariff, p *tariff.Product, start time.Time) time.Time {
	if p.Clock == tariff.ClockCalendarDays {
		return t.DayStart(t.ServiceDay(start).AddDays(p.Days))
	}
	return start.Add(p.Duration)
}

// Decide answers a tap. It is a pure function of its input: no clock, no I/O,
// no allocation on the common paths. Checks run in SPEC §3 order and the
// first that fails decides. The returned Effects say what to store.
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

	var vu *VenueUsage
	var systemLast time.Time
	if in.Usage != nil {
		vu = in.Usage.Venues[v.ID]
		systemLast = in.Usage.LastEntry
	}

	// 10. PASSBACK: from the last accepted entry in scope, end exclusive.
	if inc.Passback > 0 {
		var last time.Time
		switch inc.PassbackScope {
		case tariff.ScopeGate:
			if vu != nil {
				last = vu.LastByGate[tap.Gate]
			}
		case tariff.ScopeSystem:
			last = systemLast
		default: // venue, the default scope
			if vu != nil {
				last = vu.LastEntry
			}
		}
		if !last.IsZero() && !at.Before(last) && at.Before(last.Add(inc.Passback)) {
			if inc.PassbackMode == tariff.ModeSoft {
				d.Flags |= FlagPassbackSoft
			} else {
				d.RetryAt = last.Add(inc.Passback)
				return deny(ReasonPassback)
			}
		}
	}

	// 11. ALREADY_REDEEMED: the venue's limit.
	day := in.Tariff.ServiceDay(at)
	if vu != nil {
		switch inc.Limit.Kind {
		case tariff.LimitOnce:
			if vu.Entries >= 1 {
				return deny(ReasonAlreadyRedeemed)
			}
		case tariff.LimitN:
			if vu.Entries >= inc.Limit.N {
				return deny(ReasonAlreadyRedeemed)
			}
		case tariff.LimitOncePerDay:
			var buf [10]byte
			if vu.DayEntries[string(dayKey(&buf, day))] >= 1 {
				return deny(ReasonAlreadyRedeemed)
			}
		}
	}

	// 12. ACCEPT.
	d.Accept, d.Reason = true, ReasonOK
	if !activated {
		starts := prod.Activation == tariff.ActivationFirstUse ||
			(prod.Activation == tariff.ActivationFirstVenue && v.Kind != tariff.KindTransit)
		if starts {
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
	eff.CountEntry, eff.Venue, eff.Gate, eff.At, eff.Day = true, v.ID, tap.Gate, at, day
	return d, eff
}

// dayKey formats d as YYYY-MM-DD into buf, the key of VenueUsage.DayEntries.
func dayKey(buf *[10]byte, d tariff.Date) []byte {
	put := func(i, n, w int) {
		for j := w - 1; j >= 0; j-- {
			buf[i+j] = byte('0' + n%10)
			n /= 10
		}
	}
	put(0, d.Year, 4)
	buf[4] = '-'
	put(5, int(d.Month), 2)
	buf[7] = '-'
	put(8, d.Day, 2)
	return buf[:]
}
