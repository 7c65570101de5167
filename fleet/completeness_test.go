package fleet_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

func TestLagging(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 11, d, 12, 0, 0, 0, time.UTC) }
	start, end := day(1), day(30)
	eps := []fleet.NodeEpoch{
		{Node: "a", Epoch: 1, FirstTapAt: day(2), LastTapAt: day(3), LastContact: day(30).Add(time.Hour)}, // in contact since
		{Node: "b", Epoch: 1, FirstTapAt: day(2), LastTapAt: day(29), LastContact: day(29)},               // lagging
		{Node: "c", Epoch: 1, FirstTapAt: end, LastTapAt: end, LastContact: day(29)},                      // no tap in the span
		{Node: "d", Epoch: 1, FirstTapAt: day(5), LastTapAt: day(5), LastContact: day(6)},                 // an old epoch...
		{Node: "d", Epoch: 2, LastContact: end.Add(time.Minute)},                                          // ...of a node in contact since
		{Node: "e", Epoch: 1, LastContact: day(2)},                                                        // never sent a tap
	}
	assert.Equal(t, []string{"b"}, fleet.Lagging(eps, start, end))
	assert.Empty(t, fleet.Lagging(eps, day(30).Add(2*time.Hour), day(30).Add(3*time.Hour)))
}

// TestCloseWaitsForLaggingNodes: a node that uploaded taps of November and
// was cut off before November ended holds the hub's November close back,
// naming it; --allow-lagging closes anyway, and the node's late tap is then
// an adjustment on December's statement.
func TestCloseWaitsForLaggingNodes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	var hubNow atomic.Pointer[time.Time]
	setNow := func(tm time.Time) { hubNow.Store(&tm) }
	now := func() time.Time { return *hubNow.Load() }
	setNow(time.Date(2026, 11, 30, 10, 0, 0, 0, paris))
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(),
		hub.Config{Now: now, RetryDelay: 200 * time.Millisecond, HeartbeatEvery: 200 * time.Millisecond}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	passes, err := h.Sell(ctx, 4, "cp72-adult", time.Date(2026, 11, 29, 9, 0, 0, 0, paris))
	require.NoError(t, err)
	a, err := fleettest.StartLoopbackNode(h, "node-a", nodeCfg, now, epochSource(3, 1))
	require.NoError(t, err)
	defer a.Close()
	b, err := fleettest.StartLoopbackNode(h, "node-b", nodeCfg, now, epochSource(3, 2))
	require.NoError(t, err)
	defer b.Close()
	tap := func(n *fleettest.LoopbackNode, seq uint64, p engine.Pass, at time.Time) {
		v, err := n.Ready(ctx)
		require.NoError(t, err)
		res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: n.ID, Seq: seq}, Card: p.Card, Gate: "mucem/main", At: at})
		require.NoError(t, err)
		require.True(t, res.Decision.Accept, "%+v", res.Decision)
	}
	synced := func(n *fleettest.LoopbackNode) {
		last, err := n.Ledger.LastJournalSeq()
		require.NoError(t, err)
		require.NoError(t, n.Sync.WaitAcked(ctx, last))
	}
	tap(a, 1, passes[0], time.Date(2026, 11, 30, 10, 5, 0, 0, paris))
	tap(b, 1, passes[1], time.Date(2026, 11, 30, 10, 6, 0, 0, paris))
	synced(a)
	synced(b)
	b.Partition(true)
	tap(b, 2, passes[2], time.Date(2026, 11, 30, 11, 0, 0, 0, paris)) // journaled at b, not uploaded

	// December begins; node a reports in, node b cannot.
	setNow(time.Date(2026, 12, 1, 6, 0, 0, 0, paris))
	require.Eventually(t, func() bool {
		st, err := hub.ReadStatus(ctx, h.Ledger, nil, now())
		require.NoError(t, err)
		for _, n := range st {
			if n.Node == "node-a" {
				return !n.LastContact.Before(time.Date(2026, 12, 1, 0, 0, 0, 0, paris))
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond, "node a reports in December")

	signer, err := reconcile.GenerateSigningKey(t.TempDir())
	require.NoError(t, err)
	through, err := tariff.ParseDate("2026-11-30")
	require.NoError(t, err)
	out := t.TempDir()
	_, err = reconcile.Close(ctx, h.Ledger, h.Validator.Catalog(), signer, reconcile.CloseOptions{
		Through: through, At: now(), OutDir: out, Ready: hub.CloseReady(ctx, h.Ledger)})
	var lag *hub.LaggingError
	require.True(t, errors.As(err, &lag), "the close waits for node b: %v", err)
	assert.Equal(t, []string{"node-b"}, lag.Nodes)
	assert.ErrorIs(t, err, hub.ErrLagging)

	// --allow-lagging: close without the hook.
	res, err := reconcile.Close(ctx, h.Ledger, h.Validator.Catalog(), signer, reconcile.CloseOptions{Through: through, At: now(), OutDir: out})
	require.NoError(t, err)
	assert.Equal(t, 2, visitsOf(res, "mucem-2026-11"), "November pays the two taps the hub had")

	// Node b comes back; its late November tap goes onto December's statement.
	b.Partition(false)
	synced(b)
	setNow(time.Date(2027, 1, 1, 6, 0, 0, 0, paris))
	dec, err := tariff.ParseDate("2026-12-31")
	require.NoError(t, err)
	res, err = reconcile.Close(ctx, h.Ledger, h.Validator.Catalog(), signer, reconcile.CloseOptions{Through: dec, At: now(), OutDir: out})
	require.NoError(t, err)
	var found bool
	for _, s := range res.Statements {
		if s.ID == "mucem-2026-12" {
			found = true
			assert.Equal(t, 1, s.AdjustmentLines, "the late tap is an adjustment")
		}
	}
	assert.True(t, found, "a December statement for the adjustment: %+v", res.Statements)
}

func visitsOf(res *reconcile.CloseResult, id string) int {
	for _, s := range res.Statements {
		if s.ID == id {
			return s.Visits
		}
	}
	return -1
}
