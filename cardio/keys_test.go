package cardio

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestKeysSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "card-keys")
	k, err := GenerateKeys(rand.Reader)
	require.NoError(t, err)
	require.NoError(t, SaveKeys(path, k))
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	back, err := LoadKeys(path)
	require.NoError(t, err)
	assert.Equal(t, *k, *back)

	// No clobbering, and no temp files left behind.
	k2, err := GenerateKeys(rand.Reader)
	require.NoError(t, err)
	require.ErrorIs(t, SaveKeys(path, k2), ErrKeysExist)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1)

	require.NoError(t, os.Chmod(path, 0o640))
	_, err = LoadKeys(path)
	require.ErrorIs(t, err, ErrKeyFileMode)
	require.NoError(t, os.Chmod(path, 0o604))
	_, err = LoadKeys(path)
	require.ErrorIs(t, err, ErrKeyFileMode)
}

func TestLoadKeysRejectsBadFiles(t *testing.T) {
	secret := "abababababababababababababababab"
	for _, tc := range []struct{ name, body string }{
		{"unknown entry", "ntag-app = " + secret + "\nfoo = 1\n"},
		{"bad hex", "ntag-app = " + secret[:30] + "zz\n"},
		{"missing", "ntag-app = " + secret + "\n"},
		{"duplicate", "ntag-app = " + secret + "\nntag-app = " + secret + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "k")
			require.NoError(t, os.WriteFile(p, []byte(tc.body), 0o600))
			_, err := LoadKeys(p)
			require.Error(t, err)
			assert.NotContains(t, err.Error(), secret[:16], "errors never echo key material")
		})
	}
	_, err := GenerateKeys(bytes.NewReader(nil))
	assert.Error(t, err)
}

func TestKeysNeverPrint(t *testing.T) {
	k, err := GenerateKeys(bytes.NewReader(bytes.Repeat([]byte{0x5A}, 64)))
	require.NoError(t, err)
	secret := strings.Repeat("5a", 4)
	var buf bytes.Buffer
	l := slog.New(slog.NewJSONHandler(&buf, nil))
	l.Info("keys", "keys", k, "key", k.SUNMeta, "single", SingleKey(k.NTAGApp))
	for _, s := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %x %X %s %q %d", k, k, k, k, k, k, k, k),
		fmt.Sprintf("%v %+v %#v %x %X %s %d", k.SUNMeta, k.SUNMeta, k.SUNMeta, k.SUNMeta, k.SUNMeta, k.SUNMeta, k.SUNMeta),
		fmt.Sprintf("%v %#v %x", *k, *k, *k), fmt.Sprintf("%x %v", SingleKey(k.NTAGApp), SingleKey(k.NTAGApp)),
		buf.String(), k.String(), k.SUNMeta.String(),
	} {
		assert.NotContains(t, strings.ToLower(s), secret, s)
		assert.NotContains(t, s, "90 90 90", s) // decimal rendering of 0x5A
	}
	assert.Contains(t, buf.String(), "redacted")
}

func TestKeySourceDiversifies(t *testing.T) {
	k, err := GenerateKeys(rand.Reader)
	require.NoError(t, err)
	uid1, uid2 := unhex(t, "04A23B5A6C1290"), unhex(t, "04112233445566")
	f1, err := k.SUNFileReadKey(uid1)
	require.NoError(t, err)
	f2, err := k.SUNFileReadKey(uid2)
	require.NoError(t, err)
	assert.NotEqual(t, f1, f2, "per-card keys differ")
	a1, err := k.NTAGAppKey(uid1)
	require.NoError(t, err)
	assert.NotEqual(t, f1, a1)
	m1, err := k.SUNMetaReadKey()
	require.NoError(t, err)
	assert.NotEqual(t, k.SUNMeta, m1, "the meta key is derived, not the master itself")
	d1, err := k.DESFireReadKey(uid1, DefaultDESFireAID)
	require.NoError(t, err)
	d2, err := k.DESFireReadKey(uid1, 0x010203)
	require.NoError(t, err)
	assert.NotEqual(t, d1, d2, "keys differ per application")
	// Diversification is AN10922 over UID ‖ AID ‖ "citypass".
	m := append(append(uid1, 0x55, 0x7A, 0xC1), "citypass"...)
	want, err := DiversifyAES128(k.DESFireApp, m)
	require.NoError(t, err)
	assert.Equal(t, want, d1)
	_, err = k.SUNFileReadKey([]byte{1, 2, 3})
	assert.Error(t, err)

	var z SingleKey
	for _, f := range []func() (Key, error){z.SUNMetaReadKey, func() (Key, error) { return z.SUNFileReadKey(uid1) },
		func() (Key, error) { return z.NTAGAppKey(uid1) }, func() (Key, error) { return z.DESFireReadKey(uid1, 1) }} {
		got, err := f()
		require.NoError(t, err)
		assert.True(t, got.IsZero())
	}
	_, err = ParseKey("00")
	assert.Error(t, err)
}

func TestKeysFingerprint(t *testing.T) {
	a, err := GenerateKeys(bytes.NewReader(bytes.Repeat([]byte{1}, 64)))
	require.NoError(t, err)
	b := *a
	assert.Equal(t, a.Fingerprint(), b.Fingerprint())
	assert.Len(t, a.Fingerprint(), 16)
	b.DESFireApp[0] ^= 1
	assert.NotEqual(t, a.Fingerprint(), b.Fingerprint(), "every master key counts")
}
