package main

import (
	"context"
	"encoding/json"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
)

func TestCLILedgerCheck(t *testing.T) {
	dir := initData(t)
	sell(t, dir, "cp24-adult", "04A10001")
	_, _, code := cli(t, dir, "tap", "--card", "04A10001", "--gate", "mucem/main", "--at", "2026-11-27T10:00", "--device", "g1", "--seq", "1")
	require.Equal(t, 0, code)

	out, stderr, code := cli(t, dir, "ledger", "check")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, ": OK")
	assert.Contains(t, out, "1 taps")

	out, _, code = cli(t, dir, "--json", "ledger", "check")
	require.Equal(t, 0, code)
	var rep map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Equal(t, true, rep["ok"])
	assert.NotEmpty(t, rep["epoch"], "the ledger's epoch is reported")
	assert.Equal(t, "EUR", rep["currency"])
	assert.Equal(t, "32.00", rep["debits"], "the sale's posting, in euros")
	assert.Equal(t, "32.00", rep["credits"])
	assert.Equal(t, 3200.0, rep["debit_minor"])
	assert.Equal(t, []any{}, rep["problems"])
	assertSnakeCase(t, rep)
	_, isMap := rep["fleet"].(map[string]any)
	assert.True(t, isMap, "the fleet's figures are an object")

	out, _, code = cli(t, dir, "ledger", "check")
	require.Equal(t, 0, code)
	assert.Contains(t, out, "debits EUR 32.00 = credits EUR 32.00", "amounts with their currency")

	// Break the usage behind the engine's back: check exits 1 naming it.
	l, err := ledger.Open(datadir.LedgerDir(dir), nil)
	require.NoError(t, err)
	var pass string
	require.NoError(t, l.Journal(context.Background(), 0, func(r *engine.TapRecord) error { pass = r.Pass; return nil }))
	require.NoError(t, l.Update(context.Background(), func(tx engine.Txn) error { return tx.PutUsage(pass, engine.Usage{}) }))
	require.NoError(t, l.Close())
	out, stderr, code = cli(t, dir, "ledger", "check")
	assert.Equal(t, 1, code)
	assert.Contains(t, out, "PROBLEMS")
	assert.Contains(t, out, "usage")
	assert.Contains(t, stderr, "Ledger check found")
	out, _, code = cli(t, dir, "--json", "ledger", "check")
	assert.Equal(t, 1, code)
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	assert.Equal(t, false, rep["ok"])
	require.NotEmpty(t, rep["problems"])
	assert.Equal(t, "usage", rep["problems"].([]any)[0].(map[string]any)["kind"])
	assertSnakeCase(t, rep)
}

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9]*(_[a-z0-9]+)*$`)

// assertSnakeCase checks every key of a decoded JSON value, at any depth,
// except the keys of the objects under dataKeys, which are keyed by data
// (venue ids, days, reason codes).
func assertSnakeCase(t *testing.T, v any, dataKeys ...string) {
	t.Helper()
	var walk func(v any, data bool)
	walk = func(v any, data bool) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if !data {
					assert.Regexp(t, snakeKey, k)
				}
				walk(x, slices.Contains(dataKeys, k))
			}
		case []any:
			for _, x := range v {
				walk(x, false)
			}
		}
	}
	walk(v, false)
}
