package reconcile

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// marchLedger holds taps around the spring DST change (Sunday 2026-03-29,
// 02:00 → 03:00 in Paris) and the month and ISO-week boundaries, with the
// 04:30 service-day start.
func marchLedger() *fakeLedger {
	l := newFakeLedger()
	// chateau, percent_of_gate, weekly (W13 = Mon 23 – Sun 29 March).
	l.tap(visit("c1", 1, local(2026, 3, 23, 4, 29), "C0", "Q0", "adult", "chateau-if/quay")) // service day 22nd: W12
	l.tap(visit("c1", 2, local(2026, 3, 23, 4, 30), "C1", "Q1", "adult", "chateau-if/quay")) // first of W13
	l.tap(visit("c1", 3, local(2026, 3, 29, 3, 15), "C2", "Q2", "child", "chateau-if/quay")) // after the gap, service day 28th
	l.tap(visit("c1", 4, local(2026, 3, 30, 4, 29), "C3", "Q3", "adult", "chateau-if/quay")) // service day 29th: still W13
	l.tap(visit("c1", 5, local(2026, 3, 30, 4, 30), "C4", "Q4", "adult", "chateau-if/quay")) // W14
	// rtm, per_pass_day, monthly: pass R1 rides three times on two service days.
	l.tap(visit("m1", 1, local(2026, 3, 28, 9, 0), "R1", "R1", "adult", "rtm-metro/vieux-port"))
	l.tap(visit("m2", 1, local(2026, 3, 28, 23, 0), "R1", "R1", "adult", "rtm-metro/castellane"))
	l.tap(visit("m1", 2, local(2026, 3, 29, 4, 0), "R1", "R1", "adult", "rtm-metro/vieux-port")) // 28th still
	l.tap(visit("m1", 3, local(2026, 3, 29, 10, 0), "R1", "R1", "adult", "rtm-metro/vieux-port"))
	l.tap(visit("m1", 4, local(2026, 3, 30, 10, 0), "R2", "R2", "child", "rtm-metro/vieux-port"))
	l.tap(visit("m1", 5, local(2026, 4, 1, 4, 29), "R2", "R2", "child", "rtm-metro/vieux-port")) // service day 31 March
	l.tap(visit("m1", 6, local(2026, 4, 1, 4, 30), "R2", "R2", "child", "rtm-metro/vieux-port")) // April
	// boat, flat monthly: visits listed at 0.
	l.tap(visit("b1", 1, local(2026, 3, 15, 14, 0), "B1", "B1", "adult", "boat/pier"))
	// opera, per_visit daily: the DST day itself.
	l.tap(visit("o1", 1, local(2026, 3, 29, 4, 29), "O1", "O1", "adult", "opera/door")) // service day 28th
	l.tap(visit("o1", 2, local(2026, 3, 29, 4, 30), "O2", "O2", "adult", "opera/door"))
	l.tap(visit("o1", 3, local(2026, 3, 30, 4, 29), "O3", "O3", "adult", "opera/door"))
	l.tap(visit("o1", 4, local(2026, 3, 30, 4, 30), "O4", "O4", "adult", "opera/door")) // 30th
	return l
}

func TestGoldenContractModels(t *testing.T) {
	at := local(2026, 4, 10, 12, 0)
	tests := []struct {
		name, period, partner string
		visits                int
		gross, capRed, net    string
		start, end            string
	}{
		{"percent_of_gate_week_dst", "2026-W13", "chateau", 3, "10.98", "0.00", "10.98",
			"2026-03-23T04:30:00+01:00", "2026-03-30T04:30:00+02:00"},
		{"per_pass_day_month_dst", "2026-03", "rtm", 6, "7.50", "0.00", "7.50",
			"2026-03-01T04:30:00+01:00", "2026-04-01T04:30:00+02:00"},
		{"flat_month", "2026-03", "boat", 1, "1500.00", "0.00", "1500.00",
			"2026-03-01T04:30:00+01:00", "2026-04-01T04:30:00+02:00"},
		{"per_visit_day_dst", "2026-03-29", "opera", 2, "20.00", "0.00", "20.00",
			"2026-03-29T04:30:00+02:00", "2026-03-30T04:30:00+02:00"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := marchLedger()
			dir := t.TempDir()
			res := closeP(t, l, tc.period, tc.partner, at, dir)
			s := statementOf(t, res, StatementID(tc.partner, tc.period))
			assert.Equal(t, tc.visits, s.Visits)
			assert.Equal(t, tc.gross, formatMoney(s.Gross))
			assert.Equal(t, tc.capRed, formatMoney(s.CapReduction))
			assert.Equal(t, tc.net, formatMoney(s.Net))
			st, ok, err := LoadStatement(l, s.ID)
			require.NoError(t, err)
			require.True(t, ok)
			m := decodeManifest(t, st.Manifest)
			assert.Equal(t, tc.start, m.PeriodStart)
			assert.Equal(t, tc.end, m.PeriodEnd)
			checkGolden(t, tc.name, dir)
			_, err = Verify(dir, testSigner(t, 1).PublicKey())
			require.NoError(t, err)
		})
	}
}

func TestCloseAllPartnersOfAKind(t *testing.T) {
	l := marchLedger()
	dir := t.TempDir()
	res := closeP(t, l, "2026-03", "", local(2026, 4, 10, 12, 0), dir)
	var ids []string
	for _, s := range res.Statements {
		ids = append(ids, s.ID)
	}
	// The boat's flat fees of January and February are due: closed along.
	assert.Equal(t, []string{"boat-2026-01", "boat-2026-02", "boat-2026-03", "mucem-2026-03", "rtm-2026-03"}, ids)
	_, err := Verify(dir, testSigner(t, 1).PublicKey())
	require.NoError(t, err)
	// A week closes only the weekly partner (W12, which has a visit, first).
	res = closeP(t, l, "2026-W13", "", local(2026, 4, 10, 12, 0), dir)
	ids = nil
	for _, s := range res.Statements {
		ids = append(ids, s.ID)
	}
	assert.Equal(t, []string{"chateau-2026-W12", "chateau-2026-W13"}, ids)
}

func TestCloseRefusesOpenPeriod(t *testing.T) {
	l := marchLedger()
	_, err := Close(context.Background(), l, testCatalog(t), testSigner(t, 1),
		CloseOptions{Period: "2026-03", Partner: "rtm", At: local(2026, 4, 1, 4, 29), OutDir: t.TempDir()})
	require.ErrorIs(t, err, ErrPeriodOpen)
	// At the exact end it may close.
	_, err = Close(context.Background(), l, testCatalog(t), testSigner(t, 1),
		CloseOptions{Period: "2026-03", Partner: "rtm", At: local(2026, 4, 1, 4, 30), OutDir: t.TempDir()})
	require.NoError(t, err)
}

func TestCloseRejectsBadOptions(t *testing.T) {
	l := marchLedger()
	cat, s := testCatalog(t), testSigner(t, 1)
	at := local(2026, 5, 1, 12, 0)
	ctx := context.Background()
	for name, opts := range map[string]CloseOptions{
		"no period":       {At: at, OutDir: t.TempDir()},
		"no dir":          {Period: "2026-03", At: at},
		"bad label":       {Period: "2026-13", At: at, OutDir: t.TempDir()},
		"wrong kind":      {Period: "2026-W13", Partner: "mucem", At: at, OutDir: t.TempDir()},
		"unknown partner": {Period: "2026-03", Partner: "nobody", At: at, OutDir: t.TempDir()},
	} {
		_, err := Close(ctx, l, cat, s, opts)
		assert.Error(t, err, name)
	}
	// The 28th has a visit: the 29th cannot close before it.
	_, err := Close(ctx, l, cat, s, CloseOptions{Period: "2026-03-29", Partner: "opera", At: at, OutDir: t.TempDir()})
	var open *OpenPeriodsError
	require.ErrorAs(t, err, &open)
	require.ErrorIs(t, err, ErrEarlierOpen)
	assert.Equal(t, []OpenPeriod{{Partner: "opera", Period: "2026-03-28", Visits: 1}}, open.Open)
	assert.Empty(t, mustStatements(t, l), "a refused close stores nothing")
	res, err := Close(ctx, l, cat, s, CloseOptions{Period: "2026-03-29", Partner: "opera", At: at, OutDir: t.TempDir(), CatchUp: true})
	require.NoError(t, err)
	require.Len(t, res.Statements, 2)
	assert.Equal(t, "opera-2026-03-28", res.Statements[0].ID)
	assert.Equal(t, 87, res.Skipped, "the empty days since the contract began (service day 2025-12-31 holds its first hours) get no statement")
	// The 28th is closed now: closing it again rewrites it.
	res, err = Close(ctx, l, cat, s, CloseOptions{Period: "2026-03-28", Partner: "opera", At: at, OutDir: t.TempDir()})
	require.NoError(t, err)
	assert.True(t, res.Statements[0].Reclosed)
	// The 27th had nothing due: it was closed along, and cannot be closed now.
	_, err = Close(ctx, l, cat, s, CloseOptions{Period: "2026-03-27", Partner: "opera", At: at, OutDir: t.TempDir()})
	require.ErrorIs(t, err, ErrPeriodOrder)
}

func TestDSTPeriodLengths(t *testing.T) {
	tf := testTariff("v1", local(2026, 1, 1, 0, 0))
	w13, err := tf.ParsePeriod("2026-W13")
	require.NoError(t, err)
	assert.Equal(t, 7*24*time.Hour-time.Hour, w13.End.Sub(w13.Start))
	oct, err := tf.ParsePeriod("2026-10")
	require.NoError(t, err)
	assert.Equal(t, 31*24*time.Hour+time.Hour, oct.End.Sub(oct.Start))
}

// TestISOWeekAcrossNewYear: 2026 has 53 ISO weeks; W53 runs Monday 28
// December 2026 04:30 to Monday 4 January 2027 04:30.
func TestISOWeekAcrossNewYear(t *testing.T) {
	l := newFakeLedger()
	l.tap(visit("c1", 1, local(2026, 12, 28, 4, 29), "C0", "Q0", "adult", "chateau-if/quay")) // W52
	l.tap(visit("c1", 2, local(2027, 1, 1, 12, 0), "C1", "Q1", "adult", "chateau-if/quay"))
	l.tap(visit("c1", 3, local(2027, 1, 4, 4, 29), "C2", "Q2", "adult", "chateau-if/quay"))
	l.tap(visit("c1", 4, local(2027, 1, 4, 4, 30), "C3", "Q3", "adult", "chateau-if/quay")) // 2027-W01
	res := closeP(t, l, "2026-W53", "chateau", local(2027, 1, 5, 0, 0), t.TempDir())
	require.Len(t, res.Statements, 2) // W52 first: it has a visit
	assert.Equal(t, "chateau-2026-W53", res.Statements[1].ID)
	assert.Equal(t, 2, res.Statements[1].Visits)
	m := decodeManifest(t, mustStatement(t, l, "chateau-2026-W53").Manifest)
	assert.Equal(t, "2026-12-28T04:30:00+01:00", m.PeriodStart)
	assert.Equal(t, "2027-01-04T04:30:00+01:00", m.PeriodEnd)
	res = closeP(t, l, "2027-W01", "chateau", local(2027, 1, 12, 0, 0), t.TempDir())
	assert.Equal(t, 1, res.Statements[0].Visits)
}
