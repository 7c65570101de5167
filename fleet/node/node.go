package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/wire"
	"github.com/citypass/citypass/ledger"
)

// Config configures a node's sync. Zero values take the defaults given.
type Config struct {
	Ledger *ledger.Ledger // the node's ledger; required
	Node   string         // the node id; required
	Conn   *natsio.Conn   // a connection with the node's credentials; required
	// Now is the node clock; default time.Now.
	Now func() time.Time
	// BatchMax bounds the records of one upload; default 1000.
	BatchMax int
	// Poll is how often the uplink looks for new journal records; default 50 ms.
	Poll time.Duration
	// ResendAfter: when the hub's mark has not moved for this long while
	// uploads are unacknowledged, the node re-sends from the mark; default 10 s.
	ResendAfter time.Duration
	// ReportEvery is how often the node reports to the hub; default 10 s.
	ReportEvery time.Duration
	// RequestTimeout bounds a publish or a report; default 5 s.
	RequestTimeout time.Duration
	// NoStateDown leaves out the state downlink: the node uploads and
	// reports but does not follow the hub's state, which stays as it is in
	// its ledger (state_as_of does not move). For benchmarks that run
	// hundreds of nodes on one machine, where every node applying every
	// change of the hub would charge them all to that machine's cores; a
	// node in service always follows the state (default false).
	NoStateDown bool
	// OnTariffs is called after the hub's state brought tariff versions
	// (a gate reloads its catalog); optional.
	OnTariffs func()
	// Log receives the node's sync events; default discarded.
	Log *slog.Logger
}

// Status is a node's view of its sync.
type Status struct {
	Node      string
	Epoch     uint64
	LastSeq   uint64 // last durable journal seq
	Acked     uint64 // the hub's high-water mark, as last heard
	Sent      uint64 // uploaded up to here (not necessarily acknowledged)
	Connected bool
	// LastContact is the node time of the last answer from the hub.
	LastContact time.Time
	// ClockOffset is hub − node at LastContact; ClockKnown false before.
	ClockOffset time.Duration
	ClockKnown  bool
	// State is where the node stands in the hub's state (StateAsOf: the
	// hub time its state is complete up to).
	State StateCursor
}

// CursorMeta is the ledger meta key of the node's durable cursor.
const CursorMeta = "fleet.uplink"

type cursor struct {
	Epoch uint64 `json:"epoch"`
	Acked uint64 `json:"acked"`
}

// Node runs a node's uplink. Safe for concurrent use.
type Node struct {
	cfg   Config
	epoch uint64

	mu           sync.Mutex
	st           Status
	changed      chan struct{} // closed and replaced when acked moves
	state        StateCursor   // where the node stands in the hub's state
	asOf         time.Time     // state_as_of as last stored in the ledger
	stateChanged chan struct{} // closed and replaced when state moves
	contact      chan struct{} // closed at the first answered report
	kick         chan struct{} // wakes the uplink (Rewind)
	lastAck      time.Time     // node time acked last moved (or a resend began)
	// published is the highest seq the stream took from this node since it
	// started (at least the saved cursor): the hub's acknowledgements count
	// only up to it.
	published uint64
	// publishing is the last seq of the upload being published (0: none),
	// and early the highest mark the hub sent for it meanwhile: the hub
	// may apply and acknowledge an upload before the stream's reply to
	// its publish reaches the node.
	publishing, early uint64
	warnedAhead       bool

	cancel context.CancelFunc
	wg     sync.WaitGroup
	stop   func()
}

// Start starts the node's uplink and report loops.
func Start(cfg Config) (*Node, error) {
	if cfg.Ledger == nil || cfg.Conn == nil {
		return nil, errors.New("node: ledger and connection are required")
	}
	if err := fleet.CheckNodeID(cfg.Node); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.BatchMax <= 0 || cfg.BatchMax > fleet.MaxBatchRecords {
		cfg.BatchMax = 1000
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 50 * time.Millisecond
	}
	if cfg.ResendAfter <= 0 {
		cfg.ResendAfter = 10 * time.Second
	}
	if cfg.ReportEvery <= 0 {
		cfg.ReportEvery = 10 * time.Second
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	n := &Node{cfg: cfg, epoch: cfg.Ledger.Epoch(), changed: make(chan struct{}), contact: make(chan struct{}),
		stateChanged: make(chan struct{}), kick: make(chan struct{}, 1)}
	var err error
	if n.state, err = ReadStateCursor(cfg.Ledger); err != nil {
		return nil, err
	}
	n.asOf = n.state.AsOf
	n.st = Status{Node: cfg.Node, Epoch: n.epoch}
	if b, ok, err := cfg.Ledger.Meta(CursorMeta); err != nil {
		return nil, fmt.Errorf("node: reading the sync cursor: %w", err)
	} else if ok {
		var c cursor
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("node: sync cursor: %w", err)
		}
		if c.Epoch == n.epoch {
			n.st.Acked = c.Acked
		}
	}
	n.st.Sent = n.st.Acked
	n.published = n.st.Acked
	stop, err := cfg.Conn.Subscribe(natsio.AckSubject(cfg.Node), n.onAck)
	if err != nil {
		return nil, err
	}
	n.stop = stop
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		n.uplink(ctx)
	}()
	if !cfg.NoStateDown {
		n.wg.Add(1)
		go func() {
			defer n.wg.Done()
			n.downlink(ctx)
		}()
	}
	return n, nil
}

// Close stops the loops, saving the cursor.
func (n *Node) Close() error {
	n.cancel()
	n.stop()
	n.wg.Wait()
	return n.saveCursor(context.Background())
}

// Status returns the node's view of its sync. LastSeq is read from the
// ledger now, so the backlog grows while the node is offline.
func (n *Node) Status() Status {
	last, err := n.cfg.Ledger.LastJournalSeq()
	n.mu.Lock()
	defer n.mu.Unlock()
	st := n.st
	if err == nil && last > st.LastSeq {
		st.LastSeq = last
	}
	st.Connected = n.cfg.Conn.Connected()
	st.State = n.state
	return st
}

// State returns where the node stands in the hub's state (its AsOf is
// state_as_of; zero before the first sync, and while the node starts over
// on a replaced hub's state), without reading the ledger.
func (n *Node) State() StateCursor { return n.cursor() }

// Backlog is the number of journal records the hub has not acknowledged.
func (s Status) Backlog() uint64 {
	if s.LastSeq <= s.Acked {
		return 0
	}
	return s.LastSeq - s.Acked
}

// StateAsOf returns the node's state_as_of as its ledger holds it: the
// hub time its copy of the hub's state is complete up to. A gate that syncs
// in-process decides with it (Options.Validator) instead of reading the
// ledger at every tap. Unlike State().AsOf it never falls back to zero
// while the node starts over on a replaced hub's state: its taps meanwhile
// are as stale as the state they are decided on.
func (n *Node) StateAsOf() (time.Time, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.asOf, nil
}

func (n *Node) onAck(data []byte) {
	var a wire.Ack
	if err := wire.Unmarshal(data, &a, "acknowledgement"); err != nil {
		n.cfg.Log.Warn("ignoring an acknowledgement", "err", err)
		return
	}
	n.advance(a)
}

// advance takes the hub's mark of an epoch (from an acknowledgement or a
// report's reply); when the mark stays below what was sent for ResendAfter,
// the uplink re-sends from it.
func (n *Node) advance(a wire.Ack) {
	if a.Epoch != n.epoch {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	// The hub can only acknowledge what this node uploaded: its mark may be
	// higher when this ledger was restored from an old copy and the hub
	// holds other records under the seqs given again. Those must go up (the
	// hub quarantines them), so the mark counts only up to what was sent.
	if a.HighWater > n.published && n.publishing > n.published {
		n.early = max(n.early, min(a.HighWater, n.publishing))
	}
	if a.HighWater > max(n.published, n.publishing) && !n.warnedAhead {
		n.warnedAhead = true
		n.cfg.Log.Warn("the hub holds more of this epoch than this node uploaded since it started: a ledger restored from an old copy? re-sending from the node's own mark",
			"hub_high_water", a.HighWater, "uploaded", n.published)
	}
	n.takeMark(min(a.HighWater, n.published))
	// The uplink is not woken: new records and re-sends wait for its next
	// poll, so a busy gate uploads a poll's worth of taps at a time instead
	// of one small upload per round trip to the hub.
}

// takeMark moves acked up to hw (n.mu held).
func (n *Node) takeMark(hw uint64) {
	if hw > n.st.Acked {
		n.st.Acked = hw
		n.lastAck = n.cfg.Now()
		close(n.changed)
		n.changed = make(chan struct{})
	}
	if n.st.Sent < n.st.Acked {
		n.st.Sent = n.st.Acked
	}
}

// beginPublish notes that an upload ending at seq last is being published.
func (n *Node) beginPublish(last uint64) {
	n.mu.Lock()
	n.publishing, n.early = last, 0
	n.mu.Unlock()
}

// endPublish records the outcome of publishing from..last: once the stream
// holds it, it counts as sent, and a mark the hub sent for it meanwhile
// counts too.
func (n *Node) endPublish(from, last uint64, stored bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	early := n.early
	n.publishing, n.early = 0, 0
	if !stored {
		return
	}
	n.published = max(n.published, last)
	if n.st.Sent == from-1 {
		if n.st.Sent == n.st.Acked {
			n.lastAck = n.cfg.Now() // the wait for an acknowledgement starts
		}
		n.st.Sent = last
	}
	n.takeMark(min(early, n.published))
}

func (n *Node) saveCursor(ctx context.Context) error {
	n.mu.Lock()
	c := cursor{Epoch: n.epoch, Acked: n.st.Acked}
	n.mu.Unlock()
	b, _ := json.Marshal(c)
	return n.cfg.Ledger.PutMeta(ctx, CursorMeta, b)
}

// uplink uploads the journal from the cursor on, reports to the hub, and
// re-sends from the hub's mark when uploads stay unacknowledged.
func (n *Node) uplink(ctx context.Context) {
	poll := time.NewTicker(n.cfg.Poll)
	defer poll.Stop()
	var lastReport, lastSaved time.Time
	var savedAcked uint64
	wasConnected := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-poll.C:
		case <-n.kick:
		}
		now := n.cfg.Now()
		connected := n.cfg.Conn.Connected()
		if connected && (!wasConnected || now.Sub(lastReport) >= n.cfg.ReportEvery) {
			if err := n.report(ctx); err != nil {
				n.cfg.Log.Debug("report", "err", err)
			} else {
				lastReport = now
			}
		}
		if !connected && wasConnected {
			n.resend("disconnected")
		}
		wasConnected = connected
		if connected {
			if err := n.push(ctx); err != nil && ctx.Err() == nil {
				n.cfg.Log.Debug("upload", "err", err)
				n.resend("upload failed")
			}
		}
		n.mu.Lock()
		acked, sent, last := n.st.Acked, n.st.Sent, n.lastAck
		n.mu.Unlock()
		if sent > acked && now.Sub(last) >= n.cfg.ResendAfter {
			n.resend("no acknowledgement")
		}
		if acked != savedAcked && now.Sub(lastSaved) >= time.Second {
			if err := n.saveCursor(ctx); err == nil {
				savedAcked, lastSaved = acked, now
			}
		}
	}
}

// resend makes the next uploads start after the hub's mark.
func (n *Node) resend(why string) {
	n.mu.Lock()
	if n.st.Sent > n.st.Acked {
		n.cfg.Log.Debug("re-sending from the hub's mark", "why", why, "from", n.st.Acked+1, "sent", n.st.Sent)
		n.st.Sent = n.st.Acked
	}
	n.lastAck = n.cfg.Now()
	n.mu.Unlock()
}

// report tells the hub the node's last seq and clock, and takes its mark.
func (n *Node) report(ctx context.Context) error {
	last, err := n.cfg.Ledger.LastJournalSeq()
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
	defer cancel()
	asOf, _ := n.StateAsOf()
	sent := n.cfg.Now()
	out, err := n.cfg.Conn.Request(rctx, natsio.HubSubject("report", n.cfg.Node), wire.Marshal(wire.Report{Epoch: n.epoch, LastSeq: last, NodeTime: sent, StateAsOf: asOf}))
	if err != nil {
		return err
	}
	var rep wire.ReportReply
	if err := wire.Unmarshal(out, &rep, "report reply"); err != nil {
		return err
	}
	got := n.cfg.Now()
	n.mu.Lock()
	if n.st.LastContact.IsZero() {
		close(n.contact)
	}
	n.st.LastSeq = last
	n.st.LastContact = got
	// NTP-style: the hub's time is taken at the middle of the round trip.
	n.st.ClockOffset, n.st.ClockKnown = rep.HubTime.Sub(sent.Add(got.Sub(sent)/2)), true
	n.mu.Unlock()
	n.advance(rep.Ack)
	return nil
}

// errBatchFull stops a journal scan once a batch is full.
var errBatchFull = errors.New("batch full")

// push uploads every durable record after Sent, a batch at a time.
func (n *Node) push(ctx context.Context) error {
	last, err := n.cfg.Ledger.LastJournalSeq()
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.st.LastSeq = last
	n.mu.Unlock()
	for ctx.Err() == nil {
		n.mu.Lock()
		from, offset, known := n.st.Sent+1, n.st.ClockOffset, n.st.ClockKnown
		n.mu.Unlock()
		if from > last {
			return nil
		}
		b := &fleet.Batch{Node: n.cfg.Node, Epoch: n.epoch, First: from, SentAt: n.cfg.Now(), ClockOffset: offset, ClockKnown: known}
		// The records go up as the journal stores them (an upload's record
		// is the journal's encoding), copied into one buffer, neither
		// decoded nor encoded again.
		want := min(uint64(n.cfg.BatchMax), last-from+1)
		buf := make([]byte, 0, 256*want)
		records := make([][]byte, 0, want)
		err := n.cfg.Ledger.JournalRaw(ctx, from, func(seq uint64, raw []byte) error {
			if next := from + uint64(len(records)); seq != next {
				return fmt.Errorf("journal record %d where %d was expected", seq, next)
			}
			start := len(buf)
			buf = append(buf, raw...) // records already cut keep the old array
			records = append(records, buf[start:len(buf):len(buf)])
			if len(records) >= n.cfg.BatchMax {
				return errBatchFull
			}
			return nil
		})
		if err != nil && !errors.Is(err, errBatchFull) {
			return fmt.Errorf("reading the journal from %d: %w", from, err)
		}
		if len(records) == 0 {
			return nil
		}
		b.Last = b.First + uint64(len(records)) - 1
		pctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		n.beginPublish(b.Last)
		err = n.cfg.Conn.PublishUpload(pctx, n.cfg.Node, wire.UploadID(b), wire.EncodeUploadRecords(b, records))
		cancel()
		n.endPublish(b.First, b.Last, err == nil)
		if err != nil {
			return err
		}
	}
	return ctx.Err()
}

// WaitState waits until the node's state is complete up to at least hub
// time asOf (a heartbeat or snapshot at or after it applied).
func (n *Node) WaitState(ctx context.Context, asOf time.Time) error {
	for {
		n.mu.Lock()
		cur, ch := n.state, n.stateChanged
		n.mu.Unlock()
		if cur.HubEpoch != 0 && !cur.AsOf.Before(asOf) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("the node's state is as of %s, not yet %s: %w", cur.AsOf.Format(time.RFC3339), asOf.Format(time.RFC3339), ctx.Err())
		}
	}
}

// Rewind makes the node upload its whole journal again (the hub recognizes
// what it holds): for an operator who doubts the hub has everything, and
// for tests of re-sends after the stream's duplicate window.
func (n *Node) Rewind() {
	n.mu.Lock()
	n.st.Acked, n.st.Sent, n.published, n.early = 0, 0, 0, 0
	n.lastAck = n.cfg.Now()
	n.mu.Unlock()
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// WaitStream waits until the node has applied the state stream up to
// sequence seq.
func (n *Node) WaitStream(ctx context.Context, seq uint64) error {
	for {
		n.mu.Lock()
		cur, ch := n.state, n.stateChanged
		n.mu.Unlock()
		if cur.HubEpoch != 0 && cur.StreamSeq >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("the node applied the hub's state up to message %d, not yet %d: %w", cur.StreamSeq, seq, ctx.Err())
		}
	}
}

// WaitContact waits until the hub has answered a report of this node.
func (n *Node) WaitContact(ctx context.Context) error {
	select {
	case <-n.contact:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no answer from the hub: %w", ctx.Err())
	}
}

// WaitAcked waits until the hub has acknowledged every record up to seq,
// or ctx ends.
func (n *Node) WaitAcked(ctx context.Context, seq uint64) error {
	for {
		n.mu.Lock()
		acked, ch := n.st.Acked, n.changed
		n.mu.Unlock()
		if acked >= seq {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("hub acknowledged up to %d of %d: %w", acked, seq, ctx.Err())
		}
	}
}
