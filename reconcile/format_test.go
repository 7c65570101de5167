package reconcile

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

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
		require.Equal(t, want, minorString(m), "%d", m)
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
		require.Equal(t, fmt.Sprintf("%s%d.%02d", sign, a/100, a%100), string(appendMinor([]byte("z"), m))[1:], "%d", m)
	}
}
