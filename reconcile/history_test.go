package reconcile

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// TestHistoryReplacementAndPassback: a card's story places its replacement
// at the time the ledger recorded, or, for a replacement stored without
// one (an earlier release), right after the old card's last event while it
// carried the pass; a PASSBACK denial repeats the wait the gate showed.
func TestHistoryReplacementAndPassback(t *testing.T) {
	ctx := context.Background()
	cat, err := tariff.NewCatalog(tariff.SampleTariff())
	require.NoError(t, err)
	l := realLedger(t)
	v, err := engine.New(l, cat, &engine.Options{Rand: rand.NewChaCha8([32]byte{7})})
	require.NoError(t, err)
	p, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A1000001", At: local(2026, 11, 2, 9, 0)})
	require.NoError(t, err)
	seq := uint64(0)
	tap := func(card, gate string, at time.Time) engine.Result {
		seq++
		res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "t", Seq: seq}, Card: card, Gate: gate, At: at})
		require.NoError(t, err)
		return res
	}
	tap("04A1000001", "rtm-metro/a", local(2026, 11, 2, 10, 0))
	denied := tap("04A1000001", "rtm-metro/b", local(2026, 11, 2, 10, 5))
	require.Equal(t, engine.ReasonPassback, denied.Decision.Reason)
	_, err = v.Replace(ctx, p.ID, "04B2000002", local(2026, 11, 2, 11, 0))
	require.NoError(t, err)
	tap("04A1000001", "mucem/g1", local(2026, 11, 2, 11, 30))

	kinds := func(h *PassHistory) (out []string) {
		for _, e := range h.Events {
			out = append(out, e.Kind+":"+e.Reason)
		}
		return out
	}
	want := []string{"sale:", "tap:OK", "activation:", "tap:PASSBACK", "replacement:", "tap:REVOKED"}
	h, err := History(ctx, l, cat, "", "04A1000001", local(2026, 11, 2, 12, 0))
	require.NoError(t, err)
	assert.Equal(t, want, kinds(h))
	assert.True(t, h.Events[4].At.Equal(local(2026, 11, 2, 11, 0)), "the replacement's recorded time: %v", h.Events[4].At)
	assert.Equal(t, denied.Message, h.Events[3].Message, "the wait the gate showed")
	assert.Contains(t, h.Events[3].Message, "13 min")
	assert.Equal(t, "Europe/Paris", h.Location.String())

	// A replacement stored without its time: placed after the old card's
	// last event (the PASSBACK tap), before its REVOKED tap.
	require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
		c, _, err := tx.Card("04A1000001")
		if err != nil {
			return err
		}
		c.ReplacedAt = time.Time{}
		return tx.PutCard(c)
	}))
	h, err = History(ctx, l, cat, p.ID, "", local(2026, 11, 2, 12, 0))
	require.NoError(t, err)
	assert.Equal(t, want, kinds(h))
	assert.True(t, h.Events[4].At.IsZero(), "no time to tell")
}
