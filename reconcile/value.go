package reconcile

import (
	"github.com/citypass/citypass/engine"
)

// Line kinds of a statement CSV.
const (
	KindFlatFee    = "flat_fee"   // the flat amount of a flat contract's period
	KindVisit      = "visit"      // an accepted entry in the statement's own period
	KindAdjustment = "adjustment" // a late tap of an earlier, closed period
)

// NoteOverLimit is the note column of an entry beyond the product's limit.
const NoteOverLimit = "over_limit"

// csvHeader is the statement CSV header; columns are stable.
var csvHeader = []string{"line", "kind", "journal_seq", "tap_device", "tap_seq", "at", "card", "pass",
	"product", "category", "venue", "gate", "service_day", "original_period", "value", "amount", "capped", "note"}

// countsAsVisit reports whether a journaled tap is a payable visit: an
// accepted entry. Exits and denials are never paid.
func countsAsVisit(r *engine.TapRecord) bool {
	return r.Decision.Accept && r.Direction == engine.Entry
}
