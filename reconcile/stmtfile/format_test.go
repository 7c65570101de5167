package stmtfile

import (
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestAppendUint: appendUint writes what strconv does, for every length and
// the boundaries between lengths, after existing bytes, with and without
// room.
func TestAppendUint(t *testing.T) {
	vals := []uint64{0, 1, 9, 10, 11, 99, 100, 101, 999, 1000, math.MaxUint64, math.MaxUint64 - 1, math.MaxInt64}
	for _, p := range pow10 {
		vals = append(vals, p-1, p, p+1)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		vals = append(vals, rng.Uint64()>>rng.IntN(64))
	}
	for _, u := range vals {
		require.Equal(t, len(strconv.FormatUint(u, 10)), decimalLen(u), "%d", u)
		require.Equal(t, "x,"+strconv.FormatUint(u, 10), string(appendUint([]byte("x,"), u)), "%d", u)
		roomy := make([]byte, 1, 64)
		require.Equal(t, "y"+strconv.FormatUint(u, 10), string(appendUint(append(roomy[:0], 'y'), u)), "%d", u)
	}
}

// TestAppendMinor: two places, a sign for negatives, the extremes.
func TestAppendMinor(t *testing.T) {
	for m, want := range map[int64]string{0: "0.00", 5: "0.05", -5: "-0.05", 99: "0.99", 100: "1.00", -100: "-1.00",
		150000: "1500.00", 123456789: "1234567.89", math.MaxInt64: "92233720368547758.07", math.MinInt64: "-92233720368547758.08"} {
		require.Equal(t, want, MinorString(m), "%d", m)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 10000 {
		m := rng.Int64N(1<<40) - 1<<39
		a := m
		if a < 0 {
			a = -a
		}
		sign := ""
		if m < 0 {
			sign = "-"
		}
		require.Equal(t, fmt.Sprintf("%s%d.%02d", sign, a/100, a%100), string(AppendMinor([]byte("z"), m))[1:], "%d", m)
	}
}

// TestDecimalText: the cached text of a column is always strconv's, whatever
// the steps between values: +1 to +9 with carries through every digit,
// larger steps, steps back, zero.
func TestDecimalText(t *testing.T) {
	var c decimalText
	rng := rand.New(rand.NewPCG(5, 6))
	u := uint64(0)
	for i := range 200000 {
		switch r := rng.IntN(100); {
		case r < 80:
			u += uint64(1 + rng.IntN(9))
		case r < 90:
			u += uint64(rng.IntN(1000))
		case r < 95 && u > 0:
			u -= uint64(rng.IntN(int(min(u, 50))))
		default:
			u = pow10[rng.IntN(len(pow10))] - uint64(rng.IntN(3))
		}
		if i == 1000 {
			u = 0
		}
		require.Equal(t, strconv.FormatUint(u, 10), string(c.of(u)), "step %d", i)
	}
	var z decimalText
	require.Equal(t, "0", string(z.of(0)), "the zero value formats 0")
	require.Equal(t, "7", string(z.of(7)))
	require.Equal(t, "10", string(z.of(10)))
	require.Equal(t, "9999999", string(z.of(9999999)))
	require.Equal(t, "10000005", string(z.of(10000005)))
}

// TestPieceAndAmountText: the cached pieces are what formatting them again
// gives, whatever the order of values (two amount pairs are kept).
func TestPieceAndAmountText(t *testing.T) {
	var p pieceText
	for _, c := range [][2]string{{"visit", ""}, {"visit", ""}, {"adjustment", ""}, {"2026-11-02", "2026-11"}, {"2026-11-03", "2026-11"}, {"", ""}} {
		want := "," + c[0] + ","
		if c[1] != "" {
			want += c[1] + ","
		}
		require.Equal(t, want, string(p.of(c[0], c[1])), "%q", c)
	}
	var a amountText
	rng := rand.New(rand.NewPCG(9, 10))
	vals := []int64{0, 420, 850, -5, math.MinInt64, math.MaxInt64}
	for range 5000 {
		v, m := vals[rng.IntN(len(vals))], vals[rng.IntN(len(vals))]
		want := MinorString(v) + "," + MinorString(m) + "," + strconv.FormatBool(m < v) + ","
		require.Equal(t, want, string(a.of(v, m)), "%d %d", v, m)
	}
}

// TestMayNeedQuotes: every field that encoding/csv quotes is caught (the
// line then goes through csv.Writer), at every position of long and short
// fields; plain ids are not.
func TestMayNeedQuotes(t *testing.T) {
	quoted := func(f string) bool {
		var b strings.Builder
		w := csv.NewWriter(&b)
		require.NoError(t, w.Write([]string{f}))
		w.Flush()
		return strings.HasPrefix(b.String(), `"`)
	}
	alphabet := []byte("aZ09-_./:,\"\r\n \t\v\f\\é")
	rng := rand.New(rand.NewPCG(7, 8))
	for range 50000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			if rng.IntN(8) == 0 {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			} else {
				b[i] = "abcXYZ0189-"[rng.IntN(11)]
			}
		}
		f := string(b)
		if quoted(f) {
			require.True(t, mayNeedQuotes(f), "%q", f)
		}
	}
	for _, f := range []string{"04A1B2C3D4E5F6", "P-7Q2M4X9K3T5W8ZJ1", "rtm-metro/g07", "cp72-adult", "", "x"} {
		require.False(t, mayNeedQuotes(f), "%q", f)
	}
	for _, f := range []string{`\.`, " x", "a,b", "0123456789abcde\"", "0123456789abcdef\n", "01234567\r"} {
		require.True(t, mayNeedQuotes(f), "%q", f)
	}
}

// TestWhereText: the cached ",product,category,venue,gate" and its
// plainness are those of the fields given, over runs of repeats and single
// changes (of one field, of one that needs quoting, of the length only), and
// a changed field's bytes are not kept: the caller's buffer is reused.
func TestWhereText(t *testing.T) {
	values := []string{"cp72-adult", "adult", "rtm-metro", "rtm-metro/g", "a,b", " x", `\.`, "", "x", "adulte", "quo\"te"}
	rng := rand.New(rand.NewPCG(11, 12))
	var w whereText
	buf := make([]byte, 0, 64)
	fields := [4]string{values[0], values[1], values[2], values[3]}
	for range 20000 {
		if rng.IntN(3) == 0 {
			fields[rng.IntN(4)] = values[rng.IntN(len(values))]
		}
		// The fields view one buffer, rewritten for every call, as the
		// ledger's views are.
		buf = buf[:0]
		var views [4]string
		for i, f := range fields {
			start := len(buf)
			buf = append(buf, f...)
			views[i] = unsafe.String(unsafe.SliceData(buf[start:]), len(f))
		}
		text, plain := w.of(views[0], views[1], views[2], views[3])
		require.Equal(t, ","+strings.Join(fields[:], ","), string(text), "%q", fields)
		wantPlain := true
		for _, f := range fields {
			wantPlain = wantPlain && !mayNeedQuotes(f)
		}
		require.Equal(t, wantPlain, plain, "%q", fields)
		for i := range buf {
			buf[i] = '~' // the next call's fields see none of these bytes
		}
	}
}
