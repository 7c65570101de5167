package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/citypass/citypass/tariff"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// runTariffCmd runs the command line in-process and returns exit code, stdout and
// stderr.
func runTariffCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func writeTariffFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func TestTariffCheckSample(t *testing.T) {
	path := writeTariffFile(t, "marseille.toml", tariff.Sample())
	code, out, errOut := runTariffCmd("tariff", "check", path)
	assert.Equal(t, exitOK, code)
	assert.Empty(t, errOut)
	assert.Equal(t, path+": ok — tariff marseille-2026, 7 partners, 9 venues, 8 products, 7 contracts\n", out)

	code, out, _ = runTariffCmd("--json", "tariff", "check", path)
	assert.Equal(t, exitOK, code)
	var res tariffCheckResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.Equal(t, tariffCheckResult{File: path, OK: true, Tariff: "marseille-2026", Partners: 7, Venues: 9, Products: 8, Contracts: 7}, res)
}

func TestTariffCheckSpecExample(t *testing.T) {
	code, out, errOut := runTariffCmd("tariff", "check", filepath.Join("..", "..", "tariff", "testdata", "spec_example_completed.toml"))
	assert.Equal(t, exitOK, code, errOut)
	assert.Contains(t, out, ": ok — tariff marseille-2026, 3 partners, 3 venues, 1 products, 1 contracts")
}

// badTariff has four problems in four sections.
const badTariff = `schema = 1
id = "bad"
effective_from = "2026-01-01"
currency = "EUR"
timezone = "Europe/Pariss"

[[partner]]
id = "mucem"
name = "MuCEM"
iban = "FR7630006000011234567890188"
bic = "AGRIFRPP"

[[venue]]
id = "mucem"
partner = "mucem"
kind = "museum"

[[product]]
id = "cp24-adult"
name = "City Pass 24 h"
category = "adult"
price = "32.001"
vat_rate = "10"
clock = "elapsed"
duration = "24h"
activation = "first_use"
activate_within = "365d"
refund = "unused"

  [[product.include]]
  venues = ["mucem", "chateau-if"]
  limit = "once"
`

func TestTariffCheckErrors(t *testing.T) {
	path := writeTariffFile(t, "bad.toml", []byte(badTariff))
	code, out, errOut := runTariffCmd("tariff", "check", path)
	assert.Equal(t, exitError, code)
	assert.Empty(t, out)
	assert.Equal(t, strings.Join([]string{
		path + `:5: timezone: unknown time zone "Europe/Pariss"`,
		path + `:10: partner "mucem": iban: IBAN "FR7630006000011234567890188": check digits do not match (ISO 13616 mod-97)`,
		path + `:22: product "cp24-adult": price: amount "32.001" has more than 2 decimal places`,
		path + `:31: product "cp24-adult" include #1: venues: unknown venue "chateau-if"`,
	}, "\n")+"\n", errOut)

	code, out, _ = runTariffCmd("tariff", "check", "--json", path)
	assert.Equal(t, exitError, code)
	var res tariffCheckResult
	require.NoError(t, json.Unmarshal([]byte(out), &res))
	assert.False(t, res.OK)
	require.Len(t, res.Errors, 4)
	assert.Equal(t, tariffCheckError{Line: 5, Message: `timezone: unknown time zone "Europe/Pariss"`}, res.Errors[0])
}

func TestTariffCheckUsageAndIO(t *testing.T) {
	code, _, errOut := runTariffCmd("tariff", "check")
	assert.Equal(t, exitUsage, code, errOut)
	code, _, errOut = runTariffCmd("tariff", "check", "a.toml", "b.toml")
	assert.Equal(t, exitUsage, code, errOut)

	missing := filepath.Join(t.TempDir(), "missing.toml")
	code, out, errOut := runTariffCmd("tariff", "check", missing)
	assert.Equal(t, exitError, code)
	assert.Empty(t, out)
	assert.Contains(t, errOut, missing)
	assert.True(t, strings.HasPrefix(errOut, "citypass: "), errOut)
}

// TestCLITariffExport: tariff export prints the built-in sample, the one
// init loads, as a file that tariff check accepts and that loads to the
// sample tariff, with every key explained: a comment on the key's line or a
// comment that names it (the comment above a section explains its keys).
func TestCLITariffExport(t *testing.T) {
	out, stderr, code := cli(t, t.TempDir(), "tariff", "export")
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, string(tariff.Sample()), out)
	path := filepath.Join(t.TempDir(), "my-tariff.toml")
	require.NoError(t, os.WriteFile(path, []byte(out), 0o644))
	checked, stderr, code := cli(t, t.TempDir(), "tariff", "check", path)
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, checked, "ok")
	loaded, err := tariff.Load(path, []byte(out))
	require.NoError(t, err)
	assert.Equal(t, tariff.SampleTariff().ID, loaded.ID)
	assert.Equal(t, len(tariff.SampleTariff().Products), len(loaded.Products))

	keyLine := regexp.MustCompile(`^\s*(?:#\s*)?([a-z_]+)\s*=`)
	table := regexp.MustCompile(`^\s*\[\[?([a-z_.]+)\]?\]`)
	var comments strings.Builder
	keys := map[string]bool{} // key → explained on its own line
	for _, line := range strings.Split(out, "\n") {
		code, comment, hasComment := strings.Cut(line, "#")
		if hasComment {
			comments.WriteString(" " + comment)
		}
		if m := keyLine.FindStringSubmatch(code); m != nil {
			keys[m[1]] = keys[m[1]] || hasComment && strings.TrimSpace(comment) != ""
		}
		if m := table.FindStringSubmatch(code); m != nil {
			name := m[1][strings.LastIndex(m[1], ".")+1:]
			keys[name] = keys[name] || hasComment
		}
	}
	require.Greater(t, len(keys), 30, "the sample's keys were found")
	for k, onItsLine := range keys {
		if onItsLine {
			continue
		}
		assert.Regexp(t, `\b`+k, comments.String(), "key %s is explained in a comment", k)
	}
}
