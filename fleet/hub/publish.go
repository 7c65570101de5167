package hub

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/wire"
	"github.com/citypass/citypass/ledger"
)

// maxStateBytes bounds a state message's items (a change that touched more
// is split into several messages of the same revision).
const maxStateBytes = 2 << 20

// publisher sends the hub ledger's change log down the state stream, in
// revision order, with a heartbeat at least every HeartbeatEvery (docs/
// fleet.md, "State down"). One goroutine: the stream's order is the
// publish order.
type publisher struct {
	h *Hub

	mu        sync.Mutex
	rev       uint64 // newest revision published
	streamSeq uint64 // stream sequence of the newest message published
	beatAt    time.Time
}

// start reads where the stream stands: the last message of this hub
// ledger's epoch gives the revision published; a stream holding none (a new
// stream, another hub ledger) starts at the ledger's newest revision,
// since nodes begin from a snapshot anyway.
func (p *publisher) start(ctx context.Context) error {
	epoch := p.h.cfg.Ledger.Epoch()
	data, seq, ok, err := p.h.cfg.Conn.LastState(ctx)
	if err != nil {
		return err
	}
	p.streamSeq = seq
	if ok {
		if b, err := wire.DecodeState(data); err == nil && b.HubEpoch == epoch {
			p.rev = b.Rev
			return nil
		}
	}
	p.rev, err = p.h.cfg.Ledger.LastRev()
	return err
}

func (p *publisher) run(ctx context.Context) {
	tick := time.NewTicker(p.h.cfg.PublishPoll)
	defer tick.Stop()
	for {
		if err := p.step(ctx); err != nil && ctx.Err() == nil {
			p.h.cfg.Log.Error("publishing state to the state stream", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// step publishes every revision committed so far, then a heartbeat when
// one is due: the heartbeat's time is taken before the revisions are read,
// so it covers only what it follows in the stream.
func (p *publisher) step(ctx context.Context) error {
	now := p.h.cfg.Now()
	last, err := p.h.cfg.Ledger.LastRev()
	if err != nil {
		return err
	}
	p.mu.Lock()
	from := p.rev + 1
	p.mu.Unlock()
	epoch := p.h.cfg.Ledger.Epoch()
	// Consecutive revisions go down together, up to maxStateBytes a
	// message: every message is a synced JetStream write, and a busy hub
	// commits a revision per upload. A revision larger than that is split
	// into several messages of its own.
	var (
		pending           []ledger.StateItem
		pendingBytes      int
		firstRev, lastRev uint64
	)
	publish := func(items []ledger.StateItem, first, rev uint64) error {
		b := &wire.StateBatch{HubEpoch: epoch, Rev: rev, Items: items}
		seq, err := p.h.cfg.Conn.PublishState(ctx, fmt.Sprintf("%016x:rev:%d-%d:%s", epoch, first, rev, partID(items)), wire.EncodeState(b))
		if err != nil {
			return err
		}
		p.mu.Lock()
		p.streamSeq, p.rev = seq, rev
		p.mu.Unlock()
		p.h.cfg.Log.Debug("state published", "revs", fmt.Sprintf("%d-%d", first, rev), "items", len(items))
		return nil
	}
	flush := func() error {
		if lastRev == 0 {
			return nil
		}
		err := publish(pending, firstRev, lastRev)
		pending, pendingBytes, firstRev, lastRev = nil, 0, 0, 0
		return err
	}
	for from <= last && ctx.Err() == nil {
		err := p.h.cfg.Ledger.Changes(ctx, from, 64, func(c *ledger.Change) error {
			size := itemsBytes(c.Items)
			full := p.h.cfg.RevisionsPerMessage > 0 && lastRev != 0 && lastRev-firstRev+1 >= uint64(p.h.cfg.RevisionsPerMessage)
			if lastRev != 0 && (full || pendingBytes+size > maxStateBytes) {
				if err := flush(); err != nil {
					return err
				}
			}
			from = c.Rev + 1
			if size > maxStateBytes {
				for _, part := range splitItems(c.Items) {
					if err := publish(part, c.Rev, c.Rev); err != nil {
						return err
					}
				}
				return nil
			}
			if lastRev == 0 {
				firstRev = c.Rev
			}
			// The items are the caller's to keep (Changes reads copies).
			pending = append(pending, c.Items...)
			pendingBytes += size
			lastRev = c.Rev
			return nil
		})
		if err != nil {
			return err
		}
	}
	if err := flush(); err != nil {
		return err
	}
	if from <= last {
		return ctx.Err()
	}
	p.mu.Lock()
	due := now.Sub(p.beatAt) >= p.h.cfg.HeartbeatEvery
	rev := p.rev
	p.mu.Unlock()
	if !due {
		return nil
	}
	seq, err := p.h.cfg.Conn.PublishState(ctx, fmt.Sprintf("%016x:beat:%d", epoch, now.UnixNano()),
		wire.EncodeState(&wire.StateBatch{HubEpoch: epoch, Rev: rev, Beat: true, HubTime: now}))
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.streamSeq, p.beatAt = seq, now
	p.mu.Unlock()
	return nil
}

// position returns the newest revision published and its stream sequence.
func (p *publisher) position() (rev, streamSeq uint64) {
	st := p.state()
	return st.rev, st.streamSeq
}

// publisherState is where the publisher stands.
type publisherState struct {
	rev, streamSeq uint64
	beatAt         time.Time // hub time of the last heartbeat; zero before the first
}

func (p *publisher) state() publisherState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return publisherState{rev: p.rev, streamSeq: p.streamSeq, beatAt: p.beatAt}
}

// itemsBytes is the size splitItems counts for items.
func itemsBytes(items []ledger.StateItem) int {
	n := 0
	for _, it := range items {
		n += len(it.ID) + len(it.Value) + 16
	}
	return n
}

func splitItems(items []ledger.StateItem) [][]ledger.StateItem {
	var out [][]ledger.StateItem
	start, size := 0, 0
	for i, it := range items {
		n := len(it.ID) + len(it.Value) + 16
		if i > start && size+n > maxStateBytes {
			out = append(out, items[start:i])
			start, size = i, 0
		}
		size += n
	}
	return append(out, items[start:])
}

// partID names a part of a split revision (its first item) for the
// message id.
func partID(items []ledger.StateItem) string {
	if len(items) == 0 {
		return "-"
	}
	return fmt.Sprintf("%d.%s", items[0].Kind, items[0].ID)
}

// serveSnapshot answers a node's page request of the hub's state. The first
// page also says where the node resumes the stream: after the message the
// publisher had stored when the snapshot began, so every change after it is
// in the stream as well (a page may be newer; changes re-applied in order
// end at the latest values).
func (h *Hub) serveSnapshot(subject string, data []byte) ([]byte, error) {
	node := subject[strings.LastIndexByte(subject, '.')+1:]
	if err := fleet.CheckNodeID(node); err != nil {
		return nil, err
	}
	var req wire.SnapshotRequest
	if err := wire.Unmarshal(data, &req, "snapshot request"); err != nil {
		return nil, err
	}
	max := req.Max
	if max <= 0 || max > 4096 {
		max = 4096
	}
	_, streamSeq := h.pub.position()
	now := h.cfg.Now()
	b := &wire.StateBatch{HubEpoch: h.cfg.Ledger.Epoch(), HubTime: now, StreamSeq: streamSeq}
	size := 0
	after := ledger.StateItem{Kind: ledger.StateKind(req.AfterKind), ID: req.AfterID}
	rev, err := h.cfg.Ledger.StateSnapshot(context.Background(), after, max+1, func(it ledger.StateItem) error {
		if len(b.Items) >= max || size > maxStateBytes {
			b.More = true
			return nil
		}
		size += len(it.ID) + len(it.Value)
		b.Items = append(b.Items, it)
		return nil
	})
	if err != nil {
		return nil, err
	}
	b.Rev = rev
	return wire.EncodeState(b), nil
}
