package ledger

import (
	"context"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// fullDisk is an errorfs injector that, while on, fails every write of
// data with ENOSPC, as a full file system does (creating, renaming and
// removing files still work: they need no data blocks).
type fullDisk struct{ on atomic.Bool }

func (f *fullDisk) String() string { return "fullDisk" }
func (f *fullDisk) MaybeError(op errorfs.Op) error {
	if !f.on.Load() {
		return nil
	}
	switch op.Kind {
	case errorfs.OpFileWrite, errorfs.OpFileWriteAt, errorfs.OpFilePreallocate:
		return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC}
	}
	return nil
}

// within runs fn and fails the test if it does not end in d.
func within(t *testing.T, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); fn() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s did not end within %s", what, d)
	}
}

// TestDiskFullOnOpen fills the disk under a ledger whose WAL holds taps not
// yet flushed: a read-write Open gives a disk-full error within seconds
// (Pebble alone retries the recovered WAL's flush forever), a read-only
// Open reads everything, and once space is freed the ledger opens with
// every acknowledged tap and takes writes again.
func TestDiskFullOnOpen(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	disk := &fullDisk{}
	fs := errorfs.Wrap(mem, disk)
	l, err := Open("/ledger", &Options{FS: fs, Now: func() time.Time { return wlEpoch }})
	require.NoError(t, err)
	require.NoError(t, wlSetup(ctx, l, wlCards))
	acked := map[engine.TapID]engine.TapRecord{}
	for s := uint64(1); s <= 50; s++ {
		var res wlResult
		require.NoError(t, l.Update(ctx, wlTxn(wlTap("dev", s, 0, wlCards), wlLimit, &res)))
		acked[res.Rec.ID] = res.Rec
	}
	require.NoError(t, l.Close())

	disk.on.Store(true)
	within(t, 10*time.Second, "a read-write Open on a full disk", func() {
		_, err = Open("/ledger", &Options{FS: fs, MustExist: true, DiskFullRetry: 10 * time.Millisecond})
	})
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrDiskFull)
	assert.ErrorIs(t, err, syscall.ENOSPC)
	assert.Contains(t, err.Error(), "disk holding /ledger is full")

	within(t, 10*time.Second, "freeing space", func() {
		disk.on.Store(false)
		for {
			l, err = Open("/ledger", &Options{FS: fs, Now: func() time.Time { return wlEpoch }, DiskFullRetry: 10 * time.Millisecond})
			if err == nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
	require.NoError(t, wlVerify(l, acked, nil))
	var res wlResult
	require.NoError(t, l.Update(ctx, wlTxn(wlTap("dev", 51, 0, wlCards), wlLimit, &res)), "writes work again")
	require.NoError(t, l.Close())
}

// TestDiskFullReadOnly: a read-only Open writes nothing, so it reads a
// ledger on a disk where every write fails, WAL tail included.
func TestDiskFullReadOnly(t *testing.T) {
	ctx := context.Background()
	mem := vfs.NewMem()
	disk := &fullDisk{}
	fs := errorfs.Wrap(mem, disk)
	l, err := Open("/ledger", &Options{FS: fs, Now: func() time.Time { return wlEpoch }})
	require.NoError(t, err)
	require.NoError(t, wlSetup(ctx, l, wlCards))
	acked := map[engine.TapID]engine.TapRecord{}
	for s := uint64(1); s <= 30; s++ {
		var res wlResult
		require.NoError(t, l.Update(ctx, wlTxn(wlTap("dev", s, 0, wlCards), wlLimit, &res)))
		acked[res.Rec.ID] = res.Rec
	}
	require.NoError(t, l.Close())
	disk.on.Store(true)
	var ro *Ledger
	within(t, 10*time.Second, "a read-only Open on a full disk", func() {
		ro, err = Open("/ledger", &Options{FS: fs, ReadOnly: true})
	})
	require.NoError(t, err)
	defer ro.Close()
	rep, err := Check(ro)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 30, rep.Taps)
	for id, want := range acked {
		var got engine.TapRecord
		var ok bool
		require.NoError(t, ro.View(ctx, func(r engine.Reader) (err error) { got, ok, err = r.Tap(id); return err }))
		require.True(t, ok, "tap %s", id)
		assert.Equal(t, want.JournalSeq, got.JournalSeq)
	}
	var res wlResult
	assert.ErrorIs(t, ro.Update(ctx, wlTxn(wlTap("dev", 31, 0, wlCards), wlLimit, &res)), ErrReadOnly)
	assert.ErrorIs(t, ro.PutMeta(ctx, "k", []byte("v")), ErrReadOnly)
}

// TestDiskFullWhileRunning fills the disk under an open ledger: the next
// write fails at once with a disk-full error naming the directory, and so
// does every later one; nothing hangs.
func TestDiskFullWhileRunning(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	disk := &fullDisk{}
	fs := errorfs.Wrap(vfs.NewMem(), disk)
	l, err := Open("/ledger", &Options{FS: fs, Now: func() time.Time { return wlEpoch }})
	require.NoError(t, err)
	require.NoError(t, wlSetup(ctx, l, wlCards))
	disk.on.Store(true)
	for s := uint64(1); s <= 3; s++ {
		var res wlResult
		err := l.Update(ctx, wlTxn(wlTap("dev", s, 0, wlCards), wlLimit, &res))
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrDiskFull)
		assert.ErrorIs(t, err, ErrFailed)
		assert.NotErrorIs(t, err, context.DeadlineExceeded)
	}
	_ = l.Close()
}
