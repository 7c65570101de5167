package ledger

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
)

// smallHub writes three uploads into hub ledger l: node n1 epoch 7 seqs
// 1-10, node n2 epoch 9 seqs 1-5 (seq 3 an alias of n1's tap 4), n1 seqs
// 11-14 (seq 12 an alias of n2's tap 2): 17 journaled records in four
// origin runs, 19 node seqs held.
func smallHub(t *testing.T, l *Ledger) {
	ctx := context.Background()
	at := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	upload := func(node string, epoch, first, last uint64, alias map[uint64]engine.TapID) {
		require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
			ne, _, err := tx.NodeEpoch(node, epoch)
			if err != nil {
				return err
			}
			ne.Node, ne.Epoch = node, epoch
			for s := first; s <= last; s++ {
				ne.HighWater = s
				if id, ok := alias[s]; ok {
					ne.Duplicates++
					if err := tx.PutAlias(node, epoch, s, id); err != nil {
						return err
					}
					continue
				}
				r := engine.TapRecord{JournalSeq: s, RecordedAt: at.Add(time.Duration(s) * time.Second),
					Tap:      engine.Tap{ID: engine.TapID{Device: node + "-g", Seq: s}, Card: "05AA", Gate: "g", At: at.Add(time.Duration(s) * time.Minute)},
					Decision: engine.Decision{Reason: engine.ReasonInvalid}}
				ne.Records++
				o := fleet.Origin{Node: node, Epoch: epoch, NodeSeq: s, NodeRecordedAt: r.RecordedAt, UploadedAt: at.Add(time.Hour)}
				if err := tx.PutForeignTap(&r, o); err != nil {
					return err
				}
			}
			return tx.PutNodeEpoch(ne)
		}))
	}
	upload("n1", 7, 1, 10, nil)
	upload("n2", 9, 1, 5, map[uint64]engine.TapID{3: {Device: "n1-g", Seq: 4}})
	upload("n1", 7, 11, 14, map[uint64]engine.TapID{12: {Device: "n2-g", Seq: 2}})
}

// TestOriginRuns: an upload's records are kept in runs (one origin run and
// one index run per stretch of consecutive node seqs, an alias its own
// index run), and every record's origin and held record read back.
func TestOriginRuns(t *testing.T) {
	ctx := context.Background()
	l := openMem(t, vfs.NewMem())
	defer l.Close()
	smallHub(t, l)
	var runs, idx int
	require.NoError(t, l.scan(ctx, []byte{pOrigin}, []byte{pOrigin + 1}, func(k, v []byte) error { runs++; return nil }))
	require.NoError(t, l.scan(ctx, []byte{pOriginIdx}, []byte{pOriginIdx + 1}, func(k, v []byte) error { idx++; return nil }))
	// n1 1-10; n2 1-2, 4-5; n1 11, 13-14: five origin runs; the same five
	// index runs and two aliases.
	assert.Equal(t, 5, runs)
	assert.Equal(t, 7, idx)
	var seqs []uint64
	require.NoError(t, l.Origins(ctx, 12, func(j uint64, o *fleet.Origin) error {
		seqs = append(seqs, j)
		return nil
	}))
	assert.Equal(t, []uint64{12, 13, 14, 15, 16, 17}, seqs, "from the middle of a run")
	o, ok, err := l.Origin(13)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, fleet.Origin{Node: "n2", Epoch: 9, NodeSeq: 4, NodeRecordedAt: o.NodeRecordedAt, UploadedAt: o.UploadedAt}, o)
	_, ok, err = l.Origin(18)
	require.NoError(t, err)
	assert.False(t, ok)
	require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
		h, err := tx.Held("n1", 7, 12) // the alias
		require.NoError(t, err)
		require.Len(t, h, 1)
		assert.Equal(t, engine.TapID{Device: "n2-g", Seq: 2}, h[0].ID)
		h, err = tx.Held("n1", 7, 15)
		require.NoError(t, err)
		assert.Empty(t, h)
		return nil
	}))
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 17, rep.Fleet.Origins)
}

// TestCheckFindsBrokenRuns: ledger check names an origin run whose records
// are not indexed, runs that overlap, and an index run pointing beyond the
// journal.
func TestCheckFindsBrokenRuns(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b *pebble.Batch)
		want   string
	}{
		{"index run missing", func(b *pebble.Batch) {
			_ = b.Delete(nodeSeqKey(pOriginIdx, "n1", 7, 1), nil)
		}, "is not indexed"},
		{"origin runs overlap", func(b *pebble.Batch) {
			_ = b.Set(originKey(5), encodeOriginRun(&originRun{firstJournal: 5, node: "n1", epoch: 7, firstNodeSeq: 5,
				recordedAt: make([]time.Time, 2)}), nil)
		}, "also in the origin run before"},
		{"index run beyond the journal", func(b *pebble.Batch) {
			_ = b.Set(nodeSeqKey(pOriginIdx, "n1", 7, 20), encodeIndexRun(&indexRun{firstJournal: 17, count: 3}), nil)
		}, "which does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewMem()
			l := openMem(t, fs)
			smallHub(t, l)
			require.NoError(t, l.Close())
			db, err := pebble.Open("/ledger", &pebble.Options{FS: fs, FormatMajorVersion: FormatMajorVersion, ErrorIfNotExists: true})
			require.NoError(t, err)
			b := db.NewBatch()
			tc.damage(b)
			require.NoError(t, b.Commit(pebble.Sync))
			require.NoError(t, db.Close())
			l = openMem(t, fs)
			defer l.Close()
			rep, err := Check(l)
			require.NoError(t, err)
			require.False(t, rep.OK())
			assert.Contains(t, fmtProblems(rep), tc.want)
		})
	}
}

func fmtProblems(rep *CheckReport) string {
	var s string
	for _, p := range rep.Problems {
		s += p.String() + "\n"
	}
	return s
}

// TestOriginRunsInGroup: transactions that share a group commit read the
// runs of the group's earlier transactions (Held, TapOrigin) and never
// those of a transaction that failed, whose journal seqs are given again.
func TestOriginRunsInGroup(t *testing.T) {
	ctx := context.Background()
	l, err := Open("/ledger", &Options{FS: vfs.NewMem(), Now: func() time.Time { return wlEpoch }, alwaysPipeline: true})
	require.NoError(t, err)
	defer l.Close()
	errFail := errors.New("fails after writing")
	const n = 300
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			err := l.UpdateFleet(ctx, func(tx FleetTxn) error {
				ne, _, err := tx.NodeEpoch("n", 1)
				if err != nil {
					return err
				}
				ne.Node, ne.Epoch = "n", 1
				if h := ne.HighWater; h > 0 {
					held, err := tx.Held("n", 1, h)
					if err != nil {
						return err
					}
					if len(held) != 1 || held[0].ID.Seq != h {
						return fmt.Errorf("node seq %d: held %v", h, held)
					}
					o, ok, err := tx.TapOrigin(held[0].JournalSeq)
					if err != nil {
						return err
					}
					if !ok || o.NodeSeq != h {
						return fmt.Errorf("journal seq %d: origin %v %v, want node seq %d", held[0].JournalSeq, ok, o, h)
					}
				}
				s := ne.HighWater + 1
				r := engine.TapRecord{Tap: engine.Tap{ID: engine.TapID{Device: "n-g", Seq: s}, Card: "05AA", Gate: "g", At: wlEpoch},
					RecordedAt: wlEpoch, Decision: engine.Decision{Reason: engine.ReasonInvalid}}
				if err := tx.PutForeignTap(&r, fleet.Origin{Node: "n", Epoch: 1, NodeSeq: s, NodeRecordedAt: wlEpoch, UploadedAt: wlEpoch}); err != nil {
					return err
				}
				if i%7 == 3 {
					return errFail
				}
				ne.HighWater, ne.Records = s, ne.Records+1
				return tx.PutNodeEpoch(ne)
			})
			if !errors.Is(err, errFail) {
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	ok := n - (n+3)/7
	assert.Equal(t, ok, rep.Fleet.Origins)
	assert.Equal(t, ok, rep.Taps)
	var seqs []uint64
	require.NoError(t, l.Origins(ctx, 1, func(j uint64, o *fleet.Origin) error {
		if o.NodeSeq != j {
			return fmt.Errorf("journal seq %d from node seq %d", j, o.NodeSeq)
		}
		seqs = append(seqs, j)
		return nil
	}))
	assert.Len(t, seqs, ok)
}
