package ledger

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// The writer cache keeps cards and passes decoded and hands out copies: what
// a transaction does to a value it read or put must not reach the cache, and
// every write replaces the cached value, decoded form included. The sizes
// cover the default cache, one too small to keep anything for long (emptied
// on almost every put) and none.
func TestWriterCacheHandsOutCopies(t *testing.T) {
	// Each call builds the values afresh: nothing shared with what the
	// ledger was given or returned.
	wantCard := func(counter uint32, passes ...string) engine.Card {
		return engine.Card{UID: "04A1", Passes: passes, LastCounter: counter, HasCounter: true}
	}
	wantPass := func(status engine.PassStatus) engine.Pass {
		return engine.Pass{ID: "P2", Card: "04A1", Cards: []string{"04A0", "04A1"}, Product: "cp24", Status: status}
	}
	for _, size := range []int{0, 64, -1} {
		ctx := context.Background()
		l, err := Open("/ledger", &Options{FS: vfs.NewMem(), WriterCacheBytes: size})
		require.NoError(t, err)
		update := func(fn func(tx engine.Txn) error) { require.NoError(t, l.Update(ctx, fn)) }
		read := func() (engine.Card, engine.Pass) {
			var c engine.Card
			var p engine.Pass
			update(func(tx engine.Txn) error {
				var ok bool
				var err error
				c, ok, err = tx.Card("04A1")
				require.NoError(t, err)
				require.True(t, ok)
				p, ok, err = tx.Pass("P2")
				require.NoError(t, err)
				require.True(t, ok)
				return nil
			})
			return c, p
		}

		update(func(tx engine.Txn) error {
			card, pass := wantCard(1, "P1", "P2"), wantPass(engine.PassSold)
			require.NoError(t, tx.PutCard(card))
			require.NoError(t, tx.PutPass(pass))
			// The caller goes on using its values after putting them.
			card.Passes[0], pass.Cards[0] = "changed-after-put", "changed-after-put"
			return nil
		})
		for i := 0; i < 3; i++ { // the first read may decode; later ones are served decoded
			c, p := read()
			assert.Equal(t, wantCard(1, "P1", "P2"), c, "cache size %d, read %d", size, i)
			assert.Equal(t, wantPass(engine.PassSold), p, "cache size %d, read %d", size, i)
			// The engine may modify what it read in place.
			c.Passes[0], c.LastCounter = "changed-after-read", 99
			p.Cards[0], p.Product = "changed-after-read", "other"
		}

		// A write replaces the cached value and its decoded form, within
		// the transaction that wrote it and after.
		update(func(tx engine.Txn) error {
			require.NoError(t, tx.PutCard(wantCard(2, "P1", "P2", "P3")))
			require.NoError(t, tx.PutPass(wantPass(engine.PassActive)))
			c, _, err := tx.Card("04A1")
			require.NoError(t, err)
			assert.Equal(t, wantCard(2, "P1", "P2", "P3"), c, "a transaction reads its own write")
			return nil
		})
		c, p := read()
		assert.Equal(t, wantCard(2, "P1", "P2", "P3"), c, "cache size %d", size)
		assert.Equal(t, wantPass(engine.PassActive), p, "cache size %d", size)

		// The last of two writes of a key in one transaction is cached.
		update(func(tx engine.Txn) error {
			require.NoError(t, tx.PutCard(wantCard(3, "P9")))
			return tx.PutCard(wantCard(4, "P1", "P2", "P3"))
		})
		c, _ = read()
		assert.Equal(t, wantCard(4, "P1", "P2", "P3"), c, "cache size %d", size)

		// A failed transaction's writes never reach the cache.
		err = l.Update(ctx, func(tx engine.Txn) error {
			require.NoError(t, tx.PutCard(wantCard(77)))
			return assert.AnError
		})
		require.ErrorIs(t, err, assert.AnError)
		c, _ = read()
		assert.Equal(t, wantCard(4, "P1", "P2", "P3"), c, "cache size %d", size)
		require.NoError(t, l.Close())
	}
}

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
