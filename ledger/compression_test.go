package ledger

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// TestFastestCompression: a ledger opened with FastestCompression writes
// its tables with Pebble's fastest compression and one opened without it
// with Snappy; each reads what the other wrote.
func TestFastestCompression(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	names := func(l *Ledger) map[string]int {
		levels, err := l.db.SSTables(pebble.WithProperties())
		require.NoError(t, err)
		out := map[string]int{}
		for _, tables := range levels {
			for _, tb := range tables {
				out[tb.Properties.CompressionName]++
			}
		}
		return out
	}
	for i, fastest := range []bool{true, false, true} {
		l, err := Open("/ledger", &Options{FS: fs, Now: func() time.Time { return wlEpoch }, FastestCompression: fastest})
		require.NoError(t, err)
		if i == 0 {
			require.NoError(t, wlSetup(ctx, l, 50))
		}
		require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
			c, _, err := tx.Card(wlCard(i))
			if err != nil {
				return err
			}
			c.LastCounter, c.HasCounter = uint32(100+i), true
			return tx.PutCard(c)
		}))
		require.NoError(t, l.Flush())
		want := sstable.SnappyCompression.Name
		if fastest {
			want = sstable.FastestCompression.Name
		}
		assert.Positive(t, names(l)[want], "round %d: tables %v", i, names(l))
		require.NoError(t, l.View(ctx, func(r engine.Reader) error {
			for j := 0; j <= i; j++ {
				c, ok, err := r.Card(wlCard(j))
				require.NoError(t, err)
				require.True(t, ok)
				assert.Equal(t, uint32(100+j), c.LastCounter)
			}
			return nil
		}))
		rep, err := Check(l)
		require.NoError(t, err)
		assert.True(t, rep.OK(), "%v", rep.Problems)
		require.NoError(t, l.Close())
	}
}
