package demo

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/engine/memstore"
)

// Tickets arriving in any order from many goroutines run in ticket order;
// skipped tickets do not hold the others up; the clock follows the ticket.
func TestSequencerRunsInTicketOrder(t *testing.T) {
	ctx := context.Background()
	var clock atomic.Int64
	s := newSequencer(ctx, memstore.New(nil), &clock)
	const n = 500
	r := rand.New(rand.NewPCG(1, 2))
	perm := r.Perm(n)
	base := time.Date(2026, 5, 31, 10, 0, 0, 0, time.UTC)

	var mu sync.Mutex
	var ran []uint64
	var wg sync.WaitGroup
	for _, i := range perm {
		tk := &ticket{n: uint64(i), at: base.Add(time.Duration(i) * time.Second)}
		wg.Go(func() {
			if i%10 == 3 {
				s.skip(tk)
				return
			}
			err := s.Update(withTicket(ctx, tk), func(engine.Txn) error {
				assert.Equal(t, tk.at.UnixNano(), clock.Load())
				mu.Lock()
				ran = append(ran, tk.n)
				mu.Unlock()
				return nil
			})
			assert.NoError(t, err)
			s.skip(tk) // after use: nothing
		})
	}
	wg.Wait()
	s.wait()
	require.Len(t, ran, n-n/10)
	for i := 1; i < len(ran); i++ {
		assert.Less(t, ran[i-1], ran[i])
	}

	tk := &ticket{n: n}
	require.NoError(t, s.Update(withTicket(ctx, tk), func(engine.Txn) error { return nil }))
	assert.ErrorIs(t, s.Update(withTicket(ctx, tk), func(engine.Txn) error { return nil }), errTicketReused)
	assert.NoError(t, s.Update(ctx, func(engine.Txn) error { return nil }), "no ticket: straight through")
}
