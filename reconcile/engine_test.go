package reconcile

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEngineMonthEnd runs a month through the real engine and ledger under
// the sample tariff: sales, taps, a refund, a close, a late offline tap, the
// next close, a payout and the reports; the ledger's own check passes and
// the books balance.
func TestEngineMonthEnd(t *testing.T) {
	ctx := context.Background()
	cat, err := tariff.NewCatalog(tariff.SampleTariff())
	require.NoError(t, err)
	l := realLedger(t)
	v, err := engine.New(l, cat, &engine.Options{Rand: rand.NewChaCha8([32]byte{42})})
	require.NoError(t, err)

	var passes []engine.Pass
	for i, channel := range []string{"web", "desk", "web", "desk"} {
		p, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: fmt.Sprintf("04A1B2C3D4E5%02X", i),
			At: local(2026, 11, 2, 9, i), Channel: channel})
		require.NoError(t, err)
		passes = append(passes, p)
	}
	_, err = v.Refund(ctx, passes[3].ID, local(2026, 11, 2, 12, 0))
	require.NoError(t, err)
	seq := uint64(0)
	tap := func(card, gate string, at time.Time) engine.Result {
		seq++
		res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "gate-" + gate, Seq: seq}, Card: card, Gate: gate, At: at})
		require.NoError(t, err)
		return res
	}
	require.True(t, tap(passes[0].Card, "mucem/north", local(2026, 11, 3, 10, 0)).Decision.Accept)
	require.True(t, tap(passes[0].Card, "rtm-metro/vieux-port", local(2026, 11, 3, 12, 0)).Decision.Accept)
	require.False(t, tap(passes[0].Card, "mucem/north", local(2026, 11, 3, 15, 0)).Decision.Accept) // once
	require.True(t, tap(passes[1].Card, "beaux-arts/main", local(2026, 11, 20, 10, 0)).Decision.Accept)

	dir := t.TempDir()
	s := testSigner(t, 3)
	recognizeThrough(t, l, cat, "2026-11")
	res, err := Close(ctx, l, cat, s, CloseOptions{Period: "2026-11", At: local(2026, 12, 1, 6, 0), OutDir: dir})
	require.NoError(t, err)
	nets := map[string]string{}
	for _, st := range res.Statements {
		nets[st.Partner] = formatMoney(st.Net)
	}
	assert.Equal(t, "8.00", nets["mucem"])
	assert.Equal(t, "4.95", nets["palais-longchamp"])
	assert.Equal(t, "4.20", nets["rtm"])
	assert.Equal(t, "1800.00", nets["panier-tours"])

	// An offline gate uploads a 30 November MuCEM entry in December.
	late := tap(passes[2].Card, "mucem/north", local(2026, 11, 30, 16, 0))
	require.True(t, late.Decision.Accept)
	recognizeThrough(t, l, cat, "2026-12")
	_, err = Close(ctx, l, cat, s, CloseOptions{Period: "2026-12", Partner: "mucem", At: local(2027, 1, 1, 6, 0), OutDir: dir})
	require.NoError(t, err)
	dec := decodeManifest(t, mustStatement(t, l, "mucem-2026-12").Manifest)
	assert.Equal(t, "8.00", dec.Adjustments)
	_, err = Verify(dir, s.PublicKey())
	require.NoError(t, err)

	_, err = Payout(ctx, l, cat, PayoutOptions{Debtor: &Debtor{Name: "City Pass Marseille", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"},
		At: local(2027, 1, 5, 9, 0), Out: filepath.Join(t.TempDir(), "p.xml")})
	require.NoError(t, err)

	tb, err := TrialBalanceReport(ctx, l, cat, ReportOptions{})
	require.NoError(t, err)
	assert.True(t, tb.Balanced)
	rev, err := Revenue(ctx, l, cat, ReportOptions{})
	require.NoError(t, err)
	assert.Equal(t, "96.00", formatMoney(rev.Total.PassRevenue)) // three used passes ended
	assert.Equal(t, "32.00", formatMoney(rev.Total.Refunds))
	sales, err := Sales(ctx, l, cat, ReportOptions{})
	require.NoError(t, err)
	assert.Equal(t, 4, sales.Total.Count)

	rep, err := ledger.Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%+v", rep.Problems)
	assert.Equal(t, rep.DebitMinor, rep.CreditMinor)
}
