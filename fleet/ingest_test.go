package fleet_test

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
)

// model is an in-memory hub: the state fleet.Ingest reads and writes,
// stored as a ledger would.
type model struct {
	now      time.Time
	epochs   map[string]fleet.NodeEpoch    // node/epoch
	held     map[string][]engine.TapRecord // node/epoch/seq → records held for it
	journal  map[engine.TapID]fleet.Stored // journaled records
	origins  map[string]engine.TapID       // node/epoch/seq → tap journaled under that origin
	quarant  map[string]fleet.Quarantined  // node/epoch/seq
	passes   map[string]engine.Pass
	cards    map[string]engine.Card
	usage    map[string]engine.Usage
	journalN int
}

func newModel(sc *fleettest.Scenario) *model {
	m := &model{now: fleettest.Day.Add(20 * time.Hour), epochs: map[string]fleet.NodeEpoch{}, held: map[string][]engine.TapRecord{},
		journal: map[engine.TapID]fleet.Stored{}, origins: map[string]engine.TapID{}, quarant: map[string]fleet.Quarantined{},
		passes: map[string]engine.Pass{}, cards: map[string]engine.Card{}, usage: map[string]engine.Usage{}}
	for _, p := range sc.Passes {
		m.passes[p.ID] = p.Clone()
	}
	for _, c := range sc.Cards {
		m.cards[c.UID] = c.Clone()
	}
	return m
}

func key(node string, epoch uint64, seq ...uint64) string {
	if len(seq) == 0 {
		return fmt.Sprintf("%s/%d", node, epoch)
	}
	return fmt.Sprintf("%s/%d/%d", node, epoch, seq[0])
}

func (m *model) Ingest(b *fleet.Batch) (bool, uint64, error) {
	if err := b.Check(); err != nil {
		return false, 0, err
	}
	m.now = m.now.Add(time.Second)
	ne, known := m.epochs[key(b.Node, b.Epoch)]
	v := &fleet.IngestView{NodeEpoch: ne, Known: known, ByNodeSeq: map[uint64][]engine.TapRecord{},
		ByTapID: map[engine.TapID]fleet.Stored{}, Passes: map[string]engine.Pass{}, Cards: map[string]engine.Card{}, Usage: map[string]engine.Usage{}}
	for _, r := range b.Records {
		if r.JournalSeq <= ne.HighWater {
			v.ByNodeSeq[r.JournalSeq] = append([]engine.TapRecord(nil), m.held[key(b.Node, b.Epoch, r.JournalSeq)]...)
			continue
		}
		if s, ok := m.journal[r.ID]; ok {
			v.ByTapID[r.ID] = s
		}
		if p, ok := m.passes[r.Pass]; ok {
			v.Passes[r.Pass] = p.Clone()
			v.Usage[r.Pass] = m.usage[r.Pass].Clone()
		}
		if c, ok := m.cards[r.Card]; ok {
			v.Cards[r.Card] = c.Clone()
		}
	}
	res := fleet.Ingest(b, v, m.now)
	m.epochs[key(b.Node, b.Epoch)] = res.NodeEpoch
	if res.Gap {
		return true, res.NodeEpoch.HighWater, nil
	}
	for _, f := range res.Journal {
		if _, dup := m.journal[f.Record.ID]; dup {
			return false, 0, fmt.Errorf("tap %s journaled twice", f.Record.ID)
		}
		m.journalN++
		m.journal[f.Record.ID] = fleet.Stored{Record: f.Record, Origin: f.Origin, HasOrigin: true}
		k := key(f.Origin.Node, f.Origin.Epoch, f.Origin.NodeSeq)
		m.held[k], m.origins[k] = append(m.held[k], f.Record), f.Record.ID
	}
	for _, a := range res.Aliases {
		k := key(b.Node, b.Epoch, a.NodeSeq)
		m.held[k] = append(m.held[k], m.journal[a.Tap].Record)
	}
	for _, q := range res.Quarantine {
		k := key(q.Origin.Node, q.Origin.Epoch, q.Origin.NodeSeq)
		m.held[k] = append(m.held[k], q.Record)
		m.quarant[k] = q
	}
	for id, p := range res.Passes {
		m.passes[id] = p
	}
	for id, c := range res.Cards {
		m.cards[id] = c
	}
	for id, u := range res.Usage {
		m.usage[id] = u
	}
	return false, res.NodeEpoch.HighWater, nil
}

// digest describes the hub's state with everything that must not depend
// on arrival order: journaled records by origin, passes, cards, usage and
// node epoch counters (not contact times or upload times).
func (m *model) digest() string {
	var lines []string
	for _, s := range m.journal {
		r := s.Record
		lines = append(lines, fmt.Sprintf("J %s/%d/%d %s %s %v %s %d %s", s.Origin.Node, s.Origin.Epoch, s.Origin.NodeSeq,
			r.ID, r.Card, r.Decision.Accept, r.Decision.Reason, r.Decision.Flags, r.At.Format(time.RFC3339Nano)))
	}
	for id, p := range m.passes {
		lines = append(lines, fmt.Sprintf("P %s %s %s %s", id, p.Status, p.ActivatedAt.Format(time.RFC3339Nano), p.ValidUntil.Format(time.RFC3339Nano)))
	}
	for id, c := range m.cards {
		lines = append(lines, fmt.Sprintf("C %s %v %d", id, c.HasCounter, c.LastCounter))
	}
	for id, u := range m.usage {
		var vs []string
		for _, v := range u.Visits {
			vs = append(vs, fmt.Sprintf("%s@%s", v.Tap, v.At.Format(time.RFC3339)))
		}
		lines = append(lines, fmt.Sprintf("U %s %s", id, strings.Join(vs, ",")))
	}
	for k, ne := range m.epochs {
		lines = append(lines, fmt.Sprintf("E %s hwm=%d rec=%d dup=%d q=%d", k, ne.HighWater, ne.Records, ne.Duplicates, ne.Quarantined))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestIngestAnyArrivalOrder is the deterministic core test of the taps-up
// path: for each seed, a scenario's uploads are delivered under two
// different hostile schedules (shuffled, lost, redelivered, re-sent,
// replayed) and once in order; the hub ends in the same state every time,
// holding every node record exactly once.
func TestIngestAnyArrivalOrder(t *testing.T) {
	seeds := 1000
	if testing.Short() {
		seeds = 100
	}
	for seed := range uint64(seeds) {
		sc := fleettest.NewScenario(rand.New(rand.NewPCG(seed, 0)), fleettest.Options{Nodes: 1 + int(seed%5), Passes: 1 + int(seed%7), RecordsMax: 60, EpochsMax: 2})
		inOrder := newModel(sc)
		_, err := fleettest.Deliver(rand.New(rand.NewPCG(seed, 1)), sc, inOrder, fleettest.Faults{}, 1000, 1_000_000)
		require.NoError(t, err, "seed %d", seed)
		want := inOrder.digest()
		total := 0
		for _, j := range sc.Journals {
			total += len(j.Records)
		}
		require.Equal(t, total, inOrder.journalN, "seed %d: every record journaled once", seed)
		for schedule := uint64(2); schedule < 4; schedule++ {
			m := newModel(sc)
			_, err := fleettest.Deliver(rand.New(rand.NewPCG(seed, schedule)), sc, m, fleettest.Hostile, 1+int(seed%16), 1_000_000)
			require.NoError(t, err, "seed %d schedule %d", seed, schedule)
			if got := m.digest(); got != want {
				require.Equal(t, want, got, "seed %d schedule %d: hub state depends on arrival order", seed, schedule)
			}
			require.Empty(t, m.quarant, "seed %d: no conflicts in this scenario", seed)
		}
	}
}

// TestIngestEffectsMerge: activation is the earliest activating entry,
// the card counter the highest, usage every accepted entry once.
func TestIngestEffectsMerge(t *testing.T) {
	sc := fleettest.NewScenario(rand.New(rand.NewPCG(7, 7)), fleettest.Options{Nodes: 3, Passes: 2, RecordsMax: 80})
	m := newModel(sc)
	_, err := fleettest.Deliver(rand.New(rand.NewPCG(7, 8)), sc, m, fleettest.Hostile, 8, 1_000_000)
	require.NoError(t, err)
	for _, p := range sc.Passes {
		var firstAct time.Time
		counter, hasCounter := uint32(0), false
		visits := 0
		for _, j := range sc.Journals {
			for _, r := range j.Records {
				if r.Pass != p.ID {
					continue
				}
				if r.HasCounter && r.Decision.Reason != engine.ReasonInvalid {
					counter, hasCounter = max(counter, r.Counter), true
				}
				if r.Decision.Accept && r.Direction == engine.Entry {
					visits++
					if r.Decision.Flags&engine.FlagActivated != 0 && (firstAct.IsZero() || r.At.Before(firstAct)) {
						firstAct = r.At
					}
				}
			}
		}
		got := m.passes[p.ID]
		assert.True(t, got.ActivatedAt.Equal(firstAct), "pass %s activated %s, want %s", p.ID, got.ActivatedAt, firstAct)
		if !firstAct.IsZero() {
			assert.Equal(t, engine.PassActive, got.Status)
			assert.True(t, got.ValidUntil.Equal(firstAct.Add(24*time.Hour)))
		}
		c := m.cards[p.Card]
		assert.Equal(t, hasCounter, c.HasCounter)
		assert.Equal(t, counter, c.LastCounter)
		u := m.usage[p.ID]
		assert.Equal(t, visits, u.TotalEntries(), "pass %s", p.ID)
	}
}

func rec(dev string, seq, nodeSeq uint64, card string, accept bool) engine.TapRecord {
	r := engine.TapRecord{JournalSeq: nodeSeq, Venue: "mucem"}
	r.ID = engine.TapID{Device: dev, Seq: seq}
	r.Card, r.Gate, r.At = card, "mucem/g1", fleettest.Day.Add(time.Duration(nodeSeq)*time.Minute)
	r.Decision.Accept = accept
	if !accept {
		r.Decision.Reason = engine.ReasonInvalid
	}
	return r
}

// TestIngestConflicts: a rolled-back node, a tap id reused with other
// content, the same tap from two origins and an unknown pass: each record
// is kept (journaled, aliased or quarantined), none blocks the next.
func TestIngestConflicts(t *testing.T) {
	sc := &fleettest.Scenario{Passes: []engine.Pass{{ID: "P-1", Card: "04AA"}}, Cards: []engine.Card{{UID: "04AA", Passes: []string{"P-1"}}}}
	m := newModel(sc)
	ingest := func(node string, epoch uint64, recs ...engine.TapRecord) uint64 {
		b := &fleet.Batch{Node: node, Epoch: epoch, First: recs[0].JournalSeq, Last: recs[len(recs)-1].JournalSeq, Records: recs}
		gap, hwm, err := m.Ingest(b)
		require.NoError(t, err)
		require.False(t, gap)
		return hwm
	}
	ingest("a", 1, rec("d1", 1, 1, "05BB", false), rec("d1", 2, 2, "05BB", false))
	// Node a's ledger rolled back: seq 2 comes again with other content.
	other := rec("d1", 9, 2, "05CC", false)
	assert.EqualValues(t, 3, ingest("a", 1, other, rec("d1", 10, 3, "05BB", false)))
	assert.Contains(t, m.quarant[key("a", 1, 2)].Reason, "lost records")
	// Node b sends tap d1#1 with the same content (alias) and d1#2 with other content (quarantined).
	same := rec("d1", 1, 1, "05BB", false)
	diff := rec("d1", 2, 2, "05DD", false)
	assert.EqualValues(t, 3, ingest("b", 7, same, diff, rec("b1", 1, 3, "05BB", false)))
	assert.EqualValues(t, 1, m.epochs[key("b", 7)].Duplicates)
	assert.Contains(t, m.quarant[key("b", 7, 2)].Reason, "tap id d1#2 was journaled before from node a")
	// An unknown pass is quarantined, a gap is refused.
	unknown := rec("c1", 1, 1, "04AA", true)
	unknown.Pass = "P-9"
	assert.EqualValues(t, 1, ingest("c", 3, unknown))
	assert.Contains(t, m.quarant[key("c", 3, 1)].Reason, "unknown at the hub")
	gap, hwm, err := m.Ingest(&fleet.Batch{Node: "c", Epoch: 3, First: 5, Last: 5, Records: []engine.TapRecord{rec("c1", 5, 5, "05BB", false)}})
	require.NoError(t, err)
	assert.True(t, gap)
	assert.EqualValues(t, 1, hwm)
	assert.Equal(t, 4, m.journalN, "a1, a2, a3 and b3 journaled")
}

func TestBatchCheck(t *testing.T) {
	ok := &fleet.Batch{Node: "gate-1", Epoch: 9, First: 3, Last: 4, Records: []engine.TapRecord{{JournalSeq: 3}, {JournalSeq: 4}}}
	require.NoError(t, ok.Check())
	assert.Equal(t, "gate-1:9:3-4", ok.MsgID())
	for name, b := range map[string]fleet.Batch{
		"bad node": {Node: "Gate_1", Epoch: 9, First: 1, Last: 1, Records: []engine.TapRecord{{JournalSeq: 1}}},
		"epoch 0":  {Node: "g", Epoch: 0, First: 1, Last: 1, Records: []engine.TapRecord{{JournalSeq: 1}}},
		"count":    {Node: "g", Epoch: 1, First: 1, Last: 2, Records: []engine.TapRecord{{JournalSeq: 1}}},
		"gap":      {Node: "g", Epoch: 1, First: 1, Last: 2, Records: []engine.TapRecord{{JournalSeq: 1}, {JournalSeq: 3}}},
		"seq 0":    {Node: "g", Epoch: 1, First: 0, Last: 0, Records: []engine.TapRecord{{JournalSeq: 0}}},
	} {
		assert.Error(t, b.Check(), name)
	}
	for _, id := range []string{"", "-a", "A", "a_b", strings.Repeat("a", 64), "a b"} {
		assert.ErrorIs(t, fleet.CheckNodeID(id), fleet.ErrBadNodeID, id)
	}
	for _, id := range []string{"a", "0", "gate-12", strings.Repeat("a", 63)} {
		assert.NoError(t, fleet.CheckNodeID(id), id)
	}
}
