package tariff

import (
	"errors"
	"fmt"
	"strings"

	"github.com/shopspring/decimal"
)

// moneyPlaces is the number of decimal places of every amount in a tariff
// (minor units are cents; schema 1 has no currency with other minor units).
const moneyPlaces = 2

// ErrNotMinorUnits is returned by MinorUnits for an amount that is not a whole
// number of minor units or does not fit an int64.
var ErrNotMinorUnits = errors.New("tariff: amount is not a whole number of minor units")

// MinorUnits converts an amount to integer minor units (cents), exactly: an
// amount with more than 2 decimal places, or one beyond int64, is an error
// wrapping ErrNotMinorUnits. It never rounds.
func MinorUnits(d decimal.Decimal) (int64, error) {
	shifted := d.Shift(moneyPlaces)
	if !shifted.IsInteger() {
		return 0, fmt.Errorf("%w: %s has more than %d decimal places", ErrNotMinorUnits, d.String(), moneyPlaces)
	}
	bi := shifted.BigInt()
	if !bi.IsInt64() {
		return 0, fmt.Errorf("%w: %s is out of range", ErrNotMinorUnits, d.String())
	}
	return bi.Int64(), nil
}

// FromMinor converts integer minor units (cents) to an amount with 2 places.
func FromMinor(minor int64) decimal.Decimal { return decimal.New(minor, -moneyPlaces) }

// maxDecimalLen bounds the length of a decimal literal in a tariff file.
const maxDecimalLen = 32

// parseDecimal reads a plain decimal number ("32", "32.50", "-1"): digits with
// an optional sign and fraction, no exponent, no spaces.
func parseDecimal(s string) (decimal.Decimal, error) {
	if len(s) > maxDecimalLen {
		return decimal.Decimal{}, fmt.Errorf("%q is longer than %d characters", s, maxDecimalLen)
	}
	body := strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	intPart, frac, hasDot := strings.Cut(body, ".")
	if intPart == "" || !allDigits(intPart) || (hasDot && (frac == "" || !allDigits(frac))) {
		return decimal.Decimal{}, fmt.Errorf("%q is not a decimal number", s)
	}
	return decimal.NewFromString(s)
}

// decimalPlaces returns the number of digits written after the point.
func decimalPlaces(s string) int {
	_, frac, ok := strings.Cut(s, ".")
	if !ok {
		return 0
	}
	return len(frac)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
