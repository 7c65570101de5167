package ledger

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// Replaced read snapshots are released in batches (retireBatch), on the
// inline path of a lone gate and on the syncer's: however many commits, the
// store never holds more than a batch of them, and Close releases the rest.
func TestRetiredSnapshotsAreReleased(t *testing.T) {
	for _, pipeline := range []bool{false, true} {
		ctx := context.Background()
		l, err := Open("/ledger", &Options{FS: vfs.NewMem(), alwaysPipeline: pipeline})
		require.NoError(t, err)
		most := int64(0)
		for i := 0; i < 5*retireBatch+3; i++ {
			require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
				return tx.PutCard(engine.Card{UID: "04A1", LastCounter: uint32(i), HasCounter: true})
			}))
			most = max(most, int64(l.db.Metrics().Snapshots.Count))
		}
		// The published snapshot, up to a batch of retired ones, and one
		// group's snapshot not yet published.
		assert.LessOrEqual(t, most, int64(retireBatch+2), "pipeline %v", pipeline)
		assert.Greater(t, most, int64(1), "pipeline %v: snapshots are retired in batches", pipeline)
		require.NoError(t, l.Close())
	}
}
