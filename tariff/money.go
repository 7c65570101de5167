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

// FormatMoney writes an amount for people: 2 places (rounded half away from
// zero, as StringFixed does; amounts of a tariff have no more), thousands
// separated by commas: "73,028.00", "-1,234.50". Reports for tools keep
// plain "1234.50" (docs/semantics.md, "Command line").
func FormatMoney(d decimal.Decimal) string {
	s := d.StringFixed(moneyPlaces)
	sign := ""
	if rest, ok := strings.CutPrefix(s, "-"); ok {
		sign, s = "-", rest
	}
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	b.WriteString(sign)
	for i, c := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String() + "." + frac
}

// FormatAmount writes an amount with its currency for people: the ISO 4217
// code, a space, and FormatMoney's number: "EUR 1,234.50". An empty currency
// gives the number alone.
func FormatAmount(d decimal.Decimal, currency string) string {
	if currency == "" {
		return FormatMoney(d)
	}
	return currency + " " + FormatMoney(d)
}

// FormatMinorAmount is FormatAmount of integer minor units (cents).
func FormatMinorAmount(minor int64, currency string) string {
	return FormatAmount(FromMinor(minor), currency)
}
