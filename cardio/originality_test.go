package cardio

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// AN12196's asymmetric originality check example: the UID and Read_Sig
// answer it publishes verify under the public key it publishes.
const (
	an12196SigUID = "04518DFAA96180"
	an12196Sig    = "D1940D17CFEDA4BFF80359AB975F9F6514313E8F90C1D3CAAF5941AD" +
		"744A1CDF9A83F883CAFE0FE95D1939B1B7E47113993324473B785D21"
)

func TestOriginalityAN12196(t *testing.T) {
	uid, sig := unhex(t, an12196SigUID), unhex(t, an12196Sig)
	require.NoError(t, VerifyOriginality(uid, sig, nil), "NXP's published example verifies under NXP's key")
	require.NoError(t, VerifyOriginality(uid, sig, []*ecdsa.PublicKey{NXPOriginalityKey()}))
	assert.Equal(t, NXPOriginalityKeyHex, FormatOriginalityKey(NXPOriginalityKey()))

	other := unhex(t, an12196SigUID)
	other[6] ^= 0x01
	err := VerifyOriginality(other, sig, nil)
	require.ErrorIs(t, err, ErrNotGenuine, "the signature belongs to one UID only")
	var oe *OriginalityError
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, "04518DFAA96181", oe.UID)
	assert.Contains(t, err.Error(), "not a genuine NXP NTAG 424 DNA")

	bad := unhex(t, an12196Sig)
	bad[40] ^= 0x80
	require.ErrorIs(t, VerifyOriginality(uid, bad, nil), ErrNotGenuine)
	require.ErrorIs(t, VerifyOriginality(uid, sig[:55], nil), ErrNotGenuine)

	// A key of one's own does not vouch for NXP's example.
	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	require.ErrorIs(t, VerifyOriginality(uid, sig, []*ecdsa.PublicKey{&k.PublicKey}), ErrNotGenuine)
}

func TestParseOriginalityKey(t *testing.T) {
	_, err := ParseOriginalityKey(NXPOriginalityKeyHex[:len(NXPOriginalityKeyHex)-2] + "11")
	require.Error(t, err, "a point off the curve")
	_, err = ParseOriginalityKey("04ABCD")
	require.Error(t, err)
	_, err = ParseOriginalityKey(strings.Repeat("zz", 57))
	require.Error(t, err)
}

func TestCheckOriginality(t *testing.T) {
	ctx := context.Background()
	uid := unhex(t, an12196SigUID)
	sc := newScript(t, step{cmd: "903C0000010000", resp: an12196Sig + "9100"})
	sig, err := CheckOriginality(ctx, sc, uid, nil)
	require.NoError(t, err)
	sc.done()
	assert.Equal(t, an12196Sig, hexs(sig))

	// A card without Read_Sig (an emulator) is refused, not an error of the reader.
	sc = newScript(t, step{cmd: "903C0000010000", resp: "911C"})
	_, err = CheckOriginality(ctx, sc, uid, nil)
	require.ErrorIs(t, err, ErrNotGenuine)
	assert.Contains(t, err.Error(), "gives no originality signature")

	// A card that leaves the field is not refused: tap again.
	sc = newScript(t, step{cmd: "903C0000010000", err: ErrCardRemoved})
	_, err = CheckOriginality(ctx, sc, uid, nil)
	require.ErrorIs(t, err, ErrCardRemoved)
	assert.False(t, errors.Is(err, ErrNotGenuine))
}

func TestOriginalityKeyFile(t *testing.T) {
	dir := t.TempDir()
	keys, err := LoadOriginalityKeys(filepath.Join(dir, "missing"))
	require.NoError(t, err)
	require.Len(t, keys, 1, "NXP's key alone without a file")
	assert.True(t, keys[0].Equal(NXPOriginalityKey()))

	k, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	require.NoError(t, err)
	path := filepath.Join(dir, "originality.keys")
	body := "# trusted originality keys\n\n" + FormatOriginalityKey(&k.PublicKey) + "  virtual cards\n"
	require.NoError(t, os.WriteFile(path, []byte(body), 0o600))
	keys, err = LoadOriginalityKeys(path)
	require.NoError(t, err)
	require.Len(t, keys, 2)
	assert.True(t, keys[1].Equal(&k.PublicKey))

	require.NoError(t, os.WriteFile(path, []byte("# x\n04ABCD\n"), 0o600))
	_, err = LoadOriginalityKeys(path)
	require.ErrorContains(t, err, "line 2")

	_, err = ParseOriginalityKeys(strings.NewReader(strings.Repeat(NXPOriginalityKeyHex+"\n", maxOriginalityKeys+1)), "many")
	require.ErrorContains(t, err, "more than")
}

// FuzzParseOriginalityKeys: the key-file parser never panics and every key
// it accepts lies on the curve.
func FuzzParseOriginalityKeys(f *testing.F) {
	f.Add([]byte(NXPOriginalityKeyHex + " NXP\n# comment\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		keys, err := ParseOriginalityKeys(strings.NewReader(string(b)), "fuzz")
		if err != nil {
			return
		}
		for _, k := range keys {
			if _, err := ParseOriginalityKey(FormatOriginalityKey(k)); err != nil {
				t.Fatalf("accepted a key that does not survive its own encoding: %v", err)
			}
		}
	})
}
