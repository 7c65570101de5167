package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// offlineSample is the sample tariff with offline policies: cp24-adult is
// denied STALE after 30 min without the hub, cp48-adult accepted (flagged
// STALE) after 2 h.
func offlineSample(t *testing.T) *tariff.Tariff {
	t.Helper()
	src := string(tariff.Sample())
	for _, e := range [][2]string{
		{"id = \"cp24-adult\"\n", "id = \"cp24-adult\"\noffline = { max_staleness = \"30m\", when_stale = \"deny\" }\n"},
		{"id = \"cp48-adult\"\n", "id = \"cp48-adult\"\noffline = { max_staleness = \"2h\", when_stale = \"accept\" }\n"},
	} {
		require.Contains(t, src, e[0])
		src = strings.Replace(src, e[0], e[1], 1)
	}
	tt, err := tariff.Load("offline.toml", []byte(src))
	require.NoError(t, err)
	return tt
}

// nodeDataDir builds a node's data dir as its sync leaves it: the node's
// identity and credentials (datadir.InitNode), the hub's tariff, passes
// sold at the hub on cards (the tap's card → product), and the state
// cursor with state_as_of asOf in the ledger.
func nodeDataDir(t *testing.T, asOf time.Time, sold time.Time, passes map[string]string) string {
	t.Helper()
	ctx := context.Background()
	creds, _, err := natsio.NewCredentials("bus-12", []string{"nats://127.0.0.1:4222"}, "")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "node")
	l, err := datadir.InitNode(ctx, dir, "bus-12", nil, creds, nil)
	require.NoError(t, err)
	cat, err := datadir.AddTariff(ctx, l, offlineSample(t))
	require.NoError(t, err)
	// The passes as the hub's state brings them: sold by a validator on
	// the node's ledger (the node's own lifecycle commands are refused).
	v, err := engine.New(l, cat, nil)
	require.NoError(t, err)
	for card, product := range passes {
		_, err := v.Sell(ctx, engine.SellRequest{Product: product, Card: card, At: sold, Channel: "desk"})
		require.NoError(t, err)
	}
	b, err := json.Marshal(fleet.StateCursor{HubEpoch: 9, StreamSeq: 120, Rev: 88, AsOf: asOf})
	require.NoError(t, err)
	require.NoError(t, l.PutMeta(ctx, fleet.StateMeta, b))
	require.NoError(t, l.Close())
	return dir
}

// TestCLITapOfflinePolicy: on a node, `tap` judges staleness = --at −
// state_as_of (read from the node's ledger) against the product's offline
// policy: when_stale = "deny" denies STALE (exit 3) once past
// max_staleness, "accept" accepts flagged STALE; exactly max_staleness is
// not stale; exits are never stale; the journal keeps reason and flag.
func TestCLITapOfflinePolicy(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	asOf := time.Date(2026, 11, 27, 10, 0, 0, 0, paris)
	dir := nodeDataDir(t, asOf, asOf.Add(-2*time.Hour), map[string]string{"04C30001": "cp24-adult", "04C30002": "cp48-adult"})

	// when_stale = "deny", max_staleness = 30m
	v, code := tapJSON(t, dir, "--card", "04C30001", "--gate", "mucem/main", "--at", "2026-11-27T10:30")
	assert.Equal(t, exitOK, code, "exactly 30 min: %v", v)
	assert.Equal(t, []any{"ACTIVATED"}, v["flags"])
	v, code = tapJSON(t, dir, "--card", "04C30001", "--gate", "rtm-metro/vieux-port", "--at", "2026-11-27T10:30:01")
	assert.Equal(t, exitDenied, code)
	assert.Equal(t, "STALE", v["reason"])
	assert.Equal(t, "Offline too long. Please see staff.", v["message"])
	out, _, code := cli(t, dir, "tap", "--card", "04C30001", "--gate", "rtm-metro/vieux-port", "--at", "2026-11-27T18:00", "--lang", "fr")
	assert.Equal(t, exitDenied, code)
	assert.Contains(t, out, "DENY STALE")
	assert.Contains(t, out, "Hors ligne depuis trop longtemps. Veuillez vous adresser au personnel.")
	v, code = tapJSON(t, dir, "--card", "04C30001", "--gate", "mucem/main", "--exit", "--at", "2026-11-27T18:01")
	assert.Equal(t, exitOK, code, "an exit is never stale: %v", v)

	// when_stale = "accept", max_staleness = 2h
	v, code = tapJSON(t, dir, "--card", "04C30002", "--gate", "mucem/main", "--at", "2026-11-27T12:00")
	assert.Equal(t, exitOK, code)
	assert.Equal(t, []any{"ACTIVATED"}, v["flags"])
	out, stderr, code := cli(t, dir, "tap", "--card", "04C30002", "--gate", "chateau-if/quai", "--at", "2026-11-27T12:00:01")
	assert.Equal(t, exitOK, code, stderr)
	assert.Contains(t, out, "ACCEPT OK [STALE]")
	v, code = tapJSON(t, dir, "--card", "04C30002", "--gate", "mucem/main", "--at", "2026-11-27T15:00")
	assert.Equal(t, exitDenied, code, "decided on the local state")
	assert.Equal(t, "ALREADY_REDEEMED", v["reason"])

	out, stderr, code = cli(t, dir, "journal", "export", "--format", "jsonl")
	require.Equal(t, exitOK, code, stderr)
	assert.Equal(t, 2, strings.Count(out, `"reason":"STALE"`), out)
	assert.Equal(t, 1, strings.Count(out, `"STALE"]`), out)

	// The node hears from the hub again: the same tap time is fresh.
	l, err := datadir.OpenLedger(context.Background(), dir, nil)
	require.NoError(t, err)
	b, err := json.Marshal(fleet.StateCursor{HubEpoch: 9, StreamSeq: 130, Rev: 90, AsOf: asOf.Add(8 * time.Hour)})
	require.NoError(t, err)
	require.NoError(t, l.PutMeta(context.Background(), fleet.StateMeta, b))
	require.NoError(t, l.Close())
	v, code = tapJSON(t, dir, "--card", "04C30001", "--gate", "rtm-metro/vieux-port", "--at", "2026-11-27T18:05")
	assert.Equal(t, exitOK, code, "%v", v)
}

// TestCLIFleetStatusStaleness: fleet status shows each node's state_as_of
// as last reported and its staleness at the hub's time, as text and JSON.
func TestCLIFleetStatusStaleness(t *testing.T) {
	dir := initData(t)
	now := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC) // cli's clock
	l, err := datadir.OpenLedger(context.Background(), dir, nil)
	require.NoError(t, err)
	require.NoError(t, datadir.WriteIdentity(context.Background(), l, datadir.Identity{Role: fleet.Hub, Hub: []string{"nats://127.0.0.1:4222"}}))
	require.NoError(t, l.UpdateFleet(context.Background(), func(tx ledger.FleetTxn) error {
		for _, ne := range []fleet.NodeEpoch{
			{Node: "bus-12", Epoch: 5, FirstContact: now.Add(-8 * time.Hour), LastContact: now.Add(-6 * time.Hour), StateAsOf: now.Add(-6*time.Hour - 5*time.Second)},
			{Node: "gate-1", Epoch: 6, FirstContact: now.Add(-time.Hour), LastContact: now.Add(-time.Second)},
		} {
			if err := tx.PutNodeEpoch(ne); err != nil {
				return err
			}
		}
		return nil
	}))
	require.NoError(t, l.Close())

	out, stderr, code := cli(t, dir, "fleet", "status")
	require.Equal(t, exitOK, code, stderr)
	assert.Contains(t, out, "STALENESS")
	assert.Contains(t, out, "6h0m5s (as of 2026-11-27 03:59:55 +01:00)")
	out, stderr, code = cli(t, dir, "fleet", "status", "--json")
	require.Equal(t, exitOK, code, stderr)
	var st struct {
		Nodes []struct {
			Node      string    `json:"node"`
			StateAsOf time.Time `json:"state_as_of"`
			Staleness int64     `json:"staleness_ns"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &st), out)
	require.Len(t, st.Nodes, 2)
	assert.Equal(t, "bus-12", st.Nodes[0].Node)
	assert.True(t, now.Add(-6*time.Hour-5*time.Second).Equal(st.Nodes[0].StateAsOf))
	assert.Equal(t, int64(6*time.Hour+5*time.Second), st.Nodes[0].Staleness)
	assert.True(t, st.Nodes[1].StateAsOf.IsZero())
	assert.Zero(t, st.Nodes[1].Staleness)
}
