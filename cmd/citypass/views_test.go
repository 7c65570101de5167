package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/tariff"
)

// TestCLIOperatorViews: report dashboard writes one self-contained HTML
// file; today, pass history and pass show on a replaced card tell what
// happened, in words and as JSON.
func TestCLIOperatorViews(t *testing.T) {
	dir := initData(t)
	pass := sell(t, dir, "cp24-adult", "04A10001")
	for _, tap := range [][]string{{"mucem/g1", "2026-11-27T10:00"}, {"rtm-metro/a", "2026-11-27T10:30"}, {"rtm-metro/a", "2026-11-27T10:35"}} {
		cli(t, dir, "tap", "--card", "04A10001", "--gate", tap[0], "--at", tap[1])
	}
	_, stderr, code := cli(t, dir, "pass", "replace", pass, "--card", "04B20002", "--at", "2026-11-27T11:00")
	require.Equal(t, 0, code, stderr)
	cli(t, dir, "tap", "--card", "04A10001", "--gate", "mucem/g1", "--at", "2026-11-27T11:30")

	out := filepath.Join(t.TempDir(), "dash.html")
	stdout, stderr, code := cli(t, dir, "report", "dashboard", "--from", "2026-11-21", "--to", "2026-11-27", "--out", out)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, out)
	html, err := os.ReadFile(out)
	require.NoError(t, err)
	page := string(html)
	assert.True(t, strings.Contains(page, "<svg"), "charts drawn inline")
	assert.True(t, strings.Contains(page, "Dashboard 2026-11-21 to 2026-11-27"))
	assert.False(t, strings.Contains(page, "<script"), "no script")
	assert.False(t, regexp.MustCompile(`(src|href)="(https?:)?//`).MatchString(page), "nothing loaded from elsewhere")
	// The only addresses in it are the SVG namespaces (names, never
	// fetched); every reference is to the file itself or inline data.
	for _, u := range regexp.MustCompile(`(?i)[a-z][a-z0-9+.-]*://[^\s"'<>)]*`).FindAllString(page, -1) {
		assert.Contains(t, []string{"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, u, "an address in the dashboard file")
	}
	for _, ref := range regexp.MustCompile(`(?i)(?:src|href|xlink:href)\s*=\s*["']?([^"' >]*)`).FindAllStringSubmatch(page, -1) {
		assert.Regexp(t, `^(#|data:|$)`, ref[1], "a reference in the dashboard file")
	}
	for _, ref := range regexp.MustCompile(`(?i)url\(\s*['"]?([^'")]*)`).FindAllStringSubmatch(page, -1) {
		assert.Regexp(t, `^(#|data:)`, ref[1], "a CSS or SVG url() in the dashboard file")
	}
	assert.NotContains(t, strings.ToLower(page), "@import")
	_, stderr, code = cli(t, dir, "report", "dashboard", "--from", "2026-11-28", "--to", "2026-11-27", "--out", out)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "after")
	_, _, code = cli(t, dir, "report", "dashboard")
	assert.Equal(t, exitUsage, code, "--out is required")

	stdout, stderr, code = cli(t, dir, "today", "--day", "2026-11-27")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, "Sales      1 passes, EUR 32.00 gross")
	assert.Contains(t, stdout, "denied: PASSBACK 1, REVOKED 1")
	stdout, _, code = cli(t, dir, "--json", "today", "--day", "2026-11-27")
	require.Equal(t, 0, code)
	var today map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &today))
	assert.Equal(t, "32.00", today["sales_gross"])
	assert.Equal(t, 4.0, today["taps"])
	assertSnakeCase(t, today, "sales_by_product", "denied_by", "accepted_by_flag", "visits_by_venue")

	stdout, stderr, code = cli(t, dir, "pass", "history", pass)
	require.Equal(t, 0, code, stderr)
	for _, want := range []string{"sale", "activation", "PASSBACK", "Just used here", "replacement", "2026-11-27 11:00:00 +01:00", "REVOKED"} {
		assert.Contains(t, stdout, want)
	}
	stdout, _, code = cli(t, dir, "--json", "pass", "history", "--card", "04a10001")
	require.Equal(t, 0, code)
	var story map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &story))
	assert.Equal(t, "2026-11-27 11:00:00 +01:00", story["card"].(map[string]any)["replaced_at"])
	assertSnakeCase(t, story, "days")
	_, _, code = cli(t, dir, "pass", "history")
	assert.Equal(t, exitUsage, code)

	stdout, stderr, code = cli(t, dir, "pass", "show", "--card", "04A10001")
	require.Equal(t, 0, code, stderr)
	assert.True(t, strings.HasPrefix(stdout, "card 04A10001 was replaced by card 04B20002 at 2026-11-27T11:00:00+01:00"), stdout)
	assert.Contains(t, stdout, "Story")
	stdout, _, code = cli(t, dir, "--json", "pass", "show", "--card", "04A10001")
	require.Equal(t, 0, code)
	var shown map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &shown))
	assert.Equal(t, "04B20002", shown["replaced_card"].(map[string]any)["replaced_by"])
	assert.NotEmpty(t, shown["card_history"].(map[string]any)["events"])
}

// TestCLIRefundSaysAmountAndTime: a refund prints what was paid back and
// when, in the tariff's local time.
func TestCLIRefundSaysAmountAndTime(t *testing.T) {
	dir := initData(t)
	pass := sell(t, dir, "cp48-adult", "04A10001")
	stdout, stderr, code := cli(t, dir, "pass", "refund", pass, "--at", "2026-11-27T12:00")
	require.Equal(t, 0, code, stderr)
	assert.True(t, strings.HasPrefix(stdout, "refunded EUR 44.00 for pass "+pass+" at 2026-11-27T12:00:00+01:00\n"), stdout)
	assert.Contains(t, stdout, "  refunded EUR 44.00 at 2026-11-27T12:00:00+01:00")
}

// TestCLIGateLanguageFromTariff: a tariff with gate_language = "fr" makes
// the messages French where no --lang is given, and --lang still chooses.
func TestCLIGateLanguageFromTariff(t *testing.T) {
	sample := string(tariff.Sample())
	require.Contains(t, sample, `# gate_language = "fr"`)
	path := filepath.Join(t.TempDir(), "fr.toml")
	require.NoError(t, os.WriteFile(path, []byte(strings.Replace(sample, `# gate_language = "fr"`, `gate_language = "fr"`, 1)), 0o644))
	dir := filepath.Join(t.TempDir(), "data")
	_, stderr, code := cli(t, dir, "init", "--tariff", path)
	require.Equal(t, 0, code, stderr)
	sell(t, dir, "cp24-adult", "04A30001")
	out, stderr, code := cli(t, dir, "tap", "--card", "04A30001", "--gate", "mucem/g1", "--at", "2026-11-27T10:00")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "Bienvenue.", "the tariff's language")
	out, _, code = cli(t, dir, "tap", "--card", "04A30001", "--gate", "mucem/g1", "--at", "2026-11-27T10:05")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "Déjà utilisé ici.")
	out, _, code = cli(t, dir, "tap", "--card", "04A30001", "--gate", "mucem/g1", "--at", "2026-11-27T10:06", "--lang", "en")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "Already used here.", "--lang chooses")
}
