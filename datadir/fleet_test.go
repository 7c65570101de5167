package datadir_test

import (
	"context"
	"path/filepath"
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
