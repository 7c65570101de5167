package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCLIMonthEndClose runs the README's month-end flow: taps, close, verify,
// match, payout (twice), reports.
func TestCLIMonthEndClose(t *testing.T) {
	dir := initData(t)
	for i, card := range []string{"04A1B2C3", "04A1B2C4", "04A1B2C5"} {
		_, stderr, code := cli(t, dir, "pass", "sell", "--product", "cp24-adult", "--card", card, "--at", "2026-10-30T10:00")
		require.Equal(t, 0, code, stderr)
		_, stderr, code = cli(t, dir, "tap", "--card", card, "--gate", "mucem/main", "--at", "2026-10-30T11:0"+string(rune('0'+i)))
		require.Equal(t, 0, code, stderr)
	}
	out := filepath.Join(t.TempDir(), "statements")

	// Not yet ended: refused.
	_, stderr, code := cli(t, dir, "reconcile", "close", "--period", "2026-10", "--out", out, "--at", "2026-10-31T12:00")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "not ended")

	stdout, stderr, code := cli(t, dir, "reconcile", "close", "--period", "2026-10", "--out", out, "--at", "2026-11-02T10:00")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "mucem-2026-10")
	first, err := os.ReadFile(filepath.Join(out, "mucem-2026-10.json"))
	require.NoError(t, err)

	// Closing again rewrites the same bytes.
	_, stderr, code = cli(t, dir, "reconcile", "close", "--period", "2026-10", "--out", out, "--at", "2026-11-03T10:00")
	require.Equal(t, 0, code, stderr)
	again, err := os.ReadFile(filepath.Join(out, "mucem-2026-10.json"))
	require.NoError(t, err)
	assert.Equal(t, first, again)

	_, stderr, code = cli(t, dir, "reconcile", "verify", out)
	require.Equal(t, 0, code, stderr)

	// A partner verifies with the printed public key.
	pem, _, code := cli(t, dir, "reconcile", "pubkey")
	require.Equal(t, 0, code)
	pubPath := filepath.Join(t.TempDir(), "operator.pub")
	require.NoError(t, os.WriteFile(pubPath, []byte(pem), 0o644))
	_, stderr, code = cli(t, dir, "reconcile", "verify", out, "--pubkey", pubPath)
	require.Equal(t, 0, code, stderr)

	// Tampering is caught, naming the file.
	csvPath := filepath.Join(out, "mucem-2026-10.csv")
	orig, err := os.ReadFile(csvPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(csvPath, []byte(strings.Replace(string(orig), "8.00", "9.00", 1)), 0o644))
	_, stderr, code = cli(t, dir, "reconcile", "verify", out)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "mucem-2026-10")
	require.NoError(t, os.WriteFile(csvPath, orig, 0o644))

	// The partner's own export: two of three scans match, one extra.
	partner := filepath.Join(t.TempDir(), "mucem-scans.csv")
	require.NoError(t, os.WriteFile(partner, []byte("scanned_at,card,gate\n"+
		"2026-10-30T11:00:30,04A1B2C3,mucem/main\n"+
		"2026-10-30T11:01:10,04A1B2C4,mucem/main\n"+
		"2026-10-30T15:00:00,04FFFFFF,mucem/main\n"), 0o644))
	stdout, _, code = cli(t, dir, "reconcile", "match", "--statement", filepath.Join(out, "mucem-2026-10.json"), "--partner-file", partner, "--json")
	assert.Equal(t, 4, code, "discrepancies exit 4")
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &m))

	badPartner := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(badPartner, []byte("scanned_at,card,gate\nyesterday,04A1,mucem/main\n"), 0o644))
	_, stderr, code = cli(t, dir, "reconcile", "match", "--statement", filepath.Join(out, "mucem-2026-10.json"), "--partner-file", badPartner)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "line 2")

	xml := filepath.Join(t.TempDir(), "payout.xml")
	payout := []string{"reconcile", "payout", "--out", xml, "--debtor-name", "Office de Tourisme de Marseille",
		"--debtor-iban", "FR7630006000011234567890189", "--debtor-bic", "AGRIFRPP", "--date", "2026-11-05"}
	_, stderr, code = cli(t, dir, payout...)
	require.Equal(t, 0, code, stderr)
	body, err := os.ReadFile(xml)
	require.NoError(t, err)
	assert.Contains(t, string(body), "pain.001.001.03")
	xml2 := filepath.Join(t.TempDir(), "payout2.xml")
	payout[3] = xml2
	stdout, _, code = cli(t, dir, payout...)
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "nothing to pay")
	assert.NoFileExists(t, xml2)

	for _, kind := range []string{"sales", "revenue", "payables", "visits", "trial-balance"} {
		for _, f := range []string{"table", "csv", "json"} {
			stdout, stderr, code = cli(t, dir, "report", kind, "--from", "2026-10-01", "--to", "2026-10-31", "--format", f)
			require.Equal(t, 0, code, "%s %s: %s", kind, f, stderr)
			assert.NotEmpty(t, stdout)
		}
	}
	_, _, code = cli(t, dir, "report", "gossip")
	assert.Equal(t, 2, code)
	_, _, code = cli(t, dir, "report", "sales", "--from", "last week")
	assert.Equal(t, 2, code)
}

// TestCLICloseRecognizesRevenue: `reconcile close` is the whole month end:
// it closes the statements and posts the revenue recognition due by the
// period's end, reporting how many postings; a refused close posts nothing
// and a re-close recognises nothing twice.
func TestCLICloseRecognizesRevenue(t *testing.T) {
	dir := initData(t)
	for _, card := range []string{"04A1B2C3", "04A1B2C4", "04A1B2C5"} {
		_, stderr, code := cli(t, dir, "pass", "sell", "--product", "cp24-adult", "--card", card, "--at", "2026-10-30T10:00")
		require.Equal(t, 0, code, stderr)
	}
	// Two used (valid until 31 October), one never: not due before 2027.
	for _, card := range []string{"04A1B2C3", "04A1B2C4"} {
		_, stderr, code := cli(t, dir, "tap", "--card", card, "--gate", "mucem/main", "--at", "2026-10-30T11:00")
		require.Equal(t, 0, code, stderr)
	}
	out := filepath.Join(t.TempDir(), "statements")
	passRevenue := func() string {
		t.Helper()
		stdout, stderr, code := cli(t, dir, "report", "trial-balance", "--format", "json")
		require.Equal(t, 0, code, stderr)
		var tb struct {
			Rows []map[string]string `json:"rows"`
		}
		require.NoError(t, json.Unmarshal([]byte(stdout), &tb))
		for _, r := range tb.Rows {
			if r["account"] == "pass_revenue" {
				return r["balance"]
			}
		}
		return ""
	}

	// Refused closes post nothing: the period is open, or the partner unknown.
	_, _, code := cli(t, dir, "reconcile", "close", "--period", "2026-10", "--out", out, "--at", "2026-10-31T12:00")
	require.Equal(t, 1, code)
	_, stderr, code := cli(t, dir, "reconcile", "close", "--period", "2026-10", "--partner", "nobody", "--out", out, "--at", "2026-11-02T10:00")
	require.Equal(t, 1, code)
	assert.Contains(t, stderr, "nobody")
	assert.Empty(t, passRevenue())

	stdout, stderr, code := cli(t, dir, "--json", "reconcile", "close", "--period", "2026-10", "--out", out, "--at", "2026-11-02T10:00")
	require.Equal(t, 0, code, stderr)
	var res struct {
		Title      string           `json:"title"`
		Columns    []string         `json:"columns"`
		Rows       []map[string]any `json:"rows"`
		Notes      []string         `json:"notes"`
		Recognized *int             `json:"recognized"`
	}
	require.NoError(t, json.Unmarshal([]byte(stdout), &res))
	assert.Equal(t, "Statements for 2026-10", res.Title)
	assert.Contains(t, res.Columns, "statement")
	assert.NotEmpty(t, res.Rows)
	require.NotNil(t, res.Recognized)
	assert.Equal(t, 2, *res.Recognized)
	assert.Contains(t, res.Notes, "2 revenue recognition posting(s) stored (due by 2026-11-01T04:30:00+01:00)") // service days end at 04:30
	assert.Equal(t, "-64.00", passRevenue())

	// A re-close rewrites the statements and recognises nothing twice.
	stdout, stderr, code = cli(t, dir, "reconcile", "close", "--period", "2026-10", "--out", out, "--at", "2026-11-03T10:00")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "mucem-2026-10")
	assert.Contains(t, stdout, "0 revenue recognition posting(s) stored")
	assert.Equal(t, "-64.00", passRevenue())
}
