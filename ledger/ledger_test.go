package ledger

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

func openMem(t testing.TB, fs vfs.FS) *Ledger { return openMemWith(t, fs, nil) }

// openMemWith opens the ledger in fs at /ledger with the workload clock and
// the options of o (FS and Now are set here).
func openMemWith(t testing.TB, fs vfs.FS, o *Options) *Ledger {
	t.Helper()
	opts := o.Clone()
	opts.FS, opts.Now = fs, func() time.Time { return wlEpoch }
	l, err := Open("/ledger", opts)
	require.NoError(t, err)
	return l
}

func TestTapRoundTripAndDuplicate(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	l := openMem(t, fs)
	require.NoError(t, wlSetup(ctx, l, wlCards))

	tap := wlTap("gate-1", 1, 0, wlCards)
	tap.Direction = engine.Entry
	var res wlResult
	require.NoError(t, l.Update(ctx, wlTxn(tap, wlLimit, &res)))
	assert.False(t, res.Dup)
	assert.Equal(t, uint64(1), res.Rec.JournalSeq)
	assert.True(t, res.Rec.RecordedAt.Equal(wlEpoch))

	var again wlResult
	require.NoError(t, l.Update(ctx, wlTxn(tap, wlLimit, &again)))
	assert.True(t, again.Dup)
	assert.Equal(t, res.Rec.Decision, again.Rec.Decision)
	assert.Equal(t, res.Rec.JournalSeq, again.Rec.JournalSeq)

	// PutTap refuses a journaled id whatever the content.
	err := l.Update(ctx, func(tx engine.Txn) error { rec := engine.TapRecord{Tap: tap}; return tx.PutTap(&rec) })
	assert.ErrorIs(t, err, ErrTapConflict)

	other := tap
	other.Gate = "ZOO/G9"
	err = l.Update(ctx, wlTxn(other, wlLimit, &again))
	assert.ErrorIs(t, err, errWLConflict)

	seq, err := l.LastJournalSeq()
	require.NoError(t, err)
	assert.Equal(t, uint64(1), seq)
	hw, err := l.DeviceHighWater("gate-1")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), hw)

	require.NoError(t, l.Close())
	l = openMem(t, fs)
	defer l.Close()
	require.NoError(t, l.View(ctx, func(r engine.Reader) error {
		got, ok, err := r.Tap(tap.ID)
		require.NoError(t, err)
		require.True(t, ok)
		assert.True(t, sameTap(got.Tap, tap))
		assert.Equal(t, res.Rec.Decision, got.Decision)
		u, err := r.Usage(res.Rec.Pass)
		require.NoError(t, err)
		assert.Equal(t, 1, u.VenueEntries(res.Rec.Venue))
		return nil
	}))
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 1, rep.Taps)
}

func TestFailedTxnDropsOnlyItsWrites(t *testing.T) {
	ctx := context.Background()
	l := openMem(t, vfs.NewMem())
	defer l.Close()
	require.NoError(t, wlSetup(ctx, l, 2))
	boom := errors.New("boom")
	errs := make(chan error, 3)
	// Queue three transactions so they share a group: the middle one fails
	// after writing.
	start := make(chan struct{})
	for i := uint64(1); i <= 3; i++ {
		go func() {
			<-start
			errs <- l.Update(ctx, func(tx engine.Txn) error {
				var res wlResult
				if err := wlTxn(wlTap("d", i, 0, 2), wlLimit, &res)(tx); err != nil {
					return err
				}
				if i == 2 {
					return boom
				}
				return nil
			})
		}()
	}
	close(start)
	var failed int
	for range 3 {
		if err := <-errs; err != nil {
			require.ErrorIs(t, err, boom)
			failed++
		}
	}
	assert.Equal(t, 1, failed)
	var ids []engine.TapID
	var seqs []uint64
	require.NoError(t, l.Journal(ctx, 0, func(r *engine.TapRecord) error {
		ids = append(ids, r.ID)
		seqs = append(seqs, r.JournalSeq)
		return nil
	}))
	assert.ElementsMatch(t, []engine.TapID{{Device: "d", Seq: 1}, {Device: "d", Seq: 3}}, ids)
	assert.Equal(t, []uint64{1, 2}, seqs, "journal seqs stay gap-free")
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
}
