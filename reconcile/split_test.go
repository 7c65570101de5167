package reconcile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// splitHistory journals a seeded month of taps at every partner (passes of
// 24 hours, some entries duplicated by a second offline gate, some
// uploaded days late) and runs month ends through every few days. It
// returns the statement directory and the ledger.
func splitHistory(t *testing.T, seed uint64, batch int, owned bool) (string, *fakeLedger) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 0xba7c4))
	l := newFakeLedger()
	l.batch, l.ownedStrings = batch, owned
	cat, s := testCatalog(t), testSigner(t, 1)
	dir := t.TempDir()
	gates := []string{"mucem/main", "chateau-if/quay", "rtm-metro/vieux-port", "boat/pier", "opera/door"}
	// Passes of 24 hours, activated each day; every entry is within its
	// pass's validity. Some are journaled days late (an offline device
	// uploading), with their own tap time.
	type pending struct {
		due int
		rec engine.TapRecord
	}
	var late []pending
	seq := uint64(0)
	for day := 0; day < 30; day++ {
		for _, p := range late {
			if p.due == day {
				l.tap(p.rec)
			}
		}
		for i := 0; i < 12; i++ {
			k := rng.IntN(6)
			pass := fmt.Sprintf("P%02d-%d", day, k)
			activated := local(2026, 11, 1, 8, 0).AddDate(0, 0, day).Add(time.Duration(k) * time.Hour)
			at := activated.Add(time.Duration(rng.IntN(24*60)) * time.Minute)
			gate := gates[rng.IntN(len(gates))]
			cat := []string{"adult", "child"}[rng.IntN(2)]
			dev := fmt.Sprintf("d%d", rng.IntN(3))
			seq++
			recs := []engine.TapRecord{visit(dev, seq, at, "C"+pass, pass, cat, gate)}
			if rng.IntN(5) == 0 { // a second offline gate accepted it too
				recs = append(recs, visit(dev+"x", seq, at.Add(time.Minute), "C"+pass, pass, cat, gate))
			}
			for _, r := range recs {
				if rng.IntN(6) == 0 {
					late = append(late, pending{due: day + 1 + rng.IntN(6), rec: r})
				} else {
					l.tap(r)
				}
			}
		}
		if day%4 == 3 {
			d := tariff.DateOf(local(2026, 11, 1, 12, 0).AddDate(0, 0, day-1))
			_, err := MonthEnd(ctx, l, cat, s, MonthEndOptions{CloseOptions: CloseOptions{Through: d,
				At: local(2026, 11, 2, 6, 0).AddDate(0, 0, day), OutDir: dir}})
			require.NoError(t, err, "seed %d day %d", seed, day)
		}
	}
	for _, p := range late {
		if p.due >= 30 {
			l.tap(p.rec)
		}
	}
	_, err := MonthEnd(ctx, l, cat, s, MonthEndOptions{CloseOptions: CloseOptions{Through: tariff.Date{Year: 2026, Month: 12, Day: 15},
		At: local(2026, 12, 20, 6, 0), OutDir: dir}})
	require.NoError(t, err)
	return dir, l
}

// TestTotalsIndependentOfBatches: the statements of a history are the same
// bytes however the journal is cut into batches (and whether the records'
// strings are views of reused buffers or their own), and they hold the
// valuation's rules at their edges: a capped period never pays more than
// its cap, an over_limit line pays 0, a "once" venue is paid once per
// pass, the opera once per pass and day, the boat twice per pass.
func TestTotalsIndependentOfBatches(t *testing.T) {
	for seed := uint64(1); seed <= 4; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Logf("seed %d", seed)
			want, l := splitHistory(t, seed, 1000, true)
			for _, b := range []int{1, 2, 7, 64} {
				got, _ := splitHistory(t, seed, b, false)
				assertSameDir(t, want, got)
			}
			_, err := Verify(want, testSigner(t, 1).PublicKey())
			require.NoError(t, err)
			cov, err := Coverage(context.Background(), l, testCatalog(t), local(2026, 12, 20, 6, 0))
			require.NoError(t, err)
			require.True(t, cov.OK(), "%v", cov.Problems())
			checkEdges(t, want)
		})
	}
}

// checkEdges reads every statement CSV of dir and checks the rules at
// their edges across statements.
func checkEdges(t *testing.T, dir string) {
	t.Helper()
	paidPerPeriod := map[string]int64{} // mucem period → minor units paid
	paid := map[string]int{}            // rule key → paid lines
	lines := 0
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".csv") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		require.NoError(t, eachCSVLine(data, func(r map[string]string) error {
			lines++
			amt, err := parseMoney(r["amount"])
			require.NoError(t, err)
			m, _ := toMinor(amt)
			if r["note"] == NoteOverLimit {
				assert.Equal(t, "0.00", r["amount"], "%s line %s", e.Name(), r["line"])
				assert.Equal(t, "0.00", r["value"])
			}
			if r["kind"] == KindFlatFee || m == 0 && r["note"] == NoteOverLimit {
				return nil
			}
			switch r["venue"] {
			case "mucem":
				paidPerPeriod[r["original_period"]] += m
				if r["value"] != "0.00" {
					paid["mucem "+r["pass"]]++
				}
			case "chateau-if":
				paid["chateau "+r["pass"]]++
			case "opera":
				paid["opera "+r["pass"]+" "+r["service_day"]]++
			case "boat":
				paid["boat "+r["pass"]]++
			}
			return nil
		}))
	}
	require.Positive(t, lines)
	for p, m := range paidPerPeriod {
		assert.LessOrEqual(t, m, int64(2000), "mucem %s paid beyond its cap of 20.00", p)
	}
	for k, n := range paid {
		limit := 1
		if strings.HasPrefix(k, "boat ") {
			limit = 2
		}
		assert.LessOrEqual(t, n, limit, "%s: paid %d times", k, n)
	}
}
