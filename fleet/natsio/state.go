package natsio

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// PublishState appends a message to the state stream (the hub's publisher)
// and returns its stream sequence once stored.
func (c *Conn) PublishState(ctx context.Context, msgID string, data []byte) (uint64, error) {
	if err := c.check(); err != nil {
		return 0, err
	}
	ack, err := c.js.Publish(ctx, StateSubject, data, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(StateStream))
	if err != nil {
		return 0, fmt.Errorf("natsio: publishing state %s: %w", msgID, err)
	}
	return ack.Sequence, nil
}

// LastState returns the state stream's last message and its sequence; ok
// false when the stream is empty.
func (c *Conn) LastState(ctx context.Context) (data []byte, seq uint64, ok bool, err error) {
	s, err := c.js.Stream(ctx, StateStream)
	if err != nil {
		return nil, 0, false, fmt.Errorf("natsio: state stream: %w", err)
	}
	m, err := s.GetLastMsgForSubject(ctx, StateSubject)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, false, fmt.Errorf("natsio: reading the last state message: %w", err)
	}
	return m.Data, m.Sequence, true, nil
}

// StateBounds returns the first and last sequence the state stream holds
// (first > last when it holds none).
func (c *Conn) StateBounds(ctx context.Context) (first, last uint64, err error) {
	if err := c.check(); err != nil {
		return 0, 0, err
	}
	s, err := c.js.Stream(ctx, StateStream)
	if err != nil {
		return 0, 0, fmt.Errorf("natsio: state stream: %w", err)
	}
	info := s.CachedInfo()
	return info.State.FirstSeq, info.State.LastSeq, nil
}

// StateMsg is one message of the state stream.
type StateMsg struct {
	Seq  uint64
	Data []byte
}

// StateReader reads the state stream in order from a sequence. It holds an
// ephemeral pull consumer that it recreates, from the sequence after the
// last message it returned, whenever a fetch fails or a delivery is missing;
// every step honours the caller's context, so a node's sync stops even
// while its server is unreachable (nats.go's ordered consumer retries its
// re-creation without a context).
type StateReader struct {
	c    *Conn
	next uint64 // stream sequence of the next message to return
	// cons is the current consumer (nil: create one at the next read) and
	// delivered the consumer sequence of its last delivery.
	cons      jetstream.Consumer
	delivered uint64
}

// ErrStateGap is a read of the state stream from a sequence it no longer
// holds (trimmed by its retention): the reader needs a snapshot.
var ErrStateGap = errors.New("natsio: the state stream no longer holds the next message")

// stateReaderIdle is how long the server keeps a reader's consumer once
// nobody fetches from it (a node that went away leaves nothing behind; a
// reading node fetches at least every few seconds).
const stateReaderIdle = 30 * time.Second

// The reader acknowledges what it receives (the last message of each
// fetch, which acknowledges those before it): a message the server sent
// that never reached the reader (its fetch had ended on the client's side
// first) is sent again after stateAckWait. Without that, a lost message
// that was the stream's last would go unnoticed until the next one came
// (the reader sees a missing delivery only when the one after it arrives).
var (
	stateAckWait       = 10 * time.Second
	stateMaxAckPending = 4096
)

// ReadState opens a reader of the state stream from sequence from (1 or 0:
// the first message).
func (c *Conn) ReadState(ctx context.Context, from uint64) (*StateReader, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	r := &StateReader{c: c, next: max(from, 1)}
	if err := r.open(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *StateReader) open(ctx context.Context) error {
	cons, err := r.c.js.CreateOrUpdateConsumer(ctx, StateStream, jetstream.ConsumerConfig{
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       r.next,
		AckPolicy:         jetstream.AckAllPolicy,
		AckWait:           stateAckWait,
		MaxAckPending:     stateMaxAckPending,
		InactiveThreshold: stateReaderIdle,
		MemoryStorage:     true,
		Replicas:          1,
	})
	if err != nil {
		return fmt.Errorf("natsio: reading the state stream: %w", err)
	}
	r.cons, r.delivered = cons, 0
	return nil
}

// drop forgets the current consumer (the next read creates another) and
// deletes it on the server in the background.
func (r *StateReader) drop() {
	if r.cons == nil {
		return
	}
	name := r.cons.CachedInfo().Name
	r.cons = nil
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.c.js.DeleteConsumer(ctx, StateStream, name)
	}()
}

// Close deletes the reader's consumer on the server (best effort: an
// unreachable server removes it once idle).
func (r *StateReader) Close() { r.drop() }

// Next waits up to wait, or until ctx ends, for the next message, and
// returns it with those after it that the stream holds now, at most max in
// all (none when wait passes first). It returns as soon as a message is
// there: a Fetch of max messages would wait for all of them. Messages come
// in stream order, none skipped: after an error the next call resumes
// after the last message returned.
func (r *StateReader) Next(ctx context.Context, max int, wait time.Duration) ([]StateMsg, error) {
	if r.cons == nil {
		if err := r.open(ctx); err != nil {
			return nil, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	b, err := r.cons.Fetch(1, jetstream.FetchContext(wctx))
	if err != nil {
		r.drop()
		return nil, fmt.Errorf("natsio: reading the state stream: %w", err)
	}
	out, err := r.take(b, nil)
	if err != nil || len(out) == 0 || max <= 1 {
		return out, err
	}
	if b, err = r.cons.FetchNoWait(max - 1); err != nil {
		r.drop()
		return out, fmt.Errorf("natsio: reading the state stream: %w", err)
	}
	return r.take(b, out)
}

// take appends b's messages to out while they follow one another: each
// delivery the one after the last and each stream sequence the next
// expected. At a missing delivery it drops the consumer and returns what
// came before (the next read starts over from there); a missing stream
// sequence is ErrStateGap.
func (r *StateReader) take(b jetstream.MessageBatch, out []StateMsg) ([]StateMsg, error) {
	msgs, err := drain(b, nil)
	for _, m := range msgs {
		if m.delivery != r.delivered+1 {
			// A delivery went missing: a new consumer redelivers from
			// the next sequence.
			r.drop()
			return out, nil
		}
		if m.Seq != r.next {
			// The stream is one subject, trimmed only from its front:
			// a later sequence means the next one is no longer held.
			r.drop()
			return out, fmt.Errorf("%w: wanted message %d, the stream gave %d", ErrStateGap, r.next, m.Seq)
		}
		r.delivered, r.next = m.delivery, m.Seq+1
		out = append(out, m.StateMsg)
	}
	if n := len(msgs); n > 0 {
		// Best effort: an acknowledgement lost only brings the messages
		// again, which the delivery check above turns into a new consumer.
		_ = msgs[n-1].msg.Ack()
	}
	if err != nil {
		r.drop()
	}
	return out, err
}

type delivered struct {
	StateMsg
	delivery uint64
	msg      jetstream.Msg
}

// drain appends the messages of b to out; a fetch that ended without
// messages is no error.
func drain(b jetstream.MessageBatch, out []delivered) ([]delivered, error) {
	var bad error
	for m := range b.Messages() {
		md, err := m.Metadata()
		if err != nil {
			bad = cmp.Or(bad, err)
			continue
		}
		out = append(out, delivered{StateMsg{Seq: md.Sequence.Stream, Data: m.Data()}, md.Sequence.Consumer, m})
	}
	if bad != nil {
		return out, fmt.Errorf("natsio: reading the state stream: %w", bad)
	}
	if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return out, fmt.Errorf("natsio: reading the state stream: %w", err)
	}
	return out, nil
}
