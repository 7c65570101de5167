package ledger

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// TestReadersNeverSeeUnsyncedWrites holds a WAL sync open while a tap
// commits: Pebble already shows the tap to a raw read (visibility before
// durability), but View, Journal, LastJournalSeq and DeviceHighWater do not,
// and the Update has not returned. Once the sync completes, all see it.
func TestReadersNeverSeeUnsyncedWrites(t *testing.T) {
	// A lone tap commits inline (pebble.Sync on the writer); with
	// alwaysPipeline it goes through the syncer's WAL barrier.
	for _, pipelined := range []bool{false, true} {
		t.Run(map[bool]string{false: "inline", true: "pipelined"}[pipelined], func(t *testing.T) {
			readersNeverSeeUnsynced(t, pipelined)
		})
	}
}

func readersNeverSeeUnsynced(t *testing.T, pipelined bool) {
	ctx := context.Background()
	var hold atomic.Bool
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if hold.Load() && isWAL(op) && op.Kind == errorfs.OpFileSyncData {
			select {
			case entered <- struct{}{}:
				<-release
			default:
			}
		}
		return nil
	})
	l, err := Open("/ledger", &Options{FS: errorfs.Wrap(vfs.NewMem(), inj), alwaysPipeline: pipelined})
	require.NoError(t, err)
	defer l.Close()
	require.NoError(t, wlSetup(ctx, l, 2))

	tap := wlTap("d", 1, 0, 2)
	hold.Store(true)
	done := make(chan error, 1)
	go func() {
		var res wlResult
		done <- l.Update(ctx, wlTxn(tap, wlLimit, &res))
	}()
	<-entered
	// Wait (bounded) until Pebble publishes the batch to raw readers.
	visible := false
	for i := 0; i < 1_000_000 && !visible; i++ {
		_, closer, err := l.db.Get(journalKey(1))
		if err == nil {
			_ = closer.Close()
			visible = true
		} else {
			require.True(t, errors.Is(err, pebble.ErrNotFound))
			runtime.Gosched()
		}
	}
	require.True(t, visible, "Pebble shows the unsynced batch to raw readers")

	require.NoError(t, l.View(ctx, func(r engine.Reader) error {
		_, ok, err := r.Tap(tap.ID)
		assert.False(t, ok, "View sees an unsynced tap")
		return err
	}))
	n := 0
	require.NoError(t, l.Journal(ctx, 0, func(*engine.TapRecord) error { n++; return nil }))
	assert.Zero(t, n)
	seq, err := l.LastJournalSeq()
	require.NoError(t, err)
	assert.Zero(t, seq)
	hw, err := l.DeviceHighWater("d")
	require.NoError(t, err)
	assert.Zero(t, hw)
	select {
	case err := <-done:
		t.Fatalf("Update returned before its sync: %v", err)
	default:
	}

	hold.Store(false)
	close(release)
	require.NoError(t, <-done)
	require.NoError(t, l.View(ctx, func(r engine.Reader) error {
		_, ok, err := r.Tap(tap.ID)
		assert.True(t, ok)
		return err
	}))
	seq, err = l.LastJournalSeq()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), seq)
}
