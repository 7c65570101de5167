package reconcile

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/citypass/citypass/tariff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// novemberLedger: visits of November 2026 for partners of every period
// kind: the opera (daily) on the 2nd, 3rd and 5th, the château (weekly) in
// W45, W46 and W48, the MuCEM (monthly, capped), the metro (monthly,
// per_pass_day) and the boat (monthly, flat).
func novemberLedger() *fakeLedger {
	l := newFakeLedger()
	l.tap(visit("o1", 1, local(2026, 11, 2, 20, 0), "O1", "O1", "adult", "opera/door"))
	l.tap(visit("c1", 1, local(2026, 11, 3, 10, 0), "C1", "Q1", "adult", "chateau-if/quay")) // W45
	l.tap(visit("o1", 2, local(2026, 11, 3, 20, 0), "O2", "O2", "adult", "opera/door"))
	l.tap(visit("g1", 1, local(2026, 11, 4, 10, 0), "A1", "P1", "adult", "mucem/main"))
	l.tap(visit("o1", 3, local(2026, 11, 5, 20, 0), "O3", "O3", "adult", "opera/door"))
	l.tap(visit("c1", 2, local(2026, 11, 10, 10, 0), "C2", "Q2", "child", "chateau-if/quay")) // W46
	l.tap(visit("m1", 1, local(2026, 11, 12, 9, 0), "R1", "R1", "adult", "rtm-metro/vieux-port"))
	l.tap(visit("m1", 2, local(2026, 11, 12, 18, 0), "R1", "R1", "adult", "rtm-metro/vieux-port"))
	l.tap(visit("c1", 3, local(2026, 11, 26, 10, 0), "C3", "Q3", "adult", "chateau-if/quay")) // W48
	l.tap(visit("b1", 1, local(2026, 11, 28, 14, 0), "B1", "B1", "adult", "boat/pier"))
	return l
}

func closeIDs(res *CloseResult) []string {
	var ids []string
	for _, s := range res.Statements {
		ids = append(ids, s.ID)
	}
	return ids
}

// TestOutOfOrderClosesAreRefused: closing 2026-11-05 or 2026-W48 first
// would leave the earlier days and weeks with visits behind for good: both
// are refused with the list of open periods, nothing is stored, and a
// close through the end of the month then closes every period, oldest
// first, with every visit on a statement.
func TestOutOfOrderClosesAreRefused(t *testing.T) {
	ctx := context.Background()
	l := novemberLedger()
	cat, s := testCatalog(t), testSigner(t, 1)
	at := local(2026, 12, 2, 9, 0)
	dir := t.TempDir()

	_, err := Close(ctx, l, cat, s, CloseOptions{Period: "2026-11-05", At: at, OutDir: dir})
	var open *OpenPeriodsError
	require.ErrorAs(t, err, &open)
	assert.Equal(t, []OpenPeriod{{Partner: "opera", Period: "2026-11-02", Visits: 1}, {Partner: "opera", Period: "2026-11-03", Visits: 1}}, open.Open)
	_, err = Close(ctx, l, cat, s, CloseOptions{Period: "2026-W48", At: at, OutDir: dir})
	require.ErrorAs(t, err, &open)
	assert.Equal(t, []OpenPeriod{{Partner: "chateau", Period: "2026-W45", Visits: 1}, {Partner: "chateau", Period: "2026-W46", Visits: 1}}, open.Open)
	assert.Contains(t, err.Error(), "chateau 2026-W45: 1 visit(s)")
	assert.Empty(t, mustStatements(t, l))
	assert.Empty(t, mustReadDir(t, dir), "a refused close writes no file")

	res, err := Close(ctx, l, cat, s, CloseOptions{Through: tariff.Date{Year: 2026, Month: 11, Day: 30}, At: at, OutDir: dir})
	require.NoError(t, err)
	assert.Equal(t, []string{
		"boat-2026-01", "boat-2026-02", "boat-2026-03", "boat-2026-04", "boat-2026-05", "boat-2026-06", "boat-2026-07",
		"boat-2026-08", "boat-2026-09", "boat-2026-10", "boat-2026-11", // flat fees since the contract began
		"chateau-2026-W45", "chateau-2026-W46", "chateau-2026-W48", // W47 had nothing due; W49 has not ended
		"mucem-2026-11",
		"opera-2026-11-02", "opera-2026-11-03", "opera-2026-11-05",
		"rtm-2026-11",
	}, closeIDs(res))
	checkGolden(t, "through_november", dir)
	_, err = Verify(dir, s.PublicKey())
	require.NoError(t, err)
	cov, err := Coverage(ctx, l, cat, at)
	require.NoError(t, err)
	assert.True(t, cov.OK(), "%v", cov.Problems())
	assert.Empty(t, cov.Awaiting)
	assert.Equal(t, 10, cov.Entries)

	// Closing through again finds nothing new; a re-close by period
	// rewrites the same bytes.
	res, err = Close(ctx, l, cat, s, CloseOptions{Through: tariff.Date{Year: 2026, Month: 11, Day: 30}, At: at, OutDir: t.TempDir()})
	require.NoError(t, err)
	assert.Empty(t, res.Statements)
	again := t.TempDir()
	res, err = Close(ctx, l, cat, s, CloseOptions{Period: "2026-W46", At: at, OutDir: again})
	require.NoError(t, err)
	require.Len(t, res.Statements, 1)
	assert.True(t, res.Statements[0].Reclosed)
	for _, f := range []string{"chateau-2026-W46.csv", "chateau-2026-W46.json"} {
		a, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		b, err := os.ReadFile(filepath.Join(again, f))
		require.NoError(t, err)
		assert.Equal(t, string(a), string(b), f)
	}
}

// TestThroughAcrossKinds: a close through a day closes the daily periods
// ended by then, the weeks ended by then, and no month that has not ended;
// late taps of closed periods go onto each partner's next statement, and
// a period left without a statement (nothing due) takes its late taps
// onto the next statement too.
func TestThroughAcrossKinds(t *testing.T) {
	ctx := context.Background()
	l := novemberLedger()
	cat, s := testCatalog(t), testSigner(t, 1)
	dir := t.TempDir()
	through := func(y int, m time.Month, d int, at time.Time) *CloseResult {
		t.Helper()
		me, err := MonthEnd(ctx, l, cat, s, MonthEndOptions{CloseOptions: CloseOptions{Through: tariff.Date{Year: y, Month: m, Day: d}, At: at, OutDir: dir}})
		require.NoError(t, err)
		return me.Close
	}
	// Through Tuesday 10 November, closed on the 11th: days to the 10th,
	// weeks to W45 (W46 ends on the 16th), no month of November.
	res := through(2026, 11, 10, local(2026, 11, 11, 9, 0))
	ids := closeIDs(res)
	assert.Contains(t, ids, "opera-2026-11-05")
	assert.Contains(t, ids, "chateau-2026-W45")
	assert.NotContains(t, ids, "chateau-2026-W46")
	assert.NotContains(t, ids, "mucem-2026-11")
	assert.Contains(t, ids, "boat-2026-10")
	assert.NotContains(t, ids, "boat-2026-11")
	// A through date that has not ended yet closes only what has ended at At.
	res = through(2026, 11, 30, local(2026, 11, 17, 9, 0))
	assert.Equal(t, []string{"chateau-2026-W46"}, closeIDs(res))

	// Late taps: an opera visit of the 4th (a day closed with no statement:
	// nothing was due) and a château visit of W45, journaled now.
	l.tap(visit("o9", 1, local(2026, 11, 4, 21, 0), "O9", "O9", "adult", "opera/door"))
	l.tap(visit("c9", 1, local(2026, 11, 8, 12, 0), "C9", "Q9", "adult", "chateau-if/quay"))
	res = through(2026, 11, 30, local(2026, 12, 2, 9, 0))
	ids = closeIDs(res)
	// The late taps go onto each partner's first statement of this close:
	// W47 (nothing else due) gets a statement for the château's.
	assert.Equal(t, []string{"boat-2026-11", "chateau-2026-W47", "chateau-2026-W48", "mucem-2026-11", "opera-2026-11-06", "rtm-2026-11"}, ids)
	opera := statementOf(t, res, "opera-2026-11-06")
	assert.Equal(t, 0, opera.Visits)
	assert.Equal(t, 1, opera.AdjustmentLines)
	assert.Contains(t, statementCSV(t, dir, "opera-2026-11-06"), ",adjustment,")
	assert.Contains(t, statementCSV(t, dir, "opera-2026-11-06"), ",2026-11-04,2026-11-04,10.00,10.00,false,\n")
	ch := statementOf(t, res, "chateau-2026-W47")
	assert.Equal(t, 0, ch.Visits)
	assert.Equal(t, 1, ch.AdjustmentLines)
	assert.Contains(t, statementCSV(t, dir, "chateau-2026-W47"), ",2026-W45,3.66,3.66,false,\n")
	_, err := Verify(dir, s.PublicKey())
	require.NoError(t, err)
	cov, err := Coverage(ctx, l, cat, local(2026, 12, 2, 9, 0))
	require.NoError(t, err)
	assert.True(t, cov.OK(), "%v", cov.Problems())
	checkGolden(t, "through_kinds", dir)
}

// TestCoverageFindsSkippedPeriods: the detector fails a ledger where a
// period with visits has no statement although a later one closed after
// they were journaled (written by an earlier release, or by hand), reports
// ended periods not closed yet as awaiting, and late taps as pending.
func TestCoverageFindsSkippedPeriods(t *testing.T) {
	ctx := context.Background()
	l := novemberLedger()
	cat, s := testCatalog(t), testSigner(t, 1)
	at := local(2026, 12, 2, 9, 0)
	cov, err := Coverage(ctx, l, cat, at)
	require.NoError(t, err)
	assert.True(t, cov.OK())
	var awaiting []string
	for _, a := range cov.Awaiting {
		awaiting = append(awaiting, a.Partner+" "+a.Period)
	}
	sort.Strings(awaiting)
	assert.Equal(t, []string{"boat 2026-11", "chateau 2026-W45", "chateau 2026-W46", "chateau 2026-W48", "mucem 2026-11",
		"opera 2026-11-02", "opera 2026-11-03", "opera 2026-11-05", "rtm 2026-11"}, awaiting)

	_, err = Close(ctx, l, cat, s, CloseOptions{Through: tariff.Date{Year: 2026, Month: 11, Day: 30}, At: at, OutDir: t.TempDir()})
	require.NoError(t, err)
	// W46's statement disappears (a skipped period): its visit is on no
	// statement, and W48 closed after it was journaled.
	delete(l.records[tableStatement], "chateau-2026-W46")
	cov, err = Coverage(ctx, l, cat, at)
	require.NoError(t, err)
	require.False(t, cov.OK(), "a skipped period with a visit must be reported")
	assert.Equal(t, []PeriodVisits{{Partner: "chateau", Period: "2026-W46", Visits: 1, FirstSeq: 6, LastSeq: 6}}, cov.Unstated)
	assert.Contains(t, cov.Problems()[0], "chateau in 2026-W46")
	// A late tap of a closed period waits for the next statement.
	l.tap(visit("g9", 1, local(2026, 11, 20, 10, 0), "A9", "P9", "adult", "mucem/main"))
	cov, err = Coverage(ctx, l, cat, at)
	require.NoError(t, err)
	assert.Equal(t, 1, cov.Pending)
	// Verify, given the coverage, reports it too.
	rep := &VerifyReport{Dir: "x", Partners: map[string]int{}, Coverage: cov}
	tb := rep.Table()
	assert.Contains(t, tb.Notes[0], "belong to no statement")
}

// TestOneValidityAcrossAPeriodEnd: a "once" pass whose validity spans the
// end of a weekly period enters the château twice (two offline gates
// accepted both): on each side of the period's end. The venue is paid
// once, whichever entry was journaled first, and whichever order the
// periods close in time (the second entry journaled before or after the
// first period closed).
func TestOneValidityAcrossAPeriodEnd(t *testing.T) {
	ctx := context.Background()
	cat, s := testCatalog(t), testSigner(t, 1)
	// W48 ends Monday 30 November 04:30.
	sunday := local(2026, 11, 29, 22, 0) // W48
	monday := local(2026, 11, 30, 9, 0)  // W49
	for _, tc := range []struct {
		name         string
		firstMonday  bool // the W49 entry is journaled first
		closeBetween bool // W48 closes between the two
	}{
		{"sunday first", false, false},
		{"monday first", true, false},
		{"sunday first, week closed between", false, true},
		{"monday first, week closed between", true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newFakeLedger()
			dir := t.TempDir()
			entries := []time.Time{sunday, monday}
			if tc.firstMonday {
				entries = []time.Time{monday, sunday}
			}
			closeW48 := func() {
				_, err := Close(ctx, l, cat, s, CloseOptions{Period: "2026-W48", Partner: "chateau", At: local(2026, 12, 1, 9, 0),
					OutDir: dir, CatchUp: true})
				require.NoError(t, err)
			}
			l.tap(visit("g1", 1, entries[0], "C1", "Q1", "adult", "chateau-if/quay"))
			if tc.closeBetween {
				closeW48()
			}
			l.tap(visit("g2", 1, entries[1], "C1", "Q1", "adult", "chateau-if/quay"))
			if !tc.closeBetween {
				closeW48()
			}
			_, err := Close(ctx, l, cat, s, CloseOptions{Period: "2026-W49", Partner: "chateau", At: local(2026, 12, 8, 9, 0), OutDir: dir})
			require.NoError(t, err)
			var paid int64
			lines := 0
			require.NoError(t, Statements(ctx, l, func(st *Statement) error { paid += st.NetMinor; return nil }))
			for _, id := range []string{"chateau-2026-W48", "chateau-2026-W49"} {
				require.NoError(t, eachCSVLine([]byte(statementCSV(t, dir, id)), func(r map[string]string) error {
					lines++
					if r["amount"] == "0.00" {
						assert.Equal(t, NoteOverLimit, r["note"], "%s line %s", id, r["line"])
					}
					return nil
				}))
			}
			assert.Equal(t, int64(366), paid, "the venue is paid one entry (3.66), not two")
			assert.Equal(t, 2, lines, "both entries are listed")
			_, err = Verify(dir, s.PublicKey())
			require.NoError(t, err)
		})
	}
}
