package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of sorted by the
// nearest-rank method: the smallest value such that at least p % of the
// samples are less than or equal to it. It returns 0 for no samples.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// Median returns the median of xs (the mean of the two middle values for an
// even count); 0 for none. xs is not modified.
func Median(xs []float64) float64 {
	n := len(xs)
	if n == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// Latencies collects per-operation durations. Not safe for concurrent use.
type Latencies struct {
	d      []time.Duration
	sorted bool
}

// NewLatencies returns a collector with room for n samples.
func NewLatencies(n int) *Latencies { return &Latencies{d: make([]time.Duration, 0, n)} }

// Add records one sample.
func (l *Latencies) Add(d time.Duration) { l.d = append(l.d, d); l.sorted = false }

// Len returns the number of samples.
func (l *Latencies) Len() int { return len(l.d) }

// P returns the p-th percentile (nearest rank).
func (l *Latencies) P(p float64) time.Duration {
	if !l.sorted {
		slices.Sort(l.d)
		l.sorted = true
	}
	return Percentile(l.d, p)
}

// us converts a duration to microseconds as a float.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// round rounds x to the given number of decimal places (half away from
// zero), for stable JSON and tables.
func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}
