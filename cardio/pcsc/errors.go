package pcsc

import (
	"errors"
	"fmt"

	"github.com/ebfe/scard"

	"github.com/citypass/citypass/cardio"
)

// Sentinel errors. Card-gone errors match cardio.ErrCardRemoved instead of a
// sentinel of this package, so the gate loop needs no import of pcsc to tell
// "tap again" from a failure.
var (
	// ErrServiceDown means pcscd is not running or went away.
	ErrServiceDown = errors.New("pcsc: service not available")
	// ErrClosed means the Card or Monitor was closed.
	ErrClosed = errors.New("pcsc: closed")
	// ErrEmptyCommand means Transmit was called with no bytes (ebfe/scard
	// would panic).
	ErrEmptyCommand = errors.New("pcsc: empty command")
	// ErrProtocol means the card connected with a protocol other than T=0 or
	// T=1, over which ebfe/scard cannot transmit.
	ErrProtocol = errors.New("pcsc: unsupported protocol")
	// ErrPanic means a call into ebfe/scard panicked; the panic was recovered.
	ErrPanic = errors.New("pcsc: panic in PC/SC binding")
)

// Error is a failed PC/SC call. It matches (errors.Is) its class —
// cardio.ErrCardRemoved, ErrServiceDown, or none — and the PC/SC return code.
type Error struct {
	Op     string // "connect", "transmit", "list readers", …
	Reader string // empty when the call was not about one reader
	Code   uint32 // PC/SC return code, e.g. 0x80100069 (SCARD_W_REMOVED_CARD)
	class  error
	err    error
}

func (e *Error) Error() string {
	where := ""
	if e.Reader != "" {
		where = fmt.Sprintf(" on %q", e.Reader)
	}
	detail := e.err.Error()
	if e.Code != 0 {
		detail = fmt.Sprintf("%s, 0x%08X", detail, e.Code)
	}
	if e.class != nil {
		return fmt.Sprintf("pcsc: %s%s: %v (%s)", e.Op, where, e.class, detail)
	}
	return fmt.Sprintf("pcsc: %s%s: %s", e.Op, where, detail)
}

// Unwrap returns the error's class (when it has one) and the underlying
// PC/SC error.
func (e *Error) Unwrap() []error {
	if e.class == nil {
		return []error{e.err}
	}
	return []error{e.class, e.err}
}

// wrap turns an ebfe/scard error into an *Error with its class.
func wrap(op, reader string, err error) error {
	if err == nil {
		return nil
	}
	var se scard.Error
	if !errors.As(err, &se) {
		return fmt.Errorf("pcsc: %s %q: %w", op, reader, err)
	}
	return &Error{Op: op, Reader: reader, Code: uint32(se), class: classify(se), err: se}
}

// classify maps a PC/SC return code to cardio.ErrCardRemoved (the card left
// the field, was reset, stopped answering, or its reader vanished: the holder
// must tap again), ErrServiceDown, or nil.
func classify(e scard.Error) error {
	switch e {
	case scard.ErrRemovedCard, scard.ErrResetCard, scard.ErrNoSmartcard, scard.ErrUnresponsiveCard,
		scard.ErrUnpoweredCard, scard.ErrUnknownCard,
		// A transmission the reader could not complete: on a contactless
		// reader that is the card leaving the field mid-command.
		scard.ErrNotTransacted,
		// The reader went away with the card.
		scard.ErrReaderUnavailable, scard.ErrUnknownReader:
		return cardio.ErrCardRemoved
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrCommError:
		return ErrServiceDown
	}
	return nil
}

// serviceGone reports an error after which a PC/SC context must be released
// and established again.
func serviceGone(err error) bool {
	var se scard.Error
	if !errors.As(err, &se) {
		return true
	}
	switch se {
	case scard.ErrNoService, scard.ErrServiceStopped, scard.ErrCommError, scard.ErrInvalidHandle,
		scard.ErrInternalError, scard.ErrNoMemory, scard.ErrShutdown, scard.ErrUnknownError:
		return true
	}
	return false
}

// recovered converts a panic inside an ebfe/scard call into an error.
func recovered(op string, err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: %s: %v", ErrPanic, op, r)
	}
}
