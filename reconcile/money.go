package reconcile

import (
	"fmt"

	"github.com/shopspring/decimal"
)

// Money in reconcile is decimal.Decimal with 2 places (the currencies of
// schema 1 have minor units of 1/100); postings and the ledger hold int64
// minor units. Conversions check exactness instead of rounding silently.

const moneyPlaces = 2

var hundred = decimal.NewFromInt(100)

// toMinor converts an amount with at most 2 places to minor units.
func toMinor(d decimal.Decimal) (int64, error) {
	m := d.Mul(hundred)
	if !m.IsInteger() {
		return 0, fmt.Errorf("reconcile: amount %s has more than %d decimal places", d, moneyPlaces)
	}
	if !m.BigInt().IsInt64() {
		return 0, fmt.Errorf("reconcile: amount %s out of range", d)
	}
	return m.IntPart(), nil
}

// fromMinor converts minor units to an amount with 2 places.
func fromMinor(minor int64) decimal.Decimal { return decimal.New(minor, -moneyPlaces) }

// formatMoney prints an amount with exactly 2 places ("100.00").
func formatMoney(d decimal.Decimal) string { return d.StringFixed(moneyPlaces) }

// parseMoney reads an amount written by formatMoney.
func parseMoney(s string) (decimal.Decimal, error) {
	d, err := decimal.NewFromString(s)
	if err != nil {
		return decimal.Decimal{}, fmt.Errorf("amount %q: not a decimal", s)
	}
	if _, err := toMinor(d); err != nil {
		return decimal.Decimal{}, fmt.Errorf("amount %q: more than 2 places", s)
	}
	return d, nil
}
