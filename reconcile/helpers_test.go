package reconcile

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/golden")

var paris = mustLoc("Europe/Paris")

func mustLoc(name string) *time.Location {
	loc, err := time.LoadLocation(name)
	if err != nil {
		panic(err)
	}
	return loc
}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

// local returns a wall-clock instant in Paris.
func local(y int, m time.Month, d, hh, mm int) time.Time {
	return time.Date(y, m, d, hh, mm, 0, 0, paris)
}

// testTariff is one version with a partner for every contract model:
//
//	mucem   per_visit       month  adult 8.00 child 4.00, cap 20.00
//	chateau percent_of_gate week   60 % of gate 6.10 (3.66 per entry)
//	rtm     per_pass_day    month  adult 2.50 child 1.25
//	boat    flat            month  1500.00
//	opera   per_visit       day    adult 10.00
func testTariff(id string, from time.Time) *tariff.Tariff {
	return &tariff.Tariff{
		Schema: 1, ID: id, EffectiveFrom: from, Currency: "EUR", Location: paris,
		ServiceDayStart: 4*time.Hour + 30*time.Minute,
		Partners: []tariff.Partner{
			{ID: "boat", Name: "Croisières & Cie", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"},
			{ID: "chateau", Name: "Château d'If", IBAN: "DE89370400440532013000", BIC: "COBADEFFXXX"},
			{ID: "mucem", Name: "MuCEM", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"},
			{ID: "opera", Name: "Opéra", IBAN: "GB82WEST12345698765432", BIC: "WESTGB2L"},
			{ID: "rtm", Name: "RTM", IBAN: "FR7630006000011234567890189", BIC: "AGRIFRPP"},
		},
		Venues: []tariff.Venue{
			{ID: "mucem", Partner: "mucem", Kind: tariff.KindMuseum, Name: "MuCEM", GatePrice: dec("11.00")},
			{ID: "chateau-if", Partner: "chateau", Kind: tariff.KindMuseum, Name: "Château d'If", GatePrice: dec("6.10")},
			{ID: "rtm-metro", Partner: "rtm", Kind: tariff.KindTransit, Zone: "marseille"},
			{ID: "boat", Partner: "boat", Kind: tariff.KindTour, Name: "Boat"},
			{ID: "opera", Partner: "opera", Kind: tariff.KindAttraction, Name: "Opéra"},
		},
		Products: []tariff.Product{
			{ID: "cp24-adult", Name: "City Pass 24 h", Category: "adult", Price: dec("32.00"), VATRate: dec("10"), Includes: includes,
				Clock: tariff.ClockElapsed, Duration: 24 * time.Hour},
			{ID: "cp24-child", Name: "City Pass 24 h child", Category: "child", Price: dec("16.00"), VATRate: dec("10"), Includes: includes,
				Clock: tariff.ClockElapsed, Duration: 24 * time.Hour},
		},
		Contracts: []tariff.Contract{
			{Partner: "mucem", Model: tariff.ModelPerVisit, Period: tariff.PeriodMonth,
				Rates: map[string]decimal.Decimal{"adult": dec("8.00"), "child": dec("4.00")}, Cap: dec("20.00"), HasCap: true},
			{Partner: "chateau", Model: tariff.ModelPercentOfGate, Period: tariff.PeriodWeek, Percent: dec("60")},
			{Partner: "rtm", Model: tariff.ModelPerPassDay, Period: tariff.PeriodMonth,
				Rates: map[string]decimal.Decimal{"adult": dec("2.50"), "child": dec("1.25")}},
			{Partner: "boat", Model: tariff.ModelFlat, Period: tariff.PeriodMonth, Amount: dec("1500.00")},
			{Partner: "opera", Model: tariff.ModelPerVisit, Period: tariff.PeriodDay,
				Rates: map[string]decimal.Decimal{"adult": dec("10.00")}},
		},
	}
}

// includes: museums once, the opera once per day, the boat twice, transit unlimited.
var includes = []tariff.Include{
	{Venues: []string{"mucem", "chateau-if"}, Limit: tariff.Limit{Kind: tariff.LimitOnce, N: 1}},
	{Venues: []string{"opera"}, Limit: tariff.Limit{Kind: tariff.LimitOncePerDay, N: 1}},
	{Venues: []string{"boat"}, Limit: tariff.Limit{Kind: tariff.LimitN, N: 2}},
	{Kinds: []tariff.VenueKind{tariff.KindTransit}, Limit: tariff.Limit{Kind: tariff.LimitUnlimited}},
}

func testCatalog(t testing.TB, versions ...*tariff.Tariff) *tariff.Catalog {
	t.Helper()
	if len(versions) == 0 {
		versions = []*tariff.Tariff{testTariff("v1", local(2026, 1, 1, 0, 0))}
	}
	c, err := tariff.NewCatalog(versions...)
	require.NoError(t, err)
	return c
}

// testSigner is a fixed key (Ed25519 signatures are deterministic).
func testSigner(t testing.TB, seedByte byte) *Signer {
	t.Helper()
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = seedByte
	}
	s, err := NewSigner(ed25519.NewKeyFromSeed(seed))
	require.NoError(t, err)
	return s
}

// visit builds an accepted entry record.
func visit(device string, seq uint64, at time.Time, card, pass, category, gate string) engine.TapRecord {
	venue, _, _ := tariff.SplitGate(gate)
	product := "cp24-adult"
	if category == "child" {
		product = "cp24-child"
	}
	return engine.TapRecord{
		Tap:   engine.Tap{ID: engine.TapID{Device: device, Seq: seq}, Card: card, Gate: gate, Direction: engine.Entry, At: at},
		Venue: venue, Pass: pass, Product: product, TariffVersion: "v1", Category: category,
		Decision: engine.Decision{Accept: true, Reason: engine.ReasonOK, Pass: pass, Product: product},
	}
}

// goldenDir compares (or with -update rewrites) every file of got against
// testdata/golden/<name>.
func checkGolden(t *testing.T, name, gotDir string) {
	t.Helper()
	want := filepath.Join("testdata", "golden", name)
	ents, err := os.ReadDir(gotDir)
	require.NoError(t, err)
	if *update {
		require.NoError(t, os.RemoveAll(want))
		require.NoError(t, os.MkdirAll(want, 0o755))
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(gotDir, e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(want, e.Name()), b, 0o644))
		}
		return
	}
	wantEnts, err := os.ReadDir(want)
	require.NoError(t, err, "golden dir missing; run go test -update")
	var gotNames, wantNames []string
	for _, e := range ents {
		gotNames = append(gotNames, e.Name())
	}
	for _, e := range wantEnts {
		wantNames = append(wantNames, e.Name())
	}
	require.Equal(t, wantNames, gotNames, "files in %s", name)
	for _, n := range gotNames {
		g, err := os.ReadFile(filepath.Join(gotDir, n))
		require.NoError(t, err)
		w, err := os.ReadFile(filepath.Join(want, n))
		require.NoError(t, err)
		require.Equal(t, string(w), string(g), "golden %s/%s (go test -update rewrites)", name, n)
	}
}

func decodeManifest(t testing.TB, b []byte) Manifest {
	t.Helper()
	var m Manifest
	require.NoError(t, json.Unmarshal(b, &m))
	return m
}

// statementCSV reads a closed statement's CSV file from dir.
func statementCSV(t *testing.T, dir, id string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, id+".csv"))
	require.NoError(t, err)
	return string(b)
}

// recognizeThrough runs Recognize through the end of period (the CLI's month
// end) and returns how many postings it stored.
func recognizeThrough(t *testing.T, l Ledger, cat *tariff.Catalog, period string) int {
	t.Helper()
	p, _, err := cat.ParsePeriod(period)
	require.NoError(t, err)
	n, err := Recognize(context.Background(), l, p.End)
	require.NoError(t, err)
	return n
}

// mustStatements returns the ids of the stored statements.
func mustStatements(t *testing.T, l Ledger) []string {
	t.Helper()
	var ids []string
	require.NoError(t, Statements(context.Background(), l, func(st *Statement) error { ids = append(ids, st.ID); return nil }))
	return ids
}
