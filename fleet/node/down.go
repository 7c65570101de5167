package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/wire"
	"github.com/citypass/citypass/ledger"
)

// StateMeta is the ledger meta key of where the node stands in the hub's
// state (fleet.StateMeta).
const StateMeta = fleet.StateMeta

// StateCursor is where a node stands in the hub's state (fleet.StateCursor:
// datadir reads it too, for the node's state_as_of).
type StateCursor = fleet.StateCursor

// ReadStateCursor returns the node's state cursor (zero before the first
// sync).
func ReadStateCursor(l *ledger.Ledger) (StateCursor, error) { return datadir.ReadStateCursor(l) }

// downlink keeps the node's copy of the hub's state current: it loads a
// snapshot when it has none (or the stream no longer holds what follows its
// place, or the hub ledger changed), then applies the state stream in
// order, each fetch in one synced ledger transaction with the cursor. It
// learns that its place fell out of the stream's retention from the reader
// (natsio.ErrStateGap), not by asking the stream's bounds at every
// reconnection: after a hub restart every node reconnects at once, and
// each request more to the hub's JetStream API is one more to time out.
func (n *Node) downlink(ctx context.Context) {
	var r *natsio.StateReader
	defer func() { closeReader(r) }()
	// behind: the stream no longer holds the message after the node's
	// place (the reader found a gap), so the node needs a snapshot.
	behind := false
	// After a failure the node waits before it asks again, twice as long
	// after each failure in a row (from Poll up to downlinkBackoffMax),
	// each wait drawn between half and all of it: after a hub restart every
	// node asks at once, and the waits spread their requests to the hub's
	// JetStream API out instead of repeating them in step.
	backoff := time.Duration(0)
	failed := func(err error) bool {
		n.cfg.Log.Debug("state downlink", "err", err)
		backoff = min(max(2*backoff, n.cfg.Poll), downlinkBackoffMax)
		return sleep(ctx, backoff/2+rand.N(backoff/2+1))
	}
	for ctx.Err() == nil {
		if !n.cfg.Conn.Connected() {
			r = closeReader(r)
			if !sleep(ctx, n.cfg.Poll) {
				return
			}
			continue
		}
		cur := n.cursor()
		if r == nil {
			var err error
			if cur.HubEpoch == 0 || behind {
				err = n.loadSnapshot(ctx)
				cur = n.cursor()
				behind = behind && err != nil
			}
			if err == nil {
				r, err = n.cfg.Conn.ReadState(ctx, cur.StreamSeq+1)
			}
			if err != nil {
				r = nil
				if !failed(err) {
					return
				}
				continue
			}
		}
		msgs, err := r.Next(ctx, 256, n.cfg.RequestTimeout)
		if err == nil && len(msgs) > 0 {
			err = n.applyStream(ctx, msgs)
		}
		if err == nil {
			backoff = 0
			continue
		}
		r = closeReader(r)
		if errors.Is(err, errOtherHub) {
			n.setCursor(StateCursor{}) // start over from a snapshot
		}
		behind = behind || errors.Is(err, natsio.ErrStateGap)
		if !failed(err) {
			return
		}
	}
}

// downlinkBackoffMax bounds the downlink's wait after failures in a row.
const downlinkBackoffMax = 5 * time.Second

func closeReader(r *natsio.StateReader) *natsio.StateReader {
	if r != nil {
		r.Close()
	}
	return nil
}

var errOtherHub = errors.New("node: the state stream is another hub ledger's")

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (n *Node) cursor() StateCursor {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state
}

func (n *Node) setCursor(c StateCursor) {
	n.mu.Lock()
	n.state = c
	close(n.stateChanged)
	n.stateChanged = make(chan struct{})
	n.mu.Unlock()
}

// loadSnapshot copies the hub's whole state, a page at a time, then sets
// the cursor to the snapshot's start.
func (n *Node) loadSnapshot(ctx context.Context) error {
	var first *wire.StateBatch
	req := wire.SnapshotRequest{Max: 2000}
	for {
		rctx, cancel := context.WithTimeout(ctx, n.cfg.RequestTimeout)
		out, err := n.cfg.Conn.Request(rctx, natsio.HubSubject("snapshot", n.cfg.Node), wire.Marshal(req))
		cancel()
		if err != nil {
			return fmt.Errorf("loading the hub's state: %w", err)
		}
		b, err := wire.DecodeState(out)
		if err != nil {
			return err
		}
		if first == nil {
			first = b
		} else if b.HubEpoch != first.HubEpoch {
			return errOtherHub
		}
		var next StateCursor
		if !b.More {
			next = StateCursor{HubEpoch: first.HubEpoch, StreamSeq: first.StreamSeq, Rev: first.Rev, AsOf: first.HubTime}
		}
		if err := n.apply(ctx, b.Items, next, !b.More); err != nil {
			return err
		}
		if !b.More {
			n.cfg.Log.Info("loaded the hub's state", "rev", first.Rev, "as_of", first.HubTime)
			return nil
		}
		if len(b.Items) == 0 {
			return errors.New("node: the hub sent an empty snapshot page with more to follow")
		}
		last := b.Items[len(b.Items)-1]
		req.AfterKind, req.AfterID = byte(last.Kind), last.ID
	}
}

// applyStream applies state stream messages in order.
func (n *Node) applyStream(ctx context.Context, msgs []natsio.StateMsg) error {
	cur := n.cursor()
	var items []ledger.StateItem
	for _, m := range msgs {
		b, err := wire.DecodeState(m.Data)
		if err != nil {
			return fmt.Errorf("state message %d: %w", m.Seq, err)
		}
		if b.HubEpoch != cur.HubEpoch {
			return errOtherHub
		}
		items = append(items, b.Items...)
		cur.StreamSeq, cur.Rev = m.Seq, max(cur.Rev, b.Rev)
		if b.Beat && b.HubTime.After(cur.AsOf) {
			cur.AsOf = b.HubTime
		}
	}
	return n.apply(ctx, items, cur, true)
}

// apply merges hub records into the node's ledger and, when setCur, stores
// the cursor, in one synced transaction.
func (n *Node) apply(ctx context.Context, items []ledger.StateItem, cur StateCursor, setCur bool) error {
	tariffs := false
	err := n.cfg.Ledger.UpdateFleet(ctx, func(tx ledger.FleetTxn) error {
		tariffs = false
		for _, it := range items {
			if len(it.Value) == 0 {
				continue // deleted at the hub: nothing the node must forget
			}
			v, err := ledger.DecodeStateItem(it)
			if err != nil {
				return fmt.Errorf("state %s %s: %w", it.Kind, it.ID, err)
			}
			if err := mergeInto(tx, it.ID, v); err != nil {
				return err
			}
			tariffs = tariffs || v.Tariff != nil
		}
		if setCur {
			b, _ := json.Marshal(cur)
			return tx.PutMeta(StateMeta, b)
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The gate decides with new tariff versions before the node's state
	// says it is as of the heartbeat that follows them.
	if tariffs && n.cfg.OnTariffs != nil {
		n.cfg.OnTariffs()
	}
	if setCur {
		n.setCursor(cur)
		n.mu.Lock()
		n.asOf = cur.AsOf
		n.mu.Unlock()
	}
	return nil
}

// mergeInto merges one hub record into the node's ledger. A record the
// merge leaves as the node holds it (the hub's copy of what the node
// uploaded, or older) is not written again: most of what flows down to a
// busy node is its own taps' cards and usage coming back.
func mergeInto(tx ledger.FleetTxn, id string, v ledger.StateValue) error {
	switch {
	case v.Tariff != nil:
		return tx.PutStoredTariff(*v.Tariff)
	case v.Pass != nil:
		local, ok, err := tx.Pass(v.Pass.ID)
		if err != nil {
			return err
		}
		var lp *engine.Pass
		if ok {
			lp = &local
		}
		return putIfChanged(fleet.MergePass(*v.Pass, lp), local, ok, tx.PutPass)
	case v.Card != nil:
		local, ok, err := tx.Card(v.Card.UID)
		if err != nil {
			return err
		}
		var lc *engine.Card
		if ok {
			lc = &local
		}
		return putIfChanged(fleet.MergeCard(*v.Card, lc), local, ok, tx.PutCard)
	case v.Usage != nil:
		local, err := tx.Usage(id)
		if err != nil {
			return err
		}
		return putIfChanged(fleet.MergeUsage(*v.Usage, &local), local, len(local.Visits) > 0,
			func(u engine.Usage) error { return tx.PutUsage(id, u) })
	}
	return nil
}

// putIfChanged writes merged with put unless the node held a record
// (held) equal to it. Both come from the ledger's decoders, so equal
// records are deeply equal; a false "changed" would only cost a write.
func putIfChanged[T any](merged, local T, held bool, put func(T) error) error {
	if held && reflect.DeepEqual(merged, local) {
		return nil
	}
	return put(merged)
}
