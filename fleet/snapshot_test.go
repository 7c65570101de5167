package fleet_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
)

// TestSnapshotAfterRetention: a node away longer than the state stream
// keeps its messages (here 8 messages; 7 days in production) finds its
// place gone and catches up from a snapshot of the hub's state; it then
// decides every tap exactly as a node that never left: a block, a refund,
// a replacement, a sale made meanwhile and a visit made at another node
// while it was away are all there.
func TestSnapshotAfterRetention(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(),
		hub.Config{RetryDelay: 200 * time.Millisecond, HeartbeatEvery: 100 * time.Millisecond}, natsio.StreamOptions{StateMaxMsgs: 8})
	require.NoError(t, err)
	defer h.Close()
	sold := time.Now().Add(-time.Hour)
	passes, err := h.Sell(ctx, 6, "cp24-adult", sold)
	require.NoError(t, err)
	stay, err := fleettest.StartLoopbackNode(h, "gate-stay", nodeCfg, nil, epochSource(18, 1))
	require.NoError(t, err)
	defer stay.Close()
	away, err := fleettest.StartLoopbackNode(h, "gate-away", nodeCfg, nil, epochSource(18, 2))
	require.NoError(t, err)
	defer away.Close()
	seqs := map[string]uint64{}
	tap := func(n *fleettest.LoopbackNode, card, gate string, at time.Time) engine.Decision {
		t.Helper()
		v, err := n.Ready(ctx)
		require.NoError(t, err)
		seqs[n.ID]++
		res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: n.ID, Seq: seqs[n.ID]}, Card: card, Gate: gate, At: at})
		require.NoError(t, err)
		return res.Decision
	}
	for _, n := range []*fleettest.LoopbackNode{stay, away} {
		_, err := n.Ready(ctx)
		require.NoError(t, err)
	}

	away.Partition(true)
	eventually(ctx, t, "the node away notices", func() bool { return !away.Conn.Connected() })
	left := away.Sync.State()
	require.NotZero(t, left.StreamSeq)

	// Meanwhile at the hub and at the other node.
	now := time.Now()
	require.NoError(t, h.Validator.Block(ctx, passes[0].Card, engine.BlockStolen, now))
	_, err = h.Validator.Refund(ctx, passes[1].ID, now)
	require.NoError(t, err)
	_, err = h.Validator.Replace(ctx, passes[2].ID, "04BB00000000BB", now)
	require.NoError(t, err)
	sale, err := h.Validator.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04CC00000000CC", At: now, Channel: "desk"})
	require.NoError(t, err)
	require.True(t, tap(stay, passes[3].Card, "mucem/main", now).Accept)
	last, err := stay.Ledger.LastJournalSeq()
	require.NoError(t, err)
	require.NoError(t, stay.Sync.WaitAcked(ctx, last))

	// The stream lets go of the node's place and of every change made
	// since (heartbeats fill it): only a snapshot has them.
	eventually(ctx, t, "the hub publishes the visit", func() bool {
		var u engine.Usage
		require.NoError(t, stay.Ledger.View(ctx, func(r engine.Reader) error { var err error; u, err = r.Usage(passes[3].ID); return err }))
		return len(u.Visits) == 1 && stay.Sync.State().Rev > left.Rev+4
	})
	_, changed, err := h.Conn.StateBounds(ctx)
	require.NoError(t, err)
	eventually(ctx, t, "the state stream drops the changes", func() bool {
		first, _, err := h.Conn.StateBounds(ctx)
		require.NoError(t, err)
		return first > changed
	})
	_, current, err := h.Conn.StateBounds(ctx)
	require.NoError(t, err)
	require.NoError(t, stay.Sync.WaitStream(ctx, current))
	away.Partition(false)
	require.NoError(t, away.Sync.WaitStream(ctx, current))
	back := away.Sync.State()
	assert.Equal(t, left.HubEpoch, back.HubEpoch)
	assert.Greater(t, back.Rev, left.Rev)

	// Both nodes now decide alone, on what they hold: identically.
	stay.Partition(true)
	away.Partition(true)
	at := time.Now()
	for i, tc := range []struct {
		card, gate string
		want       engine.Reason
	}{
		{passes[0].Card, "mucem/main", engine.ReasonBlocked},
		{passes[1].Card, "mucem/main", engine.ReasonCanceled},
		{passes[2].Card, "mucem/main", engine.ReasonRevoked},
		{"04BB00000000BB", "mucem/main", engine.ReasonOK},
		{sale.Card, "mucem/main", engine.ReasonOK},
		{passes[3].Card, "mucem/main", engine.ReasonAlreadyRedeemed},
		{passes[4].Card, "mucem/main", engine.ReasonOK},
		{passes[5].Card, "rtm-metro/vieux-port", engine.ReasonOK},
	} {
		tapAt := at.Add(time.Duration(i) * time.Second)
		ds, da := tap(stay, tc.card, tc.gate, tapAt), tap(away, tc.card, tc.gate, tapAt)
		name := fmt.Sprintf("tap %d (card %s)", i, tc.card)
		assert.Equal(t, tc.want, da.Reason, name)
		assert.Equal(t, ds.Accept, da.Accept, name)
		assert.Equal(t, ds.Reason, da.Reason, name)
		assert.Equal(t, ds.Flags.Names(), da.Flags.Names(), name)
	}
}
