package stmtfile

import (
	"math/bits"
	"slices"
	"strconv"
)

// The number formatting of statement lines. A month's close writes about ten
// numbers per tap; these write their digits straight into the line, which
// Writer.tap reserves whole in the CSV's chunk, two digits at a time, where
// strconv formats into a temporary and copies it over.

// digitPairs holds "00" to "99".
const digitPairs = "00010203040506070809" +
	"10111213141516171819" +
	"20212223242526272829" +
	"30313233343536373839" +
	"40414243444546474849" +
	"50515253545556575859" +
	"60616263646566676869" +
	"70717273747576777879" +
	"80818283848586878889" +
	"90919293949596979899"

// decimalLen is the number of decimal digits of u (1 for 0).
func decimalLen(u uint64) int {
	n := (bits.Len64(u) * 1233) >> 12 // ⌊log10(2^len)⌋: n or n-1 digits-1
	if n < len(pow10) && u >= pow10[n] {
		n++
	}
	return max(n, 1)
}

var pow10 = [...]uint64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10,
	1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19}

// appendUint appends u in decimal, as strconv.AppendUint(dst, u, 10).
func appendUint(dst []byte, u uint64) []byte {
	n := decimalLen(u)
	l := len(dst)
	dst = slices.Grow(dst, n)[:l+n]
	i := l + n
	for u >= 100 {
		q := u / 100
		r := 2 * (u - q*100)
		i -= 2
		dst[i], dst[i+1] = digitPairs[r], digitPairs[r+1]
		u = q
	}
	if u >= 10 {
		dst[i-2], dst[i-1] = digitPairs[2*u], digitPairs[2*u+1]
	} else {
		dst[i-1] = byte('0' + u)
	}
	return dst
}

// AppendMinor appends minor units with 2 places ("-0.05", "1500.00").
func AppendMinor(dst []byte, m int64) []byte {
	u := uint64(m)
	if m < 0 {
		dst = append(dst, '-')
		u = -u // two's complement: right for math.MinInt64 too
	}
	dst = append(appendUint(dst, u/100), '.')
	r := 2 * (u % 100)
	return append(dst, digitPairs[r], digitPairs[r+1])
}

// MinorString formats minor units with 2 places.
func MinorString(m int64) string { return string(AppendMinor(nil, m)) }

// decimalText caches the decimal text of the last number it formatted, for
// columns whose next value is usually the last plus a little (the line
// number, +1; the journal seq of a statement's lines, + a few): the text is
// then updated in place, a digit or two, instead of formatted again.
type decimalText struct {
	n    uint64
	text []byte
}

// of returns the decimal text of u, valid until the next call.
func (c *decimalText) of(u uint64) []byte {
	if u > c.n && u-c.n < 10 && len(c.text) > 0 {
		// Add the difference to the last digit and carry.
		t := c.text
		i := len(t) - 1
		d := t[i] + byte(u-c.n)
		for d > '9' {
			t[i] = d - 10
			if i--; i < 0 {
				t = append(t[:1], t...)
				t[0] = '1'
				break
			}
			d = t[i] + 1
		}
		if i >= 0 {
			t[i] = d
		}
		c.text = t
	} else {
		c.text = appendUint(c.text[:0], u)
	}
	c.n = u
	return c.text
}

// pieceText caches ",a," or ",a,b," for the last strings it was given:
// the kind, and the service day and period, of a statement's lines.
type pieceText struct {
	a, b string
	text []byte
}

// of returns ",a," (b empty) or ",a,b,", valid until the next call.
func (c *pieceText) of(a, b string) []byte {
	if a != c.a || b != c.b || c.text == nil {
		c.a, c.b = a, b
		c.text = append(append(c.text[:0], ','), a...)
		if b != "" {
			c.text = append(append(c.text, ','), b...)
		}
		c.text = append(c.text, ',')
	}
	return c.text
}

// amountText caches "<value>,<amount>,<reduced>," for the last two value
// and amount pairs of a statement's lines: mostly its contract's rate, and
// 0 for the taps it does not pay (a pass-day's later entries).
type amountText struct {
	last [2]amountPair
	next int // the entry to replace
}

type amountPair struct {
	value, amount int64
	text          []byte
}

// of returns the columns value, amount and reduced (amount < value) with
// their separators, valid until the second next call.
func (c *amountText) of(value, amount int64) []byte {
	for i := range c.last {
		if p := &c.last[i]; p.text != nil && p.value == value && p.amount == amount {
			return p.text
		}
	}
	p := &c.last[c.next]
	c.next ^= 1
	p.value, p.amount = value, amount
	t := append(AppendMinor(p.text[:0], value), ',')
	t = append(AppendMinor(t, amount), ',')
	t = strconv.AppendBool(t, amount < value)
	p.text = append(t, ',')
	return p.text
}
