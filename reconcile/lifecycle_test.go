package reconcile

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// lateLedger: November at the MuCEM (cap 20.00) and on the metro, closed on
// 2 December; then taps of 30 November arrive late (offline devices), and
// December is closed on 2 January.
func lateLedger(t *testing.T, dir string) *fakeLedger {
	l := newFakeLedger()
	l.tap(visit("g1", 1, local(2026, 11, 2, 10, 0), "A1", "P1", "adult", "mucem/main"))
	l.tap(visit("g1", 2, local(2026, 11, 3, 10, 0), "A2", "P2", "child", "mucem/main"))
	l.tap(visit("m1", 1, local(2026, 11, 30, 9, 0), "A1", "P1", "adult", "rtm-metro/vieux-port"))
	closeP(t, l, "2026-11", "mucem", local(2026, 12, 2, 0, 0), dir)
	closeP(t, l, "2026-11", "rtm", local(2026, 12, 2, 0, 0), dir)
	// December visits.
	l.tap(visit("g1", 3, local(2026, 12, 5, 10, 0), "A3", "P3", "adult", "mucem/main"))
	// Late: 30 November 23:50, journaled in December (rule 5.5 #15).
	l.tap(visit("g9", 1, local(2026, 11, 30, 23, 50), "A4", "P4", "adult", "mucem/main"))          // 8.00 → 8.00 (12 paid, cap 20)
	l.tap(visit("g9", 2, local(2026, 11, 30, 23, 55), "A5", "P5", "adult", "mucem/main"))          // 8.00 → crosses: 0.00 left
	l.tap(visit("m9", 1, local(2026, 11, 30, 20, 0), "A1", "P1", "adult", "rtm-metro/castellane")) // same pass-day: 0
	l.tap(visit("m9", 2, local(2026, 11, 29, 20, 0), "A1", "P1", "adult", "rtm-metro/castellane")) // new pass-day: 2.50
	l.tap(visit("m1", 2, local(2026, 12, 1, 4, 29), "A2", "P2", "child", "rtm-metro/vieux-port"))  // service day Nov 30, late
	closeP(t, l, "2026-12", "mucem", local(2027, 1, 2, 0, 0), dir)
	closeP(t, l, "2026-12", "rtm", local(2027, 1, 2, 0, 0), dir)
	return l
}

func TestLateTapsBecomeAdjustments(t *testing.T) {
	dir := t.TempDir()
	l := lateLedger(t, dir)
	checkGolden(t, "adjustments", dir)

	dec := decodeManifest(t, mustStatement(t, l, "mucem-2026-12").Manifest)
	assert.Equal(t, 1, dec.Visits)
	assert.Equal(t, "8.00", dec.Gross)
	assert.Equal(t, "8.00", dec.Adjustments) // 8.00 for the first late tap, then the cap is reached
	assert.Equal(t, "16.00", dec.Net)
	assert.Equal(t, sha256Hex(mustStatement(t, l, "mucem-2026-11").Manifest), dec.PreviousSHA256)
	csv := statementCSV(t, dir, "mucem-2026-12")
	assert.Contains(t, csv, "adjustment,5,g9,1,2026-11-30T23:50:00+01:00,A4,P4,cp24-adult,adult,mucem,mucem/main,2026-11-30,2026-11,8.00,8.00,false")
	assert.Contains(t, csv, "adjustment,6,g9,2,2026-11-30T23:55:00+01:00,A5,P5,cp24-adult,adult,mucem,mucem/main,2026-11-30,2026-11,8.00,0.00,true")

	rtm := decodeManifest(t, mustStatement(t, l, "rtm-2026-12").Manifest)
	assert.Equal(t, 0, rtm.Visits)
	assert.Equal(t, "3.75", rtm.Adjustments) // 0 (pass-day paid) + 2.50 + 1.25
	_, err := Verify(dir, testSigner(t, 1).PublicKey())
	require.NoError(t, err)

	// A second late wave goes on January's statement and sees December's
	// adjustments: November's cap is spent.
	l.tap(visit("g9", 3, local(2026, 11, 30, 23, 58), "A6", "P6", "child", "mucem/main"))
	closeP(t, l, "2027-01", "mucem", local(2027, 2, 2, 0, 0), dir)
	jan := decodeManifest(t, mustStatement(t, l, "mucem-2027-01").Manifest)
	assert.Equal(t, "0.00", jan.Adjustments)
	assert.Contains(t, statementCSV(t, dir, "mucem-2027-01"), ",2026-11,4.00,0.00,true,\n")
	_, err = Verify(dir, testSigner(t, 1).PublicKey())
	require.NoError(t, err)
}

func mustStatement(t *testing.T, l Ledger, id string) *Statement {
	t.Helper()
	st, ok, err := LoadStatement(l, id)
	require.NoError(t, err)
	require.True(t, ok, "statement %s", id)
	return st
}

func TestDeterministicAndReclose(t *testing.T) {
	dirA, dirB := t.TempDir(), t.TempDir()
	la := lateLedger(t, dirA)
	lateLedger(t, dirB)
	// Two ledgers with the same history: identical files.
	assertSameDir(t, dirA, dirB)

	// Closing again rewrites the stored bytes, even over damaged files, and
	// posts nothing twice.
	var before int
	require.NoError(t, la.Postings(context.Background(), func(*engine.Posting) error { before++; return nil }))
	require.NoError(t, os.WriteFile(filepath.Join(dirA, "mucem-2026-11.csv"), []byte("garbage"), 0o644))
	require.NoError(t, os.Remove(filepath.Join(dirA, "mucem-2026-11.json")))
	res := closeP(t, la, "2026-11", "mucem", local(2027, 3, 1, 0, 0), dirA)
	require.Len(t, res.Statements, 1)
	assert.True(t, res.Statements[0].Reclosed)
	assert.Zero(t, res.Postings)
	assertSameDir(t, dirA, dirB)
	var after int
	require.NoError(t, la.Postings(context.Background(), func(*engine.Posting) error { after++; return nil }))
	assert.Equal(t, before, after)
}

func assertSameDir(t *testing.T, a, b string) {
	t.Helper()
	ea, err := os.ReadDir(a)
	require.NoError(t, err)
	eb, err := os.ReadDir(b)
	require.NoError(t, err)
	require.Equal(t, len(ea), len(eb))
	for i := range ea {
		require.Equal(t, ea[i].Name(), eb[i].Name())
		x, err := os.ReadFile(filepath.Join(a, ea[i].Name()))
		require.NoError(t, err)
		y, err := os.ReadFile(filepath.Join(b, eb[i].Name()))
		require.NoError(t, err)
		require.True(t, bytes.Equal(x, y), "%s differs", ea[i].Name())
	}
}

func TestVerifyDetectsTampering(t *testing.T) {
	pub := testSigner(t, 1).PublicKey()
	fresh := func(t *testing.T) string {
		dir := t.TempDir()
		lateLedger(t, dir)
		_, err := Verify(dir, pub)
		require.NoError(t, err)
		return dir
	}
	problem := func(t *testing.T, dir string, k ed25519Key) *VerifyError {
		_, err := Verify(dir, k)
		var ve *VerifyError
		require.ErrorAs(t, err, &ve)
		return ve
	}
	has := func(ve *VerifyError, file, field string) bool {
		for _, p := range ve.Problems {
			if p.File == file && p.Field == field {
				return true
			}
		}
		return false
	}
	t.Run("csv byte", func(t *testing.T) {
		dir := fresh(t)
		flipByte(t, filepath.Join(dir, "mucem-2026-11.csv"), "8.00", "9.00")
		ve := problem(t, dir, pub)
		assert.True(t, has(ve, "mucem-2026-11.json", "csv_sha256"), ve.Error())
		assert.Len(t, ve.Problems, 1, ve.Error())
	})
	t.Run("manifest byte", func(t *testing.T) {
		dir := fresh(t)
		flipByte(t, filepath.Join(dir, "rtm-2026-12.json"), `"visits": 0`, `"visits": 1`)
		ve := problem(t, dir, pub)
		assert.True(t, has(ve, "rtm-2026-12.json", "signature"), ve.Error())
		assert.True(t, has(ve, "rtm-2026-12.json", "visits"), ve.Error())
	})
	t.Run("manifest amount re-signed by another key", func(t *testing.T) {
		dir := fresh(t)
		// An attacker changes net and re-signs with their key: the hash chain
		// still catches the next statement, and the signature the change.
		flipByte(t, filepath.Join(dir, "mucem-2026-11.json"), `"net": "12.00"`, `"net": "99.00"`)
		ve := problem(t, dir, pub)
		assert.True(t, has(ve, "mucem-2026-11.json", "net"), ve.Error())
		assert.True(t, has(ve, "mucem-2026-11.json", "signature"), ve.Error())
		assert.True(t, has(ve, "mucem-2026-12.json", "previous_sha256"), ve.Error())
	})
	t.Run("removed statement", func(t *testing.T) {
		dir := fresh(t)
		require.NoError(t, os.Remove(filepath.Join(dir, "rtm-2026-11.json")))
		require.NoError(t, os.Remove(filepath.Join(dir, "rtm-2026-11.csv")))
		ve := problem(t, dir, pub)
		assert.True(t, has(ve, "rtm-2026-12.json", "previous_sha256"), ve.Error())
		assert.Len(t, ve.Problems, 1, ve.Error())
	})
	t.Run("removed middle of chain", func(t *testing.T) {
		dir := t.TempDir()
		l := lateLedger(t, dir)
		closeP(t, l, "2027-01", "mucem", local(2027, 2, 2, 0, 0), dir)
		require.NoError(t, os.Remove(filepath.Join(dir, "mucem-2026-12.json")))
		ve := problem(t, dir, pub)
		assert.True(t, has(ve, "mucem-2027-01.json", "previous_sha256"), ve.Error())
	})
	t.Run("wrong key", func(t *testing.T) {
		dir := fresh(t)
		ve := problem(t, dir, testSigner(t, 2).PublicKey())
		assert.Len(t, ve.Problems, 4, ve.Error())
		for _, p := range ve.Problems {
			assert.Equal(t, "signature", p.Field)
		}
	})
	t.Run("extra and missing keys", func(t *testing.T) {
		dir := fresh(t)
		flipByte(t, filepath.Join(dir, "rtm-2026-11.json"), `"currency": "EUR",`, `"curency": "EUR",`)
		ve := problem(t, dir, pub)
		assert.True(t, has(ve, "rtm-2026-11.json", "currency"), ve.Error())
		assert.True(t, has(ve, "rtm-2026-11.json", "curency"), ve.Error())
	})
}

type ed25519Key = []byte

func flipByte(t *testing.T, path, old, new string) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Contains(t, string(b), old)
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(string(b), old, new, 1)), 0o644))
}

func TestNetsEqualPartnerCostPostings(t *testing.T) {
	l := lateLedger(t, t.TempDir())
	nets := map[string]int64{}
	require.NoError(t, Statements(context.Background(), l, func(st *Statement) error {
		nets[st.Partner] += st.NetMinor
		m := decodeManifest(t, st.Manifest)
		minor, err := toMinor(dec(m.Net))
		require.NoError(t, err)
		assert.Equal(t, minor, st.NetMinor, st.ID)
		return nil
	}))
	costs := map[string]int64{}
	require.NoError(t, l.Postings(context.Background(), func(p *engine.Posting) error {
		for _, ln := range p.Lines {
			if partner, ok := strings.CutPrefix(ln.Account, engine.AccountPartnerCost+":"); ok {
				costs[partner] += ln.DebitMinor - ln.CreditMinor
			}
		}
		return nil
	}))
	assert.Equal(t, map[string]int64{"mucem": 1200 + 1600, "rtm": 250 + 375}, nets)
	assert.Equal(t, nets, costs)
}

// putUsedAndUnused sells two cp24 passes on 20 October 2026: "used",
// active on 3-4 November, and "unused", never activated and due by 20
// November. It returns the sale time.
func putUsedAndUnused(l *fakeLedger) time.Time {
	sold := local(2026, 10, 20, 10, 0)
	l.putPass(engine.Pass{ID: "used", Product: "cp24-adult", TariffVersion: "v1", SoldAt: sold, PriceMinor: 3200,
		Status: engine.PassActive, ActivatedAt: local(2026, 11, 3, 10, 0), ValidUntil: local(2026, 11, 4, 10, 0)})
	l.putPass(engine.Pass{ID: "unused", Product: "cp24-adult", TariffVersion: "v1", SoldAt: sold, PriceMinor: 3200,
		Status: engine.PassSold, ActivateBy: local(2026, 11, 20, 10, 0)})
	return sold
}

func TestRecognizePostsRecognition(t *testing.T) {
	l := newFakeLedger()
	sold := putUsedAndUnused(l)
	l.putPass(engine.Pass{ID: "refunded", Product: "cp24-adult", TariffVersion: "v1", SoldAt: sold, PriceMinor: 3200,
		Status: engine.PassRefunded, ActivateBy: local(2026, 11, 20, 10, 0)})
	l.putPass(engine.Pass{ID: "later", Product: "cp24-adult", TariffVersion: "v1", SoldAt: sold, PriceMinor: 3200,
		Status: engine.PassActive, ValidUntil: local(2026, 12, 4, 10, 0)})
	l.tap(visit("g1", 1, local(2026, 11, 3, 10, 0), "A1", "used", "adult", "mucem/main"))
	dir := t.TempDir()
	assert.Equal(t, 2, recognizeThrough(t, l, testCatalog(t), "2026-11")) // pass_revenue/used, breakage/unused
	res := closeP(t, l, "2026-11", "", local(2026, 12, 2, 0, 0), dir)
	assert.Equal(t, 12, res.Postings) // close/mucem … and boat's flat fees since January
	ids := map[string]engine.Posting{}
	require.NoError(t, l.Postings(context.Background(), func(p *engine.Posting) error { ids[p.ID] = *p; return nil }))
	require.Contains(t, ids, "pass_revenue/used")
	require.Contains(t, ids, "breakage/unused")
	require.Contains(t, ids, "close/mucem-2026-11")
	require.Contains(t, ids, "close/boat-2026-01")
	require.Contains(t, ids, "close/boat-2026-11")
	assert.NotContains(t, ids, "breakage/refunded")
	assert.NotContains(t, ids, "pass_revenue/later")
	assert.Len(t, ids, 14)
	assert.Equal(t, engine.Posting{ID: "pass_revenue/used", At: local(2026, 11, 4, 10, 0), Kind: "pass_revenue", Ref: "used",
		Lines: []engine.PostingLine{
			{Account: engine.AccountDeferredRevenue, DebitMinor: 3200},
			{Account: engine.AccountPassRevenue, CreditMinor: 3200},
		}}, ids["pass_revenue/used"])
	assert.Equal(t, engine.Posting{ID: "breakage/unused", At: local(2026, 11, 20, 10, 0), Kind: "breakage", Ref: "unused",
		Lines: []engine.PostingLine{
			{Account: engine.AccountDeferredRevenue, DebitMinor: 3200},
			{Account: engine.AccountBreakageRevenue, CreditMinor: 3200},
		}}, ids["breakage/unused"])
	// A weekly month end over the same days does not recognise the passes twice.
	assert.Zero(t, recognizeThrough(t, l, testCatalog(t), "2026-W48"))
	res = closeP(t, l, "2026-W48", "", local(2026, 12, 2, 0, 0), dir)
	assert.Equal(t, 0, res.Postings) // chateau had no visits: net 0, nothing to post
}

// TestCloseRecognizesNothing: Close alone posts its statements' postings
// and no revenue recognition, even for passes long due.
func TestCloseRecognizesNothing(t *testing.T) {
	l := newFakeLedger()
	putUsedAndUnused(l)
	l.tap(visit("g1", 1, local(2026, 11, 3, 10, 0), "A1", "used", "adult", "mucem/main"))
	res := closeP(t, l, "2026-11", "mucem", local(2027, 3, 1, 0, 0), t.TempDir())
	assert.Equal(t, 1, res.Postings)
	var kinds []string
	require.NoError(t, l.Postings(context.Background(), func(p *engine.Posting) error { kinds = append(kinds, p.Kind); return nil }))
	assert.Equal(t, []string{"statement"}, kinds)
	assert.Zero(t, l.updates, "no Update: recognition is Recognize's")
}

func xmllintValidate(t *testing.T, file string) {
	t.Helper()
	path, err := exec.LookPath("xmllint")
	require.NoError(t, err, "xmllint not found: `make deps` installs it (Debian: libxml2-utils)")
	cmd := exec.Command(path, "--noout", "--schema", filepath.Join("testdata", "pain.001.001.03.xsd"), file)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "xmllint: %s", out)
}

func checkGoldenFile(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "golden", name)
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update")
	require.Equal(t, string(want), string(got), "golden %s", name)
}

var _ = tariff.Date{}

func TestSepaText(t *testing.T) {
	assert.Equal(t, "Chateau d'If - Croisieres + Cie", sepaText(" Château d’If – Croisières & Cie ", 70))
	assert.Equal(t, "Strasse", sepaText("Straße", 70))
	assert.Equal(t, "abc", sepaText("abcdef", 3))
	assert.Equal(t, "a.b", sepaText("a€b", 70))
}
