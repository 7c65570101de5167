package ledger

import (
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
)

// cardV1Hex is a card value as the release before card version 2 wrote it
// (the card below, never replaced at a known time).
const cardV1Hex = "04010e30344131423243334434453546360203502d3103502d32010e303446464545444443434242414101046c6f7374018080c88093e4cbb431c070ac0201094863c4"

func cardV1() engine.Card {
	return engine.Card{UID: "04A1B2C3D4E5F6", Passes: []string{"P-1", "P-2"}, Revoked: true, ReplacedBy: "04FFEEDDCCBBAA",
		Blocked: true, BlockReason: "lost", BlockedAt: time.Date(2026, 5, 31, 10, 0, 0, 0, time.FixedZone("", 7200)),
		LastCounter: 300, HasCounter: true}
}

// TestCardCodecVersions: a card without a replacement time is written as
// version 1, byte for byte as the earlier release did, and a stored version
// 1 value reads as it did; a card with one is version 2 and keeps it; other
// versions, and a version 2 value without the time, are corrupt.
func TestCardCodecVersions(t *testing.T) {
	k := strKey(pCard, "04A1B2C3D4E5F6")
	old, err := hex.DecodeString(cardV1Hex)
	require.NoError(t, err)
	c := cardV1()
	assert.Equal(t, old, encodeCard(&c), "a card without ReplacedAt is encoded as version 1")
	got, err := decodeCard(k, old)
	require.NoError(t, err)
	assert.True(t, got.BlockedAt.Equal(c.BlockedAt))
	got.BlockedAt, c.BlockedAt = time.Time{}, time.Time{}
	assert.Equal(t, c, *got)
	assert.True(t, got.ReplacedAt.IsZero())

	c = cardV1()
	c.ReplacedAt = time.Date(2026, 5, 31, 11, 30, 0, 5, time.FixedZone("", 7200))
	v2 := encodeCard(&c)
	assert.Equal(t, byte(cardVersionReplaced), v2[1])
	got, err = decodeCard(k, v2)
	require.NoError(t, err)
	assert.True(t, got.ReplacedAt.Equal(c.ReplacedAt))
	_, off := got.ReplacedAt.Zone()
	assert.Equal(t, 7200, off, "the zone offset is kept")
	assert.Equal(t, v2, encodeCard(got), "re-encodes identically")

	// Version 3, and version 2 without its time (a version 1 payload
	// relabelled), are refused.
	refused := func(v []byte, want string) {
		t.Helper()
		_, err := decodeCard(k, v)
		assert.ErrorIs(t, err, ErrCorrupt)
		assert.ErrorContains(t, err, want)
	}
	refused(withVersion(v2, 3), "unknown value version 3")
	refused(withVersion(old, 0), "unknown value version 0")
	refused(withVersion(old, cardVersionReplaced), "truncated time")
	zeroTime := append(append([]byte(nil), old[:len(old)-4]...), 0)
	zeroTime[1] = cardVersionReplaced
	refused(reframe(zeroTime), "without its replacement time")
	// Other kinds stay at version 1.
	p := encodePass(&engine.Pass{ID: "P-1"})
	_, err = decodePass(strKey(pPass, "P-1"), withVersion(p, 2))
	assert.ErrorContains(t, err, "unknown value version 2")
}

// withVersion returns value v with its version byte set to version and its
// checksum recomputed.
func withVersion(v []byte, version byte) []byte {
	body := append([]byte(nil), v[:len(v)-4]...)
	body[1] = version
	return reframe(body)
}

// TestReplacementTimeIsStored: a card's replacement time survives a reopen
// and ledger check reads it. (engine/testdata/cards.txt holds Replace to
// setting it, through the ledger too.)
func TestReplacementTimeIsStored(t *testing.T) {
	ctx := context.Background()
	fs := vfs.NewMem()
	l := openMem(t, fs)
	require.NoError(t, wlSetup(ctx, l, 2))
	at := wlEpoch.Add(90 * time.Minute).In(time.FixedZone("", 3600))
	require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
		c, _, err := tx.Card(wlCard(0))
		if err != nil {
			return err
		}
		c.Revoked, c.ReplacedBy, c.ReplacedAt = true, wlCard(1), at
		return tx.PutCard(c)
	}))
	require.NoError(t, l.Close())

	l = openMem(t, fs)
	defer l.Close()
	require.NoError(t, l.View(ctx, func(r engine.Reader) error {
		c, ok, err := r.Card(wlCard(0))
		require.NoError(t, err)
		require.True(t, ok)
		assert.True(t, c.Revoked)
		assert.Equal(t, wlCard(1), c.ReplacedBy)
		assert.True(t, c.ReplacedAt.Equal(at), "ReplacedAt %v, want %v", c.ReplacedAt, at)
		other, _, err := r.Card(wlCard(1))
		require.NoError(t, err)
		assert.True(t, other.ReplacedAt.IsZero())
		return nil
	}))
	rep, err := Check(l)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
	assert.Equal(t, 2, rep.Cards)
}
