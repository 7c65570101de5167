package pcsc_test

import (
	"context"
	"crypto/rand"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/cardio/pcsc/pcsctest"
	"github.com/citypass/citypass/cardio/virtual"
)

var (
	ntagUID    = [7]byte{0x04, 0xDE, 0x5F, 0x1E, 0xAC, 0xC0, 0x40}
	desfireUID = [7]byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66}
)

func genKeys(tb testing.TB) *cardio.Keys {
	tb.Helper()
	k, err := cardio.GenerateKeys(rand.Reader)
	require.NoError(tb, err)
	return k
}

// tap waits for the card on reader and reads its credential the way the gate
// does: ReadCredential over the presented *pcsc.Card, then Close.
func tap(t *testing.T, m *pcsc.Monitor, reader string, keys cardio.KeySource) (cardio.Credential, error) {
	t.Helper()
	ev := next(t, m, pcsc.CardPresent, reader)
	defer func() { require.NoError(t, ev.Card.Close()) }()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	return cardio.ReadCredential(ctx, ev.Card, keys, &cardio.ReadOptions{ATR: ev.ATR})
}

func TestE2ENTAG424OverPCSCD(t *testing.T) {
	d := pcsctest.Start(t)
	keys := genKeys(t)
	card, err := virtual.NewPersonalizedNTAG424(t.Context(), ntagUID, keys, "")
	require.NoError(t, err)
	m := openMonitor(t, pcsc.Options{Readers: []string{pcsctest.FriendlyName}})

	in := d.Insert(0, card, nil)
	c1, err := tap(t, m, d.Reader(0), keys)
	require.NoError(t, err)
	assert.Equal(t, card.UID(), c1.UID)
	assert.Equal(t, cardio.MediumNTAG424DNA, c1.Medium)
	assert.True(t, c1.Authenticated, "SUN MAC verified with the card's diversified key")
	assert.True(t, c1.HasCounter)

	// Take the card away and present it again: the SUN counter rises.
	require.NoError(t, in.Close())
	next(t, m, pcsc.CardRemoved, d.Reader(0))
	d.Insert(0, card, nil)
	c2, err := tap(t, m, d.Reader(0), keys)
	require.NoError(t, err)
	assert.Equal(t, c1.UID, c2.UID)
	assert.Greater(t, c2.Counter, c1.Counter)
}

func TestE2EWrongKeyNTAG424IsProofFailure(t *testing.T) {
	d := pcsctest.Start(t)
	keys := genKeys(t)
	card, err := virtual.NewWrongKeyNTAG424(t.Context(), ntagUID, "")
	require.NoError(t, err)
	m := openMonitor(t, pcsc.Options{Readers: []string{d.Reader(0)}})
	d.Insert(0, card, nil)
	_, err = tap(t, m, d.Reader(0), keys)
	require.ErrorIs(t, err, cardio.ErrProofFailed, "journal INVALID")
	var pe *cardio.ProofError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, card.UID(), pe.UID)
}

func TestE2EDESFireOverPCSCD(t *testing.T) {
	d := pcsctest.Start(t)
	keys := genKeys(t)
	card, err := virtual.NewDESFire(desfireUID, keys, 0)
	require.NoError(t, err)
	m := openMonitor(t, pcsc.Options{Readers: []string{d.Reader(1)}})
	d.Insert(1, card, nil)
	c, err := tap(t, m, d.Reader(1), keys)
	require.NoError(t, err)
	assert.Equal(t, card.UID(), c.UID)
	assert.True(t, c.Medium == cardio.MediumDESFireEV2 || c.Medium == cardio.MediumDESFireEV3, "medium %v", c.Medium)
	assert.True(t, c.Authenticated, "AuthenticateEV2First and the MACed read succeeded")
	assert.False(t, c.HasCounter)
}

func TestE2ERemovedMidReadIsNotAProofFailure(t *testing.T) {
	d := pcsctest.Start(t)
	keys := genKeys(t)
	m := openMonitor(t, pcsc.Options{Readers: []string{pcsctest.FriendlyName}})
	for _, tc := range []struct {
		name string
		card interface {
			virtual.Card
			RemoveAfter(int)
		}
	}{
		{"ntag424", must(virtual.NewPersonalizedNTAG424(t.Context(), ntagUID, keys, ""))},
		{"desfire", must(virtual.NewDESFire(desfireUID, keys, 0))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// GET UID and GetVersion go through; the card leaves during
			// the read proper.
			tc.card.RemoveAfter(5)
			in := d.Insert(0, tc.card, nil)
			_, err := tap(t, m, d.Reader(0), keys)
			require.Error(t, err)
			assert.ErrorIs(t, err, cardio.ErrCardRemoved, "tap again, journal nothing: %v", err)
			assert.NotErrorIs(t, err, cardio.ErrProofFailed)
			<-in.Done()
			next(t, m, pcsc.CardRemoved, d.Reader(0))
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// benchRead measures one credential read over pcscd and vpcd: connect,
// ReadCredential, disconnect — what a gate does per tap once pcscd has
// reported the card. It reports the median as ms/read-median.
func benchRead(b *testing.B, card virtual.Card, keys cardio.KeySource, want cardio.Medium) {
	d := pcsctest.Start(b)
	d.Insert(0, card, nil)
	reader := d.Reader(0)
	// Wait until pcscd has seen the card (its poll is 400 ms).
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := pcsc.OpenCard(reader)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("card not present on %s: %v", reader, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ctx := context.Background()
	var times []time.Duration
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		c, err := pcsc.OpenCard(reader)
		if err != nil {
			b.Fatal(err)
		}
		cred, err := cardio.ReadCredential(ctx, c, keys, &cardio.ReadOptions{ATR: c.ATR()})
		c.Close()
		if err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
		if cred.Medium != want || !cred.Authenticated {
			b.Fatalf("read %+v", cred)
		}
	}
	b.StopTimer()
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms/read-median")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "ms/read-p99")
}

func BenchmarkVPCDReadNTAG(b *testing.B) {
	keys := genKeys(b)
	card, err := virtual.NewPersonalizedNTAG424(context.Background(), ntagUID, keys, "")
	require.NoError(b, err)
	benchRead(b, card, keys, cardio.MediumNTAG424DNA)
}

func BenchmarkVPCDReadDESFire(b *testing.B) {
	keys := genKeys(b)
	card, err := virtual.NewDESFire(desfireUID, keys, 0)
	require.NoError(b, err)
	benchRead(b, card, keys, cardio.MediumDESFireEV2)
}

// Personalization through pcscd and vpcd: every command it sends
// (Read_Sig, WriteData, ChangeFileSettings, GetKeyVersion, ChangeKey,
// AuthenticateEV2NonFirst, ReadData under MAC and encryption) crosses the
// real stack; then the sales desk's check of the same card.
func TestE2EPersonalizeOverPCSCD(t *testing.T) {
	d := pcsctest.Start(t)
	keys := genKeys(t)
	card := virtual.NewNTAG424(ntagUID)
	d.Insert(0, card, nil)
	m := openMonitor(t, pcsc.Options{Readers: []string{d.Reader(0)}})
	ev := next(t, m, pcsc.CardPresent, d.Reader(0))
	defer func() { require.NoError(t, ev.Card.Close()) }()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	_, err := cardio.Personalize(ctx, ev.Card, keys, "", nil)
	require.ErrorIs(t, err, cardio.ErrNotGenuine, "NXP's key alone refuses a virtual card")
	trust := virtual.TestOriginalityKeys()
	cred, err := cardio.Personalize(ctx, ev.Card, keys, "", &cardio.PersonalizeOptions{OriginalityKeys: trust})
	require.NoError(t, err)
	assert.Equal(t, card.UID(), cred.UID)
	assert.Equal(t, uint32(1), cred.Counter, "the read-back's SUN read")

	c, err := cardio.CheckCard(ctx, ev.Card, keys, &cardio.CheckOptions{OriginalityKeys: trust})
	require.NoError(t, err)
	assert.Equal(t, uint32(2), c.Counter)
}

// An answer longer than a short APDU (a 256-byte file read in
// CommMode.Full: 272 bytes of ciphertext and 8 of MAC) arrives in 91 AF
// frames through pcscd.
func TestE2EChainedAnswerOverPCSCD(t *testing.T) {
	d := pcsctest.Start(t)
	d.Insert(1, virtual.NewNTAG424(desfireUID), nil)
	m := openMonitor(t, pcsc.Options{Readers: []string{d.Reader(1)}})
	ev := next(t, m, pcsc.CardPresent, d.Reader(1))
	defer func() { require.NoError(t, ev.Card.Close()) }()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	_, err := cardio.ReadSUNURL(ctx, ev.Card) // selects the NDEF application
	require.ErrorIs(t, err, cardio.ErrMalformed, "a blank card's NDEF file is empty")
	s, err := cardio.AuthenticateEV2First(ctx, ev.Card, 0, cardio.Key{}, rand.Reader)
	require.NoError(t, err)
	require.NoError(t, s.ChangeFileSettings(ctx, ev.Card, cardio.NTAGNDEFFileNo,
		cardio.FileSettings{Comm: cardio.CommFull, Read: 0, Write: 0, ReadWrite: cardio.AccessNever, Change: 0}))
	data := make([]byte, cardio.NDEFFileSize)
	_, err = rand.Read(data)
	require.NoError(t, err)
	require.NoError(t, s.WriteData(ctx, ev.Card, cardio.NTAGNDEFFileNo, 0, data, cardio.CommFull))
	got, err := s.ReadData(ctx, ev.Card, cardio.NTAGNDEFFileNo, 0, 0, cardio.CommFull)
	require.NoError(t, err)
	assert.Equal(t, data, got)
}
