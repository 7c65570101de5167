package virtual

import (
	"context"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
)

// Personalize leaves every file with the settings cardio.PersonalizedFiles
// gives it (read back in plain, without a session), the CC file describing
// them, and every key at its diversified value.
func TestPersonalizedFileSettings(t *testing.T) {
	ctx := context.Background()
	keys, err := cardio.GenerateKeys(rand.Reader)
	require.NoError(t, err)
	uid := [7]byte{4, 9, 8, 7, 6, 5, 4}
	const tmpl = "https://gate.example/t?picc_data={picc}&cmac={mac}"
	c, err := NewPersonalizedNTAG424(ctx, uid, keys, tmpl)
	require.NoError(t, err)
	l, err := cardio.BuildSUNNDEF(tmpl)
	require.NoError(t, err)

	// GetFileSettings without a session answers in plain.
	r, err := c.Transmit([]byte{0x90, 0xF5, 0x00, 0x00, 0x01, 0x02, 0x00})
	require.NoError(t, err)
	want := []byte{0x00, 0x40, 0xF0, 0xEF, 0x00, 0x01, 0x00, 0xC1, 0xFF, 0x21,
		byte(l.PICCOffset), 0, 0, byte(l.MACOffset), 0, 0, byte(l.MACOffset), 0, 0, 0x91, 0x00}
	assert.Equal(t, want, r, "SUN on; read free; write, read-write and counter retrieval never; change key 0")
	for _, f := range cardio.PersonalizedFiles(l) {
		fs, size, err := cardio.GetFileSettings(ctx, c, f.No)
		require.NoError(t, err)
		assert.Equal(t, f.Size, size)
		assert.Equal(t, f.Settings.ChangeData(), fs.ChangeData(), "file %d", f.No)
	}
	require.NoError(t, selectFile(c, 0xE103))
	r, err = c.Transmit([]byte{0x00, 0xB0, 0x00, 0x00, 0x20})
	require.NoError(t, err)
	assert.Equal(t, append(cardio.CCFile(cardio.PersonalizedFiles(l)), 0x90, 0x00), r, "the CC file tells the truth")

	// Every key is the diversified one: the factory key is refused, the
	// card's key authenticates.
	for no := byte(0); no <= 4; no++ {
		_, err = cardio.AuthenticateEV2First(ctx, c, no, cardio.Key{}, rand.Reader)
		require.ErrorIs(t, err, cardio.ErrAuthentication, "key %d still at the factory value", no)
	}
	ak, err := keys.NTAGAppKey(uid[:])
	require.NoError(t, err)
	s, err := cardio.AuthenticateEV2First(ctx, c, 0, ak, rand.Reader)
	require.NoError(t, err)
	got, err := s.Command(ctx, c, 0x51, nil, nil, cardio.CommFull)
	require.NoError(t, err)
	assert.Equal(t, uid[:], got)

	// Nothing is freely writable any more, and the proprietary file is
	// closed even to the card's own keys.
	require.NoError(t, selectFile(c, 0xE104))
	r, err = c.Transmit([]byte{0x00, 0xD6, 0x00, 0x00, 0x01, 0x00})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x69, 0x82}, r)
	require.ErrorIs(t, cardio.WriteData(ctx, c, cardio.NTAGCCFileNo, 0, []byte{0}), cardio.ErrPermissionDenied)
	for no := byte(0); no <= 4; no++ {
		k := keyOf(t, keys, uid, no)
		s, err := cardio.AuthenticateEV2First(ctx, c, no, k, rand.Reader)
		require.NoError(t, err, "key %d", no)
		_, err = s.ReadData(ctx, c, cardio.NTAGProprietaryFileNo, 0, 16, cardio.CommFull)
		require.ErrorIs(t, err, cardio.ErrPermissionDenied, "key %d reads the proprietary file", no)
	}
}

func keyOf(t *testing.T, keys cardio.KeySource, uid [7]byte, no byte) cardio.Key {
	t.Helper()
	var k cardio.Key
	var err error
	switch no {
	case 0:
		k, err = keys.NTAGAppKey(uid[:])
	case 1:
		k, err = keys.SUNFileReadKey(uid[:])
	case 2:
		k, err = keys.SUNMetaReadKey()
	default:
		k, err = keys.NTAGSpareKey(uid[:], no)
	}
	require.NoError(t, err)
	return k
}

// selectFile selects the NDEF application and one of its files.
func selectFile(c *NTAG424, fid uint16) error {
	for _, cmd := range [][]byte{
		{0x00, 0xA4, 0x04, 0x0C, 0x07, 0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01},
		{0x00, 0xA4, 0x00, 0x0C, 0x02, byte(fid >> 8), byte(fid)},
	} {
		r, err := c.Transmit(cmd)
		if err != nil {
			return err
		}
		if len(r) != 2 || r[0] != 0x90 {
			return &cardio.StatusError{SW: uint16(r[len(r)-2])<<8 | uint16(r[len(r)-1])}
		}
	}
	return nil
}

// tamper runs a hook on every command before the card sees it.
type tamper struct {
	c  *NTAG424
	on func(cmd []byte)
}

func (tp *tamper) Transmit(cmd []byte) ([]byte, error) {
	tp.on(cmd)
	return tp.c.Transmit(cmd)
}

// The read-back catches a card that does not hold what Personalize wrote:
// each case changes the card behind Personalize's back once the keys are
// written (ChangeKey of key 0 seen).
func TestPersonalizeReadBackCatches(t *testing.T) {
	ctx := context.Background()
	keys, err := cardio.GenerateKeys(rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		name   string
		change func(c *NTAG424, cmd []byte)
		want   error
		says   string
	}{
		{"a key", func(c *NTAG424, cmd []byte) {
			if cmd[1] == 0x77 && cmd[5] == 4 {
				c.keys[4] = cardio.Key{}
			}
		}, cardio.ErrAuthentication, "key 4"},
		{"a file's settings", func(c *NTAG424, cmd []byte) {
			if cmd[1] == 0xF5 && cmd[5] == 3 {
				c.settings[3].Read = cardio.AccessFree
			}
		}, cardio.ErrNotPersonalized, "file 3"},
		{"the CC file", func(c *NTAG424, cmd []byte) {
			if cmd[1] == 0xAD && cmd[5] == 1 {
				c.files[1][14] = 0x00
			}
		}, cardio.ErrNotPersonalized, "CC file"},
		{"a key version", func(c *NTAG424, cmd []byte) {
			if cmd[1] == 0x64 && cmd[5] == 2 {
				c.keyVer[2] = 0
			}
		}, cardio.ErrNotPersonalized, "key 2 has version 00"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewNTAG424([7]byte{4, 9, 8, 7, 6, 5, 4})
			written := false
			tp := &tamper{c: c, on: func(cmd []byte) {
				if len(cmd) > 5 && cmd[0] == 0x90 && cmd[1] == 0xC4 && cmd[5] == 0 {
					written = true
				}
				if written && len(cmd) > 5 && cmd[0] == 0x90 {
					tc.change(c, cmd)
				}
			}}
			_, err := cardio.Personalize(ctx, tp, keys, "", &cardio.PersonalizeOptions{OriginalityKeys: TestOriginalityKeys()})
			require.ErrorIs(t, err, tc.want)
			assert.Contains(t, err.Error(), "read-back")
			assert.Contains(t, err.Error(), tc.says)
		})
	}
}
