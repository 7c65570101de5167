package stmtfile

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestRFC3339ClockMatchesAppendFormat: the cached formatter writes exactly
// what Time.In(loc).AppendFormat(time.RFC3339) writes, across DST changes
// (including zones whose change is at midnight or by 30 minutes), day
// boundaries, UTC ("Z"), sub-second instants and instants in any order.
func TestRFC3339ClockMatchesAppendFormat(t *testing.T) {
	zones := []string{"Europe/Paris", "UTC", "America/Sao_Paulo", "Australia/Lord_Howe", "Asia/Kolkata", "America/St_Johns", "Pacific/Apia"}
	rng := rand.New(rand.NewPCG(7, 11))
	for _, name := range zones {
		loc, err := time.LoadLocation(name)
		require.NoError(t, err)
		c := newRFC3339Clock(loc)
		check := func(at time.Time) {
			want := at.In(loc).AppendFormat(nil, time.RFC3339)
			got := c.append([]byte("x"), at)
			require.Equal(t, "x"+string(want), string(got), "%s: %s (unix %d)", name, at, at.Unix())
		}
		// Every 37 minutes through 2010-2027 in order, then around every
		// transition second by second, then at random.
		for at := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC); at.Year() < 2027; at = at.Add(37*time.Minute + 13*time.Second) {
			check(at)
		}
		for at := time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC); at.Year() < 2027; {
			_, end := at.In(loc).ZoneBounds()
			if end.IsZero() {
				break
			}
			for d := -3 * time.Second; d <= 3*time.Second; d += 500 * time.Millisecond {
				check(end.Add(d))
			}
			check(end.Add(-25 * time.Hour))
			at = end
		}
		for i := 0; i < 20000; i++ {
			check(time.Unix(rng.Int64N(4_000_000_000)-1_000_000_000, rng.Int64N(1e9)))
		}
		check(time.Time{})
		check(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
		check(time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC))
	}
}

func BenchmarkRFC3339Clock(b *testing.B) {
	loc, _ := time.LoadLocation("Europe/Paris")
	c := newRFC3339Clock(loc)
	at := time.Date(2026, 3, 29, 0, 0, 0, 0, loc)
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = c.append(buf[:0], at)
		at = at.Add(1700 * time.Millisecond)
	}
}

func BenchmarkRFC3339AppendFormat(b *testing.B) {
	loc, _ := time.LoadLocation("Europe/Paris")
	at := time.Date(2026, 3, 29, 0, 0, 0, 0, loc)
	buf := make([]byte, 0, 64)
	for b.Loop() {
		buf = at.In(loc).AppendFormat(buf[:0], time.RFC3339)
		at = at.Add(1700 * time.Millisecond)
	}
}
