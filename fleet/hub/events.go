package hub

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/citypass/citypass/fleet"
)

// The hub's log events (docs/fleet.md, "Observing the hub"), beside the
// errors of its loops.

// maxQuarantineLogged bounds the records quarantined from one upload that
// are logged one by one.
const maxQuarantineLogged = 10

// contactSilence is how long a node stays silent before its next contact
// is logged as being back.
const contactSilence = time.Minute

// logContact logs a node's report: every one at debug level, a first
// contact, a return after contactSilence and a clock crossing
// fleet.ClockOffsetMax at info or warn level. prev is the node epoch
// before the report (known false: none), ne after it.
func (h *Hub) logContact(prev fleet.NodeEpoch, known bool, ne fleet.NodeEpoch) {
	log := h.cfg.Log
	log.Debug("node contact", "node", ne.Node, "epoch", epochHex(ne.Epoch), "reported", ne.Reported,
		"acknowledged", ne.HighWater, "clock_offset_s", ne.ClockOffset.Seconds())
	if !known {
		h.firstContact(ne.Node, ne.Epoch)
	} else if !prev.LastContact.IsZero() && ne.LastContact.Sub(prev.LastContact) > contactSilence {
		log.Info("node back in contact", "node", ne.Node, "epoch", epochHex(ne.Epoch),
			"silent_s", ne.LastContact.Sub(prev.LastContact).Seconds(), "backlog", backlog(ne))
	}
	was := known && prev.ClockKnown && skewed(prev.ClockOffset)
	switch is := ne.ClockKnown && skewed(ne.ClockOffset); {
	case is && !was:
		log.Warn("node clock skewed", "node", ne.Node, "epoch", epochHex(ne.Epoch),
			"clock_offset_s", ne.ClockOffset.Seconds(), "limit_s", fleet.ClockOffsetMax.Seconds())
	case was && !is:
		log.Info("node clock back within the limit", "node", ne.Node, "epoch", epochHex(ne.Epoch), "clock_offset_s", ne.ClockOffset.Seconds())
	}
}

// epochHex spells a ledger epoch as fleet status does (a JSON number
// would lose its low bits in many tools).
func epochHex(e uint64) string { return fmt.Sprintf("%016x", e) }

func skewed(offset time.Duration) bool {
	return offset > fleet.ClockOffsetMax || offset < -fleet.ClockOffsetMax
}

func backlog(ne fleet.NodeEpoch) uint64 {
	if first, last, ok := ne.AtRisk(); ok {
		return last - first + 1
	}
	return 0
}

// firstContact logs the first report or upload of a node epoch: a node
// seen for the first time, or a known node on a new ledger (a new or wiped
// disk), with the records its earlier epochs reported and never delivered.
func (h *Hub) firstContact(node string, epoch uint64) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var others []fleet.NodeEpoch
	err := h.cfg.Ledger.NodeEpochs(ctx, func(ne *fleet.NodeEpoch) error {
		if ne.Node == node && ne.Epoch != epoch {
			others = append(others, *ne)
		}
		return nil
	})
	if err != nil {
		h.cfg.Log.Error("reading the node's earlier epochs", "node", node, "err", err)
		return
	}
	if len(others) == 0 {
		h.cfg.Log.Info("node first seen", "node", node, "epoch", epochHex(epoch))
		return
	}
	h.cfg.Log.Info("node on a new ledger epoch (a new or wiped disk)", "node", node, "epoch", epochHex(epoch), "earlier_epochs", len(others))
	for i := range others {
		logAtRisk(h.cfg.Log, &others[i])
	}
}

const atRiskMsg = "records at risk: reported by an earlier epoch of the node and never received"

// logAtRisk warns of an older epoch's records the hub never received.
func logAtRisk(log *slog.Logger, ne *fleet.NodeEpoch) {
	if first, last, ok := ne.AtRisk(); ok {
		log.Warn(atRiskMsg, "node", ne.Node, "epoch", epochHex(ne.Epoch), "first", first, "last", last, "count", last-first+1)
	}
}

// logHeld logs at start what fleet status flags: every node's records at
// risk and quarantined records.
func (h *Hub) logHeld(ctx context.Context) error {
	st, err := ReadStatus(ctx, h.cfg.Ledger, nil, h.cfg.Now())
	if err != nil {
		return err
	}
	nodes := 0
	for _, n := range st {
		nodes++
		for _, es := range n.Epochs {
			if r := es.AtRisk; r != nil {
				h.cfg.Log.Warn(atRiskMsg, "node", n.Node, "epoch", epochHex(es.Epoch), "first", r.First, "last", r.Last, "count", r.Last-r.First+1)
			}
		}
		if len(n.Quarantined) > 0 {
			h.cfg.Log.Warn("quarantined records held (citypass fleet status lists them)", "node", n.Node, "count", len(n.Quarantined))
		}
	}
	h.cfg.Log.Info("hub started", "nodes_seen", nodes, "ledger_epoch", epochHex(h.cfg.Ledger.Epoch()))
	return nil
}
