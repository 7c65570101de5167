package virtual_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/virtual"
)

// counter counts the APDUs a Transmitter sees.
type counter struct {
	t cardio.Transmitter
	n int
}

func (c *counter) Transmit(b []byte) ([]byte, error) { c.n++; return c.t.Transmit(b) }

// A personalization interrupted after any APDU is finished by running it
// again; running it on a finished card only verifies it.
func TestPersonalizeResumesAfterRemoval(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	const tmpl = "https://gate.example/t?e={picc}&c={mac}"

	full := &counter{t: virtual.NewNTAG424(uidA)}
	_, err := cardio.Personalize(ctx, full, keys, tmpl, &cardio.PersonalizeOptions{SkipVerify: true, OriginalityKeys: virtual.TestOriginalityKeys()})
	require.NoError(t, err)
	require.Greater(t, full.n, 10)

	for n := 1; n <= full.n; n++ {
		card := virtual.NewNTAG424(uidA)
		card.RemoveAfter(n)
		_, err := cardio.Personalize(ctx, card, keys, tmpl, trustTestKey)
		if n < full.n {
			require.ErrorIs(t, err, cardio.ErrCardRemoved, "removed after %d APDUs", n)
		}
		card.Insert()
		cred, err := cardio.Personalize(ctx, card, keys, tmpl, trustTestKey)
		require.NoError(t, err, "resuming after removal at APDU %d", n)
		assert.Equal(t, card.UID(), cred.UID)
		c, err := cardio.ReadCredential(ctx, card, keys, nil)
		require.NoError(t, err, "reading after resuming at %d", n)
		assert.Greater(t, c.Counter, cred.Counter)
	}
}

func TestPersonalizeRefusesForeignCards(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)

	// Personalized by someone else (other keys): not blank.
	other, err := virtual.NewWrongKeyNTAG424(ctx, uidA, "")
	require.NoError(t, err)
	_, err = cardio.Personalize(ctx, other, keys, "", trustTestKey)
	require.ErrorIs(t, err, cardio.ErrNotBlank)

	// Ours, but with another URL: not silently accepted.
	ours, err := virtual.NewPersonalizedNTAG424(ctx, uidA, keys, "https://a.example/t?e={picc}&c={mac}")
	require.NoError(t, err)
	_, err = cardio.Personalize(ctx, ours, keys, "https://b.example/t?e={picc}&c={mac}", trustTestKey)
	require.ErrorIs(t, err, cardio.ErrNotBlank)
	// Same URL: idempotent.
	_, err = cardio.Personalize(ctx, ours, keys, "https://a.example/t?e={picc}&c={mac}", trustTestKey)
	require.NoError(t, err)

	// Not an NTAG 424 DNA.
	df, err := virtual.NewDESFire(uidB, keys, 0)
	require.NoError(t, err)
	_, err = cardio.Personalize(ctx, df, keys, "", trustTestKey)
	require.ErrorIs(t, err, cardio.ErrUnsupportedMedium)
}

func TestPersonalizeRejectsUnreadableTemplates(t *testing.T) {
	ctx := context.Background()
	card := virtual.NewNTAG424(uidA)
	_, err := cardio.Personalize(ctx, card, testKeys(t), "https://a.example/{picc}/{mac}", trustTestKey)
	require.ErrorIs(t, err, cardio.ErrMalformed, "the reader could never find the SUN in a path")
	// With parameter names of its own, reader and personalization agree.
	keys := testKeys(t)
	params := cardio.SUNParams{PICC: []string{"p"}, MAC: []string{"m"}}
	_, err = cardio.Personalize(ctx, card, keys, "https://a.example/?p={picc}&m={mac}", &cardio.PersonalizeOptions{SUN: params, OriginalityKeys: virtual.TestOriginalityKeys()})
	require.NoError(t, err)
	c, err := cardio.ReadCredential(ctx, card, keys, &cardio.ReadOptions{SUN: params})
	require.NoError(t, err)
	assert.True(t, c.Authenticated)
}

// A card whose originality signature no trusted key verifies is refused
// before anything is written to it.
func TestPersonalizeRefusesClones(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	other, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	for _, tc := range []struct {
		name  string
		setup func(*virtual.NTAG424)
		opts  *cardio.PersonalizeOptions
		why   string
	}{
		{"signed by another key", func(c *virtual.NTAG424) { c.SetOriginalityKey(other) }, trustTestKey, "does not verify"},
		{"no Read_Sig", func(c *virtual.NTAG424) { c.SetOriginalityKey(nil) }, trustTestKey, "gives no originality signature"},
		{"virtual card, NXP's key only", func(*virtual.NTAG424) {}, nil, "does not verify under NXP's public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			card := virtual.NewNTAG424(uidA)
			tc.setup(card)
			_, err := cardio.Personalize(ctx, card, keys, "", tc.opts)
			require.ErrorIs(t, err, cardio.ErrNotGenuine)
			var oe *cardio.OriginalityError
			require.ErrorAs(t, err, &oe)
			assert.Equal(t, card.UID(), oe.UID)
			assert.Contains(t, err.Error(), tc.why)
			assert.Contains(t, err.Error(), "not a genuine NXP NTAG 424 DNA")

			// Untouched: still blank, so a genuine check could go on.
			_, err = cardio.ReadSUNURL(ctx, card)
			require.ErrorIs(t, err, cardio.ErrMalformed, "the NDEF file is still empty")
			_, err = cardio.AuthenticateEV2First(ctx, card, 0, cardio.Key{}, rand.Reader)
			require.NoError(t, err, "key 0 is still the factory key")
		})
	}
}

// A card personalized with the earlier layout (write with key 0, counter
// retrieval with key 1, keys 3 and 4 at the factory value, the factory CC
// file) is brought to the current one.
func TestPersonalizeUpgradesEarlierLayout(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	const tmpl = "https://gate.example/t?e={picc}&c={mac}"
	l, err := cardio.BuildSUNNDEF(tmpl)
	require.NoError(t, err)
	card := virtual.NewNTAG424(uidA)
	_, err = card.Transmit([]byte{0x00, 0xA4, 0x04, 0x0C, 0x07, 0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01})
	require.NoError(t, err)
	require.NoError(t, cardio.WriteData(ctx, card, cardio.NTAGNDEFFileNo, 0, l.File))
	s, err := cardio.AuthenticateEV2First(ctx, card, 0, cardio.Key{}, rand.Reader)
	require.NoError(t, err)
	require.NoError(t, s.ChangeFileSettings(ctx, card, cardio.NTAGNDEFFileNo, cardio.FileSettings{
		Read: cardio.AccessFree, Write: 0, ReadWrite: 0, Change: 0,
		SDM: &cardio.SDM{UIDMirror: true, ReadCtrMirror: true, CtrRet: 1, MetaRead: 2, FileRead: 1,
			PICCDataOffset: l.PICCOffset, MACInputOffset: l.MACOffset, MACOffset: l.MACOffset}}))
	uid := uidA[:]
	fk, _ := keys.SUNFileReadKey(uid)
	mk, _ := keys.SUNMetaReadKey()
	ak, _ := keys.NTAGAppKey(uid)
	require.NoError(t, s.ChangeKey(ctx, card, 1, fk, cardio.Key{}, 1))
	require.NoError(t, s.ChangeKey(ctx, card, 2, mk, cardio.Key{}, 1))
	require.NoError(t, s.ChangeKey(ctx, card, 0, ak, cardio.Key{}, 1))
	_, err = cardio.ReadCredential(ctx, card, keys, nil)
	require.NoError(t, err, "the earlier layout reads")
	_, err = cardio.AuthenticateEV2First(ctx, card, 3, cardio.Key{}, rand.Reader)
	require.NoError(t, err, "key 3 at the factory value: the gap this fixes")

	cred, err := cardio.Personalize(ctx, card, keys, tmpl, trustTestKey)
	require.NoError(t, err)
	assert.Equal(t, card.UID(), cred.UID)
	for no := byte(0); no <= 4; no++ {
		_, err = cardio.AuthenticateEV2First(ctx, card, no, cardio.Key{}, rand.Reader)
		require.ErrorIs(t, err, cardio.ErrAuthentication, "key %d", no)
	}
	fs, _, err := cardio.GetFileSettings(ctx, card, cardio.NTAGNDEFFileNo)
	require.NoError(t, err)
	assert.Equal(t, cardio.AccessNever, fs.Write)
	assert.Equal(t, cardio.AccessNever, fs.SDM.CtrRet)
}
