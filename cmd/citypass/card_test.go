package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc/pcsctest"
	"github.com/citypass/citypass/cardio/virtual"
	"github.com/citypass/citypass/datadir"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// AN12196's published SUN example, all keys zero: UID 04DE5F1EACC040, counter 61.
const an12196SUN = "https://sdm.nfcdeveloper.com/tag?picc_data=EF963FF7828658A599F3041510671E88&cmac=94EED9EE65337086"

func TestCLICardSUNVerify(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := cli(t, dir, "card", "sun-verify", "--key", "00000000000000000000000000000000", "--sun", an12196SUN, "--json")
	require.Equal(t, 0, code, stderr)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.Equal(t, "04DE5F1EACC040", v["card"])
	assert.Equal(t, float64(61), v["counter"])

	_, stderr, code = cli(t, dir, "card", "sun-verify", "--key", "00000000000000000000000000000001", "--sun", an12196SUN)
	assert.Equal(t, 1, code, "a wrong key fails")
	assert.NotContains(t, stderr, "00000000000000000000000000000001", "keys are never echoed")

	_, _, code = cli(t, dir, "card", "sun-verify", "--key", "zz", "--sun", an12196SUN)
	assert.Equal(t, 2, code)
	_, _, code = cli(t, dir, "card", "sun-verify", "--key", "00000000000000000000000000000000", "--sun", "picc_data=12")
	assert.Equal(t, 2, code)
}

func TestCLICardKeysInitRefusesToReplace(t *testing.T) {
	dir := t.TempDir()
	out, stderr, code := cli(t, dir, "card", "keys", "init")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "fingerprint")
	_, stderr, code = cli(t, dir, "card", "keys", "init")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "already exist")
}

// TestCLITapSUN taps with SUN messages from a personalized virtual card: the
// first is accepted, the same message again (a replay) is REPLAYED, a fresh
// read passes again, and a card personalized under other keys is INVALID.
func TestCLITapSUN(t *testing.T) {
	dir := initData(t)
	keys, err := cardio.LoadKeys(datadir.CardKeysPath(dir))
	require.NoError(t, err)
	card := virtual.NewNTAG424([7]byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66})
	ctx := context.Background()
	trust := &cardio.PersonalizeOptions{SkipVerify: true, OriginalityKeys: virtual.TestOriginalityKeys()}
	cred, err := cardio.Personalize(ctx, card, keys, "", trust)
	require.NoError(t, err)
	sell(t, dir, "cp72-adult", cred.UID)

	read := func(c *virtual.NTAG424) string {
		u, err := cardio.ReadSUNURL(ctx, c)
		require.NoError(t, err)
		return u
	}
	first := read(card)
	out, stderr, code := cli(t, dir, "tap", "--sun", first, "--gate", "mucem/main", "--at", "2026-11-27T10:00", "--json")
	require.Equal(t, 0, code, stderr+out)
	_ = out
	out, _, code = cli(t, dir, "tap", "--sun", first, "--gate", "rtm-metro/a", "--at", "2026-11-27T10:30")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "REPLAYED")
	_, stderr, code = cli(t, dir, "tap", "--sun", read(card), "--gate", "rtm-metro/a", "--at", "2026-11-27T10:31")
	assert.Equal(t, 0, code, stderr)

	other, err := cardio.GenerateKeys(rand.Reader)
	require.NoError(t, err)
	rogue := virtual.NewNTAG424([7]byte{0x04, 0x99, 0x88, 0x77, 0x66, 0x55, 0x44})
	_, err = cardio.Personalize(ctx, rogue, other, "", trust)
	require.NoError(t, err)
	out, _, code = cli(t, dir, "tap", "--sun", read(rogue), "--gate", "mucem/main", "--at", "2026-11-27T11:00")
	assert.Equal(t, 3, code)
	assert.Contains(t, out, "INVALID")
}

// trustVirtualCards makes data dir dir trust the originality signature of
// virtual cards, as a development data dir would.
func trustVirtualCards(t *testing.T, dir string) {
	t.Helper()
	line := cardio.FormatOriginalityKey(virtual.TestOriginalityPublicKey()) + " virtual cards (tests only)\n"
	require.NoError(t, os.WriteFile(datadir.OriginalityKeysPath(dir), []byte("# trusted besides NXP's key\n"+line), 0o600))
}

// TestCLICardOnReader personalizes and sells through a real pcscd: a data
// dir that trusts only NXP refuses a virtual card; one that trusts the
// virtual test key personalizes it (and reads it back), and `pass sell
// --reader` sells onto it; a clone of it without the signature and a card
// of another system are refused.
func TestCLICardOnReader(t *testing.T) {
	d := pcsctest.Start(t)
	dir := initData(t)
	card := virtual.NewNTAG424([7]byte{0x04, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66})
	d.Insert(1, card, nil)
	reader := d.Reader(1)

	_, stderr, code := cli(t, dir, "card", "personalize", "--reader", reader, "--wait", "20s")
	require.Equal(t, 1, code, stderr)
	assert.Contains(t, stderr, "is not a genuine NXP NTAG 424 DNA")
	assert.Contains(t, stderr, card.UID())

	trustVirtualCards(t, dir)
	out, stderr, code := cli(t, dir, "card", "personalize", "--reader", reader, "--wait", "20s")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, "genuine NXP NTAG 424 DNA")
	assert.Contains(t, out, "keys 0-4")

	_, stderr, code = cli(t, dir, "pass", "sell", "--product", "cp72-adult")
	assert.Equal(t, 2, code, "neither --card nor --reader: %s", stderr)
	_, stderr, code = cli(t, dir, "pass", "sell", "--product", "cp72-adult", "--reader", reader, "--card", "04FFFFFFFFFFFF", "--wait", "20s")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "not --card 04FFFFFFFFFFFF")

	out, stderr, code = cli(t, dir, "pass", "sell", "--product", "cp72-adult", "--reader", reader, "--wait", "20s",
		"--card", strings.ToLower(card.UID()), "--at", "2026-11-27T08:00", "--json")
	require.Equal(t, 0, code, stderr)
	var v map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &v))
	assert.Equal(t, card.UID(), v["card"])

	// The same card, now answering Read_Sig with another key's signature:
	// an emulator that copied our keys but cannot sign as NXP.
	other, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	card.SetOriginalityKey(other)
	_, stderr, code = cli(t, dir, "pass", "sell", "--product", "cp24-adult", "--reader", reader, "--wait", "20s")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "Refusing the card on")
	assert.Contains(t, stderr, "not a genuine NXP NTAG 424 DNA")

	foreign, err := virtual.NewWrongKeyNTAG424(context.Background(), [7]byte{0x04, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76}, "")
	require.NoError(t, err)
	d.Insert(0, foreign, nil) // the other slot: pcscd sees a removal only at its next poll
	_, stderr, code = cli(t, dir, "pass", "sell", "--product", "cp24-adult", "--reader", d.Reader(0), "--wait", "20s")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "does not prove it is a citypass card")
}
