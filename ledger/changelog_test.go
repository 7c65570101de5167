package ledger

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// TestChangesReadsWhatPointReadsRead: Changes hands out every revision
// from its start, in order, each with the keys its change record lists and
// their current values as a point read of the store returns them (a record
// changed by several revisions has its newest value in each), whether the
// revisions come from memory, from the store in one pass or in several, or
// some from each (the memory keeps only the newest).
func TestChangesReadsWhatPointReadsRead(t *testing.T) {
	for _, kept := range []string{"all", "newest", "none"} {
		t.Run("kept-"+kept, func(t *testing.T) { testChangesRead(t, kept) })
	}
}

func testChangesRead(t *testing.T, kept string) {
	ctx := context.Background()
	defer func(n int) { recentChangesBytes = n }(recentChangesBytes)
	if kept == "newest" {
		recentChangesBytes = 400 // a few of the revisions below
	}
	l := openMemWith(t, vfs.NewMem(), &Options{ChangeLog: true})
	defer l.Close()
	if kept == "none" {
		l.recent = nil
	}
	require.NoError(t, wlSetup(ctx, l, 12))
	for i := range 9 {
		require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
			for _, c := range []int{i % 12, (3*i + 1) % 12, 11 - i} {
				card, _, err := tx.Card(wlCard(c))
				if err != nil {
					return err
				}
				card.LastCounter, card.HasCounter = uint32(10*i+c), true
				if err := tx.PutCard(card); err != nil {
					return err
				}
				u, err := tx.Usage(wlPass(c))
				if err != nil {
					return err
				}
				u.Add(engine.Visit{Tap: engine.TapID{Device: "d", Seq: uint64(100*i + c)}, At: wlEpoch.Add(time.Duration(i) * time.Minute), Venue: "MUSEUM", Gate: "MUSEUM/G1"})
				if err := tx.PutUsage(wlPass(c), u); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	last, err := l.LastRev()
	require.NoError(t, err)
	require.Equal(t, uint64(10), last)
	switch inMemory, _ := l.recent.changes(1, 0); kept {
	case "all":
		require.Len(t, inMemory, 10)
	case "newest":
		_, ok := l.recent.changes(last, 0)
		require.True(t, ok)
		require.Empty(t, inMemory, "revision 1 read from the store")
	}

	// want: each revision's keys from its change record, values by point reads.
	want := map[uint64][]StateItem{}
	for rev := uint64(1); rev <= last; rev++ {
		k := changeKey(rev)
		v, closer, err := l.db.Get(k)
		require.NoError(t, err)
		keys, err := decodeChange(k, v)
		require.NoError(t, closer.Close())
		require.NoError(t, err)
		for _, sk := range keys {
			it := StateItem{Kind: StateKind(sk[0]), ID: string(sk[1:])}
			if val, closer, err := l.db.Get(sk); err == nil {
				it.Value = bytes.Clone(val)
				require.NoError(t, closer.Close())
			} else {
				require.ErrorIs(t, err, pebble.ErrNotFound)
			}
			want[rev] = append(want[rev], it)
		}
	}
	defer func(n int) { changesReadMax = n }(changesReadMax)
	for _, readMax := range []int{1 << 16, 1, 5, 40} {
		for _, from := range []uint64{1, 4, 10, 11} {
			for _, most := range []int{0, 1, 3} {
				t.Run(fmt.Sprintf("read-%d/from-%d/max-%d", readMax, from, most), func(t *testing.T) {
					changesReadMax = readMax
					next := from
					require.NoError(t, l.Changes(ctx, from, most, func(c *Change) error {
						require.Equal(t, next, c.Rev)
						assert.Equal(t, want[c.Rev], c.Items)
						next++
						return nil
					}))
					end := last + 1
					if most > 0 {
						end = min(end, from+uint64(most))
					}
					assert.Equal(t, max(end, from), next, "revisions handed out")
				})
			}
		}
	}
	stop := fmt.Errorf("stop")
	n := 0
	assert.ErrorIs(t, l.Changes(ctx, 1, 0, func(*Change) error {
		if n++; n == 2 {
			return stop
		}
		return nil
	}), stop)
	assert.Equal(t, 2, n, "fn's error ends Changes")
}

// TestChangesFollowWrites: a reader that takes revisions in order while
// transactions commit, from memory or the store as they come, misses none
// and ends holding every changed record as the store holds it.
func TestChangesFollowWrites(t *testing.T) {
	ctx := context.Background()
	defer func(n int) { recentChangesBytes = n }(recentChangesBytes)
	recentChangesBytes = 3000
	l := openMemWith(t, vfs.NewMem(), &Options{ChangeLog: true})
	defer l.Close()
	const cards = 20
	require.NoError(t, wlSetup(ctx, l, cards))
	done := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := range 60 {
				assert.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
					c := rng.IntN(cards)
					card, _, err := tx.Card(wlCard(c))
					if err != nil {
						return err
					}
					card.LastCounter, card.HasCounter = card.LastCounter+1, true
					if err := tx.PutCard(card); err != nil {
						return err
					}
					u, err := tx.Usage(wlPass(c))
					if err != nil {
						return err
					}
					u.Add(engine.Visit{Tap: engine.TapID{Device: fmt.Sprint("w", w), Seq: uint64(i + 1)}, At: wlEpoch.Add(time.Duration(i) * time.Minute), Venue: "ZOO", Gate: "ZOO/G1"})
					return tx.PutUsage(wlPass(c), u)
				}))
			}
		})
	}
	go func() { wg.Wait(); close(done) }()
	held := map[string][]byte{}
	next := uint64(1)
	for finished := false; ; {
		select {
		case <-done:
			finished = true
		default:
		}
		require.NoError(t, l.Changes(ctx, next, 7, func(c *Change) error {
			require.Equal(t, next, c.Rev, "revisions in order, none missed")
			for _, it := range c.Items {
				held[string(append([]byte{byte(it.Kind)}, it.ID...))] = it.Value
			}
			next++
			return nil
		}))
		last, err := l.LastRev()
		require.NoError(t, err)
		if finished && next > last {
			require.Equal(t, uint64(1+4*60), last)
			break
		}
	}
	require.Len(t, held, 3*cards, "every pass, card and usage")
	for k, v := range held {
		got, closer, err := l.db.Get([]byte(k))
		require.NoError(t, err)
		assert.Equal(t, got, v, "%s", describeKey([]byte(k)))
		require.NoError(t, closer.Close())
	}
}
