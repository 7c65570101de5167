package ledger

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

// toggleInjector injects err into operations matching pred once on.
type toggleInjector struct {
	on   atomic.Bool
	pred func(op errorfs.Op) bool
	err  func(op errorfs.Op) error
	hits atomic.Int64
}

func (t *toggleInjector) String() string { return "toggleInjector" }
func (t *toggleInjector) MaybeError(op errorfs.Op) error {
	if !t.on.Load() || !t.pred(op) {
		return nil
	}
	t.hits.Add(1)
	return t.err(op)
}

type captureLogger struct {
	mu   sync.Mutex
	errs []string
}

func (c *captureLogger) Infof(string, ...any) {}
func (c *captureLogger) Errorf(format string, args ...any) {
	c.mu.Lock()
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

func isWAL(op errorfs.Op) bool { return filepath.Ext(op.Path) == ".log" }

// TestFaultWriteAndSync fails WAL writes, WAL syncs (OpFileSyncData) or
// the disk (ENOSPC on every write) in the middle of a concurrent tap
// workload: the failing commit and everything after it return an error
// matching ErrFailed (nothing hangs, nothing exits the process); the crash
// image of the disk reopens with every acknowledged tap, nothing abandoned,
// no half batch, and Check clean.
func TestFaultWriteAndSync(t *testing.T) {
	enospc := func(op errorfs.Op) error { return &os.PathError{Op: "write", Path: op.Path, Err: syscall.ENOSPC} }
	injected := func(errorfs.Op) error { return errorfs.ErrInjected }
	cases := []struct {
		name  string
		pred  func(op errorfs.Op) bool
		err   func(op errorfs.Op) error
		cause error
	}{
		{"wal-write", func(op errorfs.Op) bool {
			return isWAL(op) && (op.Kind == errorfs.OpFileWrite || op.Kind == errorfs.OpFileWriteAt)
		}, injected, nil},
		{"wal-syncdata", func(op errorfs.Op) bool { return isWAL(op) && op.Kind == errorfs.OpFileSyncData }, injected, nil},
		{"disk-full", func(op errorfs.Op) bool {
			return op.Kind.ReadOrWrite() == errorfs.OpIsWrite && op.Kind != errorfs.OpFileClose
		}, enospc, syscall.ENOSPC},
	}
	for _, tc := range cases {
		for _, after := range []int{0, 7, 40} {
			for _, pipelined := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/after-%d/pipelined-%v", tc.name, after, pipelined), func(t *testing.T) {
					faultRun(t, tc.pred, tc.err, tc.cause, after, pipelined)
				})
			}
		}
	}
}

func faultRun(t *testing.T, pred func(errorfs.Op) bool, mkErr func(errorfs.Op) error, cause error, after int, pipelined bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := vfs.NewCrashableMem()
	inj := &toggleInjector{pred: pred, err: mkErr}
	logger := &captureLogger{}
	var fatal atomic.Value
	l, err := Open("/ledger", &Options{FS: errorfs.Wrap(base, inj), Logger: logger,
		OnFatal: func(err error) { fatal.Store(err) }, Now: func() time.Time { return wlEpoch }, alwaysPipeline: pipelined})
	require.NoError(t, err)
	require.NoError(t, wlSetup(ctx, l, wlCards))

	const writers, perWriter = 4, 30
	var (
		mu     sync.Mutex
		acked  = map[engine.TapID]engine.TapRecord{}
		nAcked atomic.Int64
		errs   []error
	)
	if after == 0 {
		inj.on.Store(true)
	}
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dev := fmt.Sprintf("dev-%d", w)
			for s := 1; s <= perWriter; s++ {
				tap := wlTap(dev, uint64(s), 0, wlCards)
				var res wlResult
				err := l.Update(ctx, wlTxn(tap, wlLimit, &res))
				if err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
					continue // keep trying: every later write must fail too
				}
				mu.Lock()
				acked[tap.ID] = res.Rec
				mu.Unlock()
				if nAcked.Add(1) == int64(after) {
					inj.on.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	require.NotEmpty(t, errs, "an injected fault must surface")
	require.Positive(t, inj.hits.Load())
	for _, err := range errs {
		require.ErrorIs(t, err, ErrFailed)
		require.NotErrorIs(t, err, context.DeadlineExceeded, "a write hung")
	}
	if cause != nil {
		assert.ErrorIs(t, errs[0], cause, "the cause is kept: %v", errs[0])
	}
	assert.ErrorIs(t, l.Err(), ErrFailed)
	require.NotNil(t, fatal.Load(), "OnFatal called")
	logger.mu.Lock()
	assert.NotEmpty(t, logger.errs, "the failure is logged")
	logger.mu.Unlock()
	// Reads fail too: the ledger is stopped.
	assert.ErrorIs(t, l.View(ctx, func(engine.Reader) error { return nil }), ErrFailed)
	assert.LessOrEqual(t, int(nAcked.Load()), writers*perWriter)

	clone := base.CrashClone(vfs.CrashCloneCfg{})
	_ = l.Close() // may report the failure; must return
	l2, err := Open("/ledger", &Options{FS: clone, Now: func() time.Time { return wlEpoch }})
	require.NoError(t, err)
	defer l2.Close()
	allowed := func(id engine.TapID) bool { return id.Seq >= 1 && id.Seq <= perWriter }
	require.NoError(t, wlVerify(l2, acked, allowed))
	// The reopened ledger takes writes again.
	var res wlResult
	require.NoError(t, l2.Update(ctx, wlTxn(wlTap("after", 1, 0, wlCards), wlLimit, &res)))
}

// TestFaultReads injects random read errors into sstable reads while
// exporting, checking and deciding: an iterator error is returned (never a
// silently short export), and a decision whose reads fail is not journaled.
func TestFaultReads(t *testing.T) {
	ctx := context.Background()
	base := vfs.NewMem()
	l, err := Open("/ledger", &Options{FS: base, Now: func() time.Time { return wlEpoch }})
	require.NoError(t, err)
	require.NoError(t, wlSetup(ctx, l, wlCards))
	const total = 1500
	for s := 1; s <= total; s += 100 {
		require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
			for i := s; i < s+100; i++ {
				var res wlResult
				if err := wlTxn(wlTap("dev", uint64(i), 0, wlCards), wlLimit, &res)(tx); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(t, l.db.Flush())
	require.NoError(t, l.Close())

	var surfaced, complete int
	want := total
	for seed := int64(1); seed <= 12; seed++ {
		var on atomic.Bool
		counter := &errorfs.Counter{Injector: errorfs.InjectorFunc(func(op errorfs.Op) error {
			if on.Load() && filepath.Ext(op.Path) == ".sst" && op.Kind.ReadOrWrite() == errorfs.OpIsRead {
				return errorfs.ErrInjected.If(errorfs.Randomly(0.01, seed)).MaybeError(op)
			}
			return nil
		})}
		l, err := Open("/ledger", &Options{FS: errorfs.Wrap(base, counter), CacheSizeBytes: 1})
		require.NoError(t, err)
		on.Store(true)
		n := 0
		err = l.Journal(ctx, 0, func(*engine.TapRecord) error { n++; return nil })
		if err != nil {
			surfaced++
			assert.ErrorContains(t, err, "injected error")
		} else {
			assert.Equal(t, want, n, "seed %d: a journal export without error is complete", seed)
			complete++
		}
		if rep, err := Check(l); err == nil {
			assert.True(t, rep.OK(), "seed %d: %v", seed, rep.Problems)
			assert.Equal(t, want, rep.Taps, "seed %d: a check without error read everything", seed)
		} else {
			assert.ErrorContains(t, err, "injected error")
		}
		tap := wlTap("dev", total+uint64(seed), 0, wlCards)
		var res wlResult
		uerr := l.Update(ctx, wlTxn(tap, wlLimit, &res))
		on.Store(false)
		var found bool
		require.NoError(t, l.View(ctx, func(r engine.Reader) (err error) { _, found, err = r.Tap(tap.ID); return err }))
		if uerr != nil {
			assert.ErrorContains(t, uerr, "injected error")
			assert.False(t, found, "seed %d: a failed decision is not journaled", seed)
		} else {
			assert.True(t, found)
			want++
		}
		require.NoError(t, l.Close(), "seed %d", seed)
		if counter.Load() == 0 {
			t.Logf("seed %d injected nothing", seed)
		}
	}
	assert.Positive(t, surfaced, "some read errors surfaced")
	t.Logf("read faults: %d exports failed with the error, %d complete", surfaced, complete)
	// Without faults the ledger is whole.
	l, err = Open("/ledger", &Options{FS: base})
	require.NoError(t, err)
	defer l.Close()
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, want, rep.Taps)
}

// TestFaultOnOpen fails MANIFEST syncs while Open creates a store: Pebble
// reports it through Fatalf on Open's goroutine, and Open returns the error
// instead of exiting or hanging.
func TestFaultOnOpen(t *testing.T) {
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if strings.HasPrefix(filepath.Base(op.Path), "MANIFEST") && op.Kind == errorfs.OpFileSync {
			return errorfs.ErrInjected
		}
		return nil
	})
	done := make(chan error, 1)
	go func() {
		l, err := Open("/ledger", &Options{FS: errorfs.Wrap(vfs.NewMem(), inj)})
		if err == nil {
			_ = l.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		require.Error(t, err)
		assert.ErrorIs(t, err, ErrFailed)
		assert.Contains(t, err.Error(), "MANIFEST")
	case <-time.After(30 * time.Second):
		t.Fatal("Open hung after a fatal MANIFEST error")
	}
}

// bgFatalChildEnv makes the test binary a child that fails the MANIFEST
// write of a background flush (see TestFaultInBackground); its value says
// whether the child sets OnFatal ("exit") or not ("none").
const bgFatalChildEnv = "CITYPASS_LEDGER_BGFATAL_CHILD"

// bgFatalChild opens a ledger whose MANIFEST writes fail once on, and
// flushes: Pebble reports the failure through Fatalf on its flush
// goroutine. With mode "exit", OnFatal prints the error and exits 1, as a
// command would; with "none" the ledger's panic ends the process. It
// returns only if neither happened.
func bgFatalChild(mode string) error {
	ctx := context.Background()
	var on atomic.Bool
	inj := errorfs.InjectorFunc(func(op errorfs.Op) error {
		if on.Load() && strings.HasPrefix(filepath.Base(op.Path), "MANIFEST") && op.Kind.ReadOrWrite() == errorfs.OpIsWrite {
			return errorfs.ErrInjected
		}
		return nil
	})
	opts := &Options{FS: errorfs.Wrap(vfs.NewMem(), inj)}
	if mode == "exit" {
		opts.OnFatal = func(err error) {
			fmt.Fprintf(os.Stderr, "citypass: %v\n", err)
			os.Exit(1)
		}
	}
	l, err := Open("/ledger", opts)
	if err != nil {
		return err
	}
	if err := wlSetup(ctx, l, 2); err != nil {
		return err
	}
	on.Store(true)
	if err := l.db.Flush(); err != nil {
		return fmt.Errorf("flush returned %w", err)
	}
	return errors.New("flush returned without a fatal error")
}

// TestFaultInBackground fails the MANIFEST write of a flush, which Pebble
// reports through Fatalf on its own flush goroutine, where nothing can take
// an error: the process ends within a bounded time with the cause on
// stderr and a non-zero code, cleanly (exit 1, one line) when OnFatal
// exits, by the ledger's panic otherwise; it never hangs.
func TestFaultInBackground(t *testing.T) {
	for _, mode := range []string{"exit", "none"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), bgFatalChildEnv+"="+mode)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			require.NoError(t, ctx.Err(), "the child hung after a fatal background error")
			var ee *exec.ExitError
			require.ErrorAs(t, err, &ee, "the child ends with a non-zero code; stderr: %s", stderr.String())
			assert.Contains(t, stderr.String(), "MANIFEST")
			assert.Contains(t, stderr.String(), "fatal storage error")
			if mode == "exit" {
				assert.Equal(t, 1, ee.ExitCode())
				assert.Equal(t, 1, strings.Count(strings.TrimSpace(stderr.String()), "\n")+1, "one line: %s", stderr.String())
			}
		})
	}
}
