package reconcile

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// reportLedger: three sales on two days and channels, a refund, taps, a
// close with recognition and a payout.
func reportLedger(t *testing.T) *fakeLedger {
	l := newFakeLedger()
	sell := func(id, product, category, channel string, price int64, at time.Time, status engine.PassStatus) {
		p := engine.Pass{ID: id, TariffVersion: "v1", Product: product, Category: category, Card: "C" + id, SoldAt: at,
			PriceMinor: price, Currency: "EUR", Channel: channel, Status: status, ActivateBy: at.Add(48 * time.Hour)}
		if status == engine.PassActive {
			p.ActivatedAt, p.ValidUntil = at.Add(time.Hour), at.Add(25*time.Hour)
		}
		l.putPass(p)
		require.NoError(t, l.putPosting(engine.Posting{ID: "sale/" + id, At: at, Kind: "sale", Ref: id,
			Lines: []engine.PostingLine{{Account: engine.AccountSalesClearing, DebitMinor: price},
				{Account: engine.AccountDeferredRevenue, CreditMinor: price}}}))
	}
	sell("A", "cp24-adult", "adult", "web", 3200, local(2026, 11, 2, 9, 0), engine.PassActive)
	sell("B", "cp24-adult", "adult", "web", 3200, local(2026, 11, 2, 9, 30), engine.PassSold)
	sell("C", "cp24-child", "child", "desk", 1600, local(2026, 11, 3, 3, 0), engine.PassRefunded) // service day 2nd
	sell("D", "cp24-adult", "adult", "desk", 3200, local(2026, 11, 3, 10, 0), engine.PassSold)
	require.NoError(t, l.putPosting(engine.Posting{ID: "refund/C", At: local(2026, 11, 3, 12, 0), Kind: "refund", Ref: "C",
		Lines: []engine.PostingLine{{Account: engine.AccountDeferredRevenue, DebitMinor: 1600},
			{Account: engine.AccountRefundsPayable, CreditMinor: 1600}}}))
	l.tap(visit("g1", 1, local(2026, 11, 2, 10, 0), "CA", "A", "adult", "mucem/main"))
	l.tap(visit("m1", 1, local(2026, 11, 2, 11, 0), "CA", "A", "adult", "rtm-metro/vieux-port"))
	l.tap(visit("m1", 2, local(2026, 11, 2, 12, 0), "CA", "A", "adult", "rtm-metro/vieux-port"))
	l.tap(visit("g1", 2, local(2026, 11, 3, 10, 0), "CD", "D", "adult", "mucem/main"))
	recognizeThrough(t, l, testCatalog(t), "2026-11")
	res, err := Close(context.Background(), l, testCatalog(t), testSigner(t, 1),
		CloseOptions{Period: "2026-11", At: local(2026, 12, 1, 12, 0), OutDir: t.TempDir()})
	require.NoError(t, err)
	require.Len(t, res.Statements, 13) // boat's flat fees since January, mucem, rtm
	_, err = Payout(context.Background(), l, testCatalog(t), PayoutOptions{Debtor: &Debtor{Name: "Ops", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"},
		At: local(2026, 12, 5, 9, 0), Out: filepath.Join(t.TempDir(), "p.xml")})
	require.NoError(t, err)
	return l
}

func TestReports(t *testing.T) {
	l := reportLedger(t)
	ctx := context.Background()
	cat := testCatalog(t)
	nov := ReportOptions{From: tariff.Date{Year: 2026, Month: 11, Day: 1}, To: tariff.Date{Year: 2026, Month: 11, Day: 30}}

	sales, err := Sales(ctx, l, cat, nov)
	require.NoError(t, err)
	require.Len(t, sales.Rows, 3)
	assert.Equal(t, SalesRow{Day: "2026-11-02", Product: "cp24-adult", ProductName: "City Pass 24 h", Channel: "web", Count: 2,
		Gross: dec("64.00"), VAT: dec("5.82"), Net: dec("58.18")}, sales.Rows[0])
	assert.Equal(t, "2026-11-02", sales.Rows[1].Day) // 03:00 on the 3rd is still the 2nd's service day
	assert.Equal(t, 4, sales.Total.Count)
	assert.Equal(t, "112.00", formatMoney(sales.Total.Gross))

	rev, err := Revenue(ctx, l, cat, ReportOptions{})
	require.NoError(t, err)
	assert.Equal(t, "32.00", formatMoney(rev.Total.PassRevenue)) // A ended 3 Nov
	assert.Equal(t, "64.00", formatMoney(rev.Total.Breakage))    // B and D never activated (D's tap is a test shortcut)
	assert.Equal(t, "16.00", formatMoney(rev.Total.Refunds))

	pay, err := Payables(ctx, l, cat, ReportOptions{})
	require.NoError(t, err)
	var rows []string
	for _, r := range pay.Rows {
		rows = append(rows, r.Partner+" "+formatMoney(r.Accrued)+" "+formatMoney(r.Paid)+" "+formatMoney(r.Outstanding))
	}
	assert.Equal(t, []string{"boat 16500.00 16500.00 0.00", "mucem 16.00 16.00 0.00", "rtm 2.50 2.50 0.00"}, rows)
	assert.Equal(t, "Croisières & Cie", pay.Rows[0].PartnerName)
	// November's payables: its statements accrue on its last service day
	// (the closes post at the period's last instant); nothing was paid yet
	// (payout on 5 December).
	payNov, err := Payables(ctx, l, cat, nov)
	require.NoError(t, err)
	rows = nil
	for _, r := range payNov.Rows {
		rows = append(rows, r.Partner+" "+formatMoney(r.Accrued)+" "+formatMoney(r.Paid)+" "+formatMoney(r.Outstanding))
	}
	assert.Equal(t, []string{"boat 1500.00 0.00 16500.00", "mucem 16.00 0.00 16.00", "rtm 2.50 0.00 2.50"}, rows)
	payDec, err := Payables(ctx, l, cat, ReportOptions{From: tariff.Date{Year: 2026, Month: 12, Day: 1}, To: tariff.Date{Year: 2026, Month: 12, Day: 31}})
	require.NoError(t, err)
	assert.Equal(t, "0.00", formatMoney(payDec.Total.Accrued), "nothing accrues on 1 December")
	assert.Equal(t, "16518.50", formatMoney(payDec.Total.Paid))

	vis, err := Visits(ctx, l, cat, nov)
	require.NoError(t, err)
	assert.Equal(t, 4, vis.Total)
	assert.Equal(t, VisitsRow{Venue: "rtm-metro", VenueName: "rtm-metro", Partner: "rtm", Day: "2026-11-02", Category: "adult", Count: 2}, vis.Rows[2])
	assert.Equal(t, "MuCEM", vis.Rows[0].VenueName)

	tb, err := TrialBalanceReport(ctx, l, cat, ReportOptions{})
	require.NoError(t, err)
	assert.True(t, tb.Balanced)
	balances := map[string]string{}
	for _, a := range tb.Accounts {
		balances[a.Account] = formatMoney(a.Balance)
	}
	assert.Equal(t, "0.00", balances[engine.AccountDeferredRevenue])
	assert.Equal(t, "-16518.50", balances[engine.AccountBank])
	assert.Equal(t, "112.00", balances[engine.AccountSalesClearing])

	_, err = Sales(ctx, l, cat, ReportOptions{From: tariff.Date{Year: 2026, Month: 12, Day: 1}, To: tariff.Date{Year: 2026, Month: 11, Day: 1}})
	require.Error(t, err)
}

func TestTrialBalanceFlagsUnbalanced(t *testing.T) {
	l := newFakeLedger()
	// The fake refuses unbalanced postings, so inject one behind its back.
	l.postings = append(l.postings, engine.Posting{ID: "bad", At: local(2026, 11, 1, 12, 0), Kind: "sale",
		Lines: []engine.PostingLine{{Account: "a", DebitMinor: 100}, {Account: "b", CreditMinor: 90}}})
	tb, err := TrialBalanceReport(context.Background(), l, testCatalog(t), ReportOptions{})
	require.NoError(t, err)
	assert.False(t, tb.Balanced)
	assert.Equal(t, []string{"bad"}, tb.UnbalancedPostings)
	var buf bytes.Buffer
	require.NoError(t, Render(&buf, tb, FormatTable))
	assert.Contains(t, buf.String(), "UNBALANCED")
}

func TestRenderFormats(t *testing.T) {
	l := reportLedger(t)
	tb, err := TrialBalanceReport(context.Background(), l, testCatalog(t), ReportOptions{})
	require.NoError(t, err)
	for _, f := range []string{"", "table", "csv", "csv-fr", "json"} {
		format, err := ParseFormat(f)
		require.NoError(t, err)
		var buf bytes.Buffer
		require.NoError(t, Render(&buf, tb, format))
		checkGoldenFile(t, "render/trial_balance."+string(format), buf.Bytes())
		buf.Reset()
		require.NoError(t, RenderTotals(&buf, tb, format))
		checkGoldenFile(t, "render/trial_balance_totals."+string(format), buf.Bytes())
	}
	var buf bytes.Buffer
	require.NoError(t, Render(&buf, tb, FormatJSON))
	var out struct {
		Rows     []map[string]any
		Totals   map[string]any
		Balanced bool
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &out))
	assert.Equal(t, out.Totals["debits"], out.Totals["credits"])
	assert.True(t, out.Balanced)
	_, err = ParseFormat("xml")
	require.Error(t, err)

	// The CSV formats hold data rows only: a spreadsheet's column sum is
	// the total, not twice it.
	for _, f := range []Format{FormatCSV, FormatCSVFr} {
		buf.Reset()
		require.NoError(t, Render(&buf, tb, f))
		assert.NotContains(t, buf.String(), "TOTAL")
		assert.Equal(t, len(tb.Accounts)+1, strings.Count(buf.String(), "\n"), "header and one line per account")
	}
	// csv-fr: BOM, ";" and decimal commas in amounts only.
	buf.Reset()
	require.NoError(t, Render(&buf, tb, FormatCSVFr))
	assert.True(t, strings.HasPrefix(buf.String(), "\ufeffaccount;debits;credits;balance\n"), buf.String())
	assert.Contains(t, buf.String(), "bank;0,00;")

	// Counts are JSON numbers, amounts strings with 2 places.
	vis, err := Visits(context.Background(), l, testCatalog(t), ReportOptions{})
	require.NoError(t, err)
	buf.Reset()
	require.NoError(t, Render(&buf, vis, FormatJSON))
	var vout struct {
		Rows   []map[string]any
		Totals map[string]any
	}
	require.NoError(t, json.Unmarshal(buf.Bytes(), &vout))
	assert.Equal(t, float64(4), vout.Totals["visits"])
	assert.Equal(t, float64(1), vout.Rows[0]["visits"])
	assert.Equal(t, "MuCEM", vout.Rows[0]["venue_name"])

	// Every result renders.
	ctx, cat := context.Background(), testCatalog(t)
	sales, _ := Sales(ctx, l, cat, ReportOptions{})
	rev, _ := Revenue(ctx, l, cat, ReportOptions{})
	pay, _ := Payables(ctx, l, cat, ReportOptions{})
	vis, _ = Visits(ctx, l, cat, ReportOptions{})
	piv, _ := VisitsPivot(ctx, l, cat, ReportOptions{})
	for _, r := range []Tabler{sales, rev, pay, vis, piv, &CloseResult{Period: "2026-11"}, &VerifyReport{Partners: map[string]int{"x": 1}},
		&MatchResult{Entries: []MatchEntry{{Status: TheirsOnly, PartnerLine: 2}}}, &PayoutResult{}, &PayoutList{},
		&MonthEndResult{Close: &CloseResult{}}} {
		for _, f := range []Format{FormatTable, FormatCSV, FormatCSVFr, FormatJSON} {
			var b bytes.Buffer
			require.NoError(t, Render(&b, r, f))
			assert.NotEmpty(t, strings.TrimSpace(b.String()))
			if f == FormatJSON {
				assert.True(t, json.Valid(b.Bytes()), "%T: %s", r, b.String())
			}
		}
	}
}

func TestReportByName(t *testing.T) {
	l := reportLedger(t)
	for _, name := range ReportNames {
		r, err := Report(context.Background(), l, testCatalog(t), name, ReportOptions{})
		require.NoError(t, err, name)
		assert.NotEmpty(t, r.Table().Columns, name)
	}
	tb, err := Report(context.Background(), l, testCatalog(t), "trial-balance", ReportOptions{})
	require.NoError(t, err)
	assert.True(t, tb.(*TrialBalance).Balanced)
	_, err = Report(context.Background(), l, testCatalog(t), "profit", ReportOptions{})
	require.ErrorContains(t, err, "unknown report")
}
