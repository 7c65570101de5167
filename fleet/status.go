package fleet

import (
	"sort"
	"time"
)

// ClockOffsetMax is the node clock offset beyond which fleet status flags
// a node.
const ClockOffsetMax = 5 * time.Minute

// EpochStatus is one epoch of a node as fleet status shows it.
type EpochStatus struct {
	Epoch        uint64    `json:"epoch"`
	Current      bool      `json:"current"` // the epoch the node last reported or uploaded from
	Acknowledged uint64    `json:"acknowledged"`
	LastReported uint64    `json:"last_reported"`
	Backlog      uint64    `json:"backlog"` // reported and not yet received (current epoch)
	Records      uint64    `json:"records"`
	Duplicates   uint64    `json:"duplicates"`
	Quarantined  uint64    `json:"quarantined"`
	FirstContact time.Time `json:"first_contact"`
	LastContact  time.Time `json:"last_contact"`
	// AtRisk is an older epoch's (acknowledged, last reported] range: seqs
	// the node reported and the hub never received, which may be lost.
	AtRisk *SeqRange `json:"at_risk,omitempty"`
}

// SeqRange is an inclusive range of node seqs.
type SeqRange struct {
	First uint64 `json:"first"`
	Last  uint64 `json:"last"`
}

// NodeStatus is one node as fleet status shows it.
type NodeStatus struct {
	Node        string        `json:"node"`
	Enrolled    bool          `json:"enrolled"`
	Epochs      []EpochStatus `json:"epochs"` // current first, then older by last contact
	LastContact time.Time     `json:"last_contact"`
	// SinceContact is how long ago LastContact was, at the status's time.
	SinceContact time.Duration `json:"since_contact_ns"`
	Acknowledged uint64        `json:"acknowledged"`
	LastReported uint64        `json:"last_reported"`
	Backlog      uint64        `json:"backlog"`
	ClockOffset  time.Duration `json:"clock_offset_ns"`
	ClockKnown   bool          `json:"clock_known"`
	ClockSkewed  bool          `json:"clock_skewed"` // |offset| > ClockOffsetMax
	// StateAsOf is the node's state_as_of at its last report (zero: not
	// reported yet), and Staleness how old that state is at the status's
	// time: now − StateAsOf, zero when StateAsOf is. A tap at the node now
	// is at least this stale (docs/semantics.md, "Offline policy").
	StateAsOf   time.Time     `json:"state_as_of"`
	Staleness   time.Duration `json:"staleness_ns"`
	Quarantined []string      `json:"quarantined"` // tap ids
	AtRisk      []SeqRange    `json:"at_risk"`     // of older epochs
	AtRiskCount uint64        `json:"at_risk_count"`
	// OverLimit counts this node's accepted entries beyond their pass's
	// limit at the venue (admitted offline; statements list them at 0),
	// filled by the hub (hub.CountOverUse), not by BuildStatus.
	OverLimit int `json:"over_limit"`
}

// BuildStatus assembles fleet status at hub time now from the hub's node
// epochs, quarantined records and enrolled node ids. Pure.
func BuildStatus(epochs []NodeEpoch, quarantine []Quarantined, enrolled []string, now time.Time) []NodeStatus {
	byNode := map[string]*NodeStatus{}
	get := func(id string) *NodeStatus {
		n := byNode[id]
		if n == nil {
			n = &NodeStatus{Node: id, Quarantined: []string{}, AtRisk: []SeqRange{}, Epochs: []EpochStatus{}}
			byNode[id] = n
		}
		return n
	}
	for _, id := range enrolled {
		get(id).Enrolled = true
	}
	group := map[string][]NodeEpoch{}
	for _, ne := range epochs {
		group[ne.Node] = append(group[ne.Node], ne)
	}
	for id, nes := range group {
		n := get(id)
		sort.Slice(nes, func(i, j int) bool {
			if !nes[i].LastContact.Equal(nes[j].LastContact) {
				return nes[i].LastContact.After(nes[j].LastContact)
			}
			return nes[i].FirstContact.After(nes[j].FirstContact)
		})
		for i, ne := range nes {
			es := EpochStatus{Epoch: ne.Epoch, Current: i == 0, Acknowledged: ne.HighWater, LastReported: ne.Reported,
				Records: ne.Records, Duplicates: ne.Duplicates, Quarantined: ne.Quarantined,
				FirstContact: ne.FirstContact, LastContact: ne.LastContact}
			if first, last, ok := ne.AtRisk(); ok {
				if i == 0 {
					es.Backlog = last - first + 1
				} else {
					es.AtRisk = &SeqRange{First: first, Last: last}
					n.AtRisk = append(n.AtRisk, *es.AtRisk)
					n.AtRiskCount += last - first + 1
				}
			}
			if i == 0 {
				n.LastContact, n.Acknowledged, n.LastReported, n.Backlog = ne.LastContact, ne.HighWater, ne.Reported, es.Backlog
				n.ClockOffset, n.ClockKnown = ne.ClockOffset, ne.ClockKnown
				n.ClockSkewed = ne.ClockKnown && (ne.ClockOffset > ClockOffsetMax || ne.ClockOffset < -ClockOffsetMax)
				if !ne.LastContact.IsZero() {
					n.SinceContact = now.Sub(ne.LastContact)
				}
				if !ne.StateAsOf.IsZero() {
					n.StateAsOf, n.Staleness = ne.StateAsOf, now.Sub(ne.StateAsOf)
				}
			}
			n.Epochs = append(n.Epochs, es)
		}
	}
	for _, q := range quarantine {
		n := get(q.Origin.Node)
		n.Quarantined = append(n.Quarantined, q.Record.ID.String())
	}
	out := make([]NodeStatus, 0, len(byNode))
	for _, n := range byNode {
		out = append(out, *n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out
}
