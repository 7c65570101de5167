package ledger

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// syncHolder is an injector that, once armed, holds the next WAL sync until
// released, then lets it succeed or fail (and fails every later WAL sync).
type syncHolder struct {
	armed   atomic.Bool
	failing atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func newSyncHolder() *syncHolder {
	return &syncHolder{entered: make(chan struct{}, 1), release: make(chan struct{})}
}

func (h *syncHolder) String() string { return "syncHolder" }
func (h *syncHolder) MaybeError(op errorfs.Op) error {
	if !isWAL(op) || op.Kind != errorfs.OpFileSyncData {
		return nil
	}
	if h.armed.Load() {
		select {
		case h.entered <- struct{}{}:
			<-h.release
		default:
		}
	}
	if h.failing.Load() {
		return errorfs.ErrInjected
	}
	return nil
}

// committed waits (bounded) until the raw database shows journal seq n:
// the writer has committed it, whether or not it is synced.
func committed(t *testing.T, l *Ledger, n uint64) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		_, closer, err := l.db.Get(journalKey(n))
		if err == nil {
			_ = closer.Close()
			return
		}
		require.True(t, errors.Is(err, pebble.ErrNotFound))
		runtime.Gosched()
	}
	t.Fatalf("journal seq %d never committed", n)
}

type pipelineRun struct {
	l                *Ledger
	a, b             engine.Tap
	resA, resB, resD wlResult
	doneA, doneB     chan error
	doneD            chan error
	dupRan           chan struct{}
}

// startPipeline commits tap a, holds its WAL sync open, and meanwhile has
// the writer run and commit tap b and a duplicate of a (which reads a's
// committed, unsynced record). Nothing is answered yet and no reader sees
// either tap.
func startPipeline(t *testing.T, fs vfs.FS, h *syncHolder) *pipelineRun {
	ctx := context.Background()
	l, err := Open("/ledger", &Options{FS: errorfs.Wrap(fs, h), Now: func() time.Time { return wlEpoch }, alwaysPipeline: true})
	require.NoError(t, err)
	require.NoError(t, wlSetup(ctx, l, wlCards))
	p := &pipelineRun{l: l, a: wlTap("a", 1, 0, wlCards), b: wlTap("b", 1, 0, wlCards),
		doneA: make(chan error, 1), doneB: make(chan error, 1), doneD: make(chan error, 1), dupRan: make(chan struct{})}

	h.armed.Store(true)
	go func() { p.doneA <- l.Update(ctx, wlTxn(p.a, wlLimit, &p.resA)) }()
	<-h.entered // a is committed; its sync is in flight and held
	h.armed.Store(false)

	go func() { p.doneB <- l.Update(ctx, wlTxn(p.b, wlLimit, &p.resB)) }()
	committed(t, l, 2) // the writer ran and committed b during a's sync
	go func() {
		fn := wlTxn(p.a, wlLimit, &p.resD)
		p.doneD <- l.Update(ctx, func(tx engine.Txn) error {
			defer close(p.dupRan)
			return fn(tx)
		})
	}()
	<-p.dupRan // the duplicate ran against a's unsynced record

	for _, ch := range []chan error{p.doneA, p.doneB, p.doneD} {
		select {
		case err := <-ch:
			t.Fatalf("answered before its sync: %v", err)
		default:
		}
	}
	require.NoError(t, l.View(ctx, func(r engine.Reader) error {
		for _, id := range []engine.TapID{p.a.ID, p.b.ID} {
			_, ok, err := r.Tap(id)
			if err != nil {
				return err
			}
			assert.False(t, ok, "View sees unsynced tap %s", id)
		}
		return nil
	}))
	seq, err := l.LastJournalSeq()
	require.NoError(t, err)
	assert.Zero(t, seq)
	return p
}

// TestPipelineRunsNextGroupDuringSync: while group N's WAL sync is in
// flight the writer executes and commits group N+1 (which sees N's writes),
// and nobody is answered or sees either until a sync covers them.
func TestPipelineRunsNextGroupDuringSync(t *testing.T) {
	ctx := context.Background()
	h := newSyncHolder()
	p := startPipeline(t, vfs.NewMem(), h)
	defer p.l.Close()

	close(h.release)
	require.NoError(t, <-p.doneA)
	require.NoError(t, <-p.doneB)
	require.NoError(t, <-p.doneD)
	assert.False(t, p.resA.Dup)
	assert.Equal(t, uint64(1), p.resA.Rec.JournalSeq)
	assert.Equal(t, uint64(2), p.resB.Rec.JournalSeq)
	assert.True(t, p.resD.Dup, "the duplicate found a's record")
	assert.Equal(t, p.resA.Rec.JournalSeq, p.resD.Rec.JournalSeq)
	assert.Equal(t, p.resA.Rec.Decision, p.resD.Rec.Decision)
	require.NoError(t, p.l.View(ctx, func(r engine.Reader) error {
		for _, id := range []engine.TapID{p.a.ID, p.b.ID} {
			_, ok, err := r.Tap(id)
			if err != nil {
				return err
			}
			assert.True(t, ok, "tap %s", id)
		}
		return nil
	}))
	seq, err := p.l.LastJournalSeq()
	require.NoError(t, err)
	assert.Equal(t, uint64(2), seq)
	rep, err := Check(p.l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
}

// TestPipelineSyncFailureFailsLaterGroups: group N's WAL sync fails while
// group N+1 (and a duplicate answered from N's record) already ran: none of
// them is acknowledged, the ledger fails, and the crash image holds none of
// them.
func TestPipelineSyncFailureFailsLaterGroups(t *testing.T) {
	ctx := context.Background()
	base := vfs.NewCrashableMem()
	h := newSyncHolder()
	p := startPipeline(t, base, h)

	h.failing.Store(true)
	close(h.release)
	for _, ch := range []chan error{p.doneA, p.doneB, p.doneD} {
		err := <-ch
		require.ErrorIs(t, err, ErrFailed)
		require.ErrorIs(t, err, errorfs.ErrInjected)
	}
	assert.ErrorIs(t, p.l.Err(), ErrFailed)
	var res wlResult
	assert.ErrorIs(t, p.l.Update(ctx, wlTxn(wlTap("c", 1, 0, wlCards), wlLimit, &res)), ErrFailed)
	assert.ErrorIs(t, p.l.View(ctx, func(engine.Reader) error { return nil }), ErrFailed)

	clone := base.CrashClone(vfs.CrashCloneCfg{})
	_ = p.l.Close() // reports the failure; must return
	l2, err := Open("/ledger", &Options{FS: clone, Now: func() time.Time { return wlEpoch }})
	require.NoError(t, err)
	defer l2.Close()
	none := func(engine.TapID) bool { return false }
	require.NoError(t, wlVerify(l2, nil, none), "no unsynced group survives")
	// The taps go through on the recovered ledger.
	require.NoError(t, l2.Update(ctx, wlTxn(p.a, wlLimit, &res)))
	assert.False(t, res.Dup)
}

// TestTapHighWaterMark: the writer skips the tap-id read only for a seq
// above every journaled seq of its device. Seqs arriving out of order,
// duplicates below the mark, a failed transaction that raised the mark,
// several taps of one device in one transaction, and a reopen (the mark is
// reloaded from the store) all keep exact duplicate detection.
func TestTapHighWaterMark(t *testing.T) {
	t.Run("tracked", func(t *testing.T) { highWaterMark(t, nil) })
	t.Run("map-full", func(t *testing.T) {
		// Two devices fill the map: a third is read, not tracked, and the
		// full map is emptied and refilled from the store between groups.
		highWaterMark(t, &Options{DeviceSeqsMax: 2})
	})
}

func highWaterMark(t *testing.T, o *Options) {
	ctx := context.Background()
	fs := vfs.NewMem()
	l := openMemWith(t, fs, o)
	require.NoError(t, wlSetup(ctx, l, wlCards))

	journaled := map[engine.TapID]uint64{}
	tap := func(l *Ledger, dev string, seq uint64, wantDup bool) {
		t.Helper()
		var res wlResult
		require.NoError(t, l.Update(ctx, wlTxn(wlTap(dev, seq, 0, wlCards), wlLimit, &res)))
		id := engine.TapID{Device: dev, Seq: seq}
		assert.Equal(t, wantDup, res.Dup, "tap %s", id)
		if wantDup {
			assert.Equal(t, journaled[id], res.Rec.JournalSeq, "tap %s", id)
		} else {
			journaled[id] = res.Rec.JournalSeq
		}
	}
	for _, s := range []uint64{5, 3, 4, 10, 7} {
		tap(l, "d", s, false)
	}
	for _, s := range []uint64{5, 3, 4, 10, 7} {
		tap(l, "d", s, true)
	}
	tap(l, "d", 11, false)
	tap(l, "e", 1, false)

	// A failed transaction raises the mark; the seqs below it still read.
	err := l.Update(ctx, func(tx engine.Txn) error {
		rec := engine.TapRecord{Tap: wlTap("d", 100, 0, wlCards)}
		if err := tx.PutTap(&rec); err != nil {
			return err
		}
		return errAbandon
	})
	require.ErrorIs(t, err, errAbandon)
	tap(l, "d", 50, false)
	tap(l, "d", 100, false)
	tap(l, "d", 50, true)

	// Several taps of one device in one transaction: the second write of a
	// seq is refused, and the transaction reads its own earlier tap.
	err = l.Update(ctx, func(tx engine.Txn) error {
		rec := engine.TapRecord{Tap: wlTap("f", 9, 0, wlCards)}
		if err := tx.PutTap(&rec); err != nil {
			return err
		}
		_, ok, err := tx.Tap(rec.ID)
		if err != nil {
			return err
		}
		assert.True(t, ok, "a transaction sees its own tap")
		again := engine.TapRecord{Tap: wlTap("f", 9, 0, wlCards)}
		assert.ErrorIs(t, tx.PutTap(&again), ErrTapConflict)
		return errAbandon
	})
	require.ErrorIs(t, err, errAbandon)

	require.NoError(t, l.Close())
	l = openMemWith(t, fs, o)
	defer l.Close()
	for id := range journaled {
		tap(l, id.Device, id.Seq, true)
	}
	tap(l, "d", 6, false)
	tap(l, "d", 101, false)
	tap(l, "f", 9, false)
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, len(journaled), rep.Taps)
}

// TestDeviceHighWaterInTxn: a transaction reads a device's high-water mark
// with everything committed, the earlier transactions of its group and its
// own taps included, whether the writer tracks the device or not (map
// full), so taps numbered from it (engine: Seq 0) never collide, also when
// many arrive at once and share commits.
func TestDeviceHighWaterInTxn(t *testing.T) {
	for _, full := range []bool{false, true} {
		t.Run(fmt.Sprintf("map-full-%v", full), func(t *testing.T) {
			o := &Options{FS: vfs.NewMem(), Now: func() time.Time { return wlEpoch }, alwaysPipeline: true}
			if full {
				o.DeviceSeqsMax = 1
			}
			ctx := context.Background()
			l, err := Open("/ledger", o)
			require.NoError(t, err)
			defer l.Close()
			require.NoError(t, wlSetup(ctx, l, wlCards))
			put := func(tx engine.Txn, dev string, seq uint64) error {
				rec := engine.TapRecord{Tap: wlTap(dev, seq, 0, wlCards)}
				return tx.PutTap(&rec)
			}
			require.NoError(t, l.Update(ctx, func(tx engine.Txn) error { return put(tx, "other", 1) }))
			require.NoError(t, l.Update(ctx, func(tx engine.Txn) error { return put(tx, "d", 5) }))
			require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
				hw, err := tx.DeviceHighWater("d")
				require.NoError(t, err)
				assert.Equal(t, uint64(5), hw)
				require.NoError(t, put(tx, "d", 6))
				hw, err = tx.DeviceHighWater("d")
				require.NoError(t, err)
				assert.Equal(t, uint64(6), hw, "the transaction's own tap counts")
				hw, err = tx.DeviceHighWater("new")
				require.NoError(t, err)
				assert.Equal(t, uint64(0), hw)
				return nil
			}))
			// Many numbering transactions at once: groups share commits.
			const n = 200
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					assert.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
						hw, err := tx.DeviceHighWater("d")
						if err != nil {
							return err
						}
						return put(tx, "d", hw+1)
					}))
				})
			}
			wg.Wait()
			hw, err := l.DeviceHighWater("d")
			require.NoError(t, err)
			assert.Equal(t, uint64(6+n), hw)
			rep, err := Check(l)
			require.NoError(t, err)
			assert.True(t, rep.OK(), "%v", rep.Problems)
			assert.Equal(t, 2+n+1, rep.Taps)
		})
	}
}
