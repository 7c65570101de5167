package fleet_test

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/netproxy"
	"github.com/citypass/citypass/fleet/wire"
	"github.com/citypass/citypass/ledger"
)

var faultSeed = flag.Uint64("fleet.seed", 1, "seed of TestFleetUnderFaults")

// TestFleetUnderFaults runs a hub and 20 nodes on loopback, each node's
// ledger on a crashable in-memory file system behind its own proxy, and
// subjects them to a seeded schedule of faults while the nodes tap:
// partitions and flapping links, node crashes (losing what was not synced)
// and restarts, a wiped node (a new epoch), a hub killed and restarted, the
// hub stopping between a commit and its acknowledgement, a node re-sending
// everything after the stream's duplicate window, and node clocks skewed by
// up to ±10 minutes. After the links heal, for every node epoch the hub
// holds exactly the node's durable records, none twice, and the wiped
// epoch's unreceived range is reported at risk. A failure prints the seed
// (-fleet.seed replays the schedule; the real timing of NATS does not
// replay exactly).
func TestFleetUnderFaults(t *testing.T) {
	seed := *faultSeed
	t.Logf("seed %d (replay with -fleet.seed=%d)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 0xF1EE7))
	var rngMu sync.Mutex
	draw := func(n int) int { rngMu.Lock(); defer rngMu.Unlock(); return rng.IntN(n) }
	crashRng := rand.New(rand.NewPCG(seed, 0xC4A5))
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()

	// The hub stops once in twenty uploads between commit and ack.
	faultAfterApply := func(string) bool { return draw(20) == 0 }
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(),
		hub.Config{RetryDelay: 200 * time.Millisecond, HeartbeatEvery: 300 * time.Millisecond, FaultAfterApply: faultAfterApply},
		natsio.StreamOptions{Duplicates: time.Second, IngestAckWait: 2 * time.Second})
	require.NoError(t, err, "seed %d", seed)
	defer h.Close()
	sold := time.Now().Add(-2 * time.Hour)
	passes, err := h.Sell(ctx, 40, "cp72-adult", sold)
	require.NoError(t, err)

	const nodesN = 20
	nodes := make([]*fleettest.LoopbackNode, nodesN)
	skew := make([]time.Duration, nodesN)
	for i := range nodes {
		skew[i] = time.Duration(draw(1200)-600) * time.Second
		d := skew[i]
		nodes[i], err = fleettest.StartLoopbackNode(h, fmt.Sprintf("node-%02d", i), nodeCfg,
			func() time.Time { return time.Now().Add(d) }, epochSource(seed, uint64(i)))
		require.NoError(t, err, "seed %d", seed)
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

	// Taps: every node taps now and then, whatever its link's state.
	var tapMu sync.Mutex // serializes node restarts with their taps
	seqs := make([]uint64, nodesN)
	tap := func(i int) {
		tapMu.Lock()
		defer tapMu.Unlock()
		n := nodes[i]
		v, err := n.Ready(ctx)
		if err != nil {
			t.Errorf("seed %d: node %s: %v", seed, n.ID, err)
			return
		}
		seqs[i]++
		p := passes[draw(len(passes))]
		gates := []string{"mucem/main", "rtm-metro/vieux-port", "rtm-bus/83", "chateau-if/quai"}
		_, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: fmt.Sprintf("%s-e%016x", n.ID, n.Ledger.Epoch()), Seq: seqs[i]},
			Card: p.Card, Gate: gates[draw(len(gates))], At: n.Clock()})
		if err != nil {
			t.Errorf("seed %d: node %s tap: %v", seed, n.ID, err)
		}
	}

	// The fault schedule, drawn from the seed.
	wiped := draw(nodesN)
	resender := (wiped + 1 + draw(nodesN-1)) % nodesN
	for i := 0; i < nodesN; i += 5 {
		if i != wiped {
			require.NoError(t, nodes[i].Proxy.FlapSeed(seed+uint64(i)))
		}
	}
	var oldEpoch uint64
	var oldRecords []engine.TapRecord
	var oldReported uint64
	for step := 0; step < 420; step++ {
		tap(draw(nodesN))
		switch {
		case step%40 == 7: // a partition of a few nodes
			i := draw(nodesN)
			if nodes[i].Proxy.IsUp() && i != wiped {
				nodes[i].Proxy.Down()
				time.AfterFunc(time.Duration(500+draw(2500))*time.Millisecond, nodes[i].Proxy.Up)
			}
		case step%60 == 23: // a node crash
			i := draw(nodesN)
			tapMu.Lock()
			err := nodes[i].Crash(crashRng)
			tapMu.Unlock()
			require.NoError(t, err, "seed %d: crash of %s", seed, nodes[i].ID)
		case step == 150: // the hub process dies and comes back
			h.Kill()
			time.Sleep(time.Duration(200+draw(800)) * time.Millisecond)
			require.NoError(t, h.Restart(), "seed %d: hub restart", seed)
		case step == 200: // one node uploads everything again, after the duplicate window
			nodes[resender].Sync.Rewind()
		case step == 250: // a node reports its last seq, then its disk dies unsynced
			n := nodes[wiped]
			tapMu.Lock()
			n.Proxy.Down()
			for range 5 {
				seqs[wiped]++
				p := passes[draw(len(passes))]
				_, err := n.Validator.Validate(ctx, engine.Tap{ID: engine.TapID{Device: fmt.Sprintf("%s-e%016x", n.ID, n.Ledger.Epoch()), Seq: seqs[wiped]},
					Card: p.Card, Gate: "rtm-metro/vieux-port", At: n.Clock()})
				require.NoError(t, err)
			}
			oldEpoch = n.Ledger.Epoch()
			require.NoError(t, n.Ledger.Journal(ctx, 1, func(r *engine.TapRecord) error { oldRecords = append(oldRecords, *r); return nil }))
			oldReported = uint64(len(oldRecords))
			// The node's last report before the failure, on a link the proxy does not cut.
			direct, err := natsio.Connect(n.Creds, natsio.ConnectOptions{WaitConnected: true})
			require.NoError(t, err)
			_, err = direct.Request(ctx, natsio.HubSubject("report", n.ID), wire.Marshal(wire.Report{Epoch: oldEpoch, LastSeq: oldReported, NodeTime: n.Clock()}))
			direct.Close()
			require.NoError(t, err, "seed %d: the last report", seed)
			require.NoError(t, n.Wipe(epochSource(seed, 999)))
			seqs[wiped] = 0
			n.Proxy.Up()
			tapMu.Unlock()
		}
		time.Sleep(15 * time.Millisecond)
	}

	// Heal: every link up, nothing flapping; wait until the hub has all.
	for _, n := range nodes {
		n.Proxy.StopFlapping()
		n.Proxy.Up()
	}
	for _, n := range nodes {
		last, err := n.Ledger.LastJournalSeq()
		require.NoError(t, err)
		require.NoError(t, n.Sync.WaitAcked(ctx, last), "seed %d: node %s's records reach the hub after heal (stats %+v)", seed, n.ID, n.Proxy.Stats())
	}
	for _, n := range nodes {
		assertHubHolds(t, h, n)
	}
	// The wiped node's old epoch: the hub holds a prefix of its records,
	// and reports the rest at risk.
	held := map[uint64]engine.TapRecord{}
	origins := map[uint64]fleet.Origin{}
	require.NoError(t, h.Ledger.Origins(ctx, 1, func(seq uint64, o *fleet.Origin) error { origins[seq] = *o; return nil }))
	require.NoError(t, h.Ledger.Journal(ctx, 1, func(r *engine.TapRecord) error {
		if o, ok := origins[r.JournalSeq]; ok && o.Node == nodes[wiped].ID && o.Epoch == oldEpoch {
			held[o.NodeSeq] = *r
		}
		return nil
	}))
	for seq := uint64(1); seq <= uint64(len(held)); seq++ {
		r, ok := held[seq]
		require.True(t, ok, "seed %d: the hub holds a prefix of the wiped epoch (seq %d missing)", seed, seq)
		require.True(t, fleet.SameRecord(&oldRecords[seq-1], &r), "seed %d: wiped epoch seq %d differs", seed, seq)
	}
	st, err := hub.ReadStatus(ctx, h.Ledger, nil, time.Now())
	require.NoError(t, err)
	for _, ns := range st {
		if ns.Node != nodes[wiped].ID {
			assert.Empty(t, ns.AtRisk, "seed %d: node %s has nothing at risk", seed, ns.Node)
			continue
		}
		require.Len(t, ns.Epochs, 2, "seed %d: the wiped node has two epochs (old %d, held %d, reported %d): %+v", seed, oldEpoch, len(held), oldReported, ns)
		assert.Equal(t, nodes[wiped].Ledger.Epoch(), ns.Epochs[0].Epoch, "seed %d: the new epoch is current", seed)
		want := []fleet.SeqRange{}
		if uint64(len(held)) < oldReported {
			want = append(want, fleet.SeqRange{First: uint64(len(held)) + 1, Last: oldReported})
		}
		assert.Equal(t, want, ns.AtRisk, "seed %d: the wiped epoch's unreceived records are at risk", seed)
		assert.NotEmpty(t, want, "seed %d: the wiped node lost records it had reported", seed)
		_ = skew
	}
	rep, err := ledger.Check(h.Ledger)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "seed %d: hub ledger check: %v", seed, rep.Problems)
	assert.Zero(t, rep.Fleet.Quarantined, "seed %d: %v", seed, rep.Fleet.Quarantine)
	t.Logf("seed %d: %d records at the hub, stats %+v", seed, rep.Fleet.Origins, statsOf(h))
}

func statsOf(h *fleettest.LoopbackHub) map[string]uint64 {
	s := &h.Hub.Stats
	return map[string]uint64{"uploads": s.Uploads.Load(), "records": s.Records.Load(), "repeats": s.Repeats.Load(),
		"gaps": s.Gaps.Load(), "aliases": s.Aliases.Load(), "quarantined": s.Quarantined.Load()}
}

// epochSource is a seeded source of a node ledger's epoch.
func epochSource(seed, i uint64) *rand.ChaCha8 {
	var b [32]byte
	for j := range 8 {
		b[j], b[8+j] = byte(seed>>(8*j)), byte(i>>(8*j))
	}
	return rand.NewChaCha8(b)
}

var _ = netproxy.Refuse
