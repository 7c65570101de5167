package natsio

import (
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

// StateReader reads the state stream in order from a sequence (an ordered
// consumer: it recreates itself after a disconnection and never skips).
type StateReader struct {
	cons jetstream.Consumer
}

// ReadState opens a reader of the state stream from sequence from.
func (c *Conn) ReadState(ctx context.Context, from uint64) (*StateReader, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	cfg := jetstream.OrderedConsumerConfig{DeliverPolicy: jetstream.DeliverAllPolicy}
	if from > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, from
	}
	cons, err := c.js.OrderedConsumer(ctx, StateStream, cfg)
	if err != nil {
		return nil, fmt.Errorf("natsio: reading the state stream: %w", err)
	}
	return &StateReader{cons: cons}, nil
}

// Next waits up to wait, or until ctx ends, for the next message, and
// returns it with those after it that the stream holds now, at most max in
// all (none when wait passes first). It returns as soon as a message is
// there: a Fetch of max messages would wait for all of them.
func (r *StateReader) Next(ctx context.Context, max int, wait time.Duration) ([]StateMsg, error) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	b, err := r.cons.Fetch(1, jetstream.FetchContext(wctx))
	if err != nil {
		return nil, fmt.Errorf("natsio: reading the state stream: %w", err)
	}
	out, err := drain(b, nil)
	if err != nil || len(out) == 0 || max <= 1 {
		return out, err
	}
	if b, err = r.cons.FetchNoWait(max - 1); err != nil {
		return out, fmt.Errorf("natsio: reading the state stream: %w", err)
	}
	return drain(b, out)
}

// drain appends the messages of b to out; a fetch that ended without
// messages is no error.
func drain(b jetstream.MessageBatch, out []StateMsg) ([]StateMsg, error) {
	for m := range b.Messages() {
		md, err := m.Metadata()
		if err != nil {
			return out, err
		}
		out = append(out, StateMsg{Seq: md.Sequence.Stream, Data: m.Data()})
	}
	if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) {
		return out, fmt.Errorf("natsio: reading the state stream: %w", err)
	}
	return out, nil
}
