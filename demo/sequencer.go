package demo

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citypass/citypass/engine"
)

// sequencer is an engine.Store in front of the ledger that makes the journal
// order of a concurrent run repeatable without giving up group commit.
//
// Every store transaction of the day carries a ticket (its place in the
// day's timeline, see withTicket). Many gate goroutines call Update at once,
// so many transactions wait in the ledger's queue and share one fsync, but
// the ledger runs whatever it dequeues through a "slot" function that takes
// the transaction with the lowest ticket not yet run. A slot is only
// enqueued once every lower ticket has arrived (or been skipped), so the
// k-th slot the ledger runs always runs ticket k: the journal, pass ids,
// usage and every decision are those of a serial run in ticket order,
// whatever the goroutines' timing. Each caller waits until the slot that ran
// its own transaction is durable.
//
// Updates without a ticket go straight to the ledger. sequencer is safe for
// concurrent use.
type sequencer struct {
	inner engine.Store
	ctx   context.Context // for the ledger calls of slots; cancelling it fails the waiting tickets
	clock *atomic.Int64   // the ledger's clock (RecordedAt): the running ticket's time

	mu       sync.Mutex
	arrived  map[uint64]*seqReq // arrived (or skipped) tickets not yet enqueued
	nextEnq  uint64             // lowest ticket not yet enqueued
	queue    []*seqReq          // enqueued, not yet run, in ticket order
	inflight sync.WaitGroup
}

type seqReq struct {
	fn   func(engine.Txn) error // nil: a skipped ticket
	at   time.Time
	done chan error
}

// ticket is a transaction's place in the timeline and the time it happens
// at. A ticket is used by at most one Update.
type ticket struct {
	n    uint64
	at   time.Time
	used atomic.Bool
}

type ticketKey struct{}

// withTicket marks the store transaction made under ctx with t.
func withTicket(ctx context.Context, t *ticket) context.Context {
	return context.WithValue(ctx, ticketKey{}, t)
}

var errTicketReused = errors.New("demo: a ticket was used by two store transactions")

func newSequencer(ctx context.Context, inner engine.Store, clock *atomic.Int64) *sequencer {
	return &sequencer{inner: inner, ctx: ctx, clock: clock, arrived: map[uint64]*seqReq{}}
}

var _ engine.Store = (*sequencer)(nil)

// View reads the ledger's snapshot.
func (s *sequencer) View(ctx context.Context, fn func(r engine.Reader) error) error {
	return s.inner.View(ctx, fn)
}

// Update runs fn in ticket order (see sequencer).
func (s *sequencer) Update(ctx context.Context, fn func(tx engine.Txn) error) error {
	t, ok := ctx.Value(ticketKey{}).(*ticket)
	if !ok {
		return s.inner.Update(ctx, fn)
	}
	if t.used.Swap(true) {
		return errTicketReused
	}
	r := &seqReq{fn: fn, at: t.at, done: make(chan error, 1)}
	s.arrive(t.n, r)
	return <-r.done
}

// skip releases a ticket whose operation made no store transaction (a read
// that failed, a refused request); it does nothing for a used ticket.
func (s *sequencer) skip(t *ticket) {
	if !t.used.Swap(true) {
		s.arrive(t.n, &seqReq{})
	}
}

func (s *sequencer) arrive(n uint64, r *seqReq) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.arrived[n] = r
	for {
		r, ok := s.arrived[s.nextEnq]
		if !ok {
			return
		}
		delete(s.arrived, s.nextEnq)
		s.nextEnq++
		if r.fn == nil {
			continue
		}
		s.queue = append(s.queue, r)
		s.inflight.Add(1)
		go s.slot()
	}
}

// wait returns once every enqueued slot has finished.
func (s *sequencer) wait() { s.inflight.Wait() }

// pop takes the lowest enqueued ticket; there is one for every slot.
func (s *sequencer) pop() *seqReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.queue[0]
	s.queue[0] = nil
	s.queue = s.queue[1:]
	return r
}

// slot is one ledger transaction that runs the lowest waiting ticket.
func (s *sequencer) slot() {
	defer s.inflight.Done()
	var ran *seqReq
	err := s.inner.Update(s.ctx, func(tx engine.Txn) error {
		ran = s.pop()
		s.clock.Store(ran.at.UnixNano())
		return ran.fn(tx)
	})
	if ran == nil {
		// The ledger refused the slot before running it (closed, failed,
		// cancelled): fail the ticket it would have run.
		ran = s.pop()
		if err == nil {
			err = errors.New("demo: ledger acknowledged a transaction it did not run")
		}
	}
	ran.done <- err
}
