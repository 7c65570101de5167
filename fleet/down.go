package fleet

import "github.com/citypass/citypass/engine"

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
