package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// cli runs one citypass command in-process against data dir dir.
func cli(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		now: func() time.Time { return time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) }}
	code = a.execute(append([]string{"--data", dir}, args...))
	return out.String(), errb.String(), code
}

func initData(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "data")
	_, stderr, code := cli(t, dir, "init")
	require.Equal(t, 0, code, stderr)
	return dir
}

func sell(t *testing.T, dir, product, card string, more ...string) string {
	t.Helper()
	out, stderr, code := cli(t, dir, append([]string{"pass", "sell", "--product", product, "--card", card, "--at", "2026-11-27T08:00", "--json"}, more...)...)
	require.Equal(t, 0, code, stderr)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	return v["pass"].(string)
}

func TestCLIInitTwiceRefused(t *testing.T) {
	dir := initData(t)
	_, stderr, code := cli(t, dir, "init")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "already initialized")
	fi, err := os.Stat(datadir.CardKeysPath(dir))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "card keys are private")
}

func TestCLISellJSONAndOneLivePassPerCard(t *testing.T) {
	dir := initData(t)
	out, stderr, code := cli(t, dir, "pass", "sell", "--product", "cp24-adult", "--card", "04a1b2c3d4e5f6", "--at", "2026-11-27T08:00", "--json")
	require.Equal(t, 0, code, stderr)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.Equal(t, "04A1B2C3D4E5F6", v["card"])
	assert.Equal(t, "cp24-adult", v["product"])
	assert.Equal(t, "32.00", v["price"])
	pass := v["pass"].(string)
	require.NotEmpty(t, pass)

	_, stderr, code = cli(t, dir, "pass", "sell", "--product", "cp48-adult", "--card", "04A1B2C3D4E5F6", "--at", "2026-11-27T08:30")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, pass, "the error names the live pass")

	_, stderr, code = cli(t, dir, "pass", "sell", "--product", "no-such", "--card", "04110000")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "no-such")

	_, _, code = cli(t, dir, "pass", "sell", "--card", "04110000")
	assert.Equal(t, 2, code, "missing required flag is a usage error")
}

func TestCLITapJSONExitCodesAndIdempotency(t *testing.T) {
	dir := initData(t)
	pass := sell(t, dir, "cp24-adult", "04A1B2C3D4E5F6")

	out, stderr, code := cli(t, dir, "tap", "--card", "04A1B2C3D4E5F6", "--gate", "mucem/main",
		"--at", "2026-11-27T10:00", "--device", "g1", "--seq", "17", "--json")
	require.Equal(t, 0, code, stderr)
	var got map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	keys := make([]string, 0, len(got))
	for k := range got {
		keys = append(keys, k)
	}
	assert.ElementsMatch(t, []string{"decision", "reason", "flags", "pass", "product", "valid_until",
		"device", "seq", "duplicate", "message", "retry_at"}, keys, "exactly the tap object of docs/semantics.md")
	assert.Equal(t, "accept", got["decision"])
	assert.Equal(t, "OK", got["reason"])
	assert.Equal(t, []any{"ACTIVATED"}, got["flags"])
	assert.Equal(t, pass, got["pass"])
	assert.Equal(t, "2026-11-28T10:00:00+01:00", got["valid_until"])
	assert.Equal(t, "g1", got["device"])
	assert.Equal(t, float64(17), got["seq"])
	assert.Equal(t, false, got["duplicate"])

	// The same tap id again: the original decision, marked duplicate.
	out, _, code = cli(t, dir, "tap", "--card", "04A1B2C3D4E5F6", "--gate", "mucem/main",
		"--at", "2026-11-27T10:00", "--device", "g1", "--seq", "17", "--json")
	require.Equal(t, 0, code)
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, true, got["duplicate"])
	assert.Equal(t, "accept", got["decision"])

	// Re-sent by id without --at: the original tap time applies, so it is
	// the same tap.
	out, _, code = cli(t, dir, "tap", "--card", "04A1B2C3D4E5F6", "--gate", "mucem/main",
		"--device", "g1", "--seq", "17", "--json")
	require.Equal(t, 0, code)
	assert.Contains(t, out, `"duplicate":true`)

	// The same id with different content is an error, not a second record.
	_, stderr, code = cli(t, dir, "tap", "--card", "04A1B2C3D4E5F6", "--gate", "mucem/side",
		"--at", "2026-11-27T10:00", "--device", "g1", "--seq", "17")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "tap")

	// A second entry at a once venue is denied: exit 3, and a duplicate of it too.
	out, _, code = cli(t, dir, "tap", "--card", "04A1B2C3D4E5F6", "--gate", "mucem/main", "--at", "2026-11-27T11:00", "--device", "g1", "--seq", "18", "--json")
	assert.Equal(t, 3, code)
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, "deny", got["decision"])
	assert.Equal(t, "ALREADY_REDEEMED", got["reason"])
	_, _, code = cli(t, dir, "tap", "--card", "04A1B2C3D4E5F6", "--gate", "mucem/main", "--at", "2026-11-27T11:00", "--device", "g1", "--seq", "18")
	assert.Equal(t, 3, code, "a repeated tap returns the original exit code")

	// Unknown card: INVALID, exit 3. Unknown venue: an error, exit 1.
	out, _, code = cli(t, dir, "tap", "--card", "DEADBEEF", "--gate", "mucem/main", "--at", "2026-11-27T11:00")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "INVALID")
	_, stderr, code = cli(t, dir, "tap", "--card", "04A1B2C3D4E5F6", "--gate", "louvre/main", "--at", "2026-11-27T11:00")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "louvre")

	// Command-line taps without --seq get rising sequence numbers of device cli.
	out, _, code = cli(t, dir, "tap", "--card", "04A1B2C3D4E5F6", "--gate", "rtm-metro/vieux-port", "--at", "2026-11-27T12:00", "--json")
	require.Equal(t, 0, code)
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Equal(t, "cli", got["device"])
	seq1 := got["seq"].(float64)
	out, _, _ = cli(t, dir, "tap", "--card", "04A1B2C3D4E5F6", "--exit", "--gate", "rtm-metro/vieux-port", "--at", "2026-11-27T12:30", "--json")
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	assert.Greater(t, got["seq"].(float64), seq1)

	_, _, code = cli(t, dir, "tap", "--gate", "mucem/main")
	assert.Equal(t, 2, code, "no credential is a usage error")
	_, _, code = cli(t, dir, "tap", "--card", "04A10001", "--gate", "mucem/main", "--at", "yesterday")
	assert.Equal(t, 2, code, "a bad time is a usage error")
}

func TestCLIBlockReplaceRefund(t *testing.T) {
	dir := initData(t)
	pass := sell(t, dir, "cp48-adult", "04AA0001")
	_, stderr, code := cli(t, dir, "pass", "block", "--card", "04AA0001", "--reason", "lost", "--at", "2026-11-27T09:00")
	require.Equal(t, 0, code, stderr)
	out, _, code := cli(t, dir, "tap", "--card", "04AA0001", "--gate", "mucem/main", "--at", "2026-11-27T10:00")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "BLOCKED")
	_, _, code = cli(t, dir, "pass", "block", "--card", "04AA0001", "--reason", "forgot")
	assert.Equal(t, 2, code)

	_, stderr, code = cli(t, dir, "pass", "replace", pass, "--card", "04BB0001", "--at", "2026-11-27T10:05")
	require.Equal(t, 0, code, stderr)
	out, _, code = cli(t, dir, "tap", "--card", "04AA0001", "--gate", "mucem/main", "--at", "2026-11-27T10:10")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "REVOKED")
	out, _, code = cli(t, dir, "tap", "--card", "04BB0001", "--gate", "mucem/main", "--at", "2026-11-27T10:10", "--json")
	assert.Equal(t, 0, code, out)

	out, _, code = cli(t, dir, "pass", "show", "--card", "04BB0001", "--json")
	require.Equal(t, 0, code)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.Equal(t, pass, v["pass"])
	assert.Equal(t, []any{"04AA0001", "04BB0001"}, v["cards"])

	// Used: no refund under the `unused` policy. An unused pass refunds.
	_, _, code = cli(t, dir, "pass", "refund", pass, "--at", "2026-11-27T11:00")
	assert.Equal(t, 1, code)
	other := sell(t, dir, "cp24-child", "04CC0001")
	out, stderr, code = cli(t, dir, "pass", "refund", other, "--at", "2026-11-27T11:00", "--json")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, `"status":"refunded"`)
	out, _, code = cli(t, dir, "tap", "--card", "04CC0001", "--gate", "mucem/main", "--at", "2026-11-27T12:00")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "CANCELED")

	_, stderr, code = cli(t, dir, "pass", "unblock", "--card", "04AA0001")
	assert.Equal(t, 0, code, stderr)
}

func TestCLIReplayAndJournalExport(t *testing.T) {
	dir := initData(t)
	sell(t, dir, "cp24-adult", "04A10001")
	csvPath := filepath.Join(t.TempDir(), "taps.csv")
	require.NoError(t, os.WriteFile(csvPath, []byte("device,seq,at,card,gate,direction\n"+
		"v1,1,2026-11-27T10:00:00+01:00,04A10001,mucem/main,entry\n"+
		"v1,2,2026-11-27T10:30,04a10001,mucem/main,entry\n"+
		"v1,3,2026-11-27T11:00,04A10001,mucem/main,exit\n"), 0o600))
	out, stderr, code := cli(t, dir, "replay", csvPath)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3)
	assert.Contains(t, lines[0], `"decision":"accept"`)
	assert.Contains(t, lines[1], `"reason":"ALREADY_REDEEMED"`)
	assert.Contains(t, lines[2], `"decision":"accept"`)

	// Replaying again: every tap is a duplicate with its original decision.
	out, _, code = cli(t, dir, "replay", csvPath)
	require.Equal(t, 0, code)
	assert.Equal(t, 3, strings.Count(out, `"duplicate":true`))

	// A bad file is refused whole with its line numbers; nothing is journaled.
	bad := filepath.Join(t.TempDir(), "bad.csv")
	require.NoError(t, os.WriteFile(bad, []byte("device,seq,at,card,gate,direction\n"+
		"v2,1,2026-11-27T12:00,04A10001,mucem/main,entry\n"+
		"v2,x,2026-11-27T12:00,04A10001,mucem/main,entry\n"+
		"v2,3,2026-11-27T12:00,04A10001,louvre/main,entry\n"+
		"v2,4,2026-11-27T12:00,04A10001,mucem/main,sideways\n"), 0o600))
	_, stderr, code = cli(t, dir, "replay", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "bad.csv:3:")
	assert.Contains(t, stderr, "bad.csv:4:")
	assert.Contains(t, stderr, "bad.csv:5:")

	out, _, code = cli(t, dir, "journal", "export")
	require.Equal(t, 0, code)
	rows := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, rows, 4, "header + 3 taps; the refused file journaled nothing")
	assert.Equal(t, strings.Join(journalColumns, ","), rows[0])
	assert.Contains(t, rows[1], ",v1,1,")

	out, _, code = cli(t, dir, "journal", "export", "--format", "jsonl", "--from", "2026-11-27T10:15", "--to", "2026-11-27T11:00")
	require.Equal(t, 0, code)
	recs := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, recs, 1)
	var rec map[string]any
	require.NoError(t, json.Unmarshal([]byte(recs[0]), &rec))
	for _, k := range []string{"device", "seq", "at", "recorded_at", "card", "pass", "product", "gate", "direction", "decision", "reason", "flags"} {
		assert.Contains(t, rec, k)
	}
	assert.Equal(t, "ALREADY_REDEEMED", rec["reason"])
}

func TestCLITapWaitsThenNamesTheLockHolder(t *testing.T) {
	dir := initData(t)
	l, err := ledger.Open(datadir.LedgerDir(dir), nil)
	require.NoError(t, err)
	defer l.Close()
	var errb bytes.Buffer
	a := &app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: &errb, now: time.Now, lockWait: 200 * time.Millisecond}
	code := a.execute([]string{"--data", dir, "tap", "--card", "04A10001", "--gate", "mucem/main"})
	assert.Equal(t, 1, code)
	assert.Contains(t, errb.String(), "in use")
}

func TestCLIUninitializedDataDir(t *testing.T) {
	_, stderr, code := cli(t, filepath.Join(t.TempDir(), "none"), "tap", "--card", "04A10001", "--gate", "mucem/main")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "citypass init")
}

func TestCLITariffLoad(t *testing.T) {
	dir := initData(t)
	next := strings.Replace(string(tariffSampleForTest()), `id = "marseille-2026"`, `id = "marseille-2027"`, 1)
	next = strings.Replace(next, `effective_from = "2026-01-01"`, `effective_from = "2027-01-01"`, 1)
	path := filepath.Join(t.TempDir(), "t2027.toml")
	require.NoError(t, os.WriteFile(path, []byte(next), 0o600))
	out, stderr, code := cli(t, dir, "tariff", "load", path)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "marseille-2027")
	_, stderr, code = cli(t, dir, "tariff", "load", path)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "already loaded")

	bad := filepath.Join(t.TempDir(), "bad.toml")
	require.NoError(t, os.WriteFile(bad, []byte("schema = 1\nid = 7\n"), 0o600))
	_, stderr, code = cli(t, dir, "tariff", "load", bad)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "bad.toml:2:")
}

func tariffSampleForTest() []byte { return tariff.Sample() }
