package engine

import (
	"errors"
	"fmt"
	"time"

	"github.com/citypass/citypass/tariff"
)

// Errors of the engine's operations. Denied taps are decisions, not errors;
// these are failures and refused operator requests. Test with errors.Is.
var (
	// ErrTapConflict: a tap id already journaled arrived with different content.
	ErrTapConflict = errors.New("engine: tap id reused with different content")
	// ErrUnknownPass: no pass with that id.
	ErrUnknownPass = errors.New("engine: unknown pass")
	// ErrUnknownCard: the card has never carried a pass.
	ErrUnknownCard = errors.New("engine: unknown card")
	// ErrUnknownProduct: the product is not sold under the tariff in force.
	ErrUnknownProduct = errors.New("engine: unknown product")
	// ErrNoTariff: the catalog has no tariff version.
	ErrNoTariff = errors.New("engine: no tariff loaded")
	// ErrLivePass: the card already carries a live pass (see LivePassError).
	ErrLivePass = errors.New("engine: card already carries a live pass")
	// ErrCardRevoked: the card was replaced and can never carry a pass again.
	ErrCardRevoked = errors.New("engine: card revoked")
	// ErrCardBlocked: the card is on the block list.
	ErrCardBlocked = errors.New("engine: card blocked")
	// ErrCardNotBlocked: unblock of a card that is not blocked.
	ErrCardNotBlocked = errors.New("engine: card not blocked")
	// ErrCardUsed: a replacement card must never have carried a pass.
	ErrCardUsed = errors.New("engine: card already carried a pass")
	// ErrNotLive: the pass is refunded, expired or past its activation deadline.
	ErrNotLive = errors.New("engine: pass not live")
	// ErrRefundRefused: the product's refund policy does not allow it.
	ErrRefundRefused = errors.New("engine: refund refused")
	// ErrBadRequest: a malformed request (card UID, block reason, start date).
	ErrBadRequest = errors.New("engine: bad request")
)

// LivePassError names the live pass that prevents a sale onto a card.
type LivePassError struct {
	Card string
	Pass string
}

func (e *LivePassError) Error() string {
	return fmt.Sprintf("engine: card %s already carries live pass %s", e.Card, e.Pass)
}

// Unwrap makes errors.Is(err, ErrLivePass) true.
func (e *LivePassError) Unwrap() error { return ErrLivePass }

// requestError is a bad request with its cause: it reads as the cause
// ("sale: 9999-12-31T23:59:00Z is not between years 2000 and 2200") and
// matches both ErrBadRequest and the cause (e.g. tariff.ErrOutOfRange).
type requestError struct {
	what string
	err  error
}

func (e *requestError) Error() string        { return e.what + ": " + e.err.Error() }
func (e *requestError) Is(target error) bool { return target == ErrBadRequest }
func (e *requestError) Unwrap() error        { return e.err }

// checkInstant refuses a missing instant, or one outside the range every
// instant lies in (tariff.CheckInstant), as a bad request about what.
func checkInstant(what string, at time.Time) error {
	if at.IsZero() {
		return fmt.Errorf("%s: time missing: %w", what, ErrBadRequest)
	}
	if err := tariff.CheckInstant(at); err != nil {
		return &requestError{what: what, err: err}
	}
	return nil
}

// checkTapText refuses a tap whose device or gate id breaks the limits on
// text (tariff.CheckText, tariff.SplitGate).
func checkTapText(tap *Tap) error {
	if tap.ID.Device == "" {
		return fmt.Errorf("tap: device missing: %w", ErrBadRequest)
	}
	if err := tariff.CheckText("device", tap.ID.Device, tariff.MaxDeviceLen); err != nil {
		return &requestError{what: "tap", err: err}
	}
	if _, _, err := tariff.SplitGate(tap.Gate); err != nil {
		return &requestError{what: "tap", err: err}
	}
	return nil
}
