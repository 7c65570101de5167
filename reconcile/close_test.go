package reconcile

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/reconcile/stmtfile"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func closeP(t *testing.T, l Ledger, period, partner string, at time.Time, dir string) *CloseResult {
	t.Helper()
	res, err := Close(context.Background(), l, testCatalog(t), testSigner(t, 1), CloseOptions{Period: period, Partner: partner, At: at, OutDir: dir, CatchUp: true})
	require.NoError(t, err)
	return res
}

// statementOf returns the summary of statement id in res.
func statementOf(t *testing.T, res *CloseResult, id string) StatementSummary {
	t.Helper()
	for _, s := range res.Statements {
		if s.ID == id {
			return s
		}
	}
	require.Failf(t, "no statement", "%s not in the close's statements", id)
	return StatementSummary{}
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
	assert.Contains(t, string(csv), ",2026-11,4.00,4.00,false,\n")
	assert.Contains(t, string(csv), ",2026-11,8.00,0.00,true,\n")
}

// TestOfflineDuplicatesPaidOnce: two offline devices both accepted the same
// pass at a once-only venue 2 minutes apart (docs/semantics.md, "Reconciliation"); the venue is
// paid once, the second entry is listed at 0 as over_limit — also when it
// arrives late, as an adjustment.
func TestOfflineDuplicatesPaidOnce(t *testing.T) {
	l := newFakeLedger()
	l.tap(visit("g1", 1, local(2026, 11, 2, 10, 0), "A1", "P1", "adult", "mucem/main"))
	l.tap(visit("g2", 1, local(2026, 11, 2, 10, 2), "A1", "P1", "adult", "mucem/side")) // duplicate
	l.tap(visit("g1", 2, local(2026, 11, 3, 10, 0), "A2", "P2", "adult", "mucem/main"))
	dir := t.TempDir()
	res := closeP(t, l, "2026-11", "mucem", local(2026, 12, 2, 0, 0), dir)
	assert.Equal(t, "16.00", formatMoney(res.Statements[0].Net))
	csv := statementCSV(t, dir, "mucem-2026-11")
	assert.Contains(t, csv, "2,visit,2,g2,1,2026-11-02T10:02:00+01:00,A1,P1,cp24-adult,adult,mucem,mucem/side,2026-11-02,2026-11,0.00,0.00,false,over_limit\n")

	// Late duplicate of P2 from a third device, journaled after the close.
	l.tap(visit("g3", 1, local(2026, 11, 3, 10, 1), "A2", "P2", "adult", "mucem/main"))
	closeP(t, l, "2026-12", "mucem", local(2027, 1, 2, 0, 0), dir)
	dec := decodeManifest(t, mustStatement(t, l, "mucem-2026-12").Manifest)
	assert.Equal(t, "0.00", dec.Adjustments)
	assert.Contains(t, statementCSV(t, dir, "mucem-2026-12"), ",2026-11,0.00,0.00,false,over_limit\n")
	_, err := Verify(dir, testSigner(t, 1).PublicKey())
	require.NoError(t, err)

	// once_per_day (opera) and n = 2 (boat).
	l2 := newFakeLedger()
	l2.tap(visit("o1", 1, local(2026, 11, 2, 20, 0), "A1", "P1", "adult", "opera/door"))
	l2.tap(visit("o2", 1, local(2026, 11, 2, 20, 1), "A1", "P1", "adult", "opera/door"))
	res = closeP(t, l2, "2026-11-02", "opera", local(2026, 12, 2, 0, 0), t.TempDir())
	assert.Equal(t, "10.00", formatMoney(res.Statements[0].Net))
	assert.Equal(t, 2, res.Statements[0].Visits)
}

func TestCloseProgressAndOrphans(t *testing.T) {
	l := marchLedger()
	var calls []uint64
	dir := t.TempDir()
	_, err := Close(context.Background(), l, testCatalog(t), testSigner(t, 1), CloseOptions{Period: "2026-03", Partner: "rtm",
		At: local(2026, 4, 2, 0, 0), OutDir: dir, Progress: func(n uint64) { calls = append(calls, n) }})
	require.NoError(t, err)
	require.NotEmpty(t, calls)
	assert.Equal(t, uint64(17), calls[len(calls)-1]) // every journal record: one pass for the whole close

	// A CSV without its manifest is reported.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "stray.csv"), []byte("line\n"), 0o644))
	_, err = Verify(dir, testSigner(t, 1).PublicKey())
	var ve *VerifyError
	require.ErrorAs(t, err, &ve)
	assert.Equal(t, "stray.csv", ve.Problems[0].File)

	require.Error(t, checkFileID("../x"))
	require.Error(t, checkFileID(".hidden"))
	require.NoError(t, checkFileID("mucem-2026-11"))
}

// TestCloseKeepsNoJournalView: the strings of the records Close reads
// through JournalBatches view buffers that the ledger reuses once a batch
// is done, so any string Close kept across taps (a cache key, a field
// found plain) would read a later tap's bytes. Here alternate taps differ
// only in venue (mucem and opera, of different partners), gate and
// category, all of equal lengths, so that with batches of one each tap's
// strings land where the last tap's were; the statements must be byte for
// byte those of a ledger that hands out strings of their own.
func TestCloseKeepsNoJournalView(t *testing.T) {
	build := func(batch int, owned bool) string {
		l := newFakeLedger()
		l.batch, l.ownedStrings = batch, owned
		for i := range 40 {
			gate, cat := "mucem/main", "adult"
			if i%2 == 1 {
				gate = "opera/door"
			}
			if i%4 >= 2 {
				cat = "child"
			}
			pass := fmt.Sprintf("P%03d", i)
			l.tap(visit("g1", uint64(i+1), local(2026, 11, 2, 10, i), "C"+pass, pass, cat, gate))
		}
		dir := t.TempDir()
		at := local(2026, 12, 2, 0, 0)
		closeP(t, l, "2026-11", "", at, dir)
		closeP(t, l, "2026-11-02", "", at, dir)
		return dir
	}
	want := build(1, true)
	files, err := os.ReadDir(want)
	require.NoError(t, err)
	require.Len(t, files, 28, "the month of mucem and rtm; boat's months since January (flat fees); the day of opera")
	for _, batch := range []int{1, 3} {
		got := build(batch, false)
		for _, f := range files {
			w, err := os.ReadFile(filepath.Join(want, f.Name()))
			require.NoError(t, err)
			g, err := os.ReadFile(filepath.Join(got, f.Name()))
			require.NoError(t, err)
			assert.Equal(t, string(w), string(g), "%s, batches of %d", f.Name(), batch)
		}
	}
}

// manifestFullFS is the OS, except that a statement manifest cannot be
// written: a disk that fills up after the CSV.
type manifestFullFS struct{ stmtfile.FS }

var errDiskFull = fmt.Errorf("write: %w", syscall.ENOSPC)

func (f manifestFullFS) CreateTemp(path string) (stmtfile.File, error) {
	if filepath.Ext(path) == ".json" {
		return nil, errDiskFull
	}
	return f.FS.CreateTemp(path)
}

// TestCloseLeavesNoOrphanCSV (issue 20 item 14): when the manifest cannot
// be written (a full disk), the statement's CSV is not left in the out
// directory without it; closing again once it can writes both.
func TestCloseLeavesNoOrphanCSV(t *testing.T) {
	l := newFakeLedger()
	l.tap(visit("g1", 1, local(2026, 11, 2, 10, 0), "04A1", "P1", "adult", "mucem/main"))
	dir := t.TempDir()
	_, err := Close(context.Background(), l, testCatalog(t), testSigner(t, 1),
		CloseOptions{Period: "2026-11", Partner: "mucem", At: local(2026, 12, 2, 0, 0), OutDir: dir, FS: manifestFullFS{stmtfile.OS}})
	require.ErrorIs(t, err, syscall.ENOSPC)
	ents, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, ents, "no orphan CSV, no temp file")

	res := closeP(t, l, "2026-11", "mucem", local(2026, 12, 2, 0, 0), dir)
	require.Len(t, res.Statements, 1)
	for _, p := range []string{res.Statements[0].CSVPath, res.Statements[0].ManifestPath} {
		_, err := os.Stat(p)
		assert.NoError(t, err)
	}
}
