package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/hub"
)

// TestCLIOverUseCounted: at a hub that received two nodes' entries of one
// pass at mucem (limit once: both nodes were offline), fleet status counts
// one entry of over-use, the later node's, and report visits shows it in its over_limit
// column on the venue's and day's row. The November close is refused while
// both nodes, last heard of before November ended, may hold more taps of
// it (exit 1, naming them); --allow-lagging closes, and the statement lists
// the second entry at 0, over_limit.
func TestCLIOverUseCounted(t *testing.T) {
	ctx := context.Background()
	dir := initData(t)
	pass := sell(t, dir, "cp24-adult", "04A1B2C3D4E5F6")
	out, stderr, code := cli(t, dir, "fleet", "status")
	require.Equal(t, exitOK, code, stderr)
	assert.NotContains(t, out, "over-use")

	l, err := datadir.OpenLedger(ctx, dir, nil)
	require.NoError(t, err)
	require.NoError(t, datadir.WriteIdentity(ctx, l, datadir.Identity{Role: fleet.Hub, Hub: []string{"nats://127.0.0.1:4222"}}))
	for i, node := range []string{"gate-a", "gate-b"} {
		at := time.Date(2026, 11, 27, 10, 0+5*i, 0, 0, time.UTC)
		rec := engine.TapRecord{
			Tap:   engine.Tap{ID: engine.TapID{Device: node, Seq: 1}, Card: "04A1B2C3D4E5F6", Gate: "mucem/" + node, Direction: engine.Entry, At: at},
			Venue: "mucem", Pass: pass, Product: "cp24-adult", TariffVersion: "marseille-2026", Category: "adult",
			JournalSeq: 1, RecordedAt: at,
			Decision: engine.Decision{Accept: true, Reason: engine.ReasonOK, Pass: pass, Product: "cp24-adult"},
		}
		if i == 0 {
			rec.Decision.Flags = engine.FlagActivated
		}
		_, err := hub.ApplyBatch(ctx, l, &fleet.Batch{Node: node, Epoch: uint64(7 + i), First: 1, Last: 1, SentAt: at, Records: []engine.TapRecord{rec}}, at.Add(time.Hour))
		require.NoError(t, err)
	}
	require.NoError(t, l.Close())

	out, stderr, code = cli(t, dir, "fleet", "status")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, out, "over-use: 1 entries beyond their pass's limit at the venue, listed at 0 on statements (report visits shows where)\n")
	out, stderr, code = cli(t, dir, "fleet", "status", "--json")
	require.Equal(t, exitOK, code, stderr)
	var st struct {
		OverLimit int `json:"over_limit"`
		Nodes     []struct {
			Node      string `json:"node"`
			OverLimit int    `json:"over_limit"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	assert.Equal(t, 1, st.OverLimit)
	// Each node's own: gate-b's entry came second at the venue.
	perNode := map[string]int{}
	for _, n := range st.Nodes {
		perNode[n.Node] = n.OverLimit
	}
	assert.Equal(t, map[string]int{"gate-a": 0, "gate-b": 1}, perNode)

	out, stderr, code = cli(t, dir, "report", "visits", "--from", "2026-11-27", "--to", "2026-11-27", "--format", "csv")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, out, "venue,venue_name,partner,day,category,visits,over_limit\n")
	assert.Contains(t, out, "mucem,\"MuCEM, Fort Saint-Jean and J4\",mucem,2026-11-27,adult,2,1\n")
	out, stderr, code = cli(t, dir, "report", "visits", "--from", "2026-11-27", "--to", "2026-11-27")
	require.Equal(t, exitOK, code, stderr)
	assert.Regexp(t, `TOTAL +2 +1\n`, out)

	stmts := filepath.Join(t.TempDir(), "statements")
	closeNov := []string{"reconcile", "close", "--through", "2026-11-30", "--partner", "mucem", "--at", "2026-12-02T00:00", "--out", stmts}
	_, stderr, code = cli(t, dir, closeNov...)
	assert.Equal(t, exitError, code)
	assert.Contains(t, stderr, "gate-a, gate-b uploaded taps of")
	_, stderr, code = cli(t, dir, append(closeNov, "--allow-lagging")...)
	require.Equal(t, exitOK, code, stderr)
	csv, err := os.ReadFile(filepath.Join(stmts, "mucem-2026-11.csv"))
	require.NoError(t, err)
	assert.Regexp(t, `,gate-b,1,.*,0\.00,0\.00,false,over_limit\n`, string(csv))
	assert.Regexp(t, `,gate-a,1,.*,\d+\.\d\d,false,\n`, string(csv))
}
