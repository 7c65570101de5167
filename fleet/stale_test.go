package fleet_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
)

// eventually polls cond every 20 ms until it holds or ctx ends.
func eventually(ctx context.Context, t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// TestNodeStateAsOfReachesGateAndHub: a node's state_as_of (the hub time
// of the last heartbeat it applied) is what its ledger holds, a gate that
// syncs in-process decides with it live (Node.StateAsOf), the node reports
// it, and fleet status shows it with its staleness; while the node is cut
// off, its state_as_of stays and the staleness the hub shows grows.
func TestNodeStateAsOfReachesGateAndHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(), hub.Config{RetryDelay: 200 * time.Millisecond, HeartbeatEvery: 200 * time.Millisecond}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	passes, err := h.Sell(ctx, 1, "cp24-adult", time.Now())
	require.NoError(t, err)
	n, err := fleettest.StartLoopbackNode(h, "bus-12", nodeCfg, nil, nil)
	require.NoError(t, err)
	defer n.Close()
	v, err := n.Ready(ctx)
	require.NoError(t, err)

	live := func() time.Time { t.Helper(); at, err := n.Sync.StateAsOf(); require.NoError(t, err); return at }
	eventually(ctx, t, "the node applies a heartbeat", func() bool { return !live().IsZero() })
	first := live()
	c, err := datadir.ReadStateCursor(n.Ledger)
	require.NoError(t, err)
	assert.False(t, c.AsOf.Before(first), "the ledger holds it before the node says so: ledger %s, live %s", c.AsOf, first)
	eventually(ctx, t, "heartbeats move it", func() bool { return live().After(first) })

	// A gate deciding with the live cursor: a first entry 24 h and a second
	// after state_as_of is stale under the sample's default policy (24 h,
	// accept).
	v.SetStateAsOf(n.Sync.StateAsOf)
	asOf := live()
	res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "bus-12", Seq: 1}, Card: passes[0].Card, Gate: "rtm-bus/12", At: asOf.Add(24*time.Hour + time.Second)})
	require.NoError(t, err)
	assert.True(t, res.Decision.Accept)
	assert.Equal(t, []string{"ACTIVATED", "STALE"}, res.Decision.Flags.Names())

	// The hub learns it from the node's reports.
	status := func() fleet.NodeStatus {
		t.Helper()
		st, err := hub.ReadStatus(ctx, h.Ledger, nil, time.Now())
		require.NoError(t, err)
		require.Len(t, st, 1)
		return st[0]
	}
	eventually(ctx, t, "the hub hears the node's state_as_of", func() bool { return !status().StateAsOf.Before(first) })
	st := status()
	assert.False(t, st.StateAsOf.After(live()), "the hub shows what the node reported")
	assert.Positive(t, st.Staleness)

	// Cut off: the node keeps its state_as_of; the hub's staleness grows.
	n.Proxy.Down()
	eventually(ctx, t, "the node notices", func() bool { return !n.Conn.Connected() })
	stuck := live() // a fetch already received may still be applied after this
	s1 := status().Staleness
	eventually(ctx, t, "staleness grows at the hub", func() bool { return status().Staleness > s1+2*time.Second })
	// Heartbeats come every 200 ms: a node still receiving them would have
	// moved by about 2 s.
	assert.Less(t, live().Sub(stuck), time.Second, "no heartbeat reaches a node cut off")
	reported := status().StateAsOf
	assert.False(t, reported.After(live()), "the hub is never ahead of the node")
	n.Proxy.Up()
	eventually(ctx, t, "heals", func() bool { return live().Sub(stuck) > time.Second })
	eventually(ctx, t, "the hub hears again", func() bool { return status().StateAsOf.After(reported) })
}
