package gate

import (
	"time"

	"github.com/citypass/citypass/cardio"
)

// EventKind says what a reader monitor saw (cardio.ReaderEventKind, the
// one list of kinds the PC/SC monitor reports too).
type EventKind = cardio.ReaderEventKind

// Event kinds: see cardio.ReaderEventKind. A CardPresent event's
// Presentation holds the card; a ServiceDown event's Err says why.
const (
	CardPresent   = cardio.CardPresent
	CardRemoved   = cardio.CardRemoved
	ReaderAdded   = cardio.ReaderAdded
	ReaderRemoved = cardio.ReaderRemoved
	ServiceDown   = cardio.ServiceDown
	ServiceUp     = cardio.ServiceUp
)

// Event is one change at the gate's readers, as Run consumes them. A reader
// monitor's own events are turned into these by its feed (gate/pcscgate for
// PC/SC), so the gate loop builds and is tested without a reader stack.
type Event struct {
	Kind EventKind
	// Presentation is the card of a CardPresent event (its Card is closed
	// by Run once read), and the reader of the card and reader events.
	Presentation Presentation
	Err          error     // ServiceDown: the cause
	At           time.Time // when the monitor saw it
}
