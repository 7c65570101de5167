package ledger

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/fleet"
)

// nodeEpochV1Hex is a node epoch as the releases before FirstTapAt,
// LastTapAt and StateAsOf wrote it (nodeEpochV1 below).
const nodeEpochV1Hex = "1101066275732d3132ef9baf8589cf959a12292d280100018080c8e58fedceea3100018ac0aaebf2d5cfea31a038ffbbc1960b01e5477980"

// nodeEpochTapsHex is the same with FirstTapAt and LastTapAt
// (nodeEpochTaps), as the release before StateAsOf wrote it.
const nodeEpochTapsHex = "1101066275732d3132ef9baf8589cf959a12292d280100018080c8e58fedceea3100018ac0aaebf2d5cfea31a038ffbbc1960b010180e082eacef0ceea31000180e0efe6b3d2cfea31a03818013c43"

func nodeEpochTaps() fleet.NodeEpoch {
	ne := nodeEpochV1()
	ne.FirstTapAt = time.Date(2026, 11, 23, 8, 1, 0, 0, time.UTC)
	ne.LastTapAt = time.Date(2026, 11, 23, 9, 29, 0, 0, time.FixedZone("", 3600))
	return ne
}

func nodeEpochV1() fleet.NodeEpoch {
	return fleet.NodeEpoch{Node: "bus-12", Epoch: 0x1234567890abcdef, HighWater: 41, Reported: 45, Records: 40, Duplicates: 1,
		FirstContact: time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC), LastContact: time.Date(2026, 11, 23, 9, 30, 0, 5, time.FixedZone("", 3600)),
		ClockOffset: -1500 * time.Millisecond, ClockKnown: true}
}

// sameNodeEpoch compares node epochs with their times as instants.
func sameNodeEpoch(t *testing.T, want, got fleet.NodeEpoch) {
	t.Helper()
	for _, p := range []struct{ w, g *time.Time }{{&want.FirstContact, &got.FirstContact}, {&want.LastContact, &got.LastContact},
		{&want.FirstTapAt, &got.FirstTapAt}, {&want.LastTapAt, &got.LastTapAt}, {&want.StateAsOf, &got.StateAsOf}} {
		assert.True(t, p.w.Equal(*p.g), "want %s, got %s", *p.w, *p.g)
		*p.w, *p.g = time.Time{}, time.Time{}
	}
	assert.Equal(t, want, got)
}

// TestNodeEpochCodec: fields added to a node epoch go at the end of its
// value and are read only when bytes remain, so values written before them
// decode (without them); a value with them round-trips; a value cut inside
// them, or with bytes after them, is corrupt.
func TestNodeEpochCodec(t *testing.T) {
	k := nodeEpochKey(pNodeEpoch, "bus-12", 0x1234567890abcdef)
	old, err := hex.DecodeString(nodeEpochV1Hex)
	require.NoError(t, err)
	got, err := decodeNodeEpoch(k, old)
	require.NoError(t, err)
	sameNodeEpoch(t, nodeEpochV1(), got)
	taps, err := hex.DecodeString(nodeEpochTapsHex)
	require.NoError(t, err)
	got, err = decodeNodeEpoch(k, taps)
	require.NoError(t, err)
	assert.True(t, got.StateAsOf.IsZero())
	sameNodeEpoch(t, nodeEpochTaps(), got)

	ne := nodeEpochTaps()
	ne.StateAsOf = time.Date(2026, 11, 23, 9, 29, 50, 7, time.FixedZone("", 3600))
	v := encodeNodeEpoch(&ne)
	got, err = decodeNodeEpoch(k, v)
	require.NoError(t, err)
	_, off := got.StateAsOf.Zone()
	assert.Equal(t, 3600, off, "the zone offset is kept")
	assert.Equal(t, v, encodeNodeEpoch(&got), "re-encodes identically")
	sameNodeEpoch(t, ne, got)

	// Zero times are written (one byte each) and read back zero.
	ne = nodeEpochV1()
	got, err = decodeNodeEpoch(k, encodeNodeEpoch(&ne))
	require.NoError(t, err)
	sameNodeEpoch(t, ne, got)

	// A cut or padded payload under a valid frame is corrupt.
	for _, bad := range [][]byte{
		append(framePayload(t, old), 1, 2),                 // a FirstTapAt cut short
		append(framePayload(t, old), 0),                    // LastTapAt missing
		append(framePayload(t, taps), 1, 2),                // a StateAsOf cut short
		append(framePayload(t, v), 0),                      // a byte after it
		append(framePayload(t, taps), 1, 0x80, 0x80, 0x80), // an unterminated varint
	} {
		_, err := decodeNodeEpoch(k, reframe(append([]byte{kindNodeEpoch, valueVersion}, bad...)))
		assert.ErrorIs(t, err, ErrCorrupt)
	}
}

// framePayload returns the payload of a framed value.
func framePayload(t *testing.T, v []byte) []byte {
	t.Helper()
	p, err := openFrame([]byte{0}, v, v[0])
	require.NoError(t, err)
	return append([]byte(nil), p...)
}
