package virtual

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
)

// AN12196 §5.3's GetFileSettings answer decodes as the datasheet says and
// re-encodes byte for byte.
func TestFileSettingsAN12196(t *testing.T) {
	ans := []byte{0x00, 0x40, 0xEE, 0xEE, 0x00, 0x01, 0x00, 0xD1, 0xFE, 0x00, 0x1F, 0x00, 0x00, 0x44, 0x00, 0x00,
		0x44, 0x00, 0x00, 0x20, 0x00, 0x00, 0x6A, 0x00, 0x00}
	fs, ok := parseFileSettings(append(ans[1:4:4], ans[7:]...), 256)
	require.True(t, ok)
	assert.True(t, fs.sdm)
	assert.Equal(t, byte(0), fs.meta)
	assert.Equal(t, byte(0), fs.fileRead)
	assert.Equal(t, byte(0xE), fs.ctrRet)
	assert.Equal(t, 0x1F, fs.piccOff)
	assert.Equal(t, 0x44, fs.macInOff)
	assert.Equal(t, 0x44, fs.encOff)
	assert.Equal(t, 0x20, fs.encLen)
	assert.Equal(t, 0x6A, fs.macOff)
	assert.Equal(t, ans, fs.encode(256))
}

// Personalize leaves the NDEF file with the settings cardio documents:
// SUN on, read free, write with key 0, meta-read key 2, file-read key 1.
func TestPersonalizedFileSettings(t *testing.T) {
	ctx := context.Background()
	keys, err := cardio.GenerateKeys(rand.Reader)
	require.NoError(t, err)
	c, err := NewPersonalizedNTAG424(ctx, [7]byte{4, 9, 8, 7, 6, 5, 4}, keys, "https://gate.example/t?picc_data={picc}&cmac={mac}")
	require.NoError(t, err)
	// GetFileSettings without a session answers in plain.
	r, err := c.Transmit([]byte{0x90, 0xF5, 0x00, 0x00, 0x01, 0x02, 0x00})
	require.NoError(t, err)
	l, err := cardio.BuildSUNNDEF("https://gate.example/t?picc_data={picc}&cmac={mac}")
	require.NoError(t, err)
	want := []byte{0x00, 0x40, 0x00, 0xE0, 0x00, 0x01, 0x00, 0xC1, 0xF1, 0x21,
		byte(l.PICCOffset), 0, 0, byte(l.MACOffset), 0, 0, byte(l.MACOffset), 0, 0, 0x91, 0x00}
	assert.Equal(t, want, r)

	// The application key is now the diversified one: the factory key is
	// refused, the card's key authenticates.
	_, err = cardio.AuthenticateEV2First(ctx, c, 0, cardio.Key{}, rand.Reader)
	require.ErrorIs(t, err, cardio.ErrAuthentication)
	ak, err := keys.NTAGAppKey([]byte{4, 9, 8, 7, 6, 5, 4})
	require.NoError(t, err)
	s, err := cardio.AuthenticateEV2First(ctx, c, 0, ak, rand.Reader)
	require.NoError(t, err)
	uid, err := s.Command(ctx, c, 0x51, nil, nil, cardio.CommFull)
	require.NoError(t, err)
	assert.Equal(t, []byte{4, 9, 8, 7, 6, 5, 4}, uid)

	// The NDEF file is no longer freely writable.
	r, err = c.Transmit([]byte{0x00, 0xD6, 0x00, 0x00, 0x01, 0x00})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x69, 0x82}, r)
}
