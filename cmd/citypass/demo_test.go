package main

import (
	"encoding/json"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio/pcsc/pcscd"
)

func TestCLIDemo(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "demo")
	out, stderr, code := cli(t, dir, "demo", "--passes", "60", "--seed", "5", "--keep", dir, "--json")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stderr, "day done: sold 60 ")
	var s struct {
		Data       string                `json:"data"`
		Sales      int                   `json:"sales"`
		Taps       int                   `json:"taps"`
		Accepted   int                   `json:"accepted"`
		Denied     int                   `json:"denied"`
		Statements []struct{ ID string } `json:"statements"`
		Verified   int                   `json:"statements_verified"`
		Balanced   bool                  `json:"trial_balance_balanced"`
		Fleet      struct {
			Nodes      int    `json:"nodes"`
			Sales      int    `json:"sales"`
			Taps       int    `json:"taps"`
			Offline    int    `json:"offline"`
			Violation  string `json:"violation"`
			Invariants []string
			Faults     []struct {
				Kind     string  `json:"kind"`
				CatchUpS float64 `json:"catch_up_s"`
			} `json:"faults"`
			Statements []struct {
				ID     string `json:"id"`
				Visits int    `json:"visits"`
			} `json:"statements"`
		} `json:"fleet"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	assert.Equal(t, dir, s.Data)
	assert.Equal(t, 60, s.Sales)
	assert.Equal(t, s.Taps, s.Accepted+s.Denied)
	// The month end through the demo day: the day, week and month of every
	// partner with visits, and the flat-fee partner's months since the
	// tariff began (January).
	assert.Len(t, s.Statements, 11)
	assert.Equal(t, 11, s.Verified)
	assert.True(t, s.Balanced)
	// The fleet day: a hub and its nodes, one site cut off and healed, the
	// month closed at the hub, every invariant held.
	assert.Equal(t, 6, s.Fleet.Nodes)
	assert.Empty(t, s.Fleet.Violation)
	assert.NotEmpty(t, s.Fleet.Invariants)
	assert.Positive(t, s.Fleet.Sales)
	assert.Positive(t, s.Fleet.Taps)
	assert.Positive(t, s.Fleet.Offline, "the partitioned site decides offline")
	require.Len(t, s.Fleet.Faults, 1)
	assert.Equal(t, "partition", s.Fleet.Faults[0].Kind)
	assert.Positive(t, s.Fleet.Faults[0].CatchUpS, "the site caught up once healed")
	visits := 0
	for _, st := range s.Fleet.Statements {
		visits += st.Visits
	}
	assert.Positive(t, visits, "statements with visits closed at the hub")

	// The data dir is a citypass data dir: the statements verify with the
	// command partners are told to use, and the ledger checks clean.
	_, stderr, code = cli(t, dir, "reconcile", "verify", filepath.Join(dir, "statements"))
	assert.Equal(t, 0, code, stderr)
	_, stderr, code = cli(t, dir, "ledger", "check")
	assert.Equal(t, 0, code, stderr)
}

func TestCLIDemoErrors(t *testing.T) {
	// Where pcscd is missing, --pcsc says so (and why).
	old := pcscd.PcscdPath
	pcscd.PcscdPath = filepath.Join(t.TempDir(), "no-pcscd")
	_, stderr, code := cli(t, t.TempDir(), "demo", "--pcsc", "--keep", t.TempDir())
	pcscd.PcscdPath = old
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "not available")
	assert.Contains(t, stderr, "no-pcscd not found")

	_, stderr, code = cli(t, t.TempDir(), "demo", "--passes", "0")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "--passes 0")
}
