package fleet_test

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/ledger"
)

// TestDesignDoesNotDependOnE3E4: the fleet's streams use Limits retention
// and neither sources nor mirrors (so neither the WorkQueue stall of E4 nor
// the rolled-back-source skip of E3 can touch them), and the hazard behind
// E3 — a sender whose store goes back in time and reuses sequence numbers —
// is caught by the hub when it is a node: a node restored from an old copy
// of its disk journals new taps under node seqs the hub already holds, and
// every one of them is kept (journaled when new, quarantined when its seq
// was taken), none silently skipped.
func TestDesignDoesNotDependOnE3E4(t *testing.T) {
	for _, cfg := range natsio.StreamConfigs(natsio.StreamOptions{}) {
		assert.Equal(t, jetstream.LimitsPolicy, cfg.Retention, "stream %s", cfg.Name)
		assert.Empty(t, cfg.Sources, "stream %s sources nothing", cfg.Name)
		assert.Nil(t, cfg.Mirror, "stream %s mirrors nothing", cfg.Name)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(),
		hub.Config{RetryDelay: 200 * time.Millisecond, HeartbeatEvery: 200 * time.Millisecond}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	passes, err := h.Sell(ctx, 4, "cp72-adult", time.Now().Add(-time.Hour))
	require.NoError(t, err)
	n, err := fleettest.StartLoopbackNode(h, "gate-1", nodeCfg, nil, epochSource(7, 1))
	require.NoError(t, err)
	defer n.Close()
	tap := func(seq uint64, card string) {
		v, err := n.Ready(ctx)
		require.NoError(t, err)
		_, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "gate-1", Seq: seq}, Card: card, Gate: "rtm-metro/a", At: time.Now()})
		require.NoError(t, err)
	}
	waitAcked := func() {
		last, err := n.Ledger.LastJournalSeq()
		require.NoError(t, err)
		require.NoError(t, n.Sync.WaitAcked(ctx, last))
	}
	for i := range 5 {
		tap(uint64(i+1), passes[0].Card)
	}
	waitAcked()
	rng := rand.New(rand.NewPCG(7, 7))
	backup := n.Backup(rng) // node seqs 1..5
	for i := range 5 {
		tap(uint64(i+6), passes[1].Card)
	}
	waitAcked() // the hub holds node seqs 1..10
	require.NoError(t, n.Restore(backup))
	// The restored ledger gives node seqs 6..13 to other taps (tap ids 100+).
	for i := range 8 {
		tap(uint64(100+i), passes[2].Card)
	}
	waitAcked()

	st, err := hub.ReadStatus(ctx, h.Ledger, nil, time.Now())
	require.NoError(t, err)
	require.Len(t, st, 1)
	assert.Len(t, st[0].Quarantined, 5, "node seqs 6..10 came again with other content: quarantined")
	var nodeRecs []engine.TapRecord
	require.NoError(t, n.Ledger.Journal(ctx, 1, func(r *engine.TapRecord) error { nodeRecs = append(nodeRecs, *r); return nil }))
	require.Len(t, nodeRecs, 13)
	// Every record of the restored ledger is at the hub: journaled (seqs
	// 1..5 from before, 11..13 new) or quarantined (6..10).
	journaled := map[engine.TapID]bool{}
	require.NoError(t, h.Ledger.Journal(ctx, 1, func(r *engine.TapRecord) error { journaled[r.ID] = true; return nil }))
	quarantined := map[engine.TapID]bool{}
	require.NoError(t, h.Ledger.Quarantine(ctx, func(q *fleet.Quarantined) error { quarantined[q.Record.ID] = true; return nil }))
	for _, r := range nodeRecs {
		assert.True(t, journaled[r.ID] != quarantined[r.ID], "tap %s (node seq %d) is at the hub exactly once: journaled %v, quarantined %v",
			r.ID, r.JournalSeq, journaled[r.ID], quarantined[r.ID])
	}
	rep, err := ledger.Check(h.Ledger)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 5, rep.Fleet.Quarantined)
}
