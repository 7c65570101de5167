package cardio

import "fmt"

// ReaderEventKind says what happened at a card reader: a card came or
// went, a reader appeared or disappeared, the reader service went down or
// came back. The PC/SC monitor (cardio/pcsc) reports these kinds and the
// gate loop (gate) consumes them; both name them through this one type.
type ReaderEventKind uint8

// Reader event kinds.
const (
	// CardPresent: a card was presented on a reader.
	CardPresent ReaderEventKind = iota + 1
	// CardRemoved: the card on a reader left (or its reader or the
	// service went).
	CardRemoved
	// ReaderAdded: a watched reader appeared.
	ReaderAdded
	// ReaderRemoved: a watched reader disappeared.
	ReaderRemoved
	// ServiceDown: the reader service (pcscd) is not reachable; reported
	// once per outage.
	ServiceDown
	// ServiceUp: the reader service is reachable (at start and after each
	// outage).
	ServiceUp
)

var readerEventNames = [...]string{"", "card-present", "card-removed", "reader-added", "reader-removed",
	"service-down", "service-up"}

func (k ReaderEventKind) String() string {
	if int(k) < len(readerEventNames) && k != 0 {
		return readerEventNames[k]
	}
	return fmt.Sprintf("event(%d)", uint8(k))
}
