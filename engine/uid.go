package engine

import (
	"fmt"
	"strings"
)

// A card UID's canonical text, the one every package stores and compares, is
// its bytes in upper-case hex without separators ("04A1B2C3D4E5F6"); cardio
// writes it that way from the bytes it reads. This file is the one place
// that turns other spellings into it.

// uidSeparators are what people and partner systems put between a UID's
// bytes. Safe for concurrent use.
var uidSeparators = strings.NewReplacer(" ", "", ":", "", "-", "")

// MaxUIDBytes and MinUIDBytes bound a card UID (ISO 14443: 4, 7 or 10 bytes).
const (
	MinUIDBytes = 4
	MaxUIDBytes = 10
)

// NormalizeUID checks a card UID (hex, 4 to 10 bytes, optional spaces,
// colons or dashes between digits, any case) and returns its canonical text.
// A bad UID is an error matching ErrBadRequest.
func NormalizeUID(uid string) (string, error) {
	s, hex := CanonicalUID(uid)
	if len(s) < 2*MinUIDBytes || len(s) > 2*MaxUIDBytes || len(s)%2 != 0 {
		return "", fmt.Errorf("card %q: want %d to %d bytes of hex: %w", uid, MinUIDBytes, MaxUIDBytes, ErrBadRequest)
	}
	if !hex {
		return "", fmt.Errorf("card %q: want hex: %w", uid, ErrBadRequest)
	}
	return s, nil
}

// CanonicalUID spells uid canonically (separators dropped, upper case)
// without checking its length, and reports whether it is non-empty hex. For
// card ids written by other systems (a partner's scan file), which are
// compared with ours but need not be well formed; NormalizeUID is the check
// for a card citypass is asked to act on.
func CanonicalUID(uid string) (s string, hex bool) {
	s = strings.ToUpper(uidSeparators.Replace(uid))
	if s == "" {
		return s, false
	}
	for i := 0; i < len(s); i++ {
		if !(s[i] >= '0' && s[i] <= '9' || s[i] >= 'A' && s[i] <= 'F') {
			return s, false
		}
	}
	return s, true
}

// canonicalUID is the card a tap is decided and journaled under: the
// canonical text of a well-formed UID; any other text (a card whose proof
// failed may carry none) upper-cased, so that it is still journaled as given.
func canonicalUID(uid string) string {
	if s, err := NormalizeUID(uid); err == nil {
		return s
	}
	return strings.ToUpper(uid)
}
