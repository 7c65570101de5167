package reconcile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSigningKeyLifecycle(t *testing.T) {
	dir := t.TempDir()
	s, err := GenerateSigningKey(dir)
	require.NoError(t, err)
	fi, err := os.Stat(filepath.Join(dir, SigningKeyFile))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	_, err = GenerateSigningKey(dir)
	require.ErrorIs(t, err, ErrKeyExists)

	loaded, err := LoadSigner(dir)
	require.NoError(t, err)
	assert.Equal(t, s.PublicKey(), loaded.PublicKey())

	pemText := FormatPublicKey(s.PublicKey())
	assert.Contains(t, pemText, "-----BEGIN PUBLIC KEY-----")
	for _, form := range [][]byte{[]byte(pemText), []byte(base64.StdEncoding.EncodeToString(s.PublicKey()))} {
		pub, err := ParsePublicKey(form)
		require.NoError(t, err)
		assert.Equal(t, s.PublicKey(), pub)
	}
	_, err = ParsePublicKey([]byte("nope"))
	require.Error(t, err)
	assert.Len(t, Fingerprint(s.PublicKey()), 16)

	// A key readable by others is refused.
	require.NoError(t, os.Chmod(filepath.Join(dir, SigningKeyFile), 0o644))
	_, err = LoadSigner(dir)
	require.ErrorContains(t, err, "0600")
	_, err = LoadSigner(t.TempDir())
	require.Error(t, err)
}

func TestGenerateSigningKeyUsesRandom(t *testing.T) {
	a, err := generateSigningKey(t.TempDir(), bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	require.NoError(t, err)
	b, err := generateSigningKey(t.TempDir(), bytes.NewReader(bytes.Repeat([]byte{7}, 64)))
	require.NoError(t, err)
	assert.Equal(t, a.PublicKey(), b.PublicKey())
	_, err = NewSigner(ed25519.PrivateKey{1, 2})
	require.Error(t, err)
}

func TestCanonicalBytes(t *testing.T) {
	got, err := CanonicalBytes([]byte(`{"z": 1, "signature": "x", "a": {"b": "<&>", "a": 10.50}, "m": "é"}`))
	require.NoError(t, err)
	assert.Equal(t, `{"a":{"a":10.50,"b":"<&>"},"m":"é","z":1}`, string(got))
	_, err = CanonicalBytes([]byte(`[1]`))
	require.Error(t, err)
}

// TestSignatureCheckableWithStandardTools checks the documented recipe:
// jq -cjS 'del(.signature)' reproduces the signed bytes.
func TestSignatureCheckableWithStandardTools(t *testing.T) {
	jq, err := exec.LookPath("jq")
	if err != nil {
		t.Skip("jq not installed; the Go check is TestCanonicalBytes")
	}
	dir := t.TempDir()
	lateLedger(t, dir)
	file := filepath.Join(dir, "mucem-2026-12.json")
	out, err := exec.Command(jq, "-cjS", "del(.signature)", file).Output()
	require.NoError(t, err)
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	want, err := CanonicalBytes(data)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(out))
	m := decodeManifest(t, data)
	sig, err := base64.StdEncoding.DecodeString(m.Signature)
	require.NoError(t, err)
	assert.True(t, ed25519.Verify(testSigner(t, 1).PublicKey(), out, sig))
}
