package engine

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/citypass/citypass/tariff"
)

// Visit is one accepted entry of a pass at a venue, named by the tap that
// made it. Exits and denied taps are never entries.
type Visit struct {
	Tap   TapID
	At    time.Time
	Venue string
	Gate  string // "VENUE/GATE"
}

// CompareVisits orders visits canonically: by tap time, then device, then
// seq (docs/semantics.md, "Usage"). The order does not depend on when or
// where an entry was journaled, so every ledger of a fleet sees a pass's
// entries in the same order.
func CompareVisits(a, b *Visit) int {
	if c := a.At.Compare(b.At); c != 0 {
		return c
	}
	if c := strings.Compare(a.Tap.Device, b.Tap.Device); c != 0 {
		return c
	}
	return cmp.Compare(a.Tap.Seq, b.Tap.Seq)
}

// Usage is everything about a pass's past entries that the rules need: the
// set of its accepted entries, each tap id once, in canonical order
// (CompareVisits). It is derivable from the journal (ledger check
// recounts it) and, being a set, merges by union: two ledgers that saw the
// same entries in any order, or the same entry twice, hold the same Usage.
// A Usage is not safe for concurrent use.
type Usage struct {
	Visits []Visit
}

// Clone returns a copy of u that shares no slice with it.
func (u Usage) Clone() Usage {
	return Usage{Visits: slices.Clone(u.Visits)}
}

// TotalEntries returns the pass's accepted entries over all venues.
func (u *Usage) TotalEntries() int { return len(u.Visits) }

// Has reports whether u holds the entry of tap id.
func (u *Usage) Has(id TapID) bool {
	for i := range u.Visits {
		if u.Visits[i].Tap == id {
			return true
		}
	}
	return false
}

// Add inserts e at its canonical place. It reports false, changing nothing,
// when u already holds an entry of e's tap id.
func (u *Usage) Add(e Visit) bool {
	if u.Has(e.Tap) {
		return false
	}
	i, _ := slices.BinarySearchFunc(u.Visits, &e, func(x Visit, t *Visit) int { return CompareVisits(&x, t) })
	u.Visits = slices.Insert(u.Visits, i, e)
	return true
}

// Merge adds every entry of o that u does not hold yet (set union) and
// returns how many it added.
func (u *Usage) Merge(o *Usage) int {
	n := 0
	for _, e := range o.Visits {
		if u.Add(e) {
			n++
		}
	}
	return n
}

// VenueEntries counts the entries at venue, whatever their time.
func (u *Usage) VenueEntries(venue string) int {
	n := 0
	for i := range u.Visits {
		if u.Visits[i].Venue == venue {
			n++
		}
	}
	return n
}

// VenueDayEntries counts the entries at venue on service day day of tariff t.
func (u *Usage) VenueDayEntries(venue string, t *tariff.Tariff, day tariff.Date) int {
	n := 0
	for i := range u.Visits {
		if e := &u.Visits[i]; e.Venue == venue && t.ServiceDay(e.At) == day {
			n++
		}
	}
	return n
}

// LastInScope returns the time of the latest entry at or before at in a
// passback scope (gate: same gate; venue: same venue; system: anywhere),
// or the zero time when there is none. Entries after at are not looked at:
// a tap is judged as it would have been at its own time, whatever arrived
// later.
func (u *Usage) LastInScope(scope tariff.PassbackScope, venue, gate string, at time.Time) time.Time {
	for i := len(u.Visits) - 1; i >= 0; i-- {
		e := &u.Visits[i]
		if e.At.After(at) {
			continue
		}
		switch scope {
		case tariff.ScopeGate:
			if e.Gate != gate {
				continue
			}
		case tariff.ScopeSystem:
		default: // venue, the default scope
			if e.Venue != venue {
				continue
			}
		}
		return e.At
	}
	return time.Time{}
}

// Last returns the time of the latest entry, or the zero time.
func (u *Usage) Last() time.Time {
	if len(u.Visits) == 0 {
		return time.Time{}
	}
	return u.Visits[len(u.Visits)-1].At
}
