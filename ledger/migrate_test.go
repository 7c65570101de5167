package ledger

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
)

// TestUpgradeFromSchema1 turns a ledger into what schema 1 wrote (no
// epoch, counts-based usage values) and reopens it: usage is rebuilt from
// the journal, the ledger gets an epoch, and check finds nothing wrong.
func TestUpgradeFromSchema1(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	l := openMem(t, fs)
	require.NoError(t, wlSetup(ctx, l, 3))
	var passes []string
	for i := range 6 {
		var res wlResult
		require.NoError(t, l.Update(ctx, wlTxn(wlTap("d", uint64(i+1), i%3, 2), 2, &res)))
		passes = append(passes, res.Rec.Pass)
	}
	want := map[string]engine.Usage{}
	require.NoError(t, l.View(ctx, func(r engine.Reader) error {
		for _, p := range passes {
			u, err := r.Usage(p)
			require.NoError(t, err)
			want[p] = u
		}
		return nil
	}))
	require.NotEmpty(t, want[passes[0]].Visits)
	require.NoError(t, l.Close())

	db, err := pebble.Open("/ledger", &pebble.Options{FS: fs, FormatMajorVersion: FormatMajorVersion, ErrorIfNotExists: true})
	require.NoError(t, err)
	v, closer, err := db.Get(keyEpoch)
	require.NoError(t, err, "the raw store is the ledger's")
	require.NoError(t, closer.Close())
	require.NotEmpty(t, v)
	b := db.NewBatch()
	require.NoError(t, b.Set(keySchema, encodeU64(kindSchema, 1), nil))
	require.NoError(t, b.Delete(keyEpoch, nil))
	for p := range want {
		old := newEnc(kindUsageV1, 8)
		old.u64(1) // any schema-1 payload: the upgrade never reads it
		require.NoError(t, b.Set(strKey(pUsage, p), old.finish(), nil))
	}
	require.NoError(t, b.Commit(pebble.Sync))
	require.NoError(t, db.Close())

	l = openMem(t, fs)
	defer l.Close()
	assert.NotZero(t, l.Epoch())
	_, closer, err = l.db.Get(keySchema)
	require.NoError(t, err)
	require.NoError(t, closer.Close())
	require.NoError(t, l.View(ctx, func(r engine.Reader) error {
		for p, w := range want {
			u, err := r.Usage(p)
			require.NoError(t, err)
			assert.Equal(t, w, u, "pass %s", p)
		}
		return nil
	}))
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, l.Epoch(), rep.Epoch)
}

func TestEpochIsKeptAndNew(t *testing.T) {
	fs := vfs.NewMem()
	l := openMem(t, fs)
	e := l.Epoch()
	require.NotZero(t, e)
	require.NoError(t, l.Close())
	l = openMem(t, fs)
	assert.Equal(t, e, l.Epoch(), "reopening keeps the epoch")
	require.NoError(t, l.Close())
	other := openMem(t, vfs.NewMem())
	defer other.Close()
	assert.NotEqual(t, e, other.Epoch(), "a new ledger draws a new epoch")
}

// TestUpgradeOriginsFromSchema2 turns a hub ledger into what schema 2
// wrote (one origin and one index entry per node record), half of them
// already rewritten as an interrupted upgrade leaves them, and reopens it:
// every origin and every held record reads as before, the schema is 3, and
// check finds nothing wrong.
func TestUpgradeOriginsFromSchema2(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	l := openMem(t, fs)
	smallHub(t, l)

	origins := func() map[uint64]fleet.Origin {
		out := map[uint64]fleet.Origin{}
		require.NoError(t, l.Origins(ctx, 1, func(j uint64, o *fleet.Origin) error { out[j] = *o; return nil }))
		return out
	}
	held := func() map[string][]engine.TapRecord {
		out := map[string][]engine.TapRecord{}
		require.NoError(t, l.UpdateFleet(ctx, func(tx FleetTxn) error {
			for _, ne := range []struct {
				node  string
				epoch uint64
				last  uint64
			}{{"n1", 7, 14}, {"n2", 9, 5}} {
				for s := uint64(1); s <= ne.last+1; s++ {
					h, err := tx.Held(ne.node, ne.epoch, s)
					if err != nil {
						return err
					}
					out[fmt.Sprintf("%s/%d", ne.node, s)] = h
				}
			}
			return nil
		}))
		return out
	}
	wantOrigins, wantHeld := origins(), held()
	require.Len(t, wantOrigins, 17)
	require.Len(t, wantHeld["n2/3"], 1)
	require.Empty(t, wantHeld["n1/15"])
	require.NoError(t, l.Close())

	db, err := pebble.Open("/ledger", &pebble.Options{FS: fs, FormatMajorVersion: FormatMajorVersion, ErrorIfNotExists: true})
	require.NoError(t, err)
	b := db.NewBatch()
	require.NoError(t, b.DeleteRange([]byte{pOrigin}, []byte{pOriginIdx + 1}, nil))
	i := 0
	for j, o := range wantOrigins {
		i++
		if i%2 == 0 { // already rewritten by an interrupted upgrade
			require.NoError(t, b.Set(originKey(j), encodeOriginRun(&originRun{firstJournal: j, node: o.Node, epoch: o.Epoch,
				firstNodeSeq: o.NodeSeq, uploadedAt: o.UploadedAt, recordedAt: []time.Time{o.NodeRecordedAt}}), nil))
			continue
		}
		e := newEnc(kindOrigin, 64)
		e.origin(&o)
		require.NoError(t, b.Set(originKey(j), e.finish(), nil))
	}
	for k, h := range wantHeld {
		var node string
		var s uint64
		_, err := fmt.Sscanf(strings.Replace(k, "/", " ", 1), "%s %d", &node, &s)
		require.NoError(t, err)
		if len(h) == 1 {
			epoch := map[string]uint64{"n1": 7, "n2": 9}[node]
			require.NoError(t, b.Set(nodeSeqKey(pOriginIdx, node, epoch, s), encodeU64(kindOriginIdx, h[0].JournalSeq), nil))
		}
	}
	require.NoError(t, b.Set(keySchema, encodeU64(kindSchema, 2), nil))
	require.NoError(t, b.Commit(pebble.Sync))
	require.NoError(t, db.Close())

	l = openMem(t, fs)
	defer l.Close()
	v, closer, err := l.db.Get(keySchema)
	require.NoError(t, err)
	sv, err := decodeU64(keySchema, v, kindSchema)
	require.NoError(t, closer.Close())
	require.NoError(t, err)
	assert.Equal(t, uint64(schemaVersion), sv)
	assert.Equal(t, wantOrigins, origins())
	assert.Equal(t, wantHeld, held())
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 17, rep.Fleet.Origins)
}
