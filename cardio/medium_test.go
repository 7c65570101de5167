package cardio

import (
	"context"

	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseATR(t *testing.T) {
	for _, tc := range []struct {
		name    string
		atr     string
		medium  Medium
		storage bool
		card    uint16
	}{
		{"Ultralight (pcsc_scan verified)", "3B8F8001804F0CA0000003060300030000000068", MediumUltralight, true, 0x0003},
		{"Classic 1K", "3B8F8001804F0CA000000306030001000000006A", MediumClassic, true, 0x0001},
		{"DESFire / NTAG 424", "3B8180018080", MediumISO14443_4, false, 0},
		{"type B without historical bytes", "3B80800101", MediumISO14443_4, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := ParseATR(unhex(t, tc.atr))
			require.NoError(t, err)
			assert.True(t, info.Contactless)
			assert.Equal(t, tc.medium, info.Medium)
			assert.Equal(t, tc.storage, info.Storage)
			assert.Equal(t, tc.card, info.CardName)
			assert.NotEmpty(t, info.Name())
		})
	}
	for _, bad := range []string{"", "3B", "3B8F800180", "3B8180018081", "3BFE9100FF918171FE40004120001177B1", "3B8F8001804F0CA00000030603000300000000"} {
		_, err := ParseATR(unhex(t, bad))
		assert.ErrorIs(t, err, ErrMalformed, bad)
	}
}

func TestATRNames(t *testing.T) {
	info, err := ParseATR(unhex(t, "3B8F8001804F0CA0000003060300030000000068"))
	require.NoError(t, err)
	assert.Equal(t, "MIFARE Ultralight", info.Name())
	info, err = ParseATR(unhex(t, "3B8180018080"))
	require.NoError(t, err)
	assert.Equal(t, "ISO 14443-4", info.Name())
	assert.Equal(t, "storage card 00FF", ATRInfo{Storage: true, CardName: 0xFF}.Name())
	assert.Equal(t, "", ATRInfo{}.Name())
}

func TestVersionMedium(t *testing.T) {
	for _, tc := range []struct {
		hw   string
		want Medium
	}{
		{"04040230001105", MediumNTAG424DNA},
		{"04010112001A05", MediumDESFireEV2},
		{"04010133001A05", MediumDESFireEV3},
		{"04010101001805", MediumDESFireEV1},
		{"04040200001105", MediumISO14443_4},
		{"05010112001A05", MediumISO14443_4},
	} {
		b := append(unhex(t, tc.hw), make([]byte, 21)...)
		v, err := ParseVersion(b)
		require.NoError(t, err)
		assert.Equal(t, tc.want, v.Medium(), tc.hw)
	}
	_, err := ParseVersion(make([]byte, 27))
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestMediumString(t *testing.T) {
	assert.Equal(t, "ntag424dna", MediumNTAG424DNA.String())
	assert.Equal(t, "desfire-ev2", MediumDESFireEV2.String())
	assert.Equal(t, "medium(200)", Medium(200).String())
	assert.True(t, MediumDESFireEV3.Secure())
	assert.False(t, MediumUltralight.Secure())
}

func TestDetectMedium(t *testing.T) {
	ctx := context.Background()
	sc := newScript(t,
		step{cmd: "FFCA000000", resp: "04A23B5A6C1290 9000"},
		step{cmd: "9060000000", resp: "04010112001A05 91AF"},
		step{cmd: "90AF000000", resp: "04010112001A05 91AF"},
		step{cmd: "90AF000000", resp: "04A23B5A6C1290BA7C000000262491 00"},
	)
	m, uid, err := DetectMedium(ctx, sc, unhex(t, "3B8180018080"))
	require.NoError(t, err)
	sc.done()
	assert.Equal(t, MediumDESFireEV2, m)
	assert.Equal(t, "04A23B5A6C1290", hexs(uid))

	// A storage card is known from its ATR alone.
	sc = newScript(t)
	m, _, err = DetectMedium(ctx, sc, unhex(t, "3B8F8001804F0CA0000003060300030000000068"))
	require.NoError(t, err)
	assert.Equal(t, MediumUltralight, m)

	// No native command set, no GET DATA.
	sc = newScript(t, step{cmd: "FFCA000000", resp: "6A81"}, step{cmd: "9060000000", resp: "6E00"})
	m, uid, err = DetectMedium(ctx, sc, nil)
	require.NoError(t, err)
	assert.Equal(t, MediumISO14443_4, m)
	assert.Nil(t, uid)

	// Removal is reported, not guessed around.
	sc = newScript(t, step{cmd: "FFCA000000", resp: "04A23B5A6C1290 9000"}, step{cmd: "9060000000", err: ErrCardRemoved})
	_, _, err = DetectMedium(ctx, sc, nil)
	require.ErrorIs(t, err, ErrCardRemoved)
}
