package ledger

import (
	"context"
	"fmt"
	"sort"
)

// FleetReport is what ledger check found of the fleet's records (at a hub).
type FleetReport struct {
	NodeEpochs  int    `json:"node_epochs"` // node epochs known
	Origins     int    `json:"origins"`     // journal records that came from nodes
	Quarantined int    `json:"quarantined"` // records kept without being applied
	AtRisk      uint64 `json:"at_risk"`     // node seqs reported by nodes and not received
	// Quarantine describes quarantined records (up to ProblemsMax): they are
	// kept for an operator, not a fault of the ledger.
	Quarantine []string `json:"quarantine"`
}

type epochCount struct {
	idx, quarantined, origins uint64
	maxIdx, maxQ              uint64
	// qSeqs counts distinct quarantined node seqs, qBoth those of them
	// also indexed (other content under a seq the hub holds: a node ledger
	// rolled back).
	qSeqs, qBoth uint64
	lastQ        uint64
	lastQSet     bool
}

// checkFleet verifies the hub's fleet records against the journal: every
// origin names a journal record and is indexed under its node seq; every
// node seq 1..HighWater of every node epoch is held exactly once (indexed
// or quarantined) and none above it; the epoch's counters match.
func (c *checker) checkFleet(ctx context.Context, journal map[uint64]bool) error {
	counts := map[[2]any]*epochCount{}
	count := func(node string, epoch uint64) *epochCount {
		k := [2]any{node, epoch}
		if counts[k] == nil {
			counts[k] = &epochCount{}
		}
		return counts[k]
	}
	// Index runs first (origins.go), by node epoch in node seq order, so
	// the origins and the quarantine are checked against them.
	idx := map[[2]any][]*indexRun{}
	err := scanSnap(ctx, c.s, []byte{pOriginIdx}, []byte{pOriginIdx + 1}, func(k, v []byte) error {
		c.rep.Values++
		r, err := decodeIndexRun(k, v)
		if err != nil {
			return c.corrupt(err)
		}
		key := [2]any{r.node, r.epoch}
		runs := idx[key]
		if n := len(runs); n > 0 && runs[n-1].firstNodeSeq+runs[n-1].count > r.firstNodeSeq {
			c.problem("fleet", k, "node seqs %d-%d are also in the run from %d", r.firstNodeSeq, r.firstNodeSeq+r.count-1, runs[n-1].firstNodeSeq)
		}
		idx[key] = append(runs, r)
		for j := r.firstJournal; j-r.firstJournal < r.count; j++ {
			if !journal[j] {
				c.problem("fleet", k, "points at journal seq %d, which does not exist", j)
				break
			}
		}
		ec := count(r.node, r.epoch)
		ec.idx += r.count
		ec.maxIdx = max(ec.maxIdx, r.firstNodeSeq+r.count-1)
		return nil
	})
	if err != nil {
		return err
	}
	held := func(node string, epoch, s uint64) (uint64, bool) {
		runs := idx[[2]any{node, epoch}]
		i := sort.Search(len(runs), func(i int) bool { return runs[i].firstNodeSeq > s })
		if i == 0 {
			return 0, false
		}
		return runs[i-1].journalSeq(node, epoch, s)
	}
	var next uint64 // the first journal seq after the last origin run
	err = scanSnap(ctx, c.s, []byte{pOrigin}, []byte{pOrigin + 1}, func(k, v []byte) error {
		c.rep.Values++
		r, err := decodeOriginRun(k, v)
		if err != nil {
			return c.corrupt(err)
		}
		if r.firstJournal < next {
			c.problem("fleet", k, "journal seqs %d-%d are also in the origin run before", r.firstJournal, r.firstJournal+r.count()-1)
		}
		next = r.firstJournal + r.count()
		c.rep.Fleet.Origins += int(r.count())
		count(r.node, r.epoch).origins += r.count()
		for i := range r.count() {
			seq, nseq := r.firstJournal+i, r.firstNodeSeq+i
			if !journal[seq] {
				c.problem("fleet", k, "origin of journal seq %d, which does not exist", seq)
				break
			}
			got, ok := held(r.node, r.epoch, nseq)
			if !ok {
				c.problem("fleet", k, "node %s epoch %d seq %d is not indexed", r.node, r.epoch, nseq)
				break
			}
			if got != seq {
				c.problem("fleet", nodeSeqKey(pOriginIdx, r.node, r.epoch, nseq), "points at journal seq %d, the origin record says %d", got, seq)
				break
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	err = scanSnap(ctx, c.s, []byte{pQuarantine}, []byte{pQuarantine + 1}, func(k, v []byte) error {
		c.rep.Values++
		q, err := decodeQuarantined(k, v)
		if err != nil {
			return c.corrupt(err)
		}
		c.rep.Fleet.Quarantined++
		if len(c.rep.Fleet.Quarantine) < c.opts.ProblemsMax {
			c.rep.Fleet.Quarantine = append(c.rep.Fleet.Quarantine, fmt.Sprintf("node %s epoch %d seq %d (tap %s): %s",
				q.Origin.Node, q.Origin.Epoch, q.Origin.NodeSeq, q.Record.ID, q.Reason))
		}
		ec := count(q.Origin.Node, q.Origin.Epoch)
		ec.quarantined++
		ec.maxQ = max(ec.maxQ, q.Origin.NodeSeq)
		if ec.lastQSet && ec.lastQ == q.Origin.NodeSeq {
			return nil // another content of the same seq (keys are in seq order)
		}
		ec.lastQ, ec.lastQSet = q.Origin.NodeSeq, true
		ec.qSeqs++
		if _, ok := held(q.Origin.Node, q.Origin.Epoch, q.Origin.NodeSeq); ok {
			ec.qBoth++
		}
		return nil
	})
	if err != nil {
		return err
	}
	known := map[[2]any]bool{}
	err = scanSnap(ctx, c.s, []byte{pNodeEpoch}, []byte{pNodeEpoch + 1}, func(k, v []byte) error {
		c.rep.Values++
		ne, err := decodeNodeEpoch(k, v)
		if err != nil {
			return c.corrupt(err)
		}
		c.rep.Fleet.NodeEpochs++
		if first, last, ok := ne.AtRisk(); ok {
			c.rep.Fleet.AtRisk += last - first + 1
		}
		key := [2]any{ne.Node, ne.Epoch}
		known[key] = true
		ec := counts[key]
		if ec == nil {
			ec = &epochCount{}
		}
		if held := ec.idx + ec.qSeqs - ec.qBoth; held != ne.HighWater || max(ec.maxIdx, ec.maxQ) > ne.HighWater {
			c.problem("fleet", k, "high-water mark %d, but %d node seqs (up to %d) are held", ne.HighWater, held, max(ec.maxIdx, ec.maxQ))
		}
		if ec.origins != ne.Records {
			c.problem("fleet", k, "%d records journaled, counted %d", ec.origins, ne.Records)
		}
		if ec.quarantined != ne.Quarantined {
			c.problem("fleet", k, "%d records quarantined, counted %d", ec.quarantined, ne.Quarantined)
		}
		if ec.idx-min(ec.idx, ec.origins) != ne.Duplicates {
			c.problem("fleet", k, "%d duplicates held, counted %d", ec.idx-min(ec.idx, ec.origins), ne.Duplicates)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for key := range counts {
		if !known[key] {
			c.problem("fleet", nodeEpochKey(pNodeEpoch, key[0].(string), key[1].(uint64)), "records of node %s epoch %d, which the hub does not know", key[0], key[1])
		}
	}
	return nil
}

func fmtFleet(r *FleetReport) string {
	if r.NodeEpochs == 0 && r.Origins == 0 && r.Quarantined == 0 {
		return ""
	}
	return fmt.Sprintf("; fleet: %d node epochs, %d records from nodes, %d quarantined, %d at risk", r.NodeEpochs, r.Origins, r.Quarantined, r.AtRisk)
}
