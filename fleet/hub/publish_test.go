package hub_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/wire"
	"github.com/citypass/citypass/ledger"
)

// TestPublisherCoalescesRevisions: revisions committed between two rounds
// of the publisher go down in one state message (each message is a synced
// JetStream write), in revision order, with every changed pass in it.
func TestPublisherCoalescesRevisions(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(),
		hub.Config{PublishPoll: 2 * time.Second, HeartbeatEvery: time.Hour}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	first, err := h.Ledger.LastRev()
	require.NoError(t, err)
	const sales = 40
	passes, err := h.Sell(ctx, sales, "cp24-adult", time.Now().Add(-time.Hour))
	require.NoError(t, err)
	last, err := h.Ledger.LastRev()
	require.NoError(t, err)
	require.GreaterOrEqual(t, last-first, uint64(sales), "a revision per sale")

	r, err := h.Conn.ReadState(ctx, 1)
	require.NoError(t, err)
	defer r.Close()
	seen := map[string]bool{}
	var messages int
	var rev uint64
	for rev < last {
		msgs, err := r.Next(ctx, 256, 5*time.Second)
		require.NoError(t, err)
		require.NoError(t, ctx.Err(), "revision %d of %d published", rev, last)
		for _, m := range msgs {
			b, err := wire.DecodeState(m.Data)
			require.NoError(t, err)
			if b.Beat {
				continue
			}
			messages++
			assert.Greater(t, b.Rev, rev, "revisions go down in order")
			rev = b.Rev
			for _, it := range b.Items {
				if it.Kind == ledger.StatePass {
					seen[it.ID] = true
				}
			}
		}
	}
	for _, p := range passes {
		assert.True(t, seen[p.ID], "pass %s went down", p.ID)
	}
	// The sales span at most a few of the publisher's rounds (one every
	// 2 s), however slow the disk.
	assert.Less(t, messages, sales/4, "%d state messages for %d revisions", messages, last-first)
}
