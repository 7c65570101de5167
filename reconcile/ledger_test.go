package reconcile

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The real ledger is a Ledger (asserted here, in a test: reconcile itself
// imports no type of the ledger's).
var _ Ledger = (*ledger.Ledger)(nil)

// realLedger opens a Pebble ledger in a temp dir with a deterministic clock
// (one second per call from 2026-12-01), so two of them with the same history
// hold the same bytes.
func realLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	clock := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	l, err := ledger.Open(t.TempDir(), &ledger.Options{NoSync: true, Now: func() time.Time {
		clock = clock.Add(time.Second)
		return clock
	}})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, l.Close()) })
	return l
}

// putTaps journals recs and, as the engine does, adds each accepted entry
// to its pass's usage.
func putTaps(t *testing.T, l *ledger.Ledger, recs ...engine.TapRecord) {
	t.Helper()
	require.NoError(t, l.Update(context.Background(), func(tx engine.Txn) error {
		for i := range recs {
			r := &recs[i]
			if err := tx.PutTap(r); err != nil {
				return err
			}
			if !r.Decision.Accept || r.Direction != engine.Entry || r.Pass == "" {
				continue
			}
			u, err := tx.Usage(r.Pass)
			if err != nil {
				return err
			}
			u.Add(engine.Visit{Tap: r.ID, At: r.At, Venue: r.Venue, Gate: r.Gate})
			if err := tx.PutUsage(r.Pass, u); err != nil {
				return err
			}
		}
		return nil
	}))
}

// realHistory is lateLedger's story on the real ledger, plus passes, a sale
// and a payout.
func realHistory(t *testing.T, l *ledger.Ledger, dir string) {
	ctx := context.Background()
	cat, s := testCatalog(t), testSigner(t, 1)
	require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
		sold := local(2026, 11, 1, 9, 0)
		for _, p := range []engine.Pass{
			{ID: "P1", TariffVersion: "v1", Product: "cp24-adult", Category: "adult", Card: "A1", SoldAt: sold, PriceMinor: 3200,
				Currency: "EUR", Channel: "web", Status: engine.PassActive, ActivatedAt: local(2026, 11, 2, 10, 0),
				ValidUntil: local(2026, 11, 3, 10, 0), ActivateBy: sold.Add(365 * 24 * time.Hour)},
			{ID: "P9", TariffVersion: "v1", Product: "cp24-adult", Category: "adult", Card: "A9", SoldAt: sold, PriceMinor: 3200,
				Currency: "EUR", Channel: "desk", Status: engine.PassSold, ActivateBy: local(2026, 11, 20, 9, 0)},
		} {
			if err := tx.PutPass(p); err != nil {
				return err
			}
			if err := tx.PutPosting(engine.Posting{ID: "sale/" + p.ID, At: sold, Kind: "sale", Ref: p.ID,
				Lines: []engine.PostingLine{{Account: engine.AccountSalesClearing, DebitMinor: p.PriceMinor},
					{Account: engine.AccountDeferredRevenue, CreditMinor: p.PriceMinor}}}); err != nil {
				return err
			}
		}
		return nil
	}))
	putTaps(t, l,
		visit("g1", 1, local(2026, 11, 2, 10, 0), "A1", "P1", "adult", "mucem/main"),
		visit("g1", 2, local(2026, 11, 3, 10, 0), "A2", "P2", "child", "mucem/main"),
		visit("m1", 1, local(2026, 11, 30, 9, 0), "A1", "P1", "adult", "rtm-metro/vieux-port"))
	recognizeThrough(t, l, cat, "2026-11")
	_, err := Close(ctx, l, cat, s, CloseOptions{Period: "2026-11", At: local(2026, 12, 2, 0, 0), OutDir: dir})
	require.NoError(t, err)
	putTaps(t, l,
		visit("g1", 3, local(2026, 12, 5, 10, 0), "A3", "P3", "adult", "mucem/main"),
		visit("g9", 1, local(2026, 11, 30, 23, 50), "A4", "P4", "adult", "mucem/main"),
		visit("g9", 2, local(2026, 11, 30, 23, 55), "A5", "P5", "adult", "mucem/main"),
		visit("m9", 2, local(2026, 11, 29, 20, 0), "A1", "P1", "adult", "rtm-metro/castellane"))
	recognizeThrough(t, l, cat, "2026-12")
	_, err = Close(ctx, l, cat, s, CloseOptions{Period: "2026-12", At: local(2027, 1, 2, 0, 0), OutDir: dir})
	require.NoError(t, err)
}

func TestRealLedgerLifecycle(t *testing.T) {
	ctx := context.Background()
	cat := testCatalog(t)
	l := realLedger(t)
	dir := t.TempDir()
	realHistory(t, l, dir)

	dec := decodeManifest(t, mustStatement(t, l, "mucem-2026-12").Manifest)
	assert.Equal(t, "8.00", dec.Gross)
	assert.Equal(t, "8.00", dec.Adjustments)
	assert.Equal(t, uint64(7), dec.DataAsOf.JournalSeq)
	rtm := decodeManifest(t, mustStatement(t, l, "rtm-2026-12").Manifest)
	assert.Equal(t, "2.50", rtm.Adjustments)
	_, err := Verify(dir, testSigner(t, 1).PublicKey())
	require.NoError(t, err)

	// Re-close: same bytes, nothing posted (the ledger refuses reused ids).
	again := t.TempDir()
	res, err := Close(ctx, l, cat, testSigner(t, 1), CloseOptions{Period: "2026-11", At: local(2027, 1, 2, 0, 0), OutDir: again})
	require.NoError(t, err)
	assert.Zero(t, res.Postings)
	for _, s := range res.Statements {
		assert.True(t, s.Reclosed)
	}

	// Two ledgers with the same history: identical statement files.
	dir2 := t.TempDir()
	realHistory(t, realLedger(t), dir2)
	assertSameDir(t, dir, dir2)

	// Revenue recognised once: P1 (validity ended 3 Nov), P9 breakage (20 Nov).
	var kinds []string
	require.NoError(t, l.Postings(ctx, func(p *engine.Posting) error {
		if p.Kind == "pass_revenue" || p.Kind == "breakage" {
			kinds = append(kinds, p.ID)
		}
		return nil
	}))
	assert.ElementsMatch(t, []string{"pass_revenue/P1", "breakage/P9"}, kinds)

	// Payout against the real ledger; validated by the XSD; a second one has nothing.
	out := filepath.Join(t.TempDir(), "payout.xml")
	pres, err := Payout(ctx, l, cat, PayoutOptions{Debtor: &Debtor{Name: "City Pass Marseille", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"},
		At: local(2027, 1, 5, 10, 0), Out: out})
	require.NoError(t, err)
	assert.Equal(t, "18033.00", formatMoney(pres.Total)) // boat 12 × 1500 (its flat fees since January) + mucem 12 + 16 + rtm 2.50 + 2.50
	xmllintValidate(t, out)
	_, err = Payout(ctx, l, cat, PayoutOptions{Debtor: &Debtor{Name: "x", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"},
		At: local(2027, 1, 6, 10, 0), Out: out + "2"})
	require.ErrorIs(t, err, ErrNothingToPay)
	require.NoError(t, Statements(ctx, l, func(st *Statement) error {
		assert.Equal(t, pres.ID, st.PaidBy, st.ID)
		return nil
	}))

	tb, err := TrialBalanceReport(ctx, l, cat, ReportOptions{})
	require.NoError(t, err)
	assert.True(t, tb.Balanced)
	pay, err := Payables(ctx, l, cat, ReportOptions{})
	require.NoError(t, err)
	assert.Equal(t, "0.00", formatMoney(pay.Total.Outstanding))
	vis, err := Visits(ctx, l, cat, ReportOptions{})
	require.NoError(t, err)
	assert.Equal(t, 7, vis.Total)
}

// TestCloseRefusesAUsageMissingAnEntry: on a real ledger whose usage of a
// pass over its limit at a venue misses one of its entries there (ledger
// check reports such a ledger), the close does not judge the pass's limit
// on it: it fails with ErrUsageMismatch naming the pass and the entry, and
// stores nothing.
func TestCloseRefusesAUsageMissingAnEntry(t *testing.T) {
	ctx := context.Background()
	l := realLedger(t)
	putTaps(t, l, visit("g1", 1, local(2026, 11, 2, 10, 0), "A1", "P1", "adult", "mucem/main"),
		visit("g3", 1, local(2026, 11, 2, 10, 9), "A1", "P1", "adult", "mucem/side"))
	rec := visit("g2", 1, local(2026, 11, 2, 10, 5), "A1", "P1", "adult", "mucem/side")
	require.NoError(t, l.Update(ctx, func(tx engine.Txn) error { return tx.PutTap(&rec) })) // journaled, not in the usage
	_, err := Close(ctx, l, testCatalog(t), testSigner(t, 1), CloseOptions{Period: "2026-11", Partner: "mucem", At: local(2026, 12, 2, 0, 0), OutDir: t.TempDir()})
	require.ErrorIs(t, err, ErrUsageMismatch)
	assert.Contains(t, err.Error(), "pass P1 lacks its entry g2#1")
	n := 0
	require.NoError(t, Statements(ctx, l, func(*Statement) error { n++; return nil }))
	assert.Zero(t, n)
}

// BenchmarkCloseOnLedger closes a month of 20 000 entries on a real
// ledger, one per pass but one in a hundred a second entry (over-use), at a
// venue limited once per pass (mucem: each entry reads its pass's usage,
// and the over-used ones their entries' journal seqs) and at an unlimited
// one (transit: no read);
// taps/op is the journal records the close reads. The first close stores
// the statement, the next ones close it again (the same valuation).
func BenchmarkCloseOnLedger(b *testing.B) {
	for _, gate := range []string{"mucem/main", "rtm-metro/vieux-port"} {
		b.Run(gate, func(b *testing.B) {
			const taps = 20000
			l, err := ledger.Open(b.TempDir(), &ledger.Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			ctx := context.Background()
			start := local(2026, 11, 1, 6, 0)
			step := 29 * 24 * time.Hour / taps
			err = l.Update(ctx, func(tx engine.Txn) error {
				for i := range taps {
					p := i
					if i%100 == 99 {
						p = i - 1 // one entry in a hundred is over-use: a second offline gate admitted the pass
					}
					pass := fmt.Sprintf("P%d", p)
					r := visit("d", uint64(i+1), start.Add(time.Duration(i)*step), "C1", pass, "adult", gate)
					if err := tx.PutTap(&r); err != nil {
						return err
					}
					u, err := tx.Usage(pass)
					if err != nil {
						return err
					}
					u.Add(engine.Visit{Tap: r.ID, At: r.At, Venue: r.Venue, Gate: r.Gate})
					if err := tx.PutUsage(pass, u); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			venue, _, _ := strings.Cut(gate, "/")
			partner := map[string]string{"mucem": "mucem", "rtm-metro": "rtm"}[venue]
			cat, s := testCatalog(b), testSigner(b, 1)
			dir := b.TempDir()
			b.ReportAllocs()
			for b.Loop() {
				// The first close stores the statement; the next ones
				// close it again, valuing the same entries the same way.
				if _, err := Close(ctx, l, cat, s, CloseOptions{Period: "2026-11", Partner: partner, At: local(2026, 12, 2, 0, 0), OutDir: dir}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(taps, "taps/op")
		})
	}
}
