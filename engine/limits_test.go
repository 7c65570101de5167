package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// TestInstantsOutOfRangeRefused (issue 20 item 4): a sale, a tap, a refund,
// a block or a replacement at an instant outside years 2000-2200 is a bad
// request, never stored (stored times would wrap past 2262).
func TestInstantsOutOfRangeRefused(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	far := time.Date(9999, 12, 31, 23, 59, 0, 0, time.UTC)
	_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A40001", At: far})
	assert.ErrorIs(t, err, engine.ErrBadRequest)
	assert.ErrorIs(t, err, tariff.ErrOutOfRange)
	p, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A40001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	_, err = v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04A40001", Gate: "mucem/g1", At: far})
	assert.ErrorIs(t, err, engine.ErrBadRequest)
	_, err = v.Refund(ctx, p.ID, far)
	assert.ErrorIs(t, err, engine.ErrBadRequest)
	assert.ErrorIs(t, v.Block(ctx, "04A40001", engine.BlockLost, time.Date(1816, 1, 1, 0, 0, 0, 0, time.UTC)), engine.ErrBadRequest)
	_, err = v.Replace(ctx, p.ID, "04A40002", far)
	assert.ErrorIs(t, err, engine.ErrBadRequest)
	assert.Empty(t, st.Journal())
	view, err := v.ShowPass(ctx, p.ID)
	require.NoError(t, err)
	assert.NotEqual(t, "refunded", view.Status)
	assert.False(t, view.Blocked)
	assert.Equal(t, "04A40001", view.Card, "not replaced")
}

// TestRefundBeforeSaleRefused (issue 20 item 5): a refund dated before the
// sale would be posted in a period before the sale: refused.
func TestRefundBeforeSaleRefused(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	p, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A50001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	_, err = v.Refund(ctx, p.ID, paris(t, "2026-10-31T12:00"))
	assert.ErrorIs(t, err, engine.ErrRefundRefused)
	assert.ErrorContains(t, err, "before its sale")
	assert.Len(t, st.Postings(), 1, "only the sale is posted")
	_, err = v.Refund(ctx, p.ID, paris(t, "2026-11-23T08:00"))
	assert.NoError(t, err, "a refund at the sale instant is after the sale")
}

// TestFreeTextLimits (issue 20 item 12): a sales channel, a device or a
// gate id that is too long or holds control characters is refused.
func TestFreeTextLimits(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	at := paris(t, "2026-11-23T08:00")
	for _, ch := range []string{strings.Repeat("x", 100_000), "desk\x1b[2J", "desk\nweb"} {
		_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A60001", At: at, Channel: ch})
		assert.ErrorIs(t, err, engine.ErrBadRequest)
		assert.ErrorIs(t, err, tariff.ErrBadText)
	}
	_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A60001", At: at, Channel: "web shop"})
	require.NoError(t, err)
	for _, tap := range []engine.Tap{
		{ID: engine.TapID{Device: "d", Seq: 1}, Card: "04A60001", Gate: "mucem/g1\nx", At: at.Add(time.Hour)},
		{ID: engine.TapID{Device: "d\n1", Seq: 1}, Card: "04A60001", Gate: "mucem/g1", At: at.Add(time.Hour)},
		{ID: engine.TapID{Device: strings.Repeat("d", 1000), Seq: 1}, Card: "04A60001", Gate: "mucem/g1", At: at.Add(time.Hour)},
	} {
		_, err := v.Validate(ctx, tap)
		assert.ErrorIs(t, err, engine.ErrBadRequest, "%q %q", tap.ID.Device, tap.Gate)
	}
	assert.Empty(t, st.Journal())
}
