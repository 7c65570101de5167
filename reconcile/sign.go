package reconcile

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/citypass/citypass/internal/atomicfile"
)

// SigningKeyFile is the statement signing key's file name in the data dir:
// a PKCS #8 PEM Ed25519 private key, mode 0600.
const SigningKeyFile = "statement-signing.key"

// ErrKeyExists is returned by GenerateSigningKey when a key is already there;
// a signing key is never replaced silently (partners hold its public half).
var ErrKeyExists = errors.New("reconcile: signing key already exists")

// Signer signs statement manifests with Ed25519. Safe for concurrent use.
type Signer struct {
	priv ed25519.PrivateKey
}

// NewSigner wraps an Ed25519 private key.
func NewSigner(priv ed25519.PrivateKey) (*Signer, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("reconcile: ed25519 private key has %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	return &Signer{priv: priv}, nil
}

// PublicKey returns the public half, which partners use to verify.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.priv.Public().(ed25519.PublicKey) }

// GenerateSigningKey creates a new key in dir/SigningKeyFile (mode 0600,
// written atomically) from crypto/rand. It refuses to replace an existing key.
func GenerateSigningKey(dir string) (*Signer, error) { return generateSigningKey(dir, rand.Reader) }

func generateSigningKey(dir string, random io.Reader) (*Signer, error) {
	path := filepath.Join(dir, SigningKeyFile)
	if _, err := os.Lstat(path); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrKeyExists, path)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("reconcile: checking %s: %w", path, err)
	}
	_, priv, err := ed25519.GenerateKey(random)
	if err != nil {
		return nil, fmt.Errorf("reconcile: generating signing key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("reconcile: encoding signing key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err := atomicfile.WriteNewFile(path, data, 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("%w: %s", ErrKeyExists, path)
		}
		return nil, fmt.Errorf("reconcile: %w", err)
	}
	return &Signer{priv: priv}, nil
}

// LoadSigner reads dir/SigningKeyFile. A key file readable by group or others
// is refused: it must be mode 0600 (or stricter).
func LoadSigner(dir string) (*Signer, error) {
	path := filepath.Join(dir, SigningKeyFile)
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reconcile: signing key: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("reconcile: signing key %s has mode %04o; want 0600", path, fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reconcile: signing key: %w", err)
	}
	blk, _ := pem.Decode(data)
	if blk == nil || blk.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("reconcile: signing key %s: not a PEM PRIVATE KEY", path)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("reconcile: signing key %s: %w", path, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("reconcile: signing key %s: not an Ed25519 key", path)
	}
	return &Signer{priv: priv}, nil
}

// FormatPublicKey prints a public key for partners: a PEM "PUBLIC KEY" block
// (PKIX), usable with `openssl pkeyutl -verify -pubin -rawin`.
func FormatPublicKey(pub ed25519.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil { // only for a malformed key; ed25519 keys always marshal
		return ""
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// ParsePublicKey reads a public key printed by FormatPublicKey, or the raw
// 32 bytes in base64 or hex.
func ParsePublicKey(text []byte) (ed25519.PublicKey, error) {
	if blk, _ := pem.Decode(text); blk != nil {
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("reconcile: public key: %w", err)
		}
		pub, ok := k.(ed25519.PublicKey)
		if !ok {
			return nil, fmt.Errorf("reconcile: public key: not Ed25519")
		}
		return pub, nil
	}
	s := strings.TrimSpace(string(text))
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, hex.DecodeString} {
		if b, err := dec(s); err == nil && len(b) == ed25519.PublicKeySize {
			return ed25519.PublicKey(b), nil
		}
	}
	return nil, fmt.Errorf("reconcile: public key: want PEM, or 32 bytes in base64 or hex")
}

// Fingerprint is a short, stable name for a public key: the first 16 hex
// digits of its SHA-256.
func Fingerprint(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return hex.EncodeToString(h[:8])
}
