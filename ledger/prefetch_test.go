package ledger

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// TestPrefetchReadsTheSame: after Prefetch a transaction reads what it
// would have read without it: its own writes, its group's earlier writes
// (many read-modify-writes of one card and one usage at once, sharing
// commits, lose none), the writer cache's and the store's values, and
// absent records as absent.
func TestPrefetchReadsTheSame(t *testing.T) {
	for _, cache := range []int{0, -1} { // the default writer cache, and none
		t.Run(fmt.Sprintf("writer-cache-%d", cache), func(t *testing.T) {
			ctx := context.Background()
			l, err := Open("/ledger", &Options{FS: vfs.NewMem(), Now: func() time.Time { return wlEpoch }, alwaysPipeline: true, WriterCacheBytes: cache})
			require.NoError(t, err)
			defer l.Close()
			require.NoError(t, wlSetup(ctx, l, wlCards))
			require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
				// Prefetched, then written: the write is read.
				require.NoError(t, tx.Prefetch([]string{wlPass(4)}, []string{wlCard(4)}))
				c4 := engine.Card{UID: wlCard(4), Passes: []string{wlPass(4)}, LastCounter: 9, HasCounter: true}
				require.NoError(t, tx.PutCard(c4))
				got4, ok, err := tx.Card(wlCard(4))
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, c4, got4)
				p, ok, err := tx.Pass(wlPass(1))
				require.NoError(t, err)
				require.True(t, ok)
				p.Channel = "changed in this transaction"
				require.NoError(t, tx.PutPass(p))
				require.NoError(t, tx.Prefetch([]string{wlPass(1), wlPass(2), "nope"}, []string{wlCard(2), "nope"}))
				got, ok, err := tx.Pass(wlPass(1))
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, p, got)
				got, ok, err = tx.Pass(wlPass(2))
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, wlPass(2), got.ID)
				_, ok, err = tx.Pass("nope")
				require.NoError(t, err)
				assert.False(t, ok)
				c, ok, err := tx.Card(wlCard(2))
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, []string{wlPass(2)}, c.Passes)
				_, ok, err = tx.Card("nope")
				require.NoError(t, err)
				assert.False(t, ok)
				return nil
			}))
			const n = 300
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					assert.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
						if err := tx.Prefetch([]string{wlPass(3)}, []string{wlCard(3)}); err != nil {
							return err
						}
						c, _, err := tx.Card(wlCard(3))
						if err != nil {
							return err
						}
						c.LastCounter++
						c.HasCounter = true
						if err := tx.PutCard(c); err != nil {
							return err
						}
						u, err := tx.Usage(wlPass(3))
						if err != nil {
							return err
						}
						u.Add(engine.Visit{Tap: engine.TapID{Device: "d", Seq: uint64(i + 1)}, At: wlEpoch.Add(time.Duration(i) * time.Second), Venue: "v", Gate: "v/g"})
						return tx.PutUsage(wlPass(3), u)
					}))
				})
			}
			wg.Wait()
			require.NoError(t, l.View(ctx, func(r engine.Reader) error {
				c, _, err := r.Card(wlCard(3))
				require.NoError(t, err)
				assert.Equal(t, uint32(n), c.LastCounter, "no read-modify-write lost")
				u, err := r.Usage(wlPass(3))
				require.NoError(t, err)
				assert.Len(t, u.Visits, n)
				return nil
			}))
		})
	}
}
