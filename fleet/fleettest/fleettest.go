// Package fleettest generates seeded fleet workloads for tests and the
// simulator: node journals (what nodes decided offline) over a set of hub
// passes, and delivery schedules that shuffle, duplicate, drop and re-send
// uploads the way a flaky network and crashing processes do. Everything
// is a function of the seed, so a failure replays exactly.
package fleettest

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
)

// Journal is one node epoch's records, node seqs 1..len(Records).
type Journal struct {
	Node    string
	Epoch   uint64
	Records []engine.TapRecord
}

// Scenario is the hub's passes and cards and what the nodes journaled.
type Scenario struct {
	Passes   []engine.Pass
	Cards    []engine.Card
	Journals []Journal
}

// Options size a scenario.
type Options struct {
	Nodes, Passes, RecordsMax int
	// Epochs per node: a node with more than one had its disk wiped.
	EpochsMax int
}

var venues = []string{"mucem", "chateau-if", "rtm-metro", "rtm-bus"}

// Day is the service day the generated taps fall on.
var Day = time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)

// NewScenario draws a scenario from rng. Tap ids never collide across
// nodes (each node has its own devices), so the hub's final state does not
// depend on arrival order.
func NewScenario(rng *rand.Rand, o Options) *Scenario {
	sc := &Scenario{}
	for i := range o.Passes {
		id := fmt.Sprintf("P-%04d", i)
		card := fmt.Sprintf("04%012X", i)
		sc.Passes = append(sc.Passes, engine.Pass{ID: id, TariffVersion: "v1", Product: "cp24-adult", Category: "adult",
			Card: card, Cards: []string{card}, SoldAt: Day.Add(-time.Hour), PriceMinor: 3200, Currency: "EUR",
			ActivateBy: Day.Add(365 * 24 * time.Hour)})
		sc.Cards = append(sc.Cards, engine.Card{UID: card, Passes: []string{id}})
	}
	for n := range o.Nodes {
		node := fmt.Sprintf("node-%02d", n)
		for e := range 1 + rng.IntN(max(1, o.EpochsMax)) {
			j := Journal{Node: node, Epoch: rng.Uint64() | 1}
			devSeq := map[string]uint64{}
			for s := range 1 + rng.IntN(max(1, o.RecordsMax)) {
				dev := fmt.Sprintf("%s-e%d-g%d", node, e, rng.IntN(3))
				devSeq[dev]++
				at := Day.Add(time.Duration(rng.IntN(16*3600)) * time.Second)
				r := engine.TapRecord{JournalSeq: uint64(s + 1), RecordedAt: at.Add(time.Duration(rng.IntN(900)) * time.Millisecond)}
				r.ID = engine.TapID{Device: dev, Seq: devSeq[dev]}
				r.At = at
				r.Venue = venues[rng.IntN(len(venues))]
				r.Gate = r.Venue + "/g" + fmt.Sprint(rng.IntN(2))
				if rng.IntN(10) == 0 {
					r.Direction = engine.Exit
				}
				if rng.IntN(12) == 0 || o.Passes == 0 {
					r.Card = fmt.Sprintf("05%012X", rng.IntN(1000)) // unknown card
					r.Decision = engine.Decision{Reason: engine.ReasonInvalid}
				} else {
					p := &sc.Passes[rng.IntN(len(sc.Passes))]
					r.Card, r.Pass, r.Product, r.TariffVersion, r.Category = p.Card, p.ID, p.Product, p.TariffVersion, p.Category
					r.Decision = engine.Decision{Pass: p.ID, Product: p.Product}
					if rng.IntN(3) > 0 {
						r.Counter, r.HasCounter = uint32(rng.IntN(1000)), true
					}
					switch rng.IntN(4) {
					case 0:
						r.Decision.Reason = engine.ReasonAlreadyRedeemed
					default:
						r.Decision.Accept = true
						if rng.IntN(3) == 0 && r.Direction == engine.Entry {
							r.Decision.Flags |= engine.FlagActivated
							r.Decision.ValidUntil = at.Add(24 * time.Hour)
						}
					}
				}
				j.Records = append(j.Records, r)
			}
			sc.Journals = append(sc.Journals, j)
		}
	}
	return sc
}

// Hub is what a delivery schedule feeds: it merges one batch and says
// whether it was a gap (not applied) and the node epoch's high-water mark
// afterwards.
type Hub interface {
	Ingest(b *fleet.Batch) (gap bool, highWater uint64, err error)
}

// Faults set how hostile a delivery schedule is (probabilities per step).
type Faults struct {
	Drop      float64 // an upload never reaches the stream
	Redeliver float64 // an applied upload is delivered again (crash between commit and ack)
	Resend    float64 // a node re-sends everything from its acknowledged mark
	Replay    float64 // a node re-sends an old range (after the dedup window)
}

// Hostile is the default fault mix of the deterministic tests.
var Hostile = Faults{Drop: 0.15, Redeliver: 0.15, Resend: 0.05, Replay: 0.05}

// Deliver drives every journal of sc into h under a seeded schedule: nodes
// upload batches of random size (at most batchMax records) from what they
// last sent, uploads arrive in random order, some are lost, some delivered
// twice, nodes re-send from the hub's acknowledged mark when they learn of
// a gap or at random, and the hub keeps (redelivers later) an upload that
// starts beyond its high-water mark. It returns when the hub acknowledged
// every record of every journal, or an error after stepsMax steps.
func Deliver(rng *rand.Rand, sc *Scenario, h Hub, f Faults, batchMax, stepsMax int) (steps int, err error) {
	type nodeState struct {
		j          *Journal
		sent, hwm  uint64
		clockKnown bool
	}
	nodes := make([]*nodeState, len(sc.Journals))
	for i := range sc.Journals {
		nodes[i] = &nodeState{j: &sc.Journals[i]}
	}
	var queue []*fleet.Batch
	batch := func(n *nodeState, first, last uint64) *fleet.Batch {
		b := &fleet.Batch{Node: n.j.Node, Epoch: n.j.Epoch, First: first, Last: last,
			SentAt: Day, ClockOffset: time.Duration(rng.IntN(2000)-1000) * time.Millisecond, ClockKnown: true}
		b.Records = append([]engine.TapRecord(nil), n.j.Records[first-1:last]...)
		return b
	}
	done := func() bool {
		for _, n := range nodes {
			if n.hwm < uint64(len(n.j.Records)) {
				return false
			}
		}
		return true
	}
	for steps = 0; !done(); steps++ {
		if steps >= stepsMax {
			return steps, fmt.Errorf("fleettest: not delivered after %d steps", steps)
		}
		n := nodes[rng.IntN(len(nodes))]
		total := uint64(len(n.j.Records))
		switch r := rng.Float64(); {
		case r < 0.45 && n.sent < total:
			first := n.sent + 1
			last := min(total, first+uint64(rng.IntN(batchMax)))
			n.sent = last
			if rng.Float64() >= f.Drop {
				queue = append(queue, batch(n, first, last))
			}
		case r < 0.45+f.Resend || (n.sent == total && n.hwm < total && len(queue) == 0):
			n.sent = n.hwm
		case r < 0.45+f.Resend+f.Replay && n.hwm > 0:
			first := 1 + uint64(rng.IntN(int(n.hwm)))
			queue = append(queue, batch(n, first, min(total, first+uint64(rng.IntN(batchMax)))))
		case len(queue) > 0:
			i := rng.IntN(len(queue))
			b := queue[i]
			gap, hwm, err := h.Ingest(b)
			if err != nil {
				return steps, fmt.Errorf("fleettest: ingest %s: %w", b.MsgID(), err)
			}
			for _, m := range nodes {
				if m.j.Node == b.Node && m.j.Epoch == b.Epoch {
					m.hwm = max(m.hwm, hwm)
					if gap && m.sent > hwm {
						m.sent = hwm // the hub asks for what follows its mark
					}
				}
			}
			if !gap && rng.Float64() >= f.Redeliver {
				queue = append(queue[:i], queue[i+1:]...)
			}
		}
	}
	return steps, nil
}
