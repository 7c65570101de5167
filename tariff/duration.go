package tariff

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/shopspring/decimal"
)

// ParseDuration reads a tariff duration: a Go duration ("18m", "24h",
// "1h30m") that may also use "d" for 24 hours of physical time ("30d",
// "365d", "1d12h"). Signs are not allowed: tariff durations are never
// negative. The result must fit a time.Duration (about 106 751 days).
func ParseDuration(s string) (time.Duration, error) {
	orig := s
	bad := func(why string) (time.Duration, error) {
		return 0, fmt.Errorf("duration %q: %s", orig, why)
	}
	if s == "" {
		return bad("empty")
	}
	if len(s) > 64 {
		return bad("too long")
	}
	if s[0] == '-' || s[0] == '+' {
		return bad("write it without a sign; durations are never negative")
	}
	total := decimal.Zero
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		num := s[:i]
		if num == "" {
			return bad(`want a number followed by a unit: d, h, m, s, ms, us or ns (e.g. "18m", "24h", "30d")`)
		}
		s = s[i:]
		j := 0
		for j < len(s) && !(s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
		unit := s[:j]
		s = s[j:]
		var per time.Duration
		switch unit {
		case "d":
			per = 24 * time.Hour
		case "h":
			per = time.Hour
		case "m":
			per = time.Minute
		case "s":
			per = time.Second
		case "ms":
			per = time.Millisecond
		case "us", "µs":
			per = time.Microsecond
		case "ns":
			per = time.Nanosecond
		case "":
			return bad(`missing unit: d, h, m, s, ms, us or ns (e.g. "18m", "24h", "30d")`)
		default:
			return bad(fmt.Sprintf("unknown unit %q: want d, h, m, s, ms, us or ns", unit))
		}
		v, err := parseDecimal(num)
		if err != nil {
			return bad(fmt.Sprintf("%q is not a number", num))
		}
		total = total.Add(v.Mul(decimal.NewFromInt(int64(per))))
	}
	if total.GreaterThan(decimal.NewFromInt(math.MaxInt64)) {
		return bad("too large")
	}
	return time.Duration(total.IntPart()), nil
}

// maxDays bounds a calendar_days product's length.
const maxDays = 3660

// ParseDays reads the duration of a calendar_days product, "<n>d": n service
// days counting the activation day, 1 ≤ n ≤ 3660.
func ParseDays(s string) (int, error) {
	num, ok := strings.CutSuffix(s, "d")
	if !ok || !allDigits(num) || len(num) > 4 {
		return 0, fmt.Errorf(`duration %q: a calendar_days product counts service days: want "<n>d", e.g. "3d"`, s)
	}
	n, _ := strconv.Atoi(num)
	if n < 1 || n > maxDays {
		return 0, fmt.Errorf("duration %q: want between 1 and %d days", s, maxDays)
	}
	return n, nil
}

// FormatDuration writes d in the tariff file's own notation: whole days as "30d",
// otherwise Go's notation ("18m0s" → "18m", "1h30m").
func FormatDuration(d time.Duration) string {
	if d == 0 {
		return "0s"
	}
	if d%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	}
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
