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

var (
	uidA = [7]byte{0x04, 0xA2, 0x3B, 0x5A, 0x6C, 0x12, 0x90}
	uidB = [7]byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
)

// trustTestKey trusts the originality signature of virtual cards.
var trustTestKey = &cardio.PersonalizeOptions{OriginalityKeys: virtual.TestOriginalityKeys()}

func testKeys(t testing.TB) *cardio.Keys {
	t.Helper()
	k, err := cardio.GenerateKeys(rand.Reader)
	require.NoError(t, err)
	return k
}

func TestNTAGPersonalizeAndRead(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	card := virtual.NewNTAG424(uidA)

	// A blank card proves nothing.
	_, err := cardio.ReadCredential(ctx, card, keys, &cardio.ReadOptions{ATR: card.ATR()})
	require.ErrorIs(t, err, cardio.ErrProofFailed)

	cred, err := cardio.Personalize(ctx, card, keys, "https://gate.example/t?picc_data={picc}&cmac={mac}", trustTestKey)
	require.NoError(t, err)
	assert.Equal(t, card.UID(), cred.UID)
	assert.Equal(t, uint32(1), cred.Counter, "the read-back is the first SUN read")

	var last uint32 = cred.Counter
	for i := 0; i < 3; i++ {
		c, err := cardio.ReadCredential(ctx, card, keys, &cardio.ReadOptions{ATR: card.ATR()})
		require.NoError(t, err)
		assert.Equal(t, cardio.Credential{UID: card.UID(), Medium: cardio.MediumNTAG424DNA,
			Counter: last + 1, HasCounter: true, Authenticated: true}, c)
		last = c.Counter
	}

	// The URL a phone would see verifies offline (tap --sun / sun-verify).
	u, err := cardio.ReadSUNURL(ctx, card)
	require.NoError(t, err)
	assert.Contains(t, u, "https://gate.example/t?picc_data=")
	msg, err := cardio.ParseSUN(u)
	require.NoError(t, err)
	uid, ctr, err := cardio.VerifySUN(msg, keys)
	require.NoError(t, err)
	assert.Equal(t, card.UID(), cardioHex(uid))
	assert.Equal(t, last+1, ctr)

	// Personalizing again is refused: key 0 is no longer the factory key —
	// and the NDEF file is no longer freely writable.
	_, err = cardio.Personalize(ctx, card, keys, "", trustTestKey)
	require.Error(t, err)
}

func TestNTAGWrongMasterIsProofFailure(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	card, err := virtual.NewWrongKeyNTAG424(ctx, uidB, "")
	require.NoError(t, err)
	_, err = cardio.ReadCredential(ctx, card, keys, nil)
	require.ErrorIs(t, err, cardio.ErrProofFailed)
	var pe *cardio.ProofError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, card.UID(), pe.UID, "the UID is still known for the INVALID journal entry")
	assert.Equal(t, cardio.MediumNTAG424DNA, pe.Medium)
}

func TestNTAGSameMetaKeyOtherFileKey(t *testing.T) {
	// A card personalized with our meta key but another file-read master:
	// PICCData decrypts, the MAC does not verify.
	ctx := context.Background()
	keys := testKeys(t)
	other := *keys
	other.SUNFileRead = testKeys(t).SUNFileRead
	card, err := virtual.NewPersonalizedNTAG424(ctx, uidA, &other, "")
	require.NoError(t, err)
	_, err = cardio.ReadCredential(ctx, card, keys, nil)
	var pe *cardio.ProofError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, card.UID(), pe.UID)
	assert.Contains(t, pe.Error(), "SDMMAC")
}

func TestDESFireRead(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	card, err := virtual.NewDESFire(uidB, keys, 0)
	require.NoError(t, err)
	for i := 0; i < 2; i++ {
		c, err := cardio.ReadCredential(ctx, card, keys, &cardio.ReadOptions{ATR: card.ATR()})
		require.NoError(t, err)
		assert.Equal(t, cardio.Credential{UID: card.UID(), Medium: cardio.MediumDESFireEV2, Authenticated: true}, c)
	}

	// Other keys: the card refuses the authentication → proof failure.
	_, err = cardio.ReadCredential(ctx, card, testKeys(t), nil)
	require.ErrorIs(t, err, cardio.ErrProofFailed)
	require.ErrorIs(t, err, cardio.ErrAuthentication)
	var pe *cardio.ProofError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, card.UID(), pe.UID)

	// Another application: not our card.
	_, err = cardio.ReadCredential(ctx, card, keys, &cardio.ReadOptions{DESFireAID: 0x123456})
	require.ErrorIs(t, err, cardio.ErrProofFailed)
	require.ErrorIs(t, err, cardio.ErrNotFound)
}

func TestRemovalMidRead(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	ntag, err := virtual.NewPersonalizedNTAG424(ctx, uidA, keys, "")
	require.NoError(t, err)
	desfire, err := virtual.NewDESFire(uidB, keys, 0)
	require.NoError(t, err)

	for _, tc := range []struct {
		name string
		card interface {
			RemoveAfter(int)
			Insert()
		}
		tr    cardio.Transmitter
		apdus int // APDUs of a full read
	}{
		{"ntag", ntag, ntag, 7},
		{"desfire", desfire, desfire, 9},
	} {
		for n := 1; n < tc.apdus; n++ {
			tc.card.RemoveAfter(n)
			_, err := cardio.ReadCredential(ctx, tc.tr, keys, nil)
			require.ErrorIs(t, err, cardio.ErrCardRemoved, "%s removed after %d APDUs", tc.name, n)
			assert.NotErrorIs(t, err, cardio.ErrProofFailed)
			tc.card.Insert()
		}
		// and back in the field it reads again
		_, err := cardio.ReadCredential(ctx, tc.tr, keys, nil)
		require.NoError(t, err, tc.name)
	}
}

func TestRemoveAndInsert(t *testing.T) {
	card := virtual.NewNTAG424(uidA)
	card.Remove()
	assert.True(t, card.Removed())
	_, err := card.Transmit([]byte{0xFF, 0xCA, 0x00, 0x00, 0x00})
	require.ErrorIs(t, err, cardio.ErrCardRemoved)
	card.Insert()
	r, err := card.Transmit([]byte{0xFF, 0xCA, 0x00, 0x00, 0x00})
	require.NoError(t, err)
	assert.Equal(t, append(uidA[:], 0x90, 0x00), r)
}

func TestUIDOnlyNeedsInsecureOption(t *testing.T) {
	ctx := context.Background()
	ul := &ultralight{uid: []byte{0x04, 1, 2, 3, 4, 5, 6}}
	atr := []byte{0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06, 0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x68}
	_, err := cardio.ReadCredential(ctx, ul, testKeys(t), &cardio.ReadOptions{ATR: atr})
	require.ErrorIs(t, err, cardio.ErrInsecureMedium)
	require.ErrorIs(t, err, cardio.ErrProofFailed)
	c, err := cardio.ReadCredential(ctx, ul, testKeys(t), &cardio.ReadOptions{ATR: atr, InsecureUID: true})
	require.NoError(t, err)
	assert.Equal(t, cardio.Credential{UID: "04010203040506", Medium: cardio.MediumUltralight}, c)
}

// ultralight answers only GET DATA UID, like a storage card behind a PC/SC
// reader.
type ultralight struct{ uid []byte }

func (u *ultralight) Transmit(cmd []byte) ([]byte, error) {
	if len(cmd) == 5 && cmd[0] == 0xFF && cmd[1] == 0xCA && cmd[2] == 0 {
		return append(append([]byte(nil), u.uid...), 0x90, 0x00), nil
	}
	return []byte{0x6D, 0x00}, nil
}

func cardioHex(b []byte) string {
	const digits = "0123456789ABCDEF"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

// CheckCard, the sales desk's check: our card and a genuine chip; a clone
// of the chip with our keys is refused for its signature, a card of
// another system for its proof.
func TestCheckCard(t *testing.T) {
	ctx := context.Background()
	keys := testKeys(t)
	trust := &cardio.CheckOptions{OriginalityKeys: virtual.TestOriginalityKeys()}
	card, err := virtual.NewPersonalizedNTAG424(ctx, uidA, keys, "")
	require.NoError(t, err)
	c, err := cardio.CheckCard(ctx, card, keys, trust)
	require.NoError(t, err)
	assert.Equal(t, card.UID(), c.UID)
	assert.True(t, c.Authenticated)

	_, err = cardio.CheckCard(ctx, card, keys, nil)
	require.ErrorIs(t, err, cardio.ErrNotGenuine, "NXP's key alone refuses a virtual card")

	other, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	card.SetOriginalityKey(other) // an emulator holding our keys but no NXP signature
	_, err = cardio.CheckCard(ctx, card, keys, trust)
	require.ErrorIs(t, err, cardio.ErrNotGenuine)
	assert.NotErrorIs(t, err, cardio.ErrProofFailed)

	foreign, err := virtual.NewWrongKeyNTAG424(ctx, uidB, "")
	require.NoError(t, err)
	_, err = cardio.CheckCard(ctx, foreign, keys, trust)
	require.ErrorIs(t, err, cardio.ErrProofFailed)

	df, err := virtual.NewDESFire(uidB, keys, 0)
	require.NoError(t, err)
	c, err = cardio.CheckCard(ctx, df, keys, trust)
	require.NoError(t, err, "DESFire: proof only")
	assert.Equal(t, cardio.MediumDESFireEV2, c.Medium)
}
