package datadir_test

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

// TestNodeIdentityAndTapNumbering: a node's data dir keeps its identity and
// credentials; a wiped node's new ledger numbers its taps above every seq
// the old one gave.
func TestNodeIdentityAndTapNumbering(t *testing.T) {
	ctx := context.Background()
	creds, _, err := natsio.NewCredentials("gate-7", []string{"nats://127.0.0.1:4222"}, "")
	require.NoError(t, err)
	var seqs []uint64
	for epoch := range 2 {
		dir := filepath.Join(t.TempDir(), "node")
		created := time.Date(2026, 11, 23, 8, 0, epoch*5, 0, time.UTC)
		l, err := datadir.InitNode(ctx, dir, "gate-7", nil, creds, &datadir.Options{Ledger: &ledger.Options{Now: func() time.Time { return created }}})
		require.NoError(t, err)
		id, err := datadir.ReadIdentity(l)
		require.NoError(t, err)
		assert.Equal(t, datadir.Identity{Role: fleet.Node, Node: "gate-7", Hub: creds.Hub}, id)
		_, err = datadir.AddTariff(ctx, l, tariff.SampleTariff())
		require.NoError(t, err)
		require.NoError(t, l.Close())
		got, err := natsio.LoadCredentials(datadir.NodeCredsPath(dir))
		require.NoError(t, err)
		assert.Equal(t, creds.Seed, got.Seed)

		d, err := datadir.Open(ctx, dir, nil)
		require.NoError(t, err)
		for range 3 {
			res, err := d.Validator.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "gate-7"}, Card: "04A1B2C3D4E5F6", Gate: "mucem/main", At: created})
			require.NoError(t, err)
			seqs = append(seqs, res.Tap.Seq)
		}
		require.NoError(t, d.Close())
	}
	floor := fleet.SeqFloor(time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC))
	assert.Equal(t, []uint64{floor + 1, floor + 2, floor + 3, floor + 5<<20 + 1, floor + 5<<20 + 2, floor + 5<<20 + 3}, seqs)
}

// offlineTariff is the sample with a [product.offline] on cp24-adult:
// deny after 30 minutes without the hub.
func offlineTariff(t *testing.T) *tariff.Tariff {
	t.Helper()
	src := strings.Replace(string(tariff.Sample()), "id = \"cp24-adult\"\n", "id = \"cp24-adult\"\noffline = { max_staleness = \"30m\", when_stale = \"deny\" }\n", 1)
	require.NotEqual(t, string(tariff.Sample()), src)
	tt, err := tariff.Load("offline.toml", []byte(src))
	require.NoError(t, err)
	return tt
}

// putStateCursor stores a node's state cursor as its sync does.
func putStateCursor(t *testing.T, l *ledger.Ledger, c fleet.StateCursor) {
	t.Helper()
	b, err := json.Marshal(c)
	require.NoError(t, err)
	require.NoError(t, l.PutMeta(context.Background(), fleet.StateMeta, b))
}

// TestNodeStateAsOf: Open gives a node's Validator the state_as_of of the
// cursor its sync stores in the ledger, read at every tap; a hub's or a
// standalone data dir is never stale; a damaged cursor fails the tap; a
// source the caller gives wins.
func TestNodeStateAsOf(t *testing.T) {
	ctx := context.Background()
	creds, _, err := natsio.NewCredentials("bus-12", []string{"nats://127.0.0.1:4222"}, "")
	require.NoError(t, err)
	dir := filepath.Join(t.TempDir(), "node")
	l, err := datadir.InitNode(ctx, dir, "bus-12", nil, creds, nil)
	require.NoError(t, err)
	tt := offlineTariff(t)
	_, err = datadir.AddTariff(ctx, l, tt)
	require.NoError(t, err)
	c, err := datadir.ReadStateCursor(l)
	require.NoError(t, err)
	assert.Zero(t, c, "no cursor before the first sync")
	asOf := time.Date(2026, 11, 23, 10, 0, 0, 0, tt.Location)
	putStateCursor(t, l, fleet.StateCursor{HubEpoch: 7, StreamSeq: 40, Rev: 12, AsOf: asOf})
	require.NoError(t, l.Close())

	d, err := datadir.Open(ctx, dir, nil)
	require.NoError(t, err)
	c, err = datadir.ReadStateCursor(d.Ledger)
	require.NoError(t, err)
	assert.True(t, asOf.Equal(c.AsOf), "as of %s", c.AsOf)
	c.AsOf = asOf
	assert.Equal(t, fleet.StateCursor{HubEpoch: 7, StreamSeq: 40, Rev: 12, AsOf: asOf}, c)
	_, err = d.Validator.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04B20001", At: asOf.Add(-2 * time.Hour)})
	require.NoError(t, err)
	seq := uint64(0)
	tap := func(at time.Time) engine.Result {
		seq++
		res, err := d.Validator.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "bus-12", Seq: seq}, Card: "04B20001", Gate: "rtm-bus/12", At: at})
		require.NoError(t, err)
		return res
	}
	assert.True(t, tap(asOf.Add(30*time.Minute)).Decision.Accept, "exactly max_staleness")
	assert.Equal(t, engine.ReasonStale, tap(asOf.Add(30*time.Minute+time.Nanosecond)).Decision.Reason)
	// The sync brings newer state: the next tap reads it.
	putStateCursor(t, d.Ledger, fleet.StateCursor{HubEpoch: 7, StreamSeq: 41, Rev: 12, AsOf: asOf.Add(time.Hour)})
	assert.True(t, tap(asOf.Add(time.Hour+time.Minute)).Decision.Accept)
	// A damaged cursor: the tap is an ERROR, the gate stays shut.
	require.NoError(t, d.Ledger.PutMeta(ctx, fleet.StateMeta, []byte("{not json")))
	_, err = d.Validator.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "bus-12", Seq: 99}, Card: "04B20001", Gate: "rtm-bus/12", At: asOf.Add(2 * time.Hour)})
	require.ErrorIs(t, err, ledger.ErrCorrupt)
	_, err = datadir.ReadStateCursor(d.Ledger)
	require.ErrorIs(t, err, ledger.ErrCorrupt)
	putStateCursor(t, d.Ledger, fleet.StateCursor{HubEpoch: 7, AsOf: asOf})
	require.NoError(t, d.Close())

	// A source given by the caller (a running node's live cursor) wins.
	live := asOf.Add(24 * time.Hour)
	d, err = datadir.Open(ctx, dir, &datadir.Options{Engine: &engine.Options{StateAsOf: func() (time.Time, error) { return live, nil }}})
	require.NoError(t, err)
	assert.True(t, tap(live.Add(29*time.Minute)).Decision.Accept)
	require.NoError(t, d.Close())

	// The same ledger as a standalone data dir: never stale.
	l, err = datadir.OpenLedger(ctx, dir, nil)
	require.NoError(t, err)
	require.NoError(t, datadir.WriteIdentity(ctx, l, datadir.Identity{Role: fleet.Standalone}))
	require.NoError(t, l.Close())
	d, err = datadir.Open(ctx, dir, nil)
	require.NoError(t, err)
	defer d.Close()
	assert.True(t, tap(asOf.Add(20*time.Hour)).Decision.Accept, "20 h after state_as_of")
}
