package fleet

import (
	"time"

	"github.com/citypass/citypass/engine"
)

// StateMeta is the ledger meta key under which a node keeps its
// StateCursor, as JSON (docs/fleet.md, "State down"). fleet/node writes it
// in the transaction that applies the state it follows; datadir reads it.
const StateMeta = "fleet.state"

// StateCursor is where a node stands in the hub's state: the hub ledger it
// follows, the last state stream message applied, the newest revision seen
// and state_as_of, the hub time of the last heartbeat applied (or of the
// snapshot the node loaded): its copy of the hub's state is complete up to
// AsOf, and staleness at a tap is the tap's time − AsOf
// (docs/semantics.md, "Offline policy").
type StateCursor struct {
	HubEpoch  uint64    `json:"hub_epoch"`
	StreamSeq uint64    `json:"stream_seq"`
	Rev       uint64    `json:"rev"`
	AsOf      time.Time `json:"as_of"`
}

// The merge of the hub's state into a node's (docs/fleet.md, "State down").
// A node holds the hub's records plus what it decided itself and the hub
// has not yet reflected. Each merge keeps the hub's word on what only the
// hub decides (sales, refunds, blocks, replacements) and the union of what
// both saw (activation, counters, visits), so that applying the hub's
// state in any order, or twice, never loses a local entry.

// MergePass returns the node's pass after it learns the hub's: the hub's
// record, activated at the earlier of the two activations.
func MergePass(hub engine.Pass, local *engine.Pass) engine.Pass {
	out := hub.Clone()
	if local == nil || local.ActivatedAt.IsZero() {
		return out
	}
	if out.ActivatedAt.IsZero() || local.ActivatedAt.Before(out.ActivatedAt) {
		out.ActivatedAt, out.ValidUntil = local.ActivatedAt, local.ValidUntil
		if out.Status == engine.PassSold {
			out.Status = engine.PassActive
		}
	}
	return out
}

// MergeCard returns the node's card after it learns the hub's: the hub's
// record (its passes, block and replacement), with the higher of the two
// authenticated counters.
func MergeCard(hub engine.Card, local *engine.Card) engine.Card {
	out := hub.Clone()
	if local != nil && local.HasCounter && (!out.HasCounter || local.LastCounter > out.LastCounter) {
		out.LastCounter, out.HasCounter = local.LastCounter, true
	}
	return out
}

// MergeUsage returns the node's usage after it learns the hub's: every
// visit either holds, each once.
func MergeUsage(hub engine.Usage, local *engine.Usage) engine.Usage {
	out := hub.Clone()
	if local != nil {
		out.Merge(local)
	}
	return out
}
