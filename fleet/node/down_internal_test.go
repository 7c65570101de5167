package node

import (
	"context"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
)

// TestMergeWritesOnlyWhatChanges: a hub record the merge leaves as the
// node holds it (the node's own record coming back, or an older one) is
// not written again; one that changes the node's record is, merged. The
// ledger's change log counts the writes.
func TestMergeWritesOnlyWhatChanges(t *testing.T) {
	ctx := context.Background()
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	l, err := ledger.Open("/node", &ledger.Options{FS: vfs.NewMem(), Now: func() time.Time { return at }, ChangeLog: true})
	require.NoError(t, err)
	defer l.Close()
	visit := func(seq uint64) engine.Visit {
		return engine.Visit{Tap: engine.TapID{Device: "g1", Seq: seq}, At: at.Add(time.Duration(seq) * time.Minute), Venue: "MUSEUM", Gate: "MUSEUM/G1"}
	}
	require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
		p := engine.Pass{ID: "P1", TariffVersion: "v1", Product: "cp24-adult", Card: "04AA", Cards: []string{"04AA"}, SoldAt: at,
			PriceMinor: 3200, Currency: "EUR", Channel: "desk", Status: engine.PassActive, ActivatedAt: at, ValidUntil: at.Add(24 * time.Hour)}
		if err := tx.PutPass(p); err != nil {
			return err
		}
		if err := tx.PutCard(engine.Card{UID: "04AA", Passes: []string{"P1"}, LastCounter: 5, HasCounter: true}); err != nil {
			return err
		}
		return tx.PutUsage("P1", engine.Usage{Visits: []engine.Visit{visit(1), visit(2)}})
	}))
	// The node's records as the hub sends them: encoded, then decoded.
	held := map[ledger.StateKind]ledger.StateValue{}
	_, err = l.StateSnapshot(ctx, ledger.StateItem{}, 100, func(it ledger.StateItem) error {
		v, err := ledger.DecodeStateItem(it)
		held[it.Kind] = v
		return err
	})
	require.NoError(t, err)
	require.Len(t, held, 3)

	merge := func(id string, v ledger.StateValue) (wrote bool) {
		before, err := l.LastRev()
		require.NoError(t, err)
		require.NoError(t, l.UpdateFleet(ctx, func(tx ledger.FleetTxn) error { return mergeInto(tx, id, v) }))
		after, err := l.LastRev()
		require.NoError(t, err)
		return after != before
	}
	for kind, v := range held {
		assert.False(t, merge("P1", v), "the node's own %s came back", kind)
	}
	older := engine.Usage{Visits: []engine.Visit{visit(2)}}
	assert.False(t, merge("P1", ledger.StateValue{Usage: &older}), "a usage the node holds all of")
	oldCard := *held[ledger.StateCard].Card
	oldCard.LastCounter = 3
	assert.False(t, merge("04AA", ledger.StateValue{Card: &oldCard}), "a card with a lower counter")

	blocked := *held[ledger.StateCard].Card
	blocked.Passes = []string{"P1"}
	blocked.Blocked, blocked.BlockReason, blocked.BlockedAt = true, "lost", at
	blocked.LastCounter = 2
	assert.True(t, merge("04AA", ledger.StateValue{Card: &blocked}), "a blocked card")
	more := engine.Usage{Visits: []engine.Visit{visit(3)}}
	assert.True(t, merge("P1", ledger.StateValue{Usage: &more}), "a usage with a visit the node lacks")
	other := *held[ledger.StateUsage].Usage
	assert.True(t, merge("P2", ledger.StateValue{Usage: &other}), "the usage of a pass the node has none of")

	require.NoError(t, l.View(ctx, func(r engine.Reader) error {
		c, ok, err := r.Card("04AA")
		require.NoError(t, err)
		require.True(t, ok)
		assert.True(t, c.Blocked)
		assert.Equal(t, uint32(5), c.LastCounter, "the higher counter kept")
		u, err := r.Usage("P1")
		require.NoError(t, err)
		assert.Equal(t, []engine.Visit{visit(1), visit(2), visit(3)}, u.Visits)
		return nil
	}))
}
