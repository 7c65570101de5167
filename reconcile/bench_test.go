package reconcile

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkCloseMonth closes one partner's month over a journal of 20 000
// taps spread over the month and four partners (the reconcile scan rate of
// docs/semantics.md, "Performance and reliability"); taps/op is the
// journal records the close reads.
func BenchmarkCloseMonth(b *testing.B) {
	const taps = 20000
	l := newFakeLedger()
	gates := []string{"mucem/main", "rtm-metro/vieux-port", "chateau-if/quay", "boat/pier"}
	start := local(2026, 11, 1, 6, 0)
	step := 29 * 24 * time.Hour / taps
	for i := range taps {
		l.tap(visit("d", uint64(i+1), start.Add(time.Duration(i)*step), "C1", fmt.Sprintf("P%d", i%5000), "adult", gates[i%len(gates)]))
	}
	cat, s := testCatalog(b), testSigner(b, 1)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		// A fresh statement store each time: a re-close would only rewrite.
		l.records = map[string]map[string][]byte{}
		l.postings, l.postingIDs = nil, map[string]bool{}
		if _, err := Close(ctx, l, cat, s, CloseOptions{Period: "2026-11", Partner: "rtm", At: local(2026, 12, 2, 0, 0), OutDir: b.TempDir()}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(taps), "taps/op")
}
