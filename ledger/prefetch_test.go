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
	"github.com/citypass/citypass/fleet"
)

// TestPrefetchReadsTheSame: after Prefetch a transaction reads what it
// would have read without it: its own writes, its group's earlier writes
// (many read-modify-writes of one card and one usage at once, sharing
// commits, lose none), the writer cache's and the store's values, and
// absent records as absent.
func TestPrefetchReadsTheSame(t *testing.T) {
	for _, c := range []struct{ cache, orderedMin int }{
		{0, 1}, {-1, 1}, // the default writer cache and none, every key prefetched
		{0, prefetchOrderedMin}, // few keys left to point reads
	} {
		cache := c.cache
		t.Run(fmt.Sprintf("writer-cache-%d/ordered-min-%d", cache, c.orderedMin), func(t *testing.T) {
			setPrefetchOrderedMin(t, c.orderedMin)
			ctx := context.Background()
			l, err := Open("/ledger", &Options{FS: vfs.NewMem(), Now: func() time.Time { return wlEpoch }, alwaysPipeline: true, WriterCacheBytes: cache})
			require.NoError(t, err)
			defer l.Close()
			require.NoError(t, wlSetup(ctx, l, wlCards))
			require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
				// Prefetched, then written: the write is read.
				require.NoError(t, tx.Prefetch([]string{wlPass(4)}, []string{wlCard(4)}, nil))
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
				require.NoError(t, tx.Prefetch([]string{wlPass(1), wlPass(2), "nope"}, []string{wlCard(2), "nope"}, nil))
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
						if err := tx.Prefetch([]string{wlPass(3)}, []string{wlCard(3)}, nil); err != nil {
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

// TestPrefetchTapIDs: a prefetched tap id reads as the store holds it (a
// journaled tap, an absent one), and a tap the transaction journals after
// the prefetch reads as journaled and conflicts with a second one.
func TestPrefetchTapIDs(t *testing.T) {
	setPrefetchOrderedMin(t, 1)
	ctx := context.Background()
	l := openMem(t, vfs.NewMem())
	defer l.Close()
	rec := func(seq uint64) (engine.TapRecord, fleet.Origin) {
		return foreignTap(engine.TapID{Device: "n-g", Seq: seq}, seq)
	}
	held, o := rec(1)
	require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error { return tx.PutForeignTap(&held, o) }))
	require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
		id1, id2 := engine.TapID{Device: "n-g", Seq: 1}, engine.TapID{Device: "n-g", Seq: 2}
		require.NoError(t, tx.Prefetch(nil, nil, []engine.TapID{id2, id1, id1, {Device: "other", Seq: 1}}))
		got, ok, err := tx.Tap(id1)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, held, got)
		_, ok, err = tx.Tap(id2)
		require.NoError(t, err)
		assert.False(t, ok)
		r2, o2 := rec(2)
		require.NoError(t, tx.PutForeignTap(&r2, o2))
		got, ok, err = tx.Tap(id2)
		require.NoError(t, err)
		require.True(t, ok)
		assert.Equal(t, r2, got)
		again, o2 := rec(2)
		o2.NodeSeq = 3
		assert.ErrorIs(t, tx.PutForeignTap(&again, o2), ErrTapConflict)
		first, o1 := rec(1)
		o1.NodeSeq = 4
		assert.ErrorIs(t, tx.PutForeignTap(&first, o1), ErrTapConflict)
		return nil
	}))
}

// TestPrefetchTapRuns: tap ids read as the store holds them whether their
// device's ids are read with one scan of their range (dense) or one by one
// (sparse), next to a device whose id extends another's.
func TestPrefetchTapRuns(t *testing.T) {
	setPrefetchOrderedMin(t, 1)
	ctx := context.Background()
	l := openMem(t, vfs.NewMem())
	defer l.Close()
	journaled := map[engine.TapID]bool{}
	require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
		for n, id := range []engine.TapID{{Device: "n-g", Seq: 1}, {Device: "n-g", Seq: 5}, {Device: "n-g2", Seq: 3},
			{Device: "n-h", Seq: 1}, {Device: "n-h", Seq: 900}} {
			r, o := foreignTap(id, uint64(n+1))
			if err := tx.PutForeignTap(&r, o); err != nil {
				return err
			}
			journaled[id] = true
		}
		return nil
	}))
	var want []engine.TapID
	for s := uint64(1); s <= 10; s++ {
		want = append(want, engine.TapID{Device: "n-g", Seq: s})
	}
	want = append(want, engine.TapID{Device: "n-h", Seq: 5000}, engine.TapID{Device: "n-h", Seq: 900}, engine.TapID{Device: "n-h", Seq: 1},
		engine.TapID{Device: "n-g2", Seq: 3}, engine.TapID{Device: "n-g2", Seq: 4})
	runs := tapRuns(want)
	require.Len(t, runs, 3)
	assert.True(t, runs[0].dense(), "n-g")
	assert.False(t, runs[2].dense(), "n-h")
	require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
		require.NoError(t, tx.Prefetch(nil, nil, want))
		for _, id := range want {
			got, ok, err := tx.Tap(id)
			require.NoError(t, err)
			require.Equal(t, journaled[id], ok, "tap %s", id)
			if ok {
				assert.Equal(t, id, got.ID)
			}
		}
		return nil
	}))
}

// foreignTap is a node's denied tap id, uploaded as node "n"'s record
// nodeSeq.
func foreignTap(id engine.TapID, nodeSeq uint64) (engine.TapRecord, fleet.Origin) {
	return engine.TapRecord{Tap: engine.Tap{ID: id, Card: "05AA", Gate: "g", At: wlEpoch}, RecordedAt: wlEpoch,
			Decision: engine.Decision{Reason: engine.ReasonInvalid}},
		fleet.Origin{Node: "n", Epoch: 1, NodeSeq: nodeSeq, NodeRecordedAt: wlEpoch, UploadedAt: wlEpoch}
}

// setPrefetchOrderedMin sets prefetchOrderedMin for the test.
func setPrefetchOrderedMin(t *testing.T, n int) {
	old := prefetchOrderedMin
	prefetchOrderedMin = n
	t.Cleanup(func() { prefetchOrderedMin = old })
}

// TestPrefetchReadsOnlyWhatPaysOff: Prefetch reads nothing for fewer than
// prefetchOrderedMin keys (they go to point reads) and skips tap ids above
// their device's known high-water mark; a large set it reads in order. The
// reads answer the same in every case.
func TestPrefetchReadsOnlyWhatPaysOff(t *testing.T) {
	ctx := context.Background()
	l := openMem(t, vfs.NewMem())
	defer l.Close()
	require.NoError(t, wlSetup(ctx, l, wlCards))
	held, o := foreignTap(engine.TapID{Device: "n-g", Seq: 1}, 1)
	require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error { return tx.PutForeignTap(&held, o) }))
	var newTaps []engine.TapID
	for s := uint64(2); s < uint64(2+2*prefetchOrderedMin); s++ {
		newTaps = append(newTaps, engine.TapID{Device: "n-g", Seq: s})
	}
	var many []string
	for i := range prefetchOrderedMin {
		many = append(many, fmt.Sprintf("absent-%03d", i))
	}
	for _, c := range []struct {
		name     string
		passes   []string
		taps     []engine.TapID
		wantRead bool
	}{
		{"a few keys", []string{wlPass(1), wlPass(2)}, nil, false},
		{"new tap ids only", nil, newTaps, false},
		{"a few keys and new tap ids", []string{wlPass(1)}, append([]engine.TapID{held.ID}, newTaps...), false},
		{"many keys", append([]string{wlPass(1)}, many...), newTaps, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
				in := tx.(*txn)
				// The writer cache may hold the passes from wlSetup: without
				// it every key goes to the store.
				clear(in.l.cache.m)
				in.l.cache.size = 0
				require.NoError(t, tx.Prefetch(c.passes, nil, c.taps))
				assert.Equal(t, c.wantRead, len(in.pre) > 0, "prefetched %d keys", len(in.pre))
				for _, id := range newTaps {
					_, pre := in.pre[string(tapIDKey(id.Device, id.Seq))]
					assert.False(t, pre, "tap %s above the mark prefetched", id)
				}
				for _, id := range c.passes {
					p, ok, err := tx.Pass(id)
					require.NoError(t, err)
					if id == wlPass(1) || id == wlPass(2) {
						require.True(t, ok, id)
						assert.Equal(t, id, p.ID)
					} else {
						assert.False(t, ok, id)
					}
				}
				for _, id := range c.taps {
					got, ok, err := tx.Tap(id)
					require.NoError(t, err)
					assert.Equal(t, id == held.ID, ok, "tap %s", id)
					if ok {
						assert.Equal(t, held, got)
					}
				}
				return nil
			}))
		})
	}
}
