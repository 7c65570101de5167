package natsio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// StreamOptions size the fleet's streams.
type StreamOptions struct {
	// Replicas of each stream: 1 on an embedded hub, 3 on a cluster.
	Replicas int
	// TapsMaxAge is how long uploads stay in the taps stream; it must
	// exceed the longest time the hub's ingest may be down. Default 14 days.
	TapsMaxAge time.Duration
	// Duplicates is the taps stream's duplicate window; default 10 minutes.
	// Correctness does not depend on it (the hub ledger is idempotent).
	Duplicates time.Duration
	// StateMaxAge is how long state updates stay in the state stream; a node
	// away longer loads a snapshot. Default 7 days.
	StateMaxAge time.Duration
	// StateMaxMsgs, when above 0, also bounds the state stream's messages
	// (the oldest go first): a node whose place fell out loads a snapshot,
	// as after StateMaxAge. Default 0: bounded by age alone. Tests use it to
	// take the snapshot path in seconds.
	StateMaxMsgs int64
	// IngestAckWait is how long an upload handed to the hub's ingest may stay
	// unacknowledged before it is delivered again; default 30 s.
	IngestAckWait time.Duration
}

func (o *StreamOptions) withDefaults() StreamOptions {
	c := *o
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.TapsMaxAge <= 0 {
		c.TapsMaxAge = 14 * 24 * time.Hour
	}
	if c.Duplicates <= 0 {
		c.Duplicates = 10 * time.Minute
	}
	if c.StateMaxAge <= 0 {
		c.StateMaxAge = 7 * 24 * time.Hour
	}
	if c.IngestAckWait <= 0 {
		c.IngestAckWait = 30 * time.Second
	}
	return c
}

// stateMaxConsumers bounds the state stream's consumers.
const stateMaxConsumers = 100_000

// StreamConfigs returns the fleet's stream configurations: Limits
// retention always (never WorkQueue: E4), file storage, no
// sources or mirrors (E3; both in docs/fleet.md, "Transport").
func StreamConfigs(o StreamOptions) []jetstream.StreamConfig {
	o = o.withDefaults()
	return []jetstream.StreamConfig{
		{
			Name: TapsStream, Subjects: []string{TapsSubject("*")},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Discard: jetstream.DiscardOld,
			MaxAge: o.TapsMaxAge, Duplicates: o.Duplicates, Replicas: o.Replicas,
		},
		{
			Name: StateStream, Subjects: []string{StateSubject},
			Retention: jetstream.LimitsPolicy, Storage: jetstream.FileStorage, Discard: jetstream.DiscardOld,
			MaxAge: o.StateMaxAge, MaxMsgs: o.StateMaxMsgs, Duplicates: time.Minute, Replicas: o.Replicas, AllowDirect: true,
			// Every reading node has a consumer of its own, and one it
			// gave up lingers until idle: the server's default of 1,000
			// a stream would stop a city's fleet from reading.
			MaxConsumers: stateMaxConsumers,
		},
	}
}

// EnsureStreams creates or updates the fleet's streams and the hub's ingest
// consumer; running it again changes nothing. A JetStream that cannot take
// them yet (a cluster still electing its leader) is asked again until ctx
// ends.
func (c *Conn) EnsureStreams(ctx context.Context, o StreamOptions) error {
	for {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := c.ensureStreams(actx, o)
		cancel()
		if err == nil || ctx.Err() != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(250 * time.Millisecond):
		}
	}
}

func (c *Conn) ensureStreams(ctx context.Context, o StreamOptions) error {
	for _, cfg := range StreamConfigs(o) {
		if _, err := c.js.CreateOrUpdateStream(ctx, cfg); err != nil {
			return fmt.Errorf("natsio: setting up stream %s: %w", cfg.Name, err)
		}
	}
	_, err := c.js.CreateOrUpdateConsumer(ctx, TapsStream, jetstream.ConsumerConfig{
		Durable: IngestConsumer, AckPolicy: jetstream.AckExplicitPolicy, AckWait: o.withDefaults().IngestAckWait,
		MaxDeliver: -1, MaxAckPending: 20000, DeliverPolicy: jetstream.DeliverAllPolicy,
		Replicas: o.withDefaults().Replicas,
	})
	if err != nil {
		return fmt.Errorf("natsio: setting up consumer %s: %w", IngestConsumer, err)
	}
	return nil
}

// Upload is one message of the taps stream handed to the hub's ingest.
type Upload struct {
	msg jetstream.Msg
	// Delivered counts deliveries of this message (1 the first time).
	Delivered uint64
	// StreamSeq is the message's place in the taps stream.
	StreamSeq uint64
	// StoredAt is when the stream stored the message (the server's clock):
	// when the node's upload reached the hub, however often it is
	// delivered.
	StoredAt time.Time
}

// Data is the upload's body.
func (u *Upload) Data() []byte { return u.msg.Data() }

// MsgID is the id the node published it under.
func (u *Upload) MsgID() string { return u.msg.Headers().Get(jetstream.MsgIDHeader) }

// Ack tells the stream the hub is done with the upload and waits until the
// server has recorded it.
func (u *Upload) Ack(ctx context.Context) error { return u.msg.DoubleAck(ctx) }

// Retry hands the upload back to be delivered again after delay (it could
// not be applied yet: a gap before it).
func (u *Upload) Retry(delay time.Duration) error { return u.msg.NakWithDelay(delay) }

// FetchUploads waits up to wait for at most max uploads of the ingest
// consumer; it returns what arrived (possibly none).
func (c *Conn) FetchUploads(ctx context.Context, max int, wait time.Duration) ([]*Upload, error) {
	var out []*Upload
	err := c.NextUploads(ctx, max, wait, func(u *Upload) { out = append(out, u) })
	return out, err
}

// NextUploads asks the ingest consumer for at most max uploads and calls fn
// with each as it arrives, one at a time; it returns when max have arrived
// or wait has passed. fn may block: the uploads asked for wait in the
// client meanwhile (each counts against the consumer's AckWait from its
// delivery).
func (c *Conn) NextUploads(ctx context.Context, max int, wait time.Duration, fn func(*Upload)) error {
	if err := c.check(); err != nil {
		return err
	}
	cons, err := c.ingestConsumer(ctx)
	if err != nil {
		return err
	}
	b, err := cons.Fetch(max, jetstream.FetchMaxWait(wait))
	if err != nil {
		return fmt.Errorf("natsio: fetching uploads: %w", err)
	}
	for m := range b.Messages() {
		u := &Upload{msg: m}
		if md, err := m.Metadata(); err == nil {
			u.Delivered, u.StreamSeq, u.StoredAt = md.NumDelivered, md.Sequence.Stream, md.Timestamp
		}
		fn(u)
	}
	if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
		return fmt.Errorf("natsio: fetching uploads: %w", err)
	}
	return nil
}

// ingestConsumer returns the handle of the ingest consumer, looked up once
// (a lookup is a request to the server).
func (c *Conn) ingestConsumer(ctx context.Context) (jetstream.Consumer, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ingest != nil {
		return c.ingest, nil
	}
	cons, err := c.js.Consumer(ctx, TapsStream, IngestConsumer)
	if err != nil {
		return nil, fmt.Errorf("natsio: ingest consumer: %w", err)
	}
	c.ingest = cons
	return cons, nil
}

// StreamState is where one of the fleet's streams stands, as the server
// reports it.
type StreamState struct {
	Name      string
	Msgs      uint64 // messages held
	Bytes     uint64 // bytes held
	FirstSeq  uint64 // sequence of the oldest message held (LastSeq+1 when none)
	LastSeq   uint64 // sequence of the newest message ever stored
	Consumers int
}

// IngestState is where the hub's ingest consumer stands in the taps stream.
type IngestState struct {
	// Pending counts uploads not yet delivered to the ingest.
	Pending uint64
	// AckPending counts uploads delivered and not yet acknowledged (being
	// applied, or waiting to be delivered again after a gap).
	AckPending int
	// Redelivered counts uploads delivered more than once and still
	// unacknowledged.
	Redelivered int
	// AckFloor is the stream sequence up to which every upload is
	// acknowledged.
	AckFloor uint64
}

// StreamStates asks the server where the taps and the state streams and
// the ingest consumer stand (one request each, fresh from the server).
func (c *Conn) StreamStates(ctx context.Context) ([]StreamState, IngestState, error) {
	if err := c.check(); err != nil {
		return nil, IngestState{}, err
	}
	var out []StreamState
	var ing IngestState
	for _, name := range []string{TapsStream, StateStream} {
		s, err := c.js.Stream(ctx, name)
		if err != nil {
			return nil, ing, fmt.Errorf("natsio: stream %s: %w", name, err)
		}
		st := s.CachedInfo().State // fresh: Stream just asked the server
		out = append(out, StreamState{Name: name, Msgs: st.Msgs, Bytes: st.Bytes, FirstSeq: st.FirstSeq, LastSeq: st.LastSeq, Consumers: st.Consumers})
		if name != TapsStream {
			continue
		}
		ci, err := s.Consumer(ctx, IngestConsumer)
		if err != nil {
			return nil, ing, fmt.Errorf("natsio: consumer %s: %w", IngestConsumer, err)
		}
		info := ci.CachedInfo()
		ing = IngestState{Pending: info.NumPending, AckPending: info.NumAckPending, Redelivered: info.NumRedelivered, AckFloor: info.AckFloor.Stream}
	}
	return out, ing, nil
}
