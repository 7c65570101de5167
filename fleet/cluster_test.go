package fleet_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/ledger"
)

// TestFleetOnACluster runs the fleet against a 3-server embedded JetStream
// cluster (streams R3): nodes tap through partitions and crashes, one
// server is killed for good mid-run, and every node's durable records still
// reach the hub exactly once.
func TestFleetOnACluster(t *testing.T) {
	seed := *faultSeed
	t.Logf("seed %d (replay with -fleet.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0xC1))
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()
	h, err := fleettest.StartLoopbackCluster(t.TempDir(), fleettest.SampleTOML(),
		hub.Config{RetryDelay: 200 * time.Millisecond, HeartbeatEvery: 300 * time.Millisecond},
		natsio.StreamOptions{IngestAckWait: 3 * time.Second}, 3)
	require.NoError(t, err, "seed %d", seed)
	defer h.Close()
	sold := time.Now().Add(-time.Hour)
	passes, err := h.Sell(ctx, 20, "cp72-adult", sold)
	require.NoError(t, err)
	nodes := make([]*fleettest.LoopbackNode, 8)
	for i := range nodes {
		nodes[i], err = fleettest.StartLoopbackNode(h, fmt.Sprintf("bus-%02d", i), nodeCfg, nil, epochSource(seed, uint64(i)))
		require.NoError(t, err)
	}
	defer func() {
		for _, n := range nodes {
			_ = n.Close()
		}
	}()
	for _, n := range nodes {
		_, err := n.Ready(ctx)
		require.NoError(t, err, "seed %d: node %s loads the hub's state", seed, n.ID)
	}
	for step := range 240 {
		i := rng.IntN(len(nodes))
		n := nodes[i]
		v, err := n.Ready(ctx)
		require.NoError(t, err)
		p := passes[rng.IntN(len(passes))]
		_, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: n.ID}, Card: p.Card, Gate: "rtm-bus/83", At: time.Now()})
		require.NoError(t, err, "seed %d: tap at %s", seed, n.ID)
		switch {
		case step%30 == 11:
			j := rng.IntN(len(nodes))
			nodes[j].Partition(true)
			time.AfterFunc(time.Duration(300+rng.IntN(1500))*time.Millisecond, func() { nodes[j].Partition(false) })
		case step%50 == 29:
			require.NoError(t, nodes[rng.IntN(len(nodes))].Crash(rng))
		case step == 120:
			h.KillMember(2)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, n := range nodes {
		n.Partition(false)
	}
	for _, n := range nodes {
		last, err := n.Ledger.LastJournalSeq()
		require.NoError(t, err)
		require.NoError(t, n.Sync.WaitAcked(ctx, last), "seed %d: node %s's records reach the hub with a server down", seed, n.ID)
		assertHubHolds(t, h, n)
	}
	rep, err := ledger.Check(h.Ledger)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "seed %d: %v", seed, rep.Problems)
	assert.Zero(t, rep.Fleet.Quarantined)
}
