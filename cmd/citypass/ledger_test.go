package main

import (
	"context"
	"encoding/json"
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
	assert.NotZero(t, rep["Epoch"], "the ledger's epoch is reported")

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
}
