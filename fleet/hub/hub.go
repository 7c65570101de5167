package hub

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/wire"
	"github.com/citypass/citypass/ledger"
)

// Config configures the hub's loops. Zero values take the defaults given.
type Config struct {
	Ledger *ledger.Ledger // the hub ledger; required
	Conn   *natsio.Conn   // an operator connection; required
	// Now is the hub clock (upload times, contacts); default time.Now.
	Now func() time.Time
	// Workers apply uploads in parallel (one node's uploads always on the
	// same worker, in stream order); their transactions share fsyncs
	// (the ledger's group commit). Default 8.
	Workers int
	// FetchMax bounds uploads asked for at once; default 4 per worker. With
	// the uploads waiting in the workers' queues (2 each) it bounds the
	// uploads the hub holds: each must be applied within the consumer's
	// AckWait, or the stream delivers it again.
	FetchMax int
	// FetchWait is how long a fetch waits for uploads; default 500 ms (an
	// upload is handed to its worker as soon as it arrives).
	FetchWait time.Duration
	// RetryDelay is when an upload that arrived before the ones it follows
	// is delivered again; default 1 s.
	RetryDelay time.Duration
	// HeartbeatEvery is the longest time between two heartbeats of the
	// state stream; default 10 s.
	HeartbeatEvery time.Duration
	// RevisionsPerMessage bounds how many revisions one state message
	// carries; 0: as many as the publisher finds in a round, up to 2 MiB.
	// 1 sends each revision alone, as a hub whose changes come seconds
	// apart does (the bench's node away for hours).
	RevisionsPerMessage int
	// PublishPoll is how often the publisher looks for new revisions;
	// default 100 ms.
	PublishPoll time.Duration
	// FaultAfterApply, for fault tests, is asked after each upload is
	// durable; true makes the hub stop there, as if it crashed between
	// the commit and the acknowledgement (the upload is delivered again).
	FaultAfterApply func(msgID string) bool
	// Log receives the hub's events; default discarded.
	Log *slog.Logger
}

// Stats count what the ingest did since Start. Safe to read at any time.
type Stats struct {
	// Uploads received; of them Applied (durable and acknowledged),
	// Gaps (delivered again later), Rejected (not decodable, dropped) and
	// Failed (the ledger failed to apply them; delivered again).
	Uploads, Applied, Gaps, Rejected, Failed atomic.Uint64
	// Records of applied uploads: journaled, repeats of records held under
	// the same origin, aliases of records held under another, quarantined.
	Records, Repeats, Aliases, Quarantined atomic.Uint64
}

// Hub runs the back office's fleet loops: the ingest of uploads (a durable
// pull consumer on the taps stream; each upload applied in one synced
// ledger transaction, then acknowledged to the stream and to its node) and
// the report service answering nodes' contacts. Safe for concurrent use.
type Hub struct {
	cfg    Config
	cancel context.CancelFunc
	wg     sync.WaitGroup
	stops  []func()
	pub    *publisher
	Stats  Stats
}

// Start starts the hub's loops; Close stops them. The streams must exist
// (natsio.Conn.EnsureStreams).
func Start(cfg Config) (*Hub, error) {
	if cfg.Ledger == nil || cfg.Conn == nil {
		return nil, errors.New("hub: ledger and connection are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.FetchMax <= 0 {
		cfg.FetchMax = 4 * cfg.Workers
	}
	if cfg.FetchWait <= 0 {
		cfg.FetchWait = 500 * time.Millisecond
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.HeartbeatEvery <= 0 {
		cfg.HeartbeatEvery = 10 * time.Second
	}
	if cfg.PublishPoll <= 0 {
		cfg.PublishPoll = 100 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &Hub{cfg: cfg, cancel: cancel}
	h.pub = &publisher{h: h}
	sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
	err := h.pub.start(sctx)
	if err != nil {
		err = fmt.Errorf("hub: starting the state publisher: %w", err)
	} else if err = h.logHeld(sctx); err != nil {
		err = fmt.Errorf("hub: reading fleet status: %w", err)
	}
	scancel()
	if err != nil {
		cancel()
		return nil, err
	}
	// Reports commit (a node's contact) and share commits when answered
	// together; a snapshot page reads up to 2,000 records.
	for verb, s := range map[string]struct {
		fn       natsio.Handler
		parallel int
	}{"report": {h.serveReport, 64}, "snapshot": {h.serveSnapshot, 4}} {
		stop, err := cfg.Conn.Serve(natsio.HubSubject(verb, "*"), s.parallel, s.fn)
		if err != nil {
			h.Close()
			return nil, err
		}
		h.stops = append(h.stops, stop)
	}
	h.wg.Add(2)
	go func() {
		defer h.wg.Done()
		h.ingest(ctx)
	}()
	go func() {
		defer h.wg.Done()
		h.pub.run(ctx)
	}()
	return h, nil
}

// Close stops the loops and waits for them.
func (h *Hub) Close() {
	h.cancel()
	for _, s := range h.stops {
		s()
	}
	h.wg.Wait()
}

// workerQueue is how many uploads wait for each worker.
const workerQueue = 2

// ingest fetches uploads and hands each to the worker of its node as it
// arrives.
func (h *Hub) ingest(ctx context.Context) {
	work := make([]chan *natsio.Upload, h.cfg.Workers)
	var wg sync.WaitGroup
	for i := range work {
		work[i] = make(chan *natsio.Upload, workerQueue)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for u := range work[i] {
				h.handle(ctx, u)
			}
		}()
	}
	defer func() {
		for _, w := range work {
			close(w)
		}
		wg.Wait()
	}()
	for ctx.Err() == nil {
		err := h.cfg.Conn.NextUploads(ctx, h.cfg.FetchMax, h.cfg.FetchWait, func(u *natsio.Upload) {
			work[workerOf(u.MsgID(), len(work))] <- u
		})
		if err != nil && ctx.Err() == nil {
			h.cfg.Log.Error("fetching uploads from the taps stream", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(h.cfg.RetryDelay):
			}
		}
	}
}

// workerOf picks a node's worker from its message id "<node>:…".
func workerOf(msgID string, n int) int {
	node, _, _ := strings.Cut(msgID, ":")
	f := fnv.New32a()
	f.Write([]byte(node))
	return int(f.Sum32() % uint32(n))
}

// handle applies one upload: durable in the ledger first, then acknowledged
// to the stream, then to the node. A crash between the steps only makes
// the upload arrive again, which the ledger recognizes as repeats.
func (h *Hub) handle(ctx context.Context, u *natsio.Upload) {
	h.Stats.Uploads.Add(1)
	b, err := wire.DecodeUpload(u.Data())
	if err != nil {
		// A node wrote something the hub cannot read: it can never apply,
		// and redelivering it for ever would block nothing but fill logs.
		// The node re-sends the range from the acknowledged mark.
		h.Stats.Rejected.Add(1)
		h.cfg.Log.Error("rejecting an upload that does not decode", "msg_id", u.MsgID(), "stream_seq", u.StreamSeq, "err", err)
		_ = u.Ack(ctx)
		return
	}
	if id := wire.UploadID(b); id != u.MsgID() {
		h.cfg.Log.Warn("upload's message id differs from its content", "msg_id", u.MsgID(), "content", id)
	}
	now := h.cfg.Now()
	if !u.StoredAt.IsZero() {
		// How long ago the stream stored it, on the hub's clock (Config.Now
		// may not be the server's).
		b.ReceivedAt = now.Add(-max(time.Since(u.StoredAt), 0))
	}
	a, err := ApplyBatch(ctx, h.cfg.Ledger, b, now)
	if err != nil {
		if ctx.Err() == nil {
			h.Stats.Failed.Add(1)
			h.cfg.Log.Error("applying upload", "msg_id", u.MsgID(), "err", err)
			_ = u.Retry(h.cfg.RetryDelay)
		}
		return
	}
	if h.cfg.FaultAfterApply != nil && h.cfg.FaultAfterApply(u.MsgID()) {
		return
	}
	if a.FirstContact {
		h.firstContact(b.Node, b.Epoch)
	}
	if a.Gap {
		h.Stats.Gaps.Add(1)
		h.cfg.Log.Debug("upload ahead of the records it follows: delivered again later", "node", b.Node, "epoch", epochHex(b.Epoch),
			"first", b.First, "last", b.Last, "acknowledged", a.NodeEpoch.HighWater)
		_ = u.Retry(h.cfg.RetryDelay)
	} else {
		h.Stats.Applied.Add(1)
		h.Stats.Records.Add(uint64(a.Journaled))
		h.Stats.Repeats.Add(uint64(a.Repeats))
		h.Stats.Aliases.Add(uint64(a.Aliases))
		h.Stats.Quarantined.Add(uint64(a.Quarantined))
		h.cfg.Log.Debug("upload applied", "node", b.Node, "epoch", epochHex(b.Epoch), "first", b.First, "last", b.Last,
			"journaled", a.Journaled, "repeats", a.Repeats, "aliases", a.Aliases, "quarantined", a.Quarantined, "acknowledged", a.NodeEpoch.HighWater)
		for i, q := range a.Quarantine {
			if i == maxQuarantineLogged {
				h.cfg.Log.Warn("more records quarantined (citypass fleet status lists them all)", "node", b.Node, "epoch", epochHex(b.Epoch), "count", len(a.Quarantine)-i)
				break
			}
			h.cfg.Log.Warn("record quarantined", "node", b.Node, "epoch", epochHex(b.Epoch), "node_seq", q.Origin.NodeSeq, "tap", q.Record.ID.String(), "reason", q.Reason)
		}
		if err := u.Ack(ctx); err != nil && ctx.Err() == nil {
			h.cfg.Log.Error("acknowledging an upload to the taps stream", "msg_id", u.MsgID(), "err", err)
		}
	}
	// The node learns the mark either way: after a gap it re-sends from it.
	_ = h.cfg.Conn.Publish(natsio.AckSubject(b.Node), wire.Marshal(wire.Ack{Epoch: b.Epoch, HighWater: a.NodeEpoch.HighWater}))
}

// serveReport records a node's contact (its last seq and clock) and
// answers with the hub's time and high-water mark of the epoch.
func (h *Hub) serveReport(subject string, data []byte) ([]byte, error) {
	node := subject[strings.LastIndexByte(subject, '.')+1:]
	if err := fleet.CheckNodeID(node); err != nil {
		return nil, err
	}
	var r wire.Report
	if err := wire.Unmarshal(data, &r, "report"); err != nil {
		return nil, err
	}
	if r.Epoch == 0 {
		return nil, fmt.Errorf("report from %s: epoch 0", node)
	}
	now := h.cfg.Now()
	offset := now.Sub(r.NodeTime)
	var prev, ne fleet.NodeEpoch
	var known bool
	err := h.cfg.Ledger.UpdateFleet(context.Background(), func(tx ledger.FleetTxn) error {
		cur, ok, err := tx.NodeEpoch(node, r.Epoch)
		if err != nil {
			return err
		}
		prev, known = cur, ok
		if !ok {
			cur = fleet.NodeEpoch{Node: node, Epoch: r.Epoch, FirstContact: now}
		}
		ne = fleet.Contact(cur, now, r.LastSeq, offset, r.StateAsOf)
		return tx.PutNodeEpoch(ne)
	})
	if err != nil {
		return nil, fmt.Errorf("recording the report of %s: %w", node, err)
	}
	h.logContact(prev, known, ne)
	return wire.Marshal(wire.ReportReply{HubTime: now, Ack: wire.Ack{Epoch: r.Epoch, HighWater: ne.HighWater}, ClockOffset: offset}), nil
}

// ReadStatus builds fleet status (fleet.BuildStatus) from the hub ledger l
// at hub time now.
func ReadStatus(ctx context.Context, l *ledger.Ledger, enrolled []string, now time.Time) ([]fleet.NodeStatus, error) {
	var eps []fleet.NodeEpoch
	if err := l.NodeEpochs(ctx, func(ne *fleet.NodeEpoch) error { eps = append(eps, *ne); return nil }); err != nil {
		return nil, err
	}
	var qs []fleet.Quarantined
	if err := l.Quarantine(ctx, func(q *fleet.Quarantined) error { qs = append(qs, *q); return nil }); err != nil {
		return nil, err
	}
	return fleet.BuildStatus(eps, qs, enrolled, now), nil
}

// ErrLagging reports a close refused because nodes may still hold taps of
// the period.
var ErrLagging = errors.New("hub: nodes that may hold taps of the period have not been in contact since it ended")

// LaggingError names the nodes a close waits for.
type LaggingError struct {
	Start, End time.Time
	Nodes      []string
}

func (e *LaggingError) Error() string {
	return fmt.Sprintf("nodes %s uploaded taps of %s – %s and have not been in contact since it ended: they may hold more (close with --allow-lagging to close anyway: their late taps become adjustments)",
		strings.Join(e.Nodes, ", "), e.Start.Format(time.RFC3339), e.End.Format(time.RFC3339))
}

func (e *LaggingError) Is(target error) bool { return target == ErrLagging }

// CloseReady is reconcile.CloseOptions.Ready at a hub: it refuses a close
// while a node that uploaded taps of the span has not been in contact since
// the span's end (fleet.Lagging).
func CloseReady(ctx context.Context, l *ledger.Ledger) func(start, end time.Time) error {
	return func(start, end time.Time) error {
		var eps []fleet.NodeEpoch
		if err := l.NodeEpochs(ctx, func(ne *fleet.NodeEpoch) error { eps = append(eps, *ne); return nil }); err != nil {
			return err
		}
		if nodes := fleet.Lagging(eps, start, end); len(nodes) > 0 {
			return &LaggingError{Start: start, End: end, Nodes: nodes}
		}
		return nil
	}
}
