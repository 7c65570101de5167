package fleet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
)

// TestUploadContactIsWhenItArrived: an upload counts as contact from its
// node epoch when the hub's stream stored it, not when it is applied. A
// wiped node's old epoch keeps an upload that waits for records the node
// can no longer send, delivered again and again: it must not make the old
// epoch current again after the new one has reported (docs/fleet.md,
// "fleet status").
func TestUploadContactIsWhenItArrived(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	const node = "gate-1"
	oldEpoch := fleet.NodeEpoch{Node: node, Epoch: 1, HighWater: 5, FirstContact: t0, LastContact: t0}
	// The node is wiped; its new epoch reports at t0+20 s.
	newEpoch := fleet.Contact(fleet.NodeEpoch{Node: node, Epoch: 2, FirstContact: t0.Add(20 * time.Second)},
		t0.Add(20*time.Second), 0, 0, t0)
	view := func(ne fleet.NodeEpoch) *fleet.IngestView {
		return &fleet.IngestView{NodeEpoch: ne, Known: true, ByNodeSeq: map[uint64][]engine.TapRecord{},
			ByTapID: map[engine.TapID]fleet.Stored{}, Passes: map[string]engine.Pass{}, Cards: map[string]engine.Card{},
			Usage: map[string]engine.Usage{}}
	}
	// Seqs 6-7 were lost; 8-9 reached the stream at t0+10 s, before the
	// wipe, and are delivered again at t0+60 s.
	gap := &fleet.Batch{Node: node, Epoch: 1, First: 8, Last: 9, ReceivedAt: t0.Add(10 * time.Second)}
	res := fleet.Ingest(gap, view(oldEpoch), t0.Add(60*time.Second))
	require.True(t, res.Gap)
	assert.Equal(t, t0.Add(10*time.Second), res.NodeEpoch.LastContact, "contact when the stream stored it")
	st := fleet.BuildStatus([]fleet.NodeEpoch{res.NodeEpoch, newEpoch}, nil, []string{node}, t0.Add(60*time.Second))
	require.Len(t, st, 1)
	require.Len(t, st[0].Epochs, 2)
	assert.Equal(t, uint64(2), st[0].Epochs[0].Epoch, "the new epoch stays current")
	assert.True(t, st[0].Epochs[0].Current)
	assert.Equal(t, []fleet.SeqRange{}, st[0].AtRisk, "nothing reported beyond what the hub holds")

	// Contact never moves back: an upload stored before the epoch's last
	// contact leaves it.
	later := oldEpoch
	later.LastContact = t0.Add(30 * time.Second)
	res = fleet.Ingest(gap, view(later), t0.Add(60*time.Second))
	assert.Equal(t, t0.Add(30*time.Second), res.NodeEpoch.LastContact)

	// Unknown arrival (zero), or one after the hub's clock reading: now.
	for _, at := range []time.Time{{}, t0.Add(time.Hour)} {
		b := *gap
		b.ReceivedAt = at
		res = fleet.Ingest(&b, view(oldEpoch), t0.Add(60*time.Second))
		assert.Equal(t, t0.Add(60*time.Second), res.NodeEpoch.LastContact, "received at %v", at)
	}

	// A first contact is the arrival too.
	res = fleet.Ingest(&fleet.Batch{Node: node, Epoch: 3, First: 2, Last: 2, ReceivedAt: t0.Add(5 * time.Second)},
		&fleet.IngestView{}, t0.Add(60*time.Second))
	assert.Equal(t, t0.Add(5*time.Second), res.NodeEpoch.FirstContact)
	assert.Equal(t, t0.Add(5*time.Second), res.NodeEpoch.LastContact)
}
