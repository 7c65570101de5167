package tariff

import (
	"errors"
	"math"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMinorUnits(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		err  bool
	}{
		{"32.00", 3200, false},
		{"32", 3200, false},
		{"0.01", 1, false},
		{"0", 0, false},
		{"-4.20", -420, false},
		{"20000.5", 2000050, false},
		{"92233720368547758.07", math.MaxInt64, false},
		{"-92233720368547758.08", math.MinInt64, false},
		{"0.001", 0, true},
		{"32.005", 0, true},
		{"92233720368547758.08", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := MinorUnits(decimal.RequireFromString(tc.in))
			if tc.err {
				require.Error(t, err)
				assert.True(t, errors.Is(err, ErrNotMinorUnits))
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
			assert.True(t, FromMinor(got).Equal(decimal.RequireFromString(tc.in)))
		})
	}
	assert.Equal(t, "32.00", FromMinor(3200).StringFixed(2))
	assert.Equal(t, "-0.05", FromMinor(-5).StringFixed(2))
	// Round trip over a range of values.
	for m := int64(-1000); m <= 1000; m += 7 {
		got, err := MinorUnits(FromMinor(m))
		require.NoError(t, err)
		assert.Equal(t, m, got)
	}
}

func TestParseDuration(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"18m", 18 * time.Minute, false},
		{"24h", 24 * time.Hour, false},
		{"72h", 72 * time.Hour, false},
		{"30d", 30 * 24 * time.Hour, false},
		{"365d", 365 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"1h30m", 90 * time.Minute, false},
		{"1.5h", 90 * time.Minute, false},
		{"0.5d", 12 * time.Hour, false},
		{"90s", 90 * time.Second, false},
		{"250ms", 250 * time.Millisecond, false},
		{"10us", 10 * time.Microsecond, false},
		{"10µs", 10 * time.Microsecond, false},
		{"7ns", 7, false},
		{"0s", 0, false},
		{"106751d", 106751 * 24 * time.Hour, false},
		{"106752d", 0, true},
		{"", 0, true},
		{"18", 0, true},
		{"m", 0, true},
		{"-18m", 0, true},
		{"+18m", 0, true},
		{"1y", 0, true},
		{"1w", 0, true},
		{"18 m", 0, true},
		{"1..5h", 0, true},
		{".5h", 0, true},
		{"5.h", 0, true},
		{"1h 30m", 0, true},
		{"99999999999999999999999999d", 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseDuration(tc.in)
			if tc.err {
				assert.Error(t, err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestParseDays(t *testing.T) {
	for in, want := range map[string]int{"1d": 1, "3d": 3, "3660d": 3660} {
		got, err := ParseDays(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{"0d", "3661d", "72h", "3", "d", "-3d", "3.5d", "1d12h", "00003d", ""} {
		_, err := ParseDays(bad)
		assert.Error(t, err, bad)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0s", 18 * time.Minute: "18m", 24 * time.Hour: "1d", 36 * time.Hour: "36h",
		90 * time.Minute: "1h30m", 90 * time.Second: "1m30s", 365 * 24 * time.Hour: "365d",
	} {
		assert.Equal(t, want, FormatDuration(d))
		back, err := ParseDuration(want)
		require.NoError(t, err)
		assert.Equal(t, d, back)
	}
}

func TestNormalizeIBAN(t *testing.T) {
	good := map[string]string{
		"FR7630006000011234567890189":         "FR7630006000011234567890189",
		"fr76 3000 6000 0112 3456 7890 189":   "FR7630006000011234567890189",
		"DE89 3704 0044 0532 0130 00":         "DE89370400440532013000",
		"GB29 NWBK 6016 1331 9268 19":         "GB29NWBK60161331926819",
		"NL91ABNA0417164300":                  "NL91ABNA0417164300",
		"BE68 5390 0754 7034":                 "BE68539007547034",
		"FR76 1382 5002 0008 0019 3746 235":   "FR7613825002000800193746235",
		"MU17BOMM0101101030300200000MUR":      "MU17BOMM0101101030300200000MUR", // country without a known length
		" FR76\t3000 6000 0112 3456 7890 189": "FR7630006000011234567890189",
	}
	for in, want := range good {
		got, err := NormalizeIBAN(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	for _, bad := range []string{
		"FR7630006000011234567890188", // check digits
		"FR7630006000011234567890",    // too short for FR
		"DE89370400440532013001",      // check digits
		"GB29NWBK6016133192681",       // length
		"7630006000011234567890189FR", // no country code
		"FRXX30006000011234567890189", // no check digits
		"FR76300060000112345678901_9", // bad character
		"FR76",                        // short
		"",                            // empty
		"FR7630006000011234567890189FR7630006000011234567890189", // long
	} {
		_, err := NormalizeIBAN(bad)
		assert.Error(t, err, bad)
	}
}

func TestNormalizeBIC(t *testing.T) {
	for in, want := range map[string]string{
		"AGRIFRPP": "AGRIFRPP", "agrifrpp891": "AGRIFRPP891", "CEPAFRPP131": "CEPAFRPP131", "TRPUFRP1": "TRPUFRP1",
	} {
		got, err := NormalizeBIC(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got)
	}
	for _, bad := range []string{"AGRIFRP", "AGRIFRPP8", "AGRI1RPP", "AGRIF1PP", "AGRIFRP_", "", "AGRIFRPP89112"} {
		_, err := NormalizeBIC(bad)
		assert.Error(t, err, bad)
	}
}

func TestParseTOMLInt(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "+1": 1, "-7": -7, "1_000": 1000, "0x1F": 31, "0o17": 15, "0b101": 5, "0": 0} {
		got, err := parseTOMLInt(in)
		require.NoError(t, err, in)
		assert.Equal(t, want, got, in)
	}
	_, err := parseTOMLInt("99999999999999999999")
	assert.Error(t, err)
}

func TestErrorFormat(t *testing.T) {
	l := ErrorList{{File: "a.toml", Line: 3, Msg: "x"}, {File: "a.toml", Line: 9, Msg: "y"}}
	assert.Equal(t, "a.toml:3: x\na.toml:9: y", l.Error())
	assert.Len(t, l.Unwrap(), 2)
	var e *Error
	require.True(t, errors.As(error(l), &e))
	assert.Equal(t, 3, e.Line)
}
