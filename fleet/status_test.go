package fleet_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/fleet"
)

// TestContactStateAsOf: a report moves a node epoch's state_as_of forward
// only (a late report never lowers it), and a report without one keeps it.
func TestContactStateAsOf(t *testing.T) {
	hub := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	ne := fleet.NodeEpoch{Node: "bus-12", Epoch: 7}
	ne = fleet.Contact(ne, hub, 10, time.Second, hub.Add(-time.Minute))
	assert.Equal(t, hub.Add(-time.Minute), ne.StateAsOf)
	ne = fleet.Contact(ne, hub.Add(time.Minute), 12, time.Second, hub.Add(-time.Hour)) // a late report
	assert.Equal(t, hub.Add(-time.Minute), ne.StateAsOf)
	ne = fleet.Contact(ne, hub.Add(2*time.Minute), 12, time.Second, time.Time{})
	assert.Equal(t, hub.Add(-time.Minute), ne.StateAsOf)
	ne = fleet.Contact(ne, hub.Add(3*time.Minute), 13, time.Second, hub.Add(2*time.Minute))
	assert.Equal(t, hub.Add(2*time.Minute), ne.StateAsOf)
	assert.Equal(t, uint64(13), ne.Reported)
}

// TestBuildStatusStaleness: fleet status shows each node's state_as_of as
// its current epoch last reported it and its staleness at the status's
// time; a node that never reported one shows neither.
func TestBuildStatusStaleness(t *testing.T) {
	now := time.Date(2026, 11, 23, 18, 0, 0, 0, time.UTC)
	epochs := []fleet.NodeEpoch{
		// bus-12 was wiped: its old epoch's state does not count.
		{Node: "bus-12", Epoch: 1, FirstContact: now.Add(-48 * time.Hour), LastContact: now.Add(-30 * time.Hour), StateAsOf: now.Add(-30 * time.Hour)},
		{Node: "bus-12", Epoch: 2, FirstContact: now.Add(-7 * time.Hour), LastContact: now.Add(-6 * time.Hour), StateAsOf: now.Add(-6*time.Hour - 10*time.Second)},
		{Node: "gate-1", Epoch: 3, FirstContact: now.Add(-time.Hour), LastContact: now.Add(-5 * time.Second), StateAsOf: now.Add(-8 * time.Second)},
		{Node: "gate-2", Epoch: 4, FirstContact: now.Add(-time.Hour), LastContact: now.Add(-time.Minute)},
	}
	st := fleet.BuildStatus(epochs, nil, []string{"bus-12", "gate-1", "gate-2", "gate-3"}, now)
	require.Len(t, st, 4)
	byNode := map[string]fleet.NodeStatus{}
	for _, n := range st {
		byNode[n.Node] = n
	}
	assert.Equal(t, now.Add(-6*time.Hour-10*time.Second), byNode["bus-12"].StateAsOf)
	assert.Equal(t, 6*time.Hour+10*time.Second, byNode["bus-12"].Staleness)
	assert.Equal(t, 8*time.Second, byNode["gate-1"].Staleness)
	for _, id := range []string{"gate-2", "gate-3"} {
		assert.True(t, byNode[id].StateAsOf.IsZero(), id)
		assert.Zero(t, byNode[id].Staleness, id)
	}
}
