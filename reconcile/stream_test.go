package reconcile

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestLineSinkEncodesLikeCSVWriter: the fast record encoder writes exactly
// what encoding/csv.Writer writes, quoting included, and hashes every byte.
func TestLineSinkEncodesLikeCSVWriter(t *testing.T) {
	alphabet := []string{"a", "Z", "0", ",", "\"", "\r", "\n", " ", "\t", "\\.", "\\", "é", "\u00a0", "\u2028", "-", ":"}
	rng := rand.New(rand.NewPCG(1, 2))
	var recs [][]string
	for i := 0; i < 2000; i++ {
		rec := make([]string, len(csvHeader))
		for j := range rec {
			n := rng.IntN(4)
			for k := 0; k < n; k++ {
				rec[j] += alphabet[rng.IntN(len(alphabet))]
			}
		}
		recs = append(recs, rec)
	}
	recs = append(recs, []string{`\.`, "", " x", "x ", "a,b", `"`, "\u00a0x", "é", "", "", "", "", "", "", "", "", "", ""})

	dir := t.TempDir()
	s, err := newLineSink(dir, "x.csv", time.UTC, true)
	require.NoError(t, err)
	var want bytes.Buffer
	w := csv.NewWriter(&want)
	for _, rec := range recs {
		require.NoError(t, s.encode(rec))
		require.NoError(t, w.Write(rec))
	}
	w.Flush()
	sum, err := s.finish()
	require.NoError(t, err)
	require.NoError(t, s.commit(filepath.Join(dir, "x.csv")))
	got, err := os.ReadFile(filepath.Join(dir, "x.csv"))
	require.NoError(t, err)
	assert.Equal(t, want.String(), string(got))
	assert.Equal(t, sha256Hex(want.Bytes()), sum)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temp file left")
}

func TestMinorString(t *testing.T) {
	for _, m := range []int64{0, 1, 5, 10, 99, 100, 101, 150000, 123456789, -1, -5, -100, -123456} {
		assert.Equal(t, formatMoney(fromMinor(m)), minorString(m), "%d", m)
	}
}

// TestRecloseRegeneratesTheCSV: the ledger keeps a statement's manifest, not
// its CSV; a re-close regenerates the CSV from the journal up to the
// statement's data_as_of (later taps, adjustments included, change nothing)
// and refuses when it no longer hashes to the manifest's csv_sha256.
func TestRecloseRegeneratesTheCSV(t *testing.T) {
	dir := t.TempDir()
	l := lateLedger(t, dir)
	st := mustStatement(t, l, "rtm-2026-12")
	assert.Empty(t, st.CSV, "the CSV is not stored")
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

// TestRecognizeInBatches: recognition postings are stored
// recognitionBatch per Update, all of them, once.
func TestRecognizeInBatches(t *testing.T) {
	defer func(n int) { recognitionBatch = n }(recognitionBatch)
	recognitionBatch = 2
	l := newFakeLedger()
	sold := local(2026, 10, 20, 10, 0)
	for i := range 5 {
		l.putPass(engine.Pass{ID: fmt.Sprintf("U%d", i), Product: "cp24-adult", TariffVersion: "v1", SoldAt: sold, PriceMinor: 3200,
			Status: engine.PassSold, ActivateBy: local(2026, 11, 20, 10, 0)})
	}
	assert.Equal(t, 5, recognizeThrough(t, l, testCatalog(t), "2026-11")) // the breakage of the five
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

// TestTapLineFastPath: a tap line formatted in place is byte for byte the
// line of the record path (csv.Writer), for plain and for quoted fields, for
// the extremes of every number and of the time, for long fields, through a
// hashed sink and an unhashed one.
func TestTapLineFastPath(t *testing.T) {
	for _, hashed := range []bool{true, false} {
		t.Run(fmt.Sprintf("hashed=%v", hashed), func(t *testing.T) { testTapLineFastPath(t, hashed) })
	}
}

func testTapLineFastPath(t *testing.T, hashed bool) {
	dir := t.TempDir()
	fast, err := newLineSink(dir, "fast.csv", paris, hashed)
	require.NoError(t, err)
	slow, err := newLineSink(dir, "slow.csv", paris, true)
	require.NoError(t, err)
	day := &svcDay{label: "2026-11-02"}
	long := strings.Repeat("x", 300)
	huge := strings.Repeat("h", hashedChunk+10) // a line longer than a chunk
	recs := []engine.TapRecord{
		visit("g1", 7, local(2026, 11, 2, 10, 0), "04A1", "P1", "adult", "mucem/main"),
		visit("g,2", 8, local(2026, 11, 2, 23, 59), "04\"A2", " P2", "child", "rtm-metro/a\nb"),
		visit("é", 9, local(2026, 3, 29, 3, 15), "C", "P3", "adult", "boat/pier"),
		visit(long, math.MaxUint64, time.Date(12000, 1, 2, 3, 4, 5, 0, paris), long, long, long, long+"/"+long),
		visit("d", 0, time.Date(-5, 6, 7, 8, 9, 10, 0, paris), "", "", "adult", "v/g"),
		visit("d", 1, time.Date(9999, 12, 31, 23, 59, 59, 999999999, paris), "C", "P", "child", "v/g"),
		visit("d", 2, local(2026, 11, 2, 10, 0), huge, "P", "child", "v/g"),
	}
	for i := range recs {
		recs[i].JournalSeq = uint64(i + 1)
		if i == 3 {
			recs[i].JournalSeq = math.MaxUint64
		}
		for _, ln := range []tapLine{
			{rec: &recs[i], day: day, period: "2026-11", value: 420, amount: 420},
			{rec: &recs[i], day: day, period: "2026-W45", value: 800, amount: 5, overLimit: true},
			{rec: &recs[i], day: day, period: "2026-11-02", value: 0, amount: 0},
			{rec: &recs[i], day: &svcDay{label: long}, period: long, value: math.MinInt64, amount: math.MaxInt64, overLimit: true},
			{rec: &recs[i], day: day, period: "2026-11", value: math.MaxInt64, amount: math.MinInt64},
			{rec: &recs[i], day: day, period: "2026-11", value: 420, amount: 420},
		} {
			require.NoError(t, fast.tap(KindVisit, &ln))
			require.NoError(t, slow.tapRecord(KindAdjustment, &ln))
			require.NoError(t, slow.flush())
		}
	}
	// Same kind for the comparison: rewrite the slow sink's kind column.
	var fs string
	if hashed {
		fs, err = fast.finish()
	} else {
		err = fast.flush()
	}
	require.NoError(t, err)
	_, err = slow.finish()
	require.NoError(t, err)
	a, err := os.ReadFile(fast.f.Name())
	require.NoError(t, err)
	b, err := os.ReadFile(slow.f.Name())
	require.NoError(t, err)
	assert.Equal(t, string(bytes.ReplaceAll(b, []byte(","+KindAdjustment+","), []byte(","+KindVisit+","))), string(a))
	if hashed {
		assert.Equal(t, sha256Hex(a), fs)
	}
	assert.Contains(t, string(a), `"g,2"`)
	assert.Contains(t, string(a), ",18446744073709551615,")
	assert.Contains(t, string(a), "-92233720368547758.08,92233720368547758.07,false,")
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
