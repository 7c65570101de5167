package reconcile

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/citypass/citypass/engine"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestRecloseRegeneratesTheCSV: the ledger keeps a statement's manifest, not
// its CSV; a re-close regenerates the CSV from the journal up to the
// statement's data_as_of (later taps, adjustments included, change nothing)
// and refuses when it no longer hashes to the manifest's csv_sha256.
func TestRecloseRegeneratesTheCSV(t *testing.T) {
	dir := t.TempDir()
	l := lateLedger(t, dir)
	// A later tap of November and one of December change neither statement.
	l.tap(visit("m9", 3, local(2026, 11, 28, 20, 0), "A9", "P9", "adult", "rtm-metro/castellane"))
	l.tap(visit("m9", 4, local(2026, 12, 28, 20, 0), "A9", "P9", "adult", "rtm-metro/castellane"))
	again := t.TempDir()
	for _, period := range []string{"2026-11", "2026-12"} {
		for _, partner := range []string{"mucem", "rtm"} {
			res := closeP(t, l, period, partner, local(2027, 3, 1, 0, 0), again)
			assert.True(t, res.Statements[0].Reclosed, res.Statements[0].ID)
		}
	}
	assertSameDir(t, dir, again)
	for _, e := range mustReadDir(t, again) {
		assert.False(t, e.Name()[0] == '.', "temp file %s left", e.Name())
	}

	// Under a tariff whose RTM rate changed, December's CSV is not the one signed.
	changed := testTariff("v1", local(2026, 1, 1, 0, 0))
	for i := range changed.Contracts {
		if changed.Contracts[i].Partner == "rtm" {
			changed.Contracts[i].Rates = map[string]decimal.Decimal{"adult": dec("2.60"), "child": dec("1.25")}
		}
	}
	out := t.TempDir()
	_, err := Close(context.Background(), l, testCatalog(t, changed), testSigner(t, 1),
		CloseOptions{Period: "2026-12", Partner: "rtm", At: local(2027, 3, 1, 0, 0), OutDir: out})
	require.ErrorIs(t, err, ErrRegenerate)
	assert.Empty(t, mustReadDir(t, out), "nothing written, no temp file left")
}

// TestRecognizeInBatches: recognition postings are stored a batch per
// Update, all of them, once.
func TestRecognizeInBatches(t *testing.T) {
	l := newFakeLedger()
	sold := local(2026, 10, 20, 10, 0)
	for i := range 5 {
		l.putPass(engine.Pass{ID: fmt.Sprintf("U%d", i), Product: "cp24-adult", TariffVersion: "v1", SoldAt: sold, PriceMinor: 3200,
			Status: engine.PassSold, ActivateBy: local(2026, 11, 20, 10, 0)})
	}
	p, _, err := testCatalog(t).ParsePeriod("2026-11")
	require.NoError(t, err)
	n, err := recognize(context.Background(), l, p.End, 2)
	require.NoError(t, err)
	assert.Equal(t, 5, n) // the breakage of the five
	assert.Equal(t, 3, l.updates)
	res := closeP(t, l, "2026-11", "mucem", local(2026, 12, 2, 0, 0), t.TempDir())
	assert.Zero(t, res.Postings) // mucem had no visits
	assert.Zero(t, recognizeThrough(t, l, testCatalog(t), "2026-11"))
	assert.Equal(t, 3, l.updates)
}

func mustReadDir(t *testing.T, dir string) []os.DirEntry {
	t.Helper()
	es, err := os.ReadDir(dir)
	require.NoError(t, err)
	return es
}

// TestJournalUpTo: the read hands fn every record of [from, to] once, in
// journal order, across many recycled batches; fn's error stops it (no
// further call, no further read) and is returned.
func TestJournalUpTo(t *testing.T) {
	f := newFakeLedger()
	total := 1000
	for i := 0; i < total; i++ {
		f.tap(engine.TapRecord{Tap: engine.Tap{ID: engine.TapID{Device: "d", Seq: uint64(i + 1)}}})
	}
	ctx := context.Background()
	for _, r := range []struct{ from, to uint64 }{{1, uint64(total)}, {1, uint64(total + 5)}, {3, 513}, {500, 777}, {5, 5}, {6, 5}} {
		var seqs []uint64
		require.NoError(t, journalUpTo(ctx, f, r.from, r.to, func(rec *engine.TapRecord) error {
			require.Equal(t, rec.JournalSeq, rec.ID.Seq)
			seqs = append(seqs, rec.JournalSeq)
			return nil
		}))
		want := []uint64{}
		for s := r.from; s <= min(r.to, uint64(total)); s++ {
			want = append(want, s)
		}
		assert.Equal(t, want, append([]uint64{}, seqs...), "from %d to %d", r.from, r.to)
		assert.LessOrEqual(t, f.journalRead, uint64(len(want)+7), "the read stops at to")
	}
	boom := fmt.Errorf("boom")
	n := 0
	err := journalUpTo(ctx, f, 1, uint64(total), func(rec *engine.TapRecord) error {
		if n++; rec.JournalSeq == 302 {
			return boom
		}
		return nil
	})
	assert.ErrorIs(t, err, boom)
	assert.Equal(t, 302, n, "fn is not called after its error")
	assert.LessOrEqual(t, f.journalRead, uint64(302+7), "the read stops at fn's error")
}
