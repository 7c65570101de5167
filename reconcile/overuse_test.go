package reconcile

import (
	"context"
	"fmt"
	"maps"
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

// TestOverUseInCanonicalOrder: of two entries of a pass at a venue limited
// once, a close pays the earlier by tap time (then device, seq) whatever
// order they were journaled in; an entry journaled after a statement
// covered the other never takes its place: it goes onto the next statement
// as an adjustment over_limit at 0, and the venue is paid once.
func TestOverUseInCanonicalOrder(t *testing.T) {
	early, late := local(2026, 11, 30, 10, 0), local(2026, 11, 30, 10, 5)
	lines := func(t *testing.T, dir, id string) map[string]map[string]string {
		t.Helper()
		out := map[string]map[string]string{}
		require.NoError(t, eachCSVLine([]byte(statementCSV(t, dir, id)), func(r map[string]string) error {
			out[r["tap_device"]] = maps.Clone(r)
			return nil
		}))
		return out
	}
	for _, tc := range []struct {
		name    string
		journal []string // devices in journal order: g1 taps early, g2 late
	}{
		{"early journaled first", []string{"g1", "g2"}},
		{"late journaled first", []string{"g2", "g1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFakeLedger()
			for _, dev := range tc.journal {
				at := map[string]time.Time{"g1": early, "g2": late}[dev]
				l.tap(visit(dev, 1, at, "A1", "P1", "adult", "mucem/"+dev))
			}
			dir := t.TempDir()
			res := closeP(t, l, "2026-11", "mucem", local(2026, 12, 2, 0, 0), dir)
			assert.Equal(t, "8.00", formatMoney(res.Statements[0].Net))
			ls := lines(t, dir, "mucem-2026-11")
			assert.Equal(t, "8.00", ls["g1"]["amount"], "the earlier entry is paid")
			assert.Equal(t, "", ls["g1"]["note"])
			assert.Equal(t, "0.00", ls["g2"]["amount"])
			assert.Equal(t, NoteOverLimit, ls["g2"]["note"])
			// Closing again writes the same files.
			closeP(t, l, "2026-11", "mucem", local(2026, 12, 3, 0, 0), dir)
			_, err := Verify(dir, testSigner(t, 1).PublicKey())
			require.NoError(t, err)
		})
	}
	t.Run("the earlier entry journaled after the close", func(t *testing.T) {
		l := newFakeLedger()
		l.tap(visit("g2", 1, late, "A1", "P1", "adult", "mucem/g2"))
		dir := t.TempDir()
		closeP(t, l, "2026-11", "mucem", local(2026, 12, 2, 0, 0), dir)
		assert.Equal(t, "8.00", lines(t, dir, "mucem-2026-11")["g2"]["amount"], "paid on November's statement")
		l.tap(visit("g1", 1, early, "A1", "P1", "adult", "mucem/g1"))
		closeP(t, l, "2026-12", "mucem", local(2027, 1, 2, 0, 0), dir)
		adj := lines(t, dir, "mucem-2026-12")["g1"]
		assert.Equal(t, KindAdjustment, adj["kind"])
		assert.Equal(t, "0.00", adj["amount"], "it never takes the place of the entry November paid")
		assert.Equal(t, NoteOverLimit, adj["note"])
		// Both statements again: the same bytes.
		closeP(t, l, "2026-11", "mucem", local(2027, 1, 3, 0, 0), dir)
		closeP(t, l, "2026-12", "mucem", local(2027, 1, 3, 0, 0), dir)
		_, err := Verify(dir, testSigner(t, 1).PublicKey())
		require.NoError(t, err)
	})
}
