package engine_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// TestValidateAssignsSeq: a tap with Seq 0 takes the next seq after the
// device's highest journaled one, in the transaction that journals it, so
// it never collides with seqs given explicitly before or after.
func TestValidateAssignsSeq(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04E00001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	at := paris(t, "2026-11-23T10:00")
	tap := func(seq uint64, i int) engine.Result {
		t.Helper()
		r, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "cli", Seq: seq}, Card: "04E00001",
			Gate: "rtm-metro/g1", Direction: engine.Exit, At: at.Add(time.Duration(i) * time.Minute)})
		require.NoError(t, err)
		require.False(t, r.Duplicate)
		return r
	}
	assert.Equal(t, uint64(1), tap(1, 0).Tap.Seq)
	assert.Equal(t, uint64(2), tap(2, 1).Tap.Seq)
	for i, want := range []uint64{3, 4, 5} {
		assert.Equal(t, want, tap(0, 2+i).Tap.Seq, "automatic seq after explicit ones")
	}
	assert.Equal(t, uint64(10), tap(10, 6).Tap.Seq)
	assert.Equal(t, uint64(11), tap(0, 7).Tap.Seq, "after the highest, gaps left alone")
	assert.Len(t, st.Journal(), 7)
}

// TestValidateAssignsSeqConcurrently: gates numbering one device's taps
// at once get distinct seqs, every tap journaled once.
func TestValidateAssignsSeqConcurrently(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	at := paris(t, "2026-11-23T10:00")
	const n = 32
	seqs := make([]uint64, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "auto"}, Card: fmt.Sprintf("04F000%02X", i),
				Gate: "mucem/g1", At: at.Add(time.Duration(i) * time.Second)})
			assert.NoError(t, err)
			seqs[i] = r.Tap.Seq
		})
	}
	wg.Wait()
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, s := range seqs {
		assert.Equal(t, uint64(i+1), s)
	}
	assert.Len(t, st.Journal(), n)
}
