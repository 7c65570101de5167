package ledger

import (
	"context"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
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
