package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func closeP(t *testing.T, l Ledger, period, partner string, at time.Time, dir string) *CloseResult {
	t.Helper()
	res, err := Close(context.Background(), l, testCatalog(t), testSigner(t, 1), CloseOptions{Period: period, Partner: partner, At: at, OutDir: dir})
	require.NoError(t, err)
	return res
}

func TestClosePerVisitCapCrossing(t *testing.T) {
	l := newFakeLedger()
	// Nov 2026: three adults (8.00 each) and a child (4.00) at the MuCEM; cap 20.00.
	l.tap(visit("g1", 1, local(2026, 11, 2, 10, 0), "04A1", "P1", "adult", "mucem/main"))
	l.tap(visit("g1", 2, local(2026, 11, 3, 11, 0), "04A2", "P2", "adult", "mucem/main"))
	l.tap(visit("g2", 1, local(2026, 11, 4, 12, 0), "04A3", "P3", "child", "mucem/side"))
	l.tap(visit("g1", 3, local(2026, 11, 5, 13, 0), "04A4", "P4", "adult", "mucem/main"))
	// Not paid: an exit, a denial, another venue, another month.
	ex := visit("g1", 4, local(2026, 11, 5, 14, 0), "04A4", "P4", "adult", "mucem/main")
	ex.Direction = engine.Exit
	l.tap(ex)
	deny := visit("g1", 5, local(2026, 11, 5, 15, 0), "04A5", "P5", "adult", "mucem/main")
	deny.Decision = engine.Decision{Reason: engine.ReasonExpired}
	l.tap(deny)
	l.tap(visit("g1", 6, local(2026, 12, 1, 10, 0), "04A1", "P1", "adult", "mucem/main"))

	dir := t.TempDir()
	res := closeP(t, l, "2026-11", "mucem", local(2026, 12, 2, 0, 0), dir)
	require.Len(t, res.Statements, 1)
	s := res.Statements[0]
	assert.Equal(t, "mucem-2026-11", s.ID)
	assert.Equal(t, 4, s.Visits)
	assert.Equal(t, "28.00", formatMoney(s.Gross))
	assert.Equal(t, "8.00", formatMoney(s.CapReduction))
	assert.Equal(t, "20.00", formatMoney(s.Net))
	checkGolden(t, "per_visit_cap", dir)

	csv, err := os.ReadFile(filepath.Join(dir, "mucem-2026-11.csv"))
	require.NoError(t, err)
	// Line 3 (child, 4.00) crosses the cap: 16.00 paid so far, remainder 4.00 — exactly.
	// Line 4 (adult) is listed at 0, capped.
	assert.Contains(t, string(csv), ",2026-11,4.00,4.00,false\n")
	assert.Contains(t, string(csv), ",2026-11,8.00,0.00,true\n")
}
