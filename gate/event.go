package gate

import (
	"fmt"
	"time"
)

// EventKind says what a reader monitor saw.
type EventKind uint8

// Event kinds.
const (
	// CardPresent: a card was presented; Event.Presentation holds it.
	CardPresent EventKind = iota + 1
	// CardRemoved: the card on Event.Presentation.Reader left.
	CardRemoved
	// ReaderAdded: a watched reader appeared.
	ReaderAdded
	// ReaderRemoved: a watched reader disappeared.
	ReaderRemoved
	// ServiceDown: the reader service (pcscd) is not reachable; Event.Err
	// says why.
	ServiceDown
	// ServiceUp: the reader service is reachable (at start and after each
	// outage).
	ServiceUp
)

var eventNames = [...]string{"", "card-present", "card-removed", "reader-added", "reader-removed",
	"service-down", "service-up"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) && k != 0 {
		return eventNames[k]
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}

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
