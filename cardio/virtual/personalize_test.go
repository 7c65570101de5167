package virtual_test

import (
	"context"
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
	_, err := cardio.Personalize(ctx, full, keys, tmpl, &cardio.PersonalizeOptions{SkipVerify: true})
	require.NoError(t, err)
	require.Greater(t, full.n, 10)

	for n := 1; n <= full.n; n++ {
		card := virtual.NewNTAG424(uidA)
		card.RemoveAfter(n)
		_, err := cardio.Personalize(ctx, card, keys, tmpl, nil)
		if n < full.n {
			require.ErrorIs(t, err, cardio.ErrCardRemoved, "removed after %d APDUs", n)
		}
		card.Insert()
		cred, err := cardio.Personalize(ctx, card, keys, tmpl, nil)
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
	_, err = cardio.Personalize(ctx, other, keys, "", nil)
	require.ErrorIs(t, err, cardio.ErrNotBlank)

	// Ours, but with another URL: not silently accepted.
	ours, err := virtual.NewPersonalizedNTAG424(ctx, uidA, keys, "https://a.example/t?e={picc}&c={mac}")
	require.NoError(t, err)
	_, err = cardio.Personalize(ctx, ours, keys, "https://b.example/t?e={picc}&c={mac}", nil)
	require.ErrorIs(t, err, cardio.ErrNotBlank)
	// Same URL: idempotent.
	_, err = cardio.Personalize(ctx, ours, keys, "https://a.example/t?e={picc}&c={mac}", nil)
	require.NoError(t, err)

	// Not an NTAG 424 DNA.
	df, err := virtual.NewDESFire(uidB, keys, 0)
	require.NoError(t, err)
	_, err = cardio.Personalize(ctx, df, keys, "", nil)
	require.ErrorIs(t, err, cardio.ErrUnsupportedMedium)
}

func TestPersonalizeRejectsUnreadableTemplates(t *testing.T) {
	ctx := context.Background()
	card := virtual.NewNTAG424(uidA)
	_, err := cardio.Personalize(ctx, card, testKeys(t), "https://a.example/{picc}/{mac}", nil)
	require.ErrorIs(t, err, cardio.ErrMalformed, "the reader could never find the SUN in a path")
	// With parameter names of its own, reader and personalization agree.
	keys := testKeys(t)
	params := cardio.SUNParams{PICC: []string{"p"}, MAC: []string{"m"}}
	_, err = cardio.Personalize(ctx, card, keys, "https://a.example/?p={picc}&m={mac}", &cardio.PersonalizeOptions{SUN: params})
	require.NoError(t, err)
	c, err := cardio.ReadCredential(ctx, card, keys, &cardio.ReadOptions{SUN: params})
	require.NoError(t, err)
	assert.True(t, c.Authenticated)
}
