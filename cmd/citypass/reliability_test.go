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

// The tests of issue 20 (reliability), one per numbered item.

// tapJSON runs `tap --json` and decodes its object.
func tapJSON(t *testing.T, dir string, args ...string) (map[string]any, int) {
	t.Helper()
	out, stderr, code := cli(t, dir, append([]string{"--json", "tap"}, args...)...)
	if code != 0 && code != 3 {
		t.Fatalf("tap %v: exit %d: %s", args, code, stderr)
	}
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v), out)
	return v, code
}

// Item 7: `tap` without --seq takes the next seq after the device's
// highest one, explicit seqs included: it never reuses one.
func TestCLITapNumbersAfterExplicitSeqs(t *testing.T) {
	dir := initData(t)
	sell(t, dir, "cp24-adult", "04A70001")
	for i, seq := range []string{"1", "2"} {
		v, _ := tapJSON(t, dir, "--card", "04A70001", "--gate", "rtm-metro/g1", "--exit",
			"--at", "2026-11-27T10:0"+string(rune('0'+i)), "--seq", seq)
		assert.Equal(t, float64(i+1), v["seq"])
	}
	for i := range 3 {
		v, code := tapJSON(t, dir, "--card", "04A70001", "--gate", "rtm-metro/g1", "--exit",
			"--at", "2026-11-27T10:1"+string(rune('0'+i)))
		assert.Equal(t, 0, code)
		assert.Equal(t, float64(3+i), v["seq"], "automatic tap %d", i+1)
		assert.Equal(t, false, v["duplicate"])
	}
	v, _ := tapJSON(t, dir, "--card", "04A70001", "--gate", "rtm-metro/g1", "--exit", "--at", "2026-11-27T10:20", "--device", "other")
	assert.Equal(t, float64(1), v["seq"], "each device has its own numbering")
	_, stderr, code := cli(t, dir, "tap", "--card", "04A70001", "--gate", "rtm-metro/g1", "--seq", "0")
	assert.Equal(t, 2, code, "seq 0 is not a tap seq")
	assert.Contains(t, stderr, "--seq")
	out, _, _ := cli(t, dir, "journal", "export")
	assert.Equal(t, 7, strings.Count(out, "\n"), "header and six taps:\n%s", out)
}

// Item 4: every instant the command line accepts lies between years 2000
// and 2200; a local time skipped by daylight saving is refused, a repeated
// one is read as the first, with a warning on stderr.
func TestCLITimesInRangeAndDST(t *testing.T) {
	dir := initData(t)
	for _, args := range [][]string{
		{"pass", "sell", "--product", "cp24-adult", "--card", "04A40001", "--at", "9999-12-31T23:59"},
		{"pass", "sell", "--product", "cp24-adult", "--card", "04A40001", "--at", "1816-01-01T00:00:00Z"},
		{"tap", "--card", "04A40001", "--gate", "mucem/main", "--at", "9999-12-31T23:59"},
		{"report", "visits", "--from", "2026-01-01", "--to", "2300-01-01"},
		{"journal", "export", "--to", "2300-01-01T00:00"},
		{"reconcile", "close", "--period", "2026-11", "--at", "9999-01-01T00:00", "--out", t.TempDir()},
	} {
		_, stderr, code := cli(t, dir, args...)
		assert.Equal(t, 2, code, "%v: %s", args, stderr)
		assert.Contains(t, stderr, "between years 2000 and 2200", "%v", args)
	}
	out, _, _ := cli(t, dir, "journal", "export")
	assert.Equal(t, 1, strings.Count(out, "\n"), "nothing journaled")

	_, stderr, code := cli(t, dir, "pass", "sell", "--product", "cp24-adult", "--card", "04A40002", "--at", "2026-03-29T02:30")
	assert.Equal(t, 2, code, stderr)
	assert.Contains(t, stderr, "does not exist in Europe/Paris")

	out, stderr, code = cli(t, dir, "--json", "pass", "sell", "--product", "cp24-adult", "--card", "04A40002", "--at", "2026-10-25T02:30")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "warning")
	assert.Contains(t, stderr, "happens twice")
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.Equal(t, "2026-10-25T02:30:00+02:00", v["sold_at"], "the first of the two readings")
}

// Item 11: bad arguments are usage errors (exit 2), reversed bounds too.
func TestCLIBadArgumentsExit2(t *testing.T) {
	dir := initData(t)
	sell(t, dir, "cp24-adult", "04B10001")
	for _, args := range [][]string{
		{"pass", "sell", "--product", "cp24-adult", "--card", "ZZZ"},
		{"pass", "show", "--card", "ZZZ"},
		{"pass", "block", "--card", "ZZZ", "--reason", "lost"},
		{"reconcile", "close", "--period", "2026-13", "--out", t.TempDir()},
		{"report", "sales", "--from", "2026-12-01", "--to", "2026-11-01"},
		{"journal", "export", "--from", "2026-12-01T00:00", "--to", "2026-11-01T00:00"},
		{"tap", "--card", "04B10001", "--gate", "mucem"},
	} {
		_, stderr, code := cli(t, dir, args...)
		assert.Equal(t, 2, code, "%v: %s", args, stderr)
		assert.NotEmpty(t, stderr, "%v", args)
	}
}

// Item 12: free text is bounded and free of control characters.
func TestCLIFreeTextLimits(t *testing.T) {
	dir := initData(t)
	for _, args := range [][]string{
		{"pass", "sell", "--product", "cp24-adult", "--card", "04C10001", "--at", "2026-11-27T08:00", "--channel", strings.Repeat("x", 100_000)},
		{"pass", "sell", "--product", "cp24-adult", "--card", "04C10001", "--at", "2026-11-27T08:00", "--channel", "desk\x1b[2J"},
		{"tap", "--card", "04C10001", "--gate", "mucem/main\nx", "--at", "2026-11-27T10:00"},
		{"tap", "--card", "04C10001", "--gate", "mucem/main", "--at", "2026-11-27T10:00", "--device", "g\x1b1"},
		{"reconcile", "payout", "--out", t.TempDir() + "/p.xml", "--debtor-name", strings.Repeat("N", 71),
			"--debtor-iban", "FR7630006000011234567890189", "--debtor-bic", "AGRIFRPP"},
	} {
		_, stderr, code := cli(t, dir, args...)
		assert.Equal(t, 2, code, "%q: %s", args, stderr)
		assert.Less(t, len(stderr), 2000, "the error does not repeat a huge input")
		assert.NotContains(t, stderr, "\x1b", "no terminal escape reaches the terminal")
	}
	out, _, _ := cli(t, dir, "journal", "export")
	assert.Equal(t, 1, strings.Count(out, "\n"), "nothing journaled")
}

// writeFile writes a file into a test directory and returns its path.
func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const replayHead = "device,seq,at,card,gate,direction\n"

// Item 3: a quoted field never closed is a line-numbered error, no panic.
func TestCLIReplayUnclosedQuote(t *testing.T) {
	dir := initData(t)
	sell(t, dir, "cp24-adult", "04A30001")
	p := writeFile(t, "q.csv", replayHead+"v1,1,2026-11-27T10:00,04A30001,mucem/main,entry\n"+
		"v1,2,\"2026-11-27T10:30,04A30001,mucem/main,entry\n")
	_, stderr, code := cli(t, dir, "replay", p)
	assert.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "q.csv:3:")
	assert.Contains(t, stderr, "quote")
	out, _, _ := cli(t, dir, "journal", "export")
	assert.Equal(t, 1, strings.Count(out, "\n"), "nothing journaled")
}

// Item 9: a row that conflicts with a journaled tap refuses the whole file
// with FILE:LINE (the rows before it are not journaled), the tap named once;
// the same tap twice in a file, or a file sent again, is a duplicate.
func TestCLIReplayAllOrNothingAndDuplicates(t *testing.T) {
	dir := initData(t)
	sell(t, dir, "cp24-adult", "04A90001")
	_, _, code := cli(t, dir, "tap", "--card", "04A90001", "--gate", "mucem/main", "--at", "2026-11-27T10:00", "--device", "d1", "--seq", "1")
	require.Equal(t, 0, code)
	p := writeFile(t, "c.csv", replayHead+
		"d2,1,2026-11-27T10:05,04A90001,rtm-metro/g1,exit\n"+
		"d1,1,2026-11-27T11:00,04A90001,mucem/main,entry\n"+
		"d2,2,2026-11-27T11:05,04A90001,rtm-metro/g1,exit\n")
	_, stderr, code := cli(t, dir, "replay", p)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "c.csv:3:")
	assert.NotContains(t, stderr, "d1#1: tap d1#1", "the tap is named once")
	assert.Contains(t, stderr, "nothing journaled")
	out, _, _ := cli(t, dir, "journal", "export")
	assert.Equal(t, 2, strings.Count(out, "\n"), "only the first tap:\n%s", out)

	p = writeFile(t, "d.csv", replayHead+
		"n1,1,2026-11-27T12:00,04A90001,rtm-metro/g1,exit\n"+
		"n1,2,2026-11-27T12:05,04A90001,rtm-metro/g1,exit\n"+
		"n1,1,2026-11-27T12:00,04A90001,rtm-metro/g1,exit\n")
	out, stderr, code = cli(t, dir, "replay", p)
	require.Equal(t, 0, code, stderr)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 3, "one object per input line")
	assert.Contains(t, lines[0], `"duplicate":false`)
	assert.Contains(t, lines[2], `"duplicate":true`)
	out, _, code = cli(t, dir, "replay", p)
	require.Equal(t, 0, code)
	assert.Equal(t, 3, strings.Count(out, `"duplicate":true`))
}

// Item 10: a UTF-8 byte order mark before the header is accepted.
func TestCLIReplayBOM(t *testing.T) {
	dir := initData(t)
	sell(t, dir, "cp24-adult", "04A10001")
	p := writeFile(t, "bom.csv", "\ufeff"+replayHead+"v1,1,2026-11-27T10:00,04A10001,mucem/main,entry\n")
	out, stderr, code := cli(t, dir, "replay", p)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, `"decision":"accept"`)
}

// Item 4 in a replay file: out-of-range and skipped local times are
// line-numbered errors, a repeated one a line-numbered warning.
func TestCLIReplayTimes(t *testing.T) {
	dir := initData(t)
	sell(t, dir, "cp24-adult", "04A10001")
	p := writeFile(t, "t.csv", replayHead+
		"v1,1,9999-12-31T23:59,04A10001,rtm-metro/g1,exit\n"+
		"v1,2,2026-03-29T02:30,04A10001,rtm-metro/g1,exit\n")
	_, stderr, code := cli(t, dir, "replay", p)
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "t.csv:2:")
	assert.Contains(t, stderr, "between years 2000 and 2200")
	assert.Contains(t, stderr, "t.csv:3:")
	assert.Contains(t, stderr, "does not exist")
	p = writeFile(t, "w.csv", replayHead+"v1,1,2026-10-25T02:30,04A10001,rtm-metro/g1,exit\n")
	_, stderr, code = cli(t, dir, "replay", p)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "w.csv:2: warning")
}
