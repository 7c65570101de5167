package reconcile

import (
	"context"
	"strings"
	"testing"

	"github.com/citypass/citypass/tariff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSampleTariffContractsByTapDate closes November under the built-in
// Marseille sample and a second version, effective 15 November, that raises
// the MuCEM adult rate: each visit is valued under the version in force at
// its tap time, the cap and period under the one in force at the start.
func TestSampleTariffContractsByTapDate(t *testing.T) {
	v1 := tariff.SampleTariff()
	src := string(tariff.Sample())
	src = strings.Replace(src, `id = "marseille-2026"`, `id = "marseille-2026b"`, 1)
	src = strings.Replace(src, `effective_from = "2026-01-01"`, `effective_from = "2026-11-15"`, 1)
	src = strings.Replace(src, `rates = { adult = "8.00", child = "4.00" }`, `rates = { adult = "9.00", child = "4.00" }`, 1)
	v2, err := tariff.Load("v2.toml", []byte(src))
	require.NoError(t, err)
	cat, err := tariff.NewCatalog(v1, v2)
	require.NoError(t, err)

	l := newFakeLedger()
	l.tap(visit("g1", 1, local(2026, 11, 14, 12, 0), "A1", "P1", "adult", "mucem/north"))
	l.tap(visit("g1", 2, local(2026, 11, 16, 12, 0), "A2", "P2", "adult", "mucem/north"))
	l.tap(visit("g2", 1, local(2026, 11, 16, 13, 0), "A2", "P2", "adult", "beaux-arts/main"))
	l.tap(visit("m1", 1, local(2026, 11, 16, 9, 0), "A2", "P2", "adult", "rtm-metro/vieux-port"))
	l.tap(visit("b1", 1, local(2026, 11, 17, 9, 0), "A2", "P2", "adult", "rtm-bus/83"))
	dir := t.TempDir()
	res, err := Close(context.Background(), l, cat, testSigner(t, 1), CloseOptions{Period: "2026-11", At: local(2026, 12, 1, 5, 0), OutDir: dir})
	require.NoError(t, err)
	got := map[string]string{}
	for _, s := range res.Statements {
		got[s.Partner] = formatMoney(s.Net)
	}
	assert.Equal(t, map[string]string{
		"mucem":             "17.00", // 8.00 before 15 Nov, 9.00 after
		"frioul-if-express": "0.00",
		"palais-longchamp":  "4.95", // 55 % of 9.00
		"panier-tours":      "1800.00",
		"rtm":               "8.40", // two service days
	}, got)
	m := decodeManifest(t, mustStatement(t, l, "mucem-2026-11").Manifest)
	assert.Equal(t, "marseille-2026", m.Contract.Tariff)
	assert.Equal(t, "25000.00", m.Contract.Cap)
	_, err = Verify(dir, testSigner(t, 1).PublicKey())
	require.NoError(t, err)

	// Weekly and daily partners close on their own periods.
	res, err = Close(context.Background(), l, cat, testSigner(t, 1), CloseOptions{Period: "2026-W47", At: local(2026, 12, 1, 5, 0), OutDir: dir})
	require.NoError(t, err)
	require.Len(t, res.Statements, 1)
	assert.Equal(t, "musee-histoire-2026-W47", res.Statements[0].ID)
	res, err = Close(context.Background(), l, cat, testSigner(t, 1), CloseOptions{Period: "2026-11-16", At: local(2026, 12, 1, 5, 0), OutDir: dir})
	require.NoError(t, err)
	assert.Equal(t, "cmn-chateau-if-2026-11-16", res.Statements[0].ID)
}
