package tariff

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/shopspring/decimal"
)

// This file is the one place for the limits on what citypass accepts from
// people and files: the range of instants, the shape of ids, the length and
// characters of free text, the largest amount. The tariff loader, the engine,
// reconcile and the command line all check against these (see
// docs/semantics.md, "Instants").

// The instants citypass accepts lie in [EarliestInstant, LatestInstant):
// years 2000 to 2200. Stored times are nanoseconds since 1970 in an int64,
// which ends in April 2262: this range, plus the longest duration a tariff
// may give (MaxDuration), stays clear of it.
var (
	EarliestInstant = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	LatestInstant   = time.Date(2201, 1, 1, 0, 0, 0, 0, time.UTC)
)

// MaxDuration bounds every duration of a tariff (validity, activation
// deadline, anti-passback window): 3660 days, about ten years.
const MaxDuration = 3660 * 24 * time.Hour

// ErrOutOfRange is matched by every error of an instant or date outside
// [EarliestInstant, LatestInstant).
var ErrOutOfRange = errors.New("tariff: time out of range")

// ErrBadText is matched by every error of a text that breaks a limit (too
// long, control characters, not UTF-8, not id-shaped).
var ErrBadText = errors.New("tariff: text not accepted")

// LimitError is a value that breaks one of this file's limits: Msg says
// which, in words, and Kind (ErrOutOfRange or ErrBadText) is what it
// matches.
type LimitError struct {
	Kind error
	Msg  string
}

func (e *LimitError) Error() string        { return e.Msg }
func (e *LimitError) Is(target error) bool { return target == e.Kind }
func rangeErr(format string, args ...any) error {
	return &LimitError{Kind: ErrOutOfRange, Msg: fmt.Sprintf(format, args...)}
}
func textErr(format string, args ...any) error {
	return &LimitError{Kind: ErrBadText, Msg: fmt.Sprintf(format, args...)}
}

// CheckInstant returns an error matching ErrOutOfRange when t is outside
// [EarliestInstant, LatestInstant).
func CheckInstant(t time.Time) error {
	if t.Before(EarliestInstant) || !t.Before(LatestInstant) {
		return rangeErr("%s is not between years 2000 and 2200", t.Format(TimeLayout))
	}
	return nil
}

// CheckDate returns an error matching ErrOutOfRange when d's year is not
// between 2000 and 2200.
func CheckDate(d Date) error {
	if d.Year < EarliestInstant.Year() || d.Year >= LatestInstant.Year() {
		return rangeErr("%s is not between years 2000 and 2200", d)
	}
	return nil
}

// ParseDate reads a date YYYY-MM-DD between years 2000 and 2200.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse("2006-01-02", s)
	if err != nil {
		return Date{}, fmt.Errorf("date %q: want YYYY-MM-DD", ShortText(s))
	}
	d := DateOf(t)
	if err := CheckDate(d); err != nil {
		return Date{}, err
	}
	return d, nil
}

// localLayouts are the local date-time forms ParseTime reads, without an
// offset.
var localLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05", "2006-01-02 15:04"}

// maxTimeLen bounds the text of a time: the longest RFC 3339 form is 35
// bytes.
const maxTimeLen = 40

// ParseTime reads a time given by a person or a file: RFC 3339 with an
// offset ("2026-11-27T10:00:00+01:00", "…Z"), or a local date-time without
// one ("2026-11-27T10:00", "2026-11-27 10:00:00") in the zone loc. The
// instant must lie between years 2000 and 2200 (ErrOutOfRange).
//
// Daylight-saving changes (docs/semantics.md, "Local times"): a local time
// that does not exist in loc (the hour skipped when clocks go forward) is an
// error; one that exists twice (the hour repeated when clocks go back) is
// read as the first of the two, at the offset in force before the change,
// and note says so, for the caller to show as a warning. note is empty
// otherwise.
func ParseTime(s string, loc *time.Location) (t time.Time, note string, err error) {
	if len(s) > maxTimeLen {
		return time.Time{}, "", fmt.Errorf("time %q: want RFC 3339 (2026-11-27T10:00:00+01:00) or a local date-time (2026-11-27T10:00)", ShortText(s))
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		if err := CheckInstant(t); err != nil {
			return time.Time{}, "", err
		}
		return t, "", nil
	}
	for _, layout := range localLayouts {
		wall, err := time.ParseInLocation(layout, s, time.UTC)
		if err != nil {
			continue
		}
		if CheckInstant(wall) != nil {
			// Said as typed: the reading has no offset yet.
			return time.Time{}, "", rangeErr("%s is not between years 2000 and 2200", s)
		}
		t, note, err := resolveLocal(s, wall, loc)
		if err == nil {
			err = CheckInstant(t)
		}
		if err != nil {
			return time.Time{}, "", err
		}
		return t, note, nil
	}
	return time.Time{}, "", fmt.Errorf("time %q: want RFC 3339 (2026-11-27T10:00:00+01:00) or a local date-time (2026-11-27T10:00)", s)
}

// resolveLocal finds the instants whose clock reading in loc is wall (a
// time whose fields are read as UTC): none in a skipped hour, two in a
// repeated one.
func resolveLocal(s string, wall time.Time, loc *time.Location) (time.Time, string, error) {
	var found []time.Time
	// The offsets in force around the reading: a zone changes offset at
	// most once in a day, and no change is more than a day long.
	for _, probe := range []time.Duration{-36 * time.Hour, 0, 36 * time.Hour} {
		_, off := wall.Add(probe).In(loc).Zone()
		at := wall.Add(-time.Duration(off) * time.Second)
		if sameClock(at.In(loc), wall) && !containsInstant(found, at) {
			found = append(found, at)
		}
	}
	switch len(found) {
	case 0:
		return time.Time{}, "", fmt.Errorf("time %q does not exist in %s: the clocks skip it (daylight saving time); give the offset, e.g. %s",
			s, loc, wall.Format("2006-01-02T15:04:05")+offsetText(wall.Add(36*time.Hour).In(loc)))
	case 1:
		return found[0].In(loc), "", nil
	}
	first, second := found[0], found[1]
	if second.Before(first) {
		first, second = second, first
	}
	first, second = first.In(loc), second.In(loc)
	note := fmt.Sprintf("time %q happens twice in %s (the clocks go back): read as the first, %s; give the offset to mean the second, %s",
		s, loc, first.Format(time.RFC3339), second.Format(time.RFC3339))
	return first, note, nil
}

func sameClock(t, wall time.Time) bool {
	y, m, d := t.Date()
	wy, wm, wd := wall.Date()
	return y == wy && m == wm && d == wd && t.Hour() == wall.Hour() && t.Minute() == wall.Minute() &&
		t.Second() == wall.Second() && t.Nanosecond() == wall.Nanosecond()
}

func containsInstant(ts []time.Time, t time.Time) bool {
	for _, u := range ts {
		if u.Equal(t) {
			return true
		}
	}
	return false
}

// offsetText is t's offset as RFC 3339 writes it ("+02:00").
func offsetText(t time.Time) string { return t.Format("Z07:00") }

// Ids and free text.
const (
	// MaxIdentLen bounds ids: of tariff versions, products, venues,
	// partners, categories, gates, statements.
	MaxIdentLen = 64
	// MaxNameLen bounds names shown to people (a product's, a venue's, a
	// partner's).
	MaxNameLen = 140
	// MaxLabelLen bounds short free-text labels: a sales channel.
	MaxLabelLen = 64
	// MaxDeviceLen bounds a tap's device id, which is often a gate id
	// ("VENUE/GATE").
	MaxDeviceLen = 2*MaxIdentLen + 1
)

// CheckIdent accepts ids made of letters, digits, '-', '_' and '.',
// starting with a letter or digit, at most MaxIdentLen bytes: they appear in
// gate ids ("VENUE/GATE"), file names and CSV columns, so no '/', spaces or
// quotes. The error matches ErrBadText.
func CheckIdent(s string) error {
	if s == "" {
		return textErr("must not be empty")
	}
	if len(s) > MaxIdentLen {
		return textErr("%q is longer than %d characters", ShortText(s), MaxIdentLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '-' && c != '_' && c != '.') {
			return textErr("%q: use letters, digits, '-', '_' or '.', starting with a letter or digit", ShortText(s))
		}
	}
	return nil
}

// CheckText accepts free text shown to people or written to files: valid
// UTF-8, at most max characters, no control characters (line breaks, tabs,
// terminal escapes), no spaces at either end. Empty text is accepted (the
// caller decides whether a value is required). The error names what and
// matches ErrBadText.
func CheckText(what, s string, max int) error {
	if !utf8.ValidString(s) {
		return textErr("%s is not valid UTF-8", what)
	}
	if n := utf8.RuneCountInString(s); n > max {
		return textErr("%s is %d characters long, the most is %d", what, n, max)
	}
	for _, r := range s {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return textErr("%s %q contains a control character (%U)", what, ShortText(s), r)
		}
	}
	if strings.TrimSpace(s) != s {
		return textErr("%s %q starts or ends with a space", what, ShortText(s))
	}
	return nil
}

// ShortText cuts a value quoted in an error message to 40 bytes, on a
// character boundary, marking the cut with "…".
func ShortText(s string) string {
	const n = 40
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

// MaxAmount is the largest amount of money a tariff may give (a price, a
// rate, a flat amount, a cap): 999 999 999.99. Sums over millions of visits
// stay far inside int64 minor units.
var MaxAmount = decimal.RequireFromString("999999999.99")

// CheckAmount returns an error wrapping ErrNotMinorUnits when d is negative,
// above MaxAmount or not a whole number of minor units.
func CheckAmount(d decimal.Decimal) error {
	if d.IsNegative() {
		return fmt.Errorf("%w: %s is negative", ErrNotMinorUnits, d.String())
	}
	if d.GreaterThan(MaxAmount) {
		return fmt.Errorf("%w: %s is above the largest amount, %s", ErrNotMinorUnits, d.String(), MaxAmount.StringFixed(moneyPlaces))
	}
	if !d.Shift(moneyPlaces).IsInteger() {
		return fmt.Errorf("%w: %s has more than %d decimal places", ErrNotMinorUnits, d.String(), moneyPlaces)
	}
	return nil
}
