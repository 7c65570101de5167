package tariff

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func paris(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	return loc
}

// TestParseTime: RFC 3339 and local forms, the instant range (no wrap past
// 2262: issue 20 item 4), and the two daylight-saving cases (item 12): a
// skipped local time is refused, a repeated one is read as the first with
// a note.
func TestParseTime(t *testing.T) {
	loc := paris(t)
	cases := []struct {
		name, in string
		want     string // RFC 3339; empty: an error
		errHas   string
		note     string
	}{
		{"rfc3339", "2026-11-27T10:00:00+01:00", "2026-11-27T10:00:00+01:00", "", ""},
		{"rfc3339 utc", "2026-11-27T09:00:00Z", "2026-11-27T09:00:00Z", "", ""},
		{"local minutes", "2026-11-27T10:00", "2026-11-27T10:00:00+01:00", "", ""},
		{"local seconds, space", "2026-07-14 22:30:15", "2026-07-14T22:30:15+02:00", "", ""},
		{"year 9999 local", "9999-12-31T23:59", "", "not between years 2000 and 2200", ""},
		{"year 9999 rfc3339", "9999-12-31T23:59:00Z", "", "not between years 2000 and 2200", ""},
		{"year 2300", "2300-01-01T00:00:00Z", "", "not between years 2000 and 2200", ""},
		{"year 1999", "1999-12-31T23:59:59Z", "", "not between years 2000 and 2200", ""},
		{"first instant", "2000-01-01T00:00:00Z", "2000-01-01T00:00:00Z", "", ""},
		{"local before 2000 in UTC", "2000-01-01T00:30", "", "not between years 2000 and 2200", ""},
		{"last year", "2200-12-31T23:59:59Z", "2200-12-31T23:59:59Z", "", ""},
		{"skipped hour", "2026-03-29T02:30", "", "does not exist in Europe/Paris", ""},
		{"hour before the jump", "2026-03-29T01:59", "2026-03-29T01:59:00+01:00", "", ""},
		{"hour after the jump", "2026-03-29T03:00", "2026-03-29T03:00:00+02:00", "", ""},
		{"repeated hour", "2026-10-25T02:30", "2026-10-25T02:30:00+02:00", "", "happens twice"},
		{"repeated hour with offset", "2026-10-25T02:30:00+01:00", "2026-10-25T02:30:00+01:00", "", ""},
		{"garbage", "tomorrow", "", "want RFC 3339", ""},
		{"too long", strings.Repeat("2", 100), "", "want RFC 3339", ""},
		{"empty", "", "", "want RFC 3339", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, note, err := ParseTime(tc.in, loc)
			if tc.want == "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.errHas)
				if strings.Contains(tc.errHas, "years") {
					assert.ErrorIs(t, err, ErrOutOfRange)
				}
				return
			}
			require.NoError(t, err)
			want, err := time.Parse(time.RFC3339, tc.want)
			require.NoError(t, err)
			assert.True(t, want.Equal(got), "got %s", got.Format(time.RFC3339))
			if tc.note == "" {
				assert.Empty(t, note)
			} else {
				assert.Contains(t, note, tc.note)
				assert.Contains(t, note, "2026-10-25T02:30:00+01:00", "the note names the other reading")
			}
		})
	}
	// The skipped-hour error proposes an offset that exists.
	_, _, err := ParseTime("2026-03-29T02:30", loc)
	assert.Contains(t, err.Error(), "2026-03-29T02:30:00+02:00")
}

func TestParseDateRange(t *testing.T) {
	d, err := ParseDate("2026-11-27")
	require.NoError(t, err)
	assert.Equal(t, "2026-11-27", d.String())
	for _, s := range []string{"2300-01-01", "1999-12-31", "9999-12-31"} {
		_, err := ParseDate(s)
		assert.ErrorIs(t, err, ErrOutOfRange, s)
	}
	_, err = ParseDate("2026-13-01")
	assert.ErrorContains(t, err, "want YYYY-MM-DD")
}

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"desk", true}, {"Musée d'Histoire", true}, {"", true},
		{"a\nb", false}, {"\x1b[31mred", false}, {"tab\there", false}, {" lead", false}, {"trail ", false},
		{"\xff", false}, {strings.Repeat("é", 64), true}, {strings.Repeat("é", 65), false}, {"a\u2028b", false},
	} {
		err := CheckText("channel", tc.in, 64)
		if tc.ok {
			assert.NoError(t, err, "%q", tc.in)
		} else {
			assert.ErrorIs(t, err, ErrBadText, "%q", tc.in)
			assert.Contains(t, err.Error(), "channel")
		}
	}
}

func TestCheckAmount(t *testing.T) {
	assert.NoError(t, CheckAmount(decimal.RequireFromString("999999999.99")))
	for _, s := range []string{"1000000000.00", "-1", "0.001", "1e30"} {
		assert.ErrorIs(t, CheckAmount(decimal.RequireFromString(s)), ErrNotMinorUnits, s)
	}
}

// FuzzParseTime: ParseTime never panics; what it accepts lies in the
// instant range, and reading it back from RFC 3339 gives the same instant.
// Seeds in testdata/fuzz/FuzzParseTime.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"2026-11-27T10:00", "2026-10-25T02:30", "2026-03-29T02:30", "9999-12-31T23:59",
		"2026-11-27T10:00:00.123456789+01:00", "2026-11-27 10:00:00", "2262-04-12T00:00:00Z"} {
		f.Add(s)
	}
	loc := paris(f)
	f.Fuzz(func(t *testing.T, s string) {
		got, _, err := ParseTime(s, loc)
		if err != nil {
			var le *LimitError
			if errors.As(err, &le) {
				assert.ErrorIs(t, err, le.Kind)
			}
			return
		}
		require.NoError(t, CheckInstant(got))
		back, err := time.Parse(time.RFC3339Nano, got.Format(time.RFC3339Nano))
		require.NoError(t, err)
		require.True(t, back.Equal(got))
	})
}

// FuzzParseDate: ParseDate never panics and accepts only dates in range
// that print back as given. Seeds in testdata/fuzz/FuzzParseDate.
func FuzzParseDate(f *testing.F) {
	for _, s := range []string{"2026-11-27", "2300-01-01", "2026-02-30", "0000-00-00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDate(s)
		if err != nil {
			return
		}
		require.NoError(t, CheckDate(d))
		require.Equal(t, s, d.String())
	})
}

// FuzzParsePeriod: ParsePeriod (the --period of reconcile close, verify
// and payout) never panics, and accepts only a period in range whose label
// is the text given, of the kind its form says, ending after it starts
// and containing its own start. Seeds in testdata/fuzz/FuzzParsePeriod.
func FuzzParsePeriod(f *testing.F) {
	for _, s := range []string{"2026-11", "2026-13", "2026-W48", "2026-W53", "2020-W53", "2026-11-27", "2026-02-30",
		"2300-01", "1999-12-31", "2199-W52", "2026-W00", "2026-1a"} {
		f.Add(s)
	}
	tf := SampleTariff()
	f.Fuzz(func(t *testing.T, s string) {
		p, err := tf.ParsePeriod(s)
		if err != nil {
			return
		}
		require.Equal(t, s, p.Label, "the label is the text given")
		want := map[int]PeriodKind{10: PeriodDay, 8: PeriodWeek, 7: PeriodMonth}[len(s)]
		require.Equal(t, want, p.Kind, "%q", s)
		require.True(t, p.End.After(p.Start), "%q: %s – %s", s, p.Start, p.End)
		require.NoError(t, CheckInstant(p.Start))
		require.NoError(t, CheckInstant(p.End))
		back, err := tf.PeriodOf(p.Kind, p.Start)
		require.NoError(t, err)
		require.Equal(t, p.Label, back.Label, "%q: the period of its own start", s)
	})
}
