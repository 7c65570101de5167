package fleet_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/node"
	"github.com/citypass/citypass/ledger"
)

var nodeCfg = node.Config{Poll: 20 * time.Millisecond, ResendAfter: time.Second, ReportEvery: time.Second, RequestTimeout: 2 * time.Second}

// assertHubHolds checks that for the node's current epoch the hub holds
// exactly the node's durable records, each once.
func assertHubHolds(t *testing.T, h *fleettest.LoopbackHub, n *fleettest.LoopbackNode) {
	t.Helper()
	ctx := context.Background()
	var nodeRecs []engine.TapRecord
	require.NoError(t, n.Ledger.Journal(ctx, 1, func(r *engine.TapRecord) error { nodeRecs = append(nodeRecs, *r); return nil }))
	byOrigin := map[uint64]engine.TapRecord{}
	origins := map[uint64]fleet.Origin{}
	require.NoError(t, h.Ledger.Origins(ctx, 1, func(seq uint64, o *fleet.Origin) error { origins[seq] = *o; return nil }))
	require.NoError(t, h.Ledger.Journal(ctx, 1, func(r *engine.TapRecord) error {
		o, ok := origins[r.JournalSeq]
		if ok && o.Node == n.ID && o.Epoch == n.Ledger.Epoch() {
			_, dup := byOrigin[o.NodeSeq]
			require.False(t, dup, "node %s seq %d journaled twice at the hub", n.ID, o.NodeSeq)
			byOrigin[o.NodeSeq] = *r
		}
		return nil
	}))
	require.Len(t, byOrigin, len(nodeRecs), "node %s: hub holds %d of its %d records", n.ID, len(byOrigin), len(nodeRecs))
	for _, r := range nodeRecs {
		got, ok := byOrigin[r.JournalSeq]
		require.True(t, ok, "node %s seq %d missing at the hub", n.ID, r.JournalSeq)
		require.True(t, fleet.SameRecord(&r, &got), "node %s seq %d differs at the hub", n.ID, r.JournalSeq)
	}
}

func TestLoopbackTapsReachTheHub(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(), hub.Config{RetryDelay: 200 * time.Millisecond, HeartbeatEvery: 200 * time.Millisecond}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	sold := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	passes, err := h.Sell(ctx, 5, "cp24-adult", sold)
	require.NoError(t, err)
	var nodes []*fleettest.LoopbackNode
	for i := range 3 {
		n, err := fleettest.StartLoopbackNode(h, fmt.Sprintf("gate-%d", i), nodeCfg, nil, nil)
		require.NoError(t, err)
		defer n.Close()
		nodes = append(nodes, n)
	}
	for i, n := range nodes {
		v, err := n.Ready(ctx)
		require.NoError(t, err)
		for j := range 40 {
			p := passes[(i+j)%len(passes)]
			res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: n.ID, Seq: uint64(j + 1)}, Card: p.Card,
				Gate: []string{"mucem/main", "rtm-metro/vieux-port"}[j%2], At: sold.Add(time.Duration(i*40+j) * time.Minute)})
			require.NoError(t, err)
			if j == 0 {
				require.True(t, res.Decision.Accept, "a pass sold at the hub opens a node's gate: %+v", res.Decision)
			}
		}
	}
	for _, n := range nodes {
		last, err := n.Ledger.LastJournalSeq()
		require.NoError(t, err)
		require.NoError(t, n.Sync.WaitAcked(ctx, last))
		assertHubHolds(t, h, n)
	}
	rep, err := ledger.Check(h.Ledger)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 120, rep.Fleet.Origins)
}

// TestBusyGateUploadsAPollAtATime: taps journaled while the uplink waits
// for its next poll go up together; a hub's acknowledgement does not wake
// the uplink to send the few taps made during the round trip.
func TestBusyGateUploadsAPollAtATime(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(), hub.Config{}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	passes, err := h.Sell(ctx, 50, "cp24-adult", time.Now().Add(-time.Hour))
	require.NoError(t, err)
	cfg := nodeCfg
	cfg.Poll = 200 * time.Millisecond
	n, err := fleettest.StartLoopbackNode(h, "gate-busy", cfg, nil, nil)
	require.NoError(t, err)
	defer n.Close()
	v, err := n.Ready(ctx)
	require.NoError(t, err)
	before := h.Hub.Stats.Uploads.Load()
	start := time.Now()
	const taps = 100
	for i := range taps {
		_, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: n.ID}, Card: passes[i%len(passes)].Card, Gate: "rtm-bus/83", At: time.Now()})
		require.NoError(t, err)
		time.Sleep(4 * time.Millisecond) // a busy gate's pace, slower than a round trip to the hub
	}
	last, err := n.Ledger.LastJournalSeq()
	require.NoError(t, err)
	require.NoError(t, n.Sync.WaitAcked(ctx, last))
	polls := int(time.Since(start)/cfg.Poll) + 1
	uploads := int(h.Hub.Stats.Uploads.Load() - before)
	t.Logf("%d taps in %d polls went up in %d uploads", taps, polls, uploads)
	assert.LessOrEqual(t, uploads, polls+1, "%d taps in %d polls went up in %d uploads", taps, polls, uploads)
	assertHubHolds(t, h, n)
}

// TestNodeWithoutStateDown: a node started with NoStateDown reports to the
// hub but never loads or applies the hub's state, while a node beside it
// does.
func TestNodeWithoutStateDown(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(), hub.Config{HeartbeatEvery: 100 * time.Millisecond}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	passes, err := h.Sell(ctx, 2, "cp24-adult", time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	up := nodeCfg
	up.NoStateDown = true
	quiet, err := fleettest.StartLoopbackNode(h, "gate-up", up, nil, nil)
	require.NoError(t, err)
	defer quiet.Close()
	full, err := fleettest.StartLoopbackNode(h, "gate-full", nodeCfg, nil, nil)
	require.NoError(t, err)
	defer full.Close()

	require.NoError(t, quiet.Sync.WaitContact(ctx), "the uplink runs")
	_, err = full.Ready(ctx)
	require.NoError(t, err)
	// Two heartbeats after the full node loaded the state, the other node
	// would have had time to load it too.
	asOf := full.Sync.State().AsOf.Add(200 * time.Millisecond)
	require.NoError(t, full.Sync.WaitState(ctx, asOf))

	assert.Zero(t, quiet.Sync.State(), "a node without the downlink has no state cursor")
	cur, err := node.ReadStateCursor(quiet.Ledger)
	require.NoError(t, err)
	assert.Zero(t, cur)
	has := func(l *ledger.Ledger) bool {
		var found bool
		require.NoError(t, l.View(ctx, func(r engine.Reader) error {
			_, found, err = r.Pass(passes[0].ID)
			return err
		}))
		return found
	}
	assert.False(t, has(quiet.Ledger), "the hub's passes never reached it")
	assert.True(t, has(full.Ledger))
}

// TestNodeFarBehindCatchesUp: a node cut off while the hub makes more
// changes than several fetches of the state stream hold (256 messages
// each) catches up with all of them after the heal and holds every pass and
// card sold while it was away.
func TestNodeFarBehindCatchesUp(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(), hub.Config{HeartbeatEvery: 100 * time.Millisecond}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	n, err := fleettest.StartLoopbackNode(h, "gate-away", nodeCfg, nil, nil)
	require.NoError(t, err)
	defer n.Close()
	_, err = n.Ready(ctx)
	require.NoError(t, err)

	n.Partition(true)
	const sales = 1100 // each its own revision and stream message
	passes, err := h.Sell(ctx, sales, "cp24-adult", time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	rev, err := h.Ledger.LastRev()
	require.NoError(t, err)
	n.Partition(false)
	for cur := n.Sync.State(); cur.Rev < rev; cur = n.Sync.State() {
		require.NoError(t, n.Sync.WaitStream(ctx, cur.StreamSeq+1))
	}
	require.NoError(t, n.Ledger.View(ctx, func(r engine.Reader) error {
		for _, p := range passes {
			got, ok, err := r.Pass(p.ID)
			require.NoError(t, err)
			require.True(t, ok, "pass %s sold while the node was away", p.ID)
			assert.Equal(t, p.Card, got.Card)
			c, ok, err := r.Card(p.Card)
			require.NoError(t, err)
			require.True(t, ok, "card %s", p.Card)
			assert.Contains(t, c.Passes, p.ID)
		}
		return nil
	}))
}
