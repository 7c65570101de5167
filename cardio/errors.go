package cardio

import (
	"errors"
	"fmt"
)

// Sentinel errors. StatusError values match the status-word sentinels with
// errors.Is.
var (
	// ErrCardRemoved means the card left the field (or was reset) during a
	// transaction. Transmitters map their own removal errors to it. The tap
	// must be retried; it is never a proof failure.
	ErrCardRemoved = errors.New("cardio: card removed")
	// ErrProofFailed means the card answered but its cryptographic proof
	// (SUN MAC, EV2 authentication, MACed read) did not verify.
	ErrProofFailed = errors.New("cardio: card proof failed")
	// ErrInsecureMedium means the card can only offer its UID and the caller
	// did not allow UID-only credentials.
	ErrInsecureMedium = errors.New("cardio: medium offers no cryptographic proof (UID only)")
	// ErrUnsupportedMedium means the card is not a medium cardio can read.
	ErrUnsupportedMedium = errors.New("cardio: unsupported medium")
	// ErrMalformed means a card response or message could not be parsed.
	ErrMalformed = errors.New("cardio: malformed response")
	// ErrTooManyFrames means a GET RESPONSE or additional-frame loop hit its
	// bound.
	ErrTooManyFrames = errors.New("cardio: too many response frames")

	// Status-word classes (see StatusError.Is).
	ErrAuthentication   = errors.New("cardio: authentication error")
	ErrPermissionDenied = errors.New("cardio: permission denied")
	ErrNotFound         = errors.New("cardio: file or application not found")
	ErrNotSupported     = errors.New("cardio: command not supported")
	ErrWrongLength      = errors.New("cardio: wrong length")
	ErrIntegrity        = errors.New("cardio: integrity error")
	ErrBoundary         = errors.New("cardio: boundary error")
	ErrWrongParameters  = errors.New("cardio: wrong parameters")
)

// StatusError is a response whose status word is not a success.
type StatusError struct {
	SW uint16
}

// Error names the status word and its meaning.
func (e *StatusError) Error() string {
	return fmt.Sprintf("cardio: card returned status %04X (%s)", e.SW, swText(e.SW))
}

// Is lets errors.Is match a StatusError against the status-word sentinels.
func (e *StatusError) Is(target error) bool {
	return swClass(e.SW) == target && target != nil
}

func swClass(sw uint16) error {
	switch sw {
	case 0x91AE, 0x6300:
		return ErrAuthentication
	case 0x919D, 0x6982, 0x6985:
		return ErrPermissionDenied
	case 0x6A82, 0x91A0, 0x91F0, 0x9140:
		return ErrNotFound
	case 0x6D00, 0x6E00, 0x6A81, 0x911C:
		return ErrNotSupported
	case 0x6700, 0x917E:
		return ErrWrongLength
	case 0x911E:
		return ErrIntegrity
	case 0x91BE, 0x6B00:
		return ErrBoundary
	case 0x6A86, 0x919E, 0x6A80:
		return ErrWrongParameters
	}
	return nil
}

func swText(sw uint16) string {
	switch sw {
	case 0x91AE:
		return "authentication error"
	case 0x6300:
		return "verification failed"
	case 0x919D:
		return "permission denied"
	case 0x6982:
		return "security status not satisfied"
	case 0x6985:
		return "conditions of use not satisfied"
	case 0x6A82:
		return "file or application not found"
	case 0x91A0:
		return "application not found"
	case 0x91F0:
		return "file not found"
	case 0x9140:
		return "no such key"
	case 0x6D00:
		return "instruction not supported"
	case 0x6E00:
		return "class not supported"
	case 0x6A81:
		return "function not supported"
	case 0x911C:
		return "illegal command"
	case 0x6700, 0x917E:
		return "wrong length"
	case 0x911E:
		return "integrity error"
	case 0x91BE, 0x6B00:
		return "boundary error"
	case 0x6A86, 0x6A80, 0x919E:
		return "wrong parameters"
	case 0x91CA:
		return "command aborted"
	case 0x91EE:
		return "memory error"
	}
	return "unknown"
}

// ProofError reports a card whose proof failed. UID is the card's UID in upper
// hex when it is known (from the reader or from decrypted PICCData), else "".
// errors.Is(err, ErrProofFailed) holds; Unwrap also yields the cause.
type ProofError struct {
	UID    string
	Medium Medium
	Err    error // the cause; never nil
}

// Error names the medium, the UID and the cause.
func (e *ProofError) Error() string {
	uid := e.UID
	if uid == "" {
		uid = "unknown UID"
	}
	return fmt.Sprintf("cardio: proof failed for %s card %s: %v", e.Medium, uid, e.Err)
}

// Unwrap returns ErrProofFailed and the cause, so both match with errors.Is.
func (e *ProofError) Unwrap() []error { return []error{ErrProofFailed, e.Err} }

func proofErr(uid string, m Medium, err error) error {
	return &ProofError{UID: uid, Medium: m, Err: err}
}
