package engine_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

func replayTap(t *testing.T, dev string, seq uint64, card, gate string, at time.Time) engine.Tap {
	t.Helper()
	return engine.Tap{ID: engine.TapID{Device: dev, Seq: seq}, Card: card, Gate: gate, At: at}
}

// TestReplayAllOrNothing (issue 20 item 9): a batch with a tap id already
// journaled under a different content, an unknown gate or a time out of
// range is refused whole, every problem named by index; nothing of it is
// journaled.
func TestReplayAllOrNothing(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A90001", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	at := paris(t, "2026-11-23T10:00")
	_, err = v.Validate(ctx, replayTap(t, "d1", 1, "04A90001", "mucem/g1", at))
	require.NoError(t, err)
	before := len(st.Journal())

	batch := []engine.Tap{
		replayTap(t, "d2", 1, "04A90001", "rtm-metro/g1", at.Add(time.Minute)),
		replayTap(t, "d1", 1, "04A90001", "mucem/g2", at), // conflicts with the journaled d1#1
		replayTap(t, "d2", 2, "04A90001", "rtm-metro/g1", at.Add(2*time.Minute)),
		replayTap(t, "d2", 3, "04A90001", "louvre/g1", at.Add(3*time.Minute)),
		replayTap(t, "d2", 4, "04A90001", "rtm-metro/g1", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)),
		replayTap(t, "d2", 2, "04A90001", "rtm-metro/g2", at.Add(2*time.Minute)), // conflicts with index 2
		replayTap(t, "d2", 0, "04A90001", "rtm-metro/g1", at.Add(5*time.Minute)),
	}
	res, err := v.Replay(ctx, batch)
	assert.Nil(t, res)
	var re *engine.ReplayError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 0, re.Journaled)
	var idx []int
	for _, p := range re.Taps {
		idx = append(idx, p.Index)
	}
	assert.Equal(t, []int{1, 3, 4, 5, 6}, idx)
	assert.ErrorIs(t, re.Taps[0], engine.ErrTapConflict)
	var unknown *tariff.ErrUnknownGate
	assert.ErrorAs(t, re.Taps[1], &unknown)
	assert.ErrorIs(t, re.Taps[2], tariff.ErrOutOfRange)
	assert.ErrorIs(t, re.Taps[3], engine.ErrTapConflict)
	assert.ErrorContains(t, re.Taps[3], "tap 3 has the same id")
	assert.ErrorIs(t, re.Taps[4], engine.ErrBadRequest)
	assert.NotContains(t, re.Taps[0].Error(), "tap d1#1: tap d1#1", "the tap is named once")
	assert.Len(t, st.Journal(), before, "nothing journaled")
}

// TestReplayDuplicates (issue 20 item 9; docs/semantics.md, "Taps"): a tap repeated with the
// same content, in the batch or after an earlier run, returns the original
// decision with Duplicate set; a whole batch sent again journals nothing
// new.
func TestReplayDuplicates(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A90002", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	at := paris(t, "2026-11-23T10:00")
	batch := []engine.Tap{
		replayTap(t, "n1", 1, "04A90002", "mucem/g1", at),
		replayTap(t, "n1", 2, "04A90002", "mucem/g1", at.Add(time.Hour)),
		replayTap(t, "n1", 1, "04A90002", "mucem/g1", at), // the node re-sent it
	}
	res, err := v.Replay(ctx, batch)
	require.NoError(t, err)
	require.Len(t, res, 3)
	assert.True(t, res[0].Decision.Accept)
	assert.False(t, res[0].Duplicate)
	assert.Equal(t, engine.ReasonAlreadyRedeemed, res[1].Decision.Reason)
	assert.True(t, res[2].Duplicate)
	assert.Equal(t, res[0].Decision, res[2].Decision)
	assert.Equal(t, res[0].JournalSeq, res[2].JournalSeq)
	assert.Len(t, st.Journal(), 2)

	again, err := v.Replay(ctx, batch)
	require.NoError(t, err)
	for i := range again {
		assert.True(t, again[i].Duplicate, "tap %d", i)
		assert.Equal(t, res[i].Decision, again[i].Decision, "tap %d", i)
	}
	assert.Len(t, st.Journal(), 2)
}

// TestReplayLargeBatchInOrder: a batch larger than one transaction is
// journaled whole, in order, each tap seeing the ones before it.
func TestReplayLargeBatchInOrder(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: "04A90003", At: paris(t, "2026-11-23T08:00")})
	require.NoError(t, err)
	at := paris(t, "2026-11-23T10:00")
	var batch []engine.Tap
	for i := range 700 {
		batch = append(batch, replayTap(t, "bus", uint64(i+1), "04A90003", fmt.Sprintf("rtm-metro/g%d", i%3), at.Add(time.Duration(i)*time.Minute)))
	}
	res, err := v.Replay(ctx, batch)
	require.NoError(t, err)
	require.Len(t, res, 700)
	for i, r := range res {
		assert.Equal(t, uint64(i+1), r.Tap.Seq)
	}
	assert.Len(t, st.Journal(), 700)
	assert.True(t, res[0].Decision.Accept)
}

// TestReplayStoreFailure: a commit that fails stops the batch after the
// transactions before it, and says how many taps were journaled.
func TestReplayStoreFailure(t *testing.T) {
	v, st := newValidator(t)
	ctx := context.Background()
	at := paris(t, "2026-11-23T10:00")
	var batch []engine.Tap
	for i := range 10 {
		batch = append(batch, replayTap(t, "bus", uint64(i+1), "04A90004", "rtm-metro/g1", at.Add(time.Duration(i)*time.Minute)))
	}
	st.FailNextCommit(errors.New("disk on fire"))
	_, err := v.Replay(ctx, batch)
	var re *engine.ReplayError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, 0, re.Journaled)
	assert.ErrorContains(t, err, "disk on fire")
	assert.Empty(t, st.Journal())
}
