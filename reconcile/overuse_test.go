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

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/tariff"
)

// TestVisitsCountOverUseAsStatements: the visits report counts, per venue,
// day and category, exactly the entries the statements list over_limit,
// whatever the journal order: seeded taps of passes at venues limited once
// (mucem, chateau-if), once per day (opera) and twice (boat), each pass's
// taps within one validity and over two service days, journaled in a
// shuffled order.
func TestVisitsCountOverUseAsStatements(t *testing.T) {
	ctx := context.Background()
	cat := testCatalog(t)
	gates := []string{"mucem/main", "mucem/side", "chateau-if/quay", "opera/door", "boat/pier", "rtm-metro/a"}
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 16))
		l := newFakeLedger()
		var taps []func()
		seqs := map[string]uint64{}
		for p := range 12 {
			pass, card := fmt.Sprintf("P%02d", p), fmt.Sprintf("C%02d", p)
			day := 2 + p%18 // November 2 to 19: every period of them has ended by the close
			for range 1 + rng.IntN(6) {
				dev := fmt.Sprintf("g%d", rng.IntN(3))
				seqs[dev]++
				at := local(2026, 11, day, 16, 0).Add(time.Duration(rng.IntN(20*60)) * time.Minute) // over two service days
				rec := visit(dev, seqs[dev], at, card, pass, "adult", gates[rng.IntN(len(gates))])
				taps = append(taps, func() { l.tap(rec) })
			}
		}
		rng.Shuffle(len(taps), func(i, j int) { taps[i], taps[j] = taps[j], taps[i] })
		for _, tap := range taps {
			tap()
		}
		dir := t.TempDir()
		through, err := tariff.ParseDate("2026-11-30")
		require.NoError(t, err)
		_, err = Close(ctx, l, cat, testSigner(t, 1), CloseOptions{Through: through, At: local(2026, 12, 5, 0, 0), OutDir: dir})
		require.NoError(t, err)
		want := map[string]int{}
		files, err := filepath.Glob(filepath.Join(dir, "*.csv"))
		require.NoError(t, err)
		for _, f := range files {
			b, err := os.ReadFile(f)
			require.NoError(t, err)
			require.NoError(t, eachCSVLine(b, func(r map[string]string) error {
				if r["note"] == NoteOverLimit {
					want[r["venue"]+" "+r["service_day"]+" "+r["category"]]++
				}
				return nil
			}))
		}
		from, err := tariff.ParseDate("2026-11-01")
		require.NoError(t, err)
		rep, err := Visits(ctx, l, cat, ReportOptions{From: from, To: through})
		require.NoError(t, err)
		got, total := map[string]int{}, 0
		for _, r := range rep.Rows {
			if r.OverLimit > 0 {
				got[r.Venue+" "+r.Day+" "+r.Category] = r.OverLimit
				total += r.OverLimit
			}
			assert.LessOrEqual(t, r.OverLimit, r.Count)
		}
		assert.Equal(t, want, got, "seed %d", seed)
		assert.Equal(t, total, rep.OverLimit, "seed %d", seed)
		if seed == 0 {
			require.NotEmpty(t, want, "the seed makes over-use")
			var sb strings.Builder
			require.NoError(t, Render(&sb, rep, "csv"))
			assert.Contains(t, sb.String(), "over_limit")
		}
	}
}
