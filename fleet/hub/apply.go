package hub

import (
	"context"
	"fmt"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/ledger"
)

// Applied is what ApplyBatch did with one batch.
type Applied struct {
	NodeEpoch fleet.NodeEpoch // the node epoch's state after the batch
	Gap       bool            // nothing applied: the batch starts above HighWater+1
	// FirstContact: the batch is the first the hub hears of its node epoch.
	FirstContact bool
	Journaled    int
	Aliases      int
	Quarantined  int
	Repeats      int
	// Quarantine holds the records quarantined (Quarantined of them).
	Quarantine []fleet.Quarantined
}

// ApplyBatch merges one upload into the hub ledger (fleet.Ingest) in one
// synced ledger transaction: the records with their origins, the merged
// passes, cards and usage, quarantined records and the node epoch's new
// high-water mark all become durable together, or none of them does. It
// returns only after they are durable, so the caller acknowledges the
// upload after it. now is the hub clock reading stamped as upload time.
func ApplyBatch(ctx context.Context, l *ledger.Ledger, b *fleet.Batch, now time.Time) (Applied, error) {
	if err := b.Check(); err != nil {
		return Applied{}, err
	}
	var out Applied
	err := l.UpdateFleet(ctx, func(tx ledger.FleetTxn) error {
		out = Applied{}
		v, err := readView(tx, b)
		if err != nil {
			return err
		}
		res := fleet.Ingest(b, v, now)
		out.NodeEpoch, out.Gap, out.FirstContact = res.NodeEpoch, res.Gap, !v.Known
		if res.Gap {
			// Only the contact is recorded; the batch is redelivered later.
			return tx.PutNodeEpoch(res.NodeEpoch)
		}
		for i := range res.Journal {
			f := &res.Journal[i]
			if err := tx.PutForeignTap(&f.Record, f.Origin); err != nil {
				return fmt.Errorf("journaling node %s seq %d: %w", f.Origin.Node, f.Origin.NodeSeq, err)
			}
		}
		for _, a := range res.Aliases {
			if err := tx.PutAlias(b.Node, b.Epoch, a.NodeSeq, a.Tap); err != nil {
				return err
			}
		}
		for _, q := range res.Quarantine {
			if err := tx.PutQuarantined(q); err != nil {
				return err
			}
		}
		for _, p := range res.Passes {
			if err := tx.PutPass(p); err != nil {
				return err
			}
		}
		for _, c := range res.Cards {
			if err := tx.PutCard(c); err != nil {
				return err
			}
		}
		for id, u := range res.Usage {
			if err := tx.PutUsage(id, u); err != nil {
				return err
			}
		}
		out.Journaled, out.Aliases, out.Quarantined, out.Repeats = len(res.Journal), len(res.Aliases), len(res.Quarantine), res.Repeats
		out.Quarantine = res.Quarantine
		return tx.PutNodeEpoch(res.NodeEpoch)
	})
	if err != nil {
		return Applied{}, fmt.Errorf("applying upload %s: %w", b.MsgID(), err)
	}
	return out, nil
}

// readView reads what batch b touches (fleet.IngestView) through tx.
func readView(tx ledger.FleetTxn, b *fleet.Batch) (*fleet.IngestView, error) {
	ne, known, err := tx.NodeEpoch(b.Node, b.Epoch)
	if err != nil {
		return nil, err
	}
	var passes, cards []string
	var taps []engine.TapID
	for i := range b.Records {
		if r := &b.Records[i]; r.JournalSeq > ne.HighWater {
			taps = append(taps, r.ID)
			if r.Pass != "" {
				passes = append(passes, r.Pass)
			}
			if r.Card != "" {
				cards = append(cards, r.Card)
			}
		}
	}
	if err := tx.Prefetch(passes, cards, taps); err != nil {
		return nil, err
	}
	v := &fleet.IngestView{NodeEpoch: ne, Known: known,
		ByNodeSeq: map[uint64][]engine.TapRecord{}, ByTapID: map[engine.TapID]fleet.Stored{},
		Passes: make(map[string]engine.Pass, len(passes)), Cards: make(map[string]engine.Card, len(cards)),
		Usage: make(map[string]engine.Usage, len(passes))}
	for i := range b.Records {
		r := &b.Records[i]
		if r.JournalSeq <= ne.HighWater {
			held, err := tx.Held(b.Node, b.Epoch, r.JournalSeq)
			if err != nil {
				return nil, err
			}
			v.ByNodeSeq[r.JournalSeq] = held
			continue
		}
		if _, ok := v.ByTapID[r.ID]; !ok {
			prev, ok, err := tx.Tap(r.ID)
			if err != nil {
				return nil, err
			}
			if ok {
				s := fleet.Stored{Record: prev}
				if s.Origin, s.HasOrigin, err = tx.TapOrigin(prev.JournalSeq); err != nil {
					return nil, err
				}
				v.ByTapID[r.ID] = s
			}
		}
		if r.Pass != "" {
			if _, ok := v.Passes[r.Pass]; !ok {
				p, ok, err := tx.Pass(r.Pass)
				if err != nil {
					return nil, err
				}
				if ok {
					v.Passes[r.Pass] = p
					u, err := tx.Usage(r.Pass)
					if err != nil {
						return nil, err
					}
					v.Usage[r.Pass] = u
				}
			}
		}
		if r.Card != "" {
			if _, ok := v.Cards[r.Card]; !ok {
				c, ok, err := tx.Card(r.Card)
				if err != nil {
					return nil, err
				}
				if ok {
					v.Cards[r.Card] = c
				}
			}
		}
	}
	return v, nil
}

// LedgerL0Tables is the hub ledger's ledger.Options.L0Tables: its ingest
// commits uploads of up to 1,000 records whose reads it prefetches, and
// spends less CPU per record when Pebble compacts its recent writes less
// often (bench/README.md, "Where the catch-up's time goes").
const LedgerL0Tables = 64

// LedgerOptions sets on o what the hub's ledger needs, wherever it is
// opened: the change log (the hub's changes flow down to the nodes),
// LedgerMemTableSize, LedgerMemTables, LedgerL0Tables and the fastest
// table compression (the ingest is bound by the CPU of its flushes and
// compactions).
func LedgerOptions(o *ledger.Options) {
	o.ChangeLog = true
	o.L0Tables = LedgerL0Tables
	o.FastestCompression = true
	o.MemTableSize = LedgerMemTableSize
	o.MemTables = LedgerMemTables
}

// LedgerMemTableSize is the hub ledger's ledger.Options.MemTableSize. In a
// catch-up the writer commits a group of uploads (one per ingest worker,
// Config.Workers, 8 by default) as one batch of a few MB. Pebble writes a
// batch larger than about half its memtable to L0 as a table of its own,
// cutting the memtable short: with small memtables a catch-up would leave
// many small L0 tables, which every read of the ingest goes through and
// which Pebble soon compacts. A memtable this size holds a group, so a
// catch-up's writes reach L0 in few, large tables, compacted after the burst
// (bench/README.md, "The hub's memtable").
const LedgerMemTableSize = 32 << 20

// LedgerMemTables is the hub ledger's ledger.Options.MemTables: in a
// catch-up its writes can fill Pebble's default two memtables faster than
// a flush, sharing the CPU with compactions, empties one, and the writer
// would stall (bench/README.md). Four of LedgerMemTableSize bound the
// memtables at 128 MB.
const LedgerMemTables = 4
