package ledger

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// recordStep stores record "r<i>" = "v<i>", rewrites the counter record
// "head" to i and posts "close/r<i>", in one UpdateRecords.
func recordStep(ctx context.Context, l *Ledger, i int) error {
	return l.UpdateRecords(ctx, func(get RecordGet, put RecordPut, post PostingPut) error {
		head, _, err := get("t", "head")
		if err != nil {
			return err
		}
		if n, _ := strconv.Atoi(string(head)); n != i-1 {
			return fmt.Errorf("head %q, want %d", head, i-1)
		}
		if err := put("t", fmt.Sprintf("r%03d", i), fmt.Appendf(nil, "v%d", i)); err != nil {
			return err
		}
		if err := put("t", "head", []byte(strconv.Itoa(i))); err != nil {
			return err
		}
		return post(engine.Posting{ID: fmt.Sprintf("close/r%03d", i), Kind: "statement", Lines: []engine.PostingLine{
			{Account: "partner_cost:x", DebitMinor: int64(i)}, {Account: "partner_payable:x", CreditMinor: int64(i)}}})
	})
}

// verifyRecords checks a reopened ledger: records r1..rN, the head at N and
// the postings close/r1..N all agree (no half transaction), N >= acked, and
// Check is clean. It returns N.
func verifyRecords(l *Ledger, acked int) (int, error) {
	ctx := context.Background()
	head, _, err := l.Record("t", "head")
	if err != nil {
		return 0, err
	}
	n, _ := strconv.Atoi(string(head))
	if n < acked {
		return n, fmt.Errorf("head %d, but %d updates were acknowledged", n, acked)
	}
	recs := 0
	if err := l.Records(ctx, "t", func(id string, v []byte) error {
		if id != "head" {
			recs++
		}
		return nil
	}); err != nil {
		return n, err
	}
	posts := 0
	if err := l.Postings(ctx, func(*engine.Posting) error { posts++; return nil }); err != nil {
		return n, err
	}
	if recs != n || posts != n {
		return n, fmt.Errorf("head %d, %d records, %d postings: a transaction was split", n, recs, posts)
	}
	rep, err := Check(l)
	if err != nil {
		return n, err
	}
	if !rep.OK() {
		return n, fmt.Errorf("check: %v", rep.Problems)
	}
	return n, nil
}

// TestRecordsCrash takes crash clones at seeded points of a run of
// UpdateRecords: each reopens with every acknowledged update, whole, and
// its postings with it (seed printed for replay).
func TestRecordsCrash(t *testing.T) {
	for seed := uint64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		fs := vfs.NewCrashableMem()
		l, err := Open("/ledger", &Options{FS: fs, Now: func() time.Time { return wlEpoch }})
		require.NoError(t, err)
		ctx := context.Background()
		total := 5 + rng.IntN(20)
		at := rng.IntN(total + 1) // updates acknowledged before the clone
		var clone *vfs.MemFS
		cfg := vfs.CrashCloneCfg{}
		if seed%2 == 1 {
			cfg = vfs.CrashCloneCfg{UnsyncedDataPercent: 1 + rng.IntN(100), RNG: rand.New(rand.NewPCG(seed, 8))}
		}
		for i := 1; i <= total; i++ {
			if i-1 == at {
				clone = fs.CrashClone(cfg)
			}
			require.NoError(t, recordStep(ctx, l, i), "seed %d", seed)
		}
		if clone == nil {
			clone = fs.CrashClone(cfg)
		}
		require.NoError(t, l.Close())
		r, err := Open("/ledger", &Options{FS: clone, Now: func() time.Time { return wlEpoch }})
		require.NoError(t, err, "seed %d", seed)
		_, err = verifyRecords(r, at)
		require.NoError(t, err, "seed %d: crash after %d of %d updates", seed, at, total)
		require.NoError(t, r.Close())
	}
}

// TestRecordsWALFault fails the WAL's sync in the middle of a run of
// UpdateRecords: the failing update returns an error, the ledger fails
// stop, and the crash image reopens with every acknowledged update whole.
func TestRecordsWALFault(t *testing.T) {
	for _, after := range []int{1, 4, 9} {
		t.Run(fmt.Sprint("after-", after), func(t *testing.T) {
			mem := vfs.NewCrashableMem()
			inj := &toggleInjector{pred: func(op errorfs.Op) bool { return isWAL(op) && op.Kind == errorfs.OpFileSyncData },
				err: func(errorfs.Op) error { return errorfs.ErrInjected }}
			l, err := Open("/ledger", &Options{FS: errorfs.Wrap(mem, inj), Now: func() time.Time { return wlEpoch },
				Logger: &captureLogger{}})
			require.NoError(t, err)
			ctx := context.Background()
			var acked atomic.Int64
			var failed error
			for i := 1; i <= 12; i++ {
				if i == after+1 {
					inj.on.Store(true)
				}
				if err := recordStep(ctx, l, i); err != nil {
					failed = err
					break
				}
				acked.Store(int64(i))
			}
			require.Error(t, failed, "the faulted sync fails the update")
			require.ErrorIs(t, recordStep(ctx, l, int(acked.Load())+1), ErrFailed, "fail-stop after the fault")
			_ = l.Close()
			r, err := Open("/ledger", &Options{FS: mem.CrashClone(vfs.CrashCloneCfg{}), Now: func() time.Time { return wlEpoch }})
			require.NoError(t, err)
			defer r.Close()
			_, err = verifyRecords(r, int(acked.Load()))
			require.NoError(t, err)
		})
	}
}
