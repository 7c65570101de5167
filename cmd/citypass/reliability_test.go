package main

import (
	"encoding/json"
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
