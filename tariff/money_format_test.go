package tariff

import (
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
)

func TestFormatAmount(t *testing.T) {
	for _, tc := range []struct{ in, cur, want string }{
		{"0", "EUR", "EUR 0.00"},
		{"7.5", "EUR", "EUR 7.50"},
		{"999.99", "EUR", "EUR 999.99"},
		{"1000", "EUR", "EUR 1,000.00"},
		{"73028", "EUR", "EUR 73,028.00"},
		{"1234567.891", "EUR", "EUR 1,234,567.89"},
		{"-1234.5", "EUR", "EUR -1,234.50"},
		{"-0.5", "", "-0.50"},
		{"999999999.99", "CHF", "CHF 999,999,999.99"},
	} {
		assert.Equal(t, tc.want, FormatAmount(decimal.RequireFromString(tc.in), tc.cur), tc.in)
	}
	assert.Equal(t, "EUR -12,345.67", FormatMinorAmount(-1234567, "EUR"))
}
