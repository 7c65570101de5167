package fleet

import (
	"fmt"
	"time"

	"github.com/citypass/citypass/engine"
)

// Stored is a record the hub already journaled, with its origin (HasOrigin
// false for a record the hub journaled itself).
type Stored struct {
	Record    engine.TapRecord
	Origin    Origin
	HasOrigin bool
}

// IngestView is what the hub ledger holds that one batch touches, read by
// the ingest loop inside the transaction that will store the result. Ingest
// takes ownership of the maps and updates the state ones (ByNodeSeq,
// Passes, Cards, Usage) as it goes, so a record later in the batch sees the
// effects of earlier ones; it keeps the batch's own tap ids apart.
type IngestView struct {
	// NodeEpoch is the hub's state of the batch's node epoch; Known false
	// on first contact.
	NodeEpoch NodeEpoch
	Known     bool
	// ByNodeSeq holds, for each node seq of the batch at or below
	// NodeEpoch.HighWater, the records the hub holds for it: the one
	// journaled (or aliased) under it and any quarantined under it.
	ByNodeSeq map[uint64][]engine.TapRecord
	// ByTapID holds the hub's record of every tap id of the batch, if any.
	ByTapID map[engine.TapID]Stored
	// Passes, Cards and Usage hold the hub's records named by the batch's
	// records (absent: unknown at the hub).
	Passes map[string]engine.Pass
	Cards  map[string]engine.Card
	Usage  map[string]engine.Usage
}

// Foreign is a node's record to journal at the hub with its origin.
type Foreign struct {
	Record engine.TapRecord
	Origin Origin
}

// Alias is a node seq whose record the hub already held under another
// origin (a duplicate): the node seq is recorded as received.
type Alias struct {
	NodeSeq uint64
	Tap     engine.TapID
}

// IngestResult is what to store for one batch, all in one synced ledger
// batch, before the batch is acknowledged.
type IngestResult struct {
	// Gap: the batch starts above NodeEpoch.HighWater+1. Nothing was
	// applied: keep (park) the batch and ask the node for HighWater+1.
	Gap bool
	// NodeEpoch is the node epoch's new state.
	NodeEpoch NodeEpoch
	// Journal lists the records to journal, in node seq order.
	Journal []Foreign
	// Aliases lists node seqs that repeat a record held under another
	// origin.
	Aliases []Alias
	// Quarantine lists records kept without being applied.
	Quarantine []Quarantined
	// Repeats counts records of node seqs the hub had received already
	// (a re-sent batch).
	Repeats int
	// Passes, Cards and Usage are the hub records the batch changed (new
	// values), by id.
	Passes map[string]engine.Pass
	Cards  map[string]engine.Card
	Usage  map[string]engine.Usage
}

// Ingest merges one batch into the hub's state (docs/fleet.md, "Taps up").
// It is a pure function of its inputs: the batch, the view and the hub's
// clock reading now (stamped as upload time). The batch counts as contact
// from its node epoch at b.ReceivedAt (now when unknown or later): a batch
// the stream delivers again long after the node sent it, such as an old
// epoch's upload waiting for records a wiped node can no longer send, does
// not make that epoch look current (docs/fleet.md, "fleet status").
//
// Records at or below the high-water mark were received before: the same
// content is a repeat; other content means the node's ledger lost records
// it had uploaded (a rolled-back disk) and is quarantined. Records above it
// must follow on: a batch that starts beyond HighWater+1 is a Gap. A new
// record whose tap id the hub holds from elsewhere is an alias when its
// content is the same and quarantined when not; a record naming a pass the
// hub does not know is quarantined. Every other record is journaled with
// its origin, keeping the node's decision, and its effects are merged:
// activation the earliest activating entry, the card counter the highest,
// usage the union of visits. The high-water mark passes every record.
func Ingest(b *Batch, v *IngestView, now time.Time) IngestResult {
	contact := now
	if !b.ReceivedAt.IsZero() && b.ReceivedAt.Before(now) {
		contact = b.ReceivedAt
	}
	ne := v.NodeEpoch
	if !v.Known {
		ne = NodeEpoch{Node: b.Node, Epoch: b.Epoch, FirstContact: contact}
	}
	ne = ne.contactAt(contact)
	res := IngestResult{}
	if b.First > ne.HighWater+1 {
		res.Gap = true
		res.NodeEpoch = ne
		return res
	}
	origin := func(r *engine.TapRecord) Origin {
		return Origin{Node: b.Node, Epoch: b.Epoch, NodeSeq: r.JournalSeq, NodeRecordedAt: r.RecordedAt,
			UploadedAt: now, ClockOffset: b.ClockOffset, ClockKnown: b.ClockKnown}
	}
	quarantine := func(r *engine.TapRecord, why string) {
		res.Quarantine = append(res.Quarantine, Quarantined{Origin: origin(r), Record: *r, Reason: why})
		ne.Quarantined++
	}
	res.Journal = make([]Foreign, 0, len(b.Records))
	// journaled indexes this batch's records in res.Journal by tap id: a
	// later record of the batch with the same id meets it as held.
	journaled := make(map[engine.TapID]int, len(b.Records))
	for i := range b.Records {
		r := &b.Records[i]
		if r.JournalSeq <= ne.HighWater {
			held := v.ByNodeSeq[r.JournalSeq]
			same := len(held) == 0 // nothing to compare with: take it as a repeat
			for i := range held {
				same = same || SameRecord(&held[i], r)
			}
			if same {
				res.Repeats++
				continue
			}
			quarantine(r, fmt.Sprintf("node seq %d was received before with other content (tap %s): the node's ledger lost records it had uploaded", r.JournalSeq, held[0].ID))
			v.ByNodeSeq[r.JournalSeq] = append(held, *r)
			continue
		}
		ne.HighWater = r.JournalSeq
		if ne.FirstTapAt.IsZero() || r.At.Before(ne.FirstTapAt) {
			ne.FirstTapAt = r.At
		}
		if r.At.After(ne.LastTapAt) {
			ne.LastTapAt = r.At
		}
		held, ok := v.ByTapID[r.ID]
		if j, in := journaled[r.ID]; in && !ok {
			held, ok = Stored{Record: res.Journal[j].Record, Origin: res.Journal[j].Origin, HasOrigin: true}, true
		}
		if ok {
			if SameRecord(&held.Record, r) {
				res.Aliases = append(res.Aliases, Alias{NodeSeq: r.JournalSeq, Tap: r.ID})
				ne.Duplicates++
				continue
			}
			quarantine(r, fmt.Sprintf("tap id %s was journaled before from %s with other content", r.ID, describeOrigin(&held)))
			continue
		}
		if r.Pass != "" {
			if _, ok := v.Passes[r.Pass]; !ok {
				quarantine(r, fmt.Sprintf("pass %s is unknown at the hub", r.Pass))
				continue
			}
		}
		journaled[r.ID] = len(res.Journal)
		res.Journal = append(res.Journal, Foreign{Record: *r, Origin: origin(r)})
		ne.Records++
		applyEffects(r, v, &res)
	}
	if b.ClockKnown {
		ne.ClockOffset, ne.ClockKnown = b.ClockOffset, true
	}
	res.NodeEpoch = ne
	return res
}

// applyEffects merges the effects of a journaled record into the view and
// notes the changed records in res.
func applyEffects(r *engine.TapRecord, v *IngestView, res *IngestResult) {
	eff := engine.EffectsOf(r)
	if eff.SetCounter {
		if c, ok := v.Cards[r.Card]; ok {
			before := c.LastCounter
			had := c.HasCounter
			eff.Apply(nil, &c, nil)
			if c.LastCounter != before || c.HasCounter != had {
				v.Cards[r.Card] = c
				if res.Cards == nil {
					res.Cards = map[string]engine.Card{}
				}
				res.Cards[r.Card] = c
			}
		}
	}
	if r.Pass == "" || (!eff.Activate && !eff.CountEntry) {
		return
	}
	if eff.Activate {
		p := v.Passes[r.Pass]
		before := p.ActivatedAt
		eff.Apply(&p, nil, nil)
		if !p.ActivatedAt.Equal(before) {
			v.Passes[r.Pass] = p
			if res.Passes == nil {
				res.Passes = map[string]engine.Pass{}
			}
			res.Passes[r.Pass] = p
		}
	}
	if eff.CountEntry {
		u := v.Usage[r.Pass]
		if u.Add(eff.Visit) {
			v.Usage[r.Pass] = u
			if res.Usage == nil {
				res.Usage = map[string]engine.Usage{}
			}
			res.Usage[r.Pass] = u
		}
	}
}

func describeOrigin(s *Stored) string {
	if !s.HasOrigin {
		return "the hub itself"
	}
	return fmt.Sprintf("node %s (epoch %d, seq %d)", s.Origin.Node, s.Origin.Epoch, s.Origin.NodeSeq)
}
