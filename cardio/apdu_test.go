package cardio

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAPDUBytes(t *testing.T) {
	for _, tc := range []struct {
		name string
		a    APDU
		want string
	}{
		{"case 1", APDU{CLA: 0x00, INS: 0xA4, P1: 1, P2: 2}, "00A40102"},
		{"case 2 Le 256", APDU{CLA: 0xFF, INS: 0xCA, Le: 256}, "FFCA000000"},
		{"case 2 Le 16", APDU{CLA: 0x00, INS: 0xB0, Le: 16}, "00B0000010"},
		{"case 3", APDU{CLA: 0x00, INS: 0xA4, P1: 0, P2: 0x0C, Data: []byte{0xE1, 0x04}}, "00A4000C02E104"},
		{"case 4", Native(0x71, []byte{0, 0}), "9071000002000000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.a.Bytes()
			require.NoError(t, err)
			assert.Equal(t, tc.want, hexs(b))
			back, err := ParseCommand(b)
			require.NoError(t, err)
			if len(tc.a.Data) == 0 {
				back.Data = tc.a.Data
			}
			assert.Equal(t, tc.a, back, "ParseCommand inverts Bytes")
		})
	}
	_, err := APDU{Data: make([]byte, 256)}.Bytes()
	assert.Error(t, err)
	_, err = APDU{Le: 257}.Bytes()
	assert.Error(t, err)
}

func TestParseCommandErrors(t *testing.T) {
	for _, raw := range []string{"", "00A4", "00A4000005E104", "00A4000002E1", "00A4000002E10400FF"} {
		_, err := ParseCommand(unhex(t, raw))
		assert.ErrorIs(t, err, ErrMalformed, raw)
	}
}

func TestParseResponse(t *testing.T) {
	r, err := ParseResponse(unhex(t, "0102039000"))
	require.NoError(t, err)
	assert.Equal(t, []byte{1, 2, 3}, r.Data)
	assert.Equal(t, SWOK, r.SW)
	assert.NoError(t, r.Err())
	r, err = ParseResponse(unhex(t, "91AE"))
	require.NoError(t, err)
	assert.Empty(t, r.Data)
	assert.ErrorIs(t, r.Err(), ErrAuthentication)
	_, err = ParseResponse([]byte{0x90})
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestExchangeGetResponse(t *testing.T) {
	sc := newScript(t,
		step{cmd: "00B0000000", resp: "0102 6104"},
		step{cmd: "00C0000004", resp: "03040506 6102"},
		step{cmd: "00C0000002", resp: "0708 9000"},
	)
	r, err := Exchange(context.Background(), sc, APDU{INS: 0xB0, Le: 256})
	require.NoError(t, err)
	sc.done()
	assert.Equal(t, []byte{1, 2, 3, 4, 5, 6, 7, 8}, r.Data)
	assert.Equal(t, SWOK, r.SW)
}

func TestExchangeWrongLe(t *testing.T) {
	sc := newScript(t,
		step{cmd: "FFCA000000", resp: "6C07"},
		step{cmd: "FFCA000007", resp: "04A23B5A6C1290 9000"},
	)
	r, err := Exchange(context.Background(), sc, APDU{CLA: 0xFF, INS: 0xCA, Le: 256})
	require.NoError(t, err)
	sc.done()
	assert.Len(t, r.Data, 7)
}

// loop answers every command with the same response.
type loop struct {
	resp []byte
	n    int
}

func (l *loop) Transmit([]byte) ([]byte, error) { l.n++; return l.resp, nil }

func TestLoopsAreBounded(t *testing.T) {
	ctx := context.Background()
	l := &loop{resp: []byte{0xAA, 0x61, 0x01}}
	_, err := Exchange(ctx, l, APDU{INS: 0xB0, Le: 256})
	require.ErrorIs(t, err, ErrTooManyFrames)
	assert.Equal(t, MaxGetResponseRounds+1, l.n)

	l = &loop{resp: []byte{0xAA, 0x91, 0xAF}}
	_, err = NativeFrames(ctx, l, 0x60, nil)
	require.ErrorIs(t, err, ErrTooManyFrames)
	assert.Equal(t, MaxAdditionalFrames+1, l.n)

	big := make([]byte, 250)
	l = &loop{resp: append(big, 0x91, 0xAF)}
	_, err = NativeFrames(ctx, l, 0x60, nil)
	require.ErrorIs(t, err, ErrTooManyFrames)
	assert.Less(t, l.n, MaxAdditionalFrames, "the byte bound stops it first")
}

func TestExchangeHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l := &loop{resp: []byte{0x90, 0x00}}
	_, err := Exchange(ctx, l, APDU{INS: 0xB0, Le: 256})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 0, l.n)
}

func TestTransportErrorsKeepTheirIdentity(t *testing.T) {
	removed := fmt.Errorf("reader says: %w", ErrCardRemoved)
	sc := newScript(t, step{cmd: "FFCA000000", err: removed})
	_, err := GetUID(context.Background(), sc)
	require.ErrorIs(t, err, ErrCardRemoved)
}

func TestNativeFrames(t *testing.T) {
	sc := newScript(t,
		step{cmd: "9060000000", resp: "04040230001105 91AF"},
		step{cmd: "90AF000000", resp: "04040201021105 91AF"},
		step{cmd: "90AF000000", resp: "04A23B5A6C1290BA7C000000262491 00"},
	)
	v, err := GetVersion(context.Background(), sc)
	require.NoError(t, err)
	sc.done()
	assert.Equal(t, MediumNTAG424DNA, v.Medium())
	assert.Equal(t, "04A23B5A6C1290", hexs(v.UID))
	assert.Equal(t, byte(0x26), v.Week)

	sc = newScript(t, step{cmd: "9060000000", resp: "911C"})
	_, err = GetVersion(context.Background(), sc)
	require.ErrorIs(t, err, ErrNotSupported)
}

func TestStatusErrors(t *testing.T) {
	for _, tc := range []struct {
		sw   uint16
		want error
	}{
		{0x91AE, ErrAuthentication},
		{0x919D, ErrPermissionDenied},
		{0x6982, ErrPermissionDenied},
		{0x6A82, ErrNotFound},
		{0x91A0, ErrNotFound},
		{0x911C, ErrNotSupported},
		{0x6D00, ErrNotSupported},
		{0x917E, ErrWrongLength},
		{0x911E, ErrIntegrity},
		{0x91BE, ErrBoundary},
		{0x919E, ErrWrongParameters},
	} {
		err := error(&StatusError{SW: tc.sw})
		assert.ErrorIs(t, err, tc.want, "%04X", tc.sw)
		assert.Contains(t, err.Error(), fmt.Sprintf("%04X", tc.sw))
	}
	assert.False(t, errors.Is(&StatusError{SW: 0x91CA}, ErrAuthentication))
	assert.False(t, errors.Is(&StatusError{SW: 0x91AE}, nil))
}

func TestProofError(t *testing.T) {
	err := proofErr("04A23B5A6C1290", MediumDESFireEV2, &StatusError{SW: 0x91AE})
	assert.ErrorIs(t, err, ErrProofFailed)
	assert.ErrorIs(t, err, ErrAuthentication)
	assert.Contains(t, err.Error(), "04A23B5A6C1290")
	assert.Contains(t, proofErr("", MediumUnknown, ErrMalformed).Error(), "unknown UID")
}
