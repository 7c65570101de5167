package cardio

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/citypass/citypass/internal/atomicfile"
)

// Key is an AES-128 key. It never prints its value: every fmt verb, String,
// GoString and slog show a mask.
type Key [16]byte

const keyMask = "Key(**redacted**)"

// String masks the key.
func (k Key) String() string { return keyMask }

// GoString masks the key under %#v.
func (k Key) GoString() string { return keyMask }

// Format masks the key under every fmt verb (%x included).
func (k Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, keyMask) }

// LogValue masks the key in slog output.
func (k Key) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// IsZero reports the all-zero key (the factory default of NTAG 424 DNA).
func (k Key) IsZero() bool { return k == Key{} }

// ParseKey decodes 32 hex digits.
func ParseKey(s string) (Key, error) {
	var k Key
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(k) {
		return k, errors.New("cardio: a key is 32 hex digits")
	}
	copy(k[:], b)
	return k, nil
}

// Keys are the operator's master keys; per-card keys are diversified from them
// (AN10922). Keys masks itself like Key. A loaded Keys is read-only and safe
// for concurrent use.
type Keys struct {
	// NTAGApp is the master of NTAG 424 DNA key 0 (application master key,
	// needed to change keys and file settings), diversified per card.
	NTAGApp Key
	// SUNMeta is the master of NTAG 424 DNA key 2, the SDM meta-read key that
	// encrypts PICCData. It cannot be per-card (the UID is inside the
	// ciphertext), so every card gets the same key derived from this master
	// without a UID.
	SUNMeta Key
	// SUNFileRead is the master of NTAG 424 DNA key 1, the SDM file-read key
	// whose session key MACs each SUN message; diversified per card.
	SUNFileRead Key
	// DESFireApp is the master of the DESFire pass application's read key,
	// diversified per card and application.
	DESFireApp Key
}

// String masks the keys.
func (k *Keys) String() string { return "cardio.Keys{**redacted**}" }

// GoString masks the keys under %#v.
func (k *Keys) GoString() string { return "cardio.Keys{**redacted**}" }

// Format masks the keys under every fmt verb.
func (k *Keys) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, k.String()) }

// LogValue masks the keys in slog output.
func (k *Keys) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Fingerprint identifies the key set without revealing it: 16 hex digits of
// SHA-256 over the CMAC of a fixed label under each master key. Operators
// compare fingerprints to check that two machines hold the same keys.
func (k *Keys) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte("citypass card keys fingerprint v1"))
	for _, f := range k.fields() {
		m := cmacKey(*f, []byte("fingerprint"))
		h.Write(m[:])
	}
	return strings.ToUpper(hex.EncodeToString(h.Sum(nil)[:8]))
}

// KeySource gives the keys of one card. *Keys implements it by
// diversification; SingleKey uses one key for everything (tests and
// `card sun-verify --key`). Implementations may be backed by an HSM later.
type KeySource interface {
	// SUNMetaReadKey is NTAG 424 key 2, shared by all cards.
	SUNMetaReadKey() (Key, error)
	// SUNFileReadKey is NTAG 424 key 1 of the card with this UID.
	SUNFileReadKey(uid []byte) (Key, error)
	// NTAGAppKey is NTAG 424 key 0 of the card with this UID.
	NTAGAppKey(uid []byte) (Key, error)
	// NTAGSpareKey is NTAG 424 key 3 or 4 of the card with this UID. No
	// access right uses them; Personalize sets them so that no key of a
	// card stays at its factory value.
	NTAGSpareKey(uid []byte, keyNo byte) (Key, error)
	// DESFireReadKey is the read key of application aid on the DESFire card
	// with this UID.
	DESFireReadKey(uid []byte, aid uint32) (Key, error)
}

// DiversificationSystemID is the AN10922 system identifier appended to every
// diversification input.
const DiversificationSystemID = "citypass"

// Diversification "AIDs" that separate key roles for NTAG 424 (which has no
// DESFire AID of its own): "NT" and the key number the role is stored in.
var (
	ntagAppPurpose  = [3]byte{0x4E, 0x54, 0x00} // "NT" 00
	ntagFilePurpose = [3]byte{0x4E, 0x54, 0x01}
	ntagMetaPurpose = [3]byte{0x4E, 0x54, 0x02}
)

// DiversifyCard derives a card key: AN10922 with M = UID ‖ AID (3 bytes, LSB
// first) ‖ DiversificationSystemID. uid may be empty (a key shared by all
// cards).
func DiversifyCard(master Key, uid []byte, aid [3]byte) (Key, error) {
	if len(uid) > 10 {
		return Key{}, fmt.Errorf("cardio: UID of %d bytes", len(uid))
	}
	m := make([]byte, 0, 31)
	m = append(m, uid...)
	m = append(m, aid[:]...)
	m = append(m, DiversificationSystemID...)
	return DiversifyAES128(master, m)
}

func aidBytes(aid uint32) [3]byte { return [3]byte{byte(aid), byte(aid >> 8), byte(aid >> 16)} }

func needUID(uid []byte) error {
	if n := len(uid); n != 4 && n != 7 && n != 10 {
		return fmt.Errorf("cardio: UID of %d bytes", n)
	}
	return nil
}

// SUNMetaReadKey implements KeySource.
func (k *Keys) SUNMetaReadKey() (Key, error) { return DiversifyCard(k.SUNMeta, nil, ntagMetaPurpose) }

// SUNFileReadKey implements KeySource.
func (k *Keys) SUNFileReadKey(uid []byte) (Key, error) {
	if err := needUID(uid); err != nil {
		return Key{}, err
	}
	return DiversifyCard(k.SUNFileRead, uid, ntagFilePurpose)
}

// NTAGAppKey implements KeySource.
func (k *Keys) NTAGAppKey(uid []byte) (Key, error) {
	if err := needUID(uid); err != nil {
		return Key{}, err
	}
	return DiversifyCard(k.NTAGApp, uid, ntagAppPurpose)
}

// NTAGSpareKey implements KeySource: diversified from the NTAGApp master
// with the key number in the diversification input, so keys 0, 3 and 4 are
// independent.
func (k *Keys) NTAGSpareKey(uid []byte, keyNo byte) (Key, error) {
	if err := needUID(uid); err != nil {
		return Key{}, err
	}
	if keyNo != NTAGKeySpare3 && keyNo != NTAGKeySpare4 {
		return Key{}, fmt.Errorf("cardio: NTAG 424 key %d is not a spare key", keyNo)
	}
	return DiversifyCard(k.NTAGApp, uid, [3]byte{ntagAppPurpose[0], ntagAppPurpose[1], keyNo})
}

// DESFireReadKey implements KeySource.
func (k *Keys) DESFireReadKey(uid []byte, aid uint32) (Key, error) {
	if err := needUID(uid); err != nil {
		return Key{}, err
	}
	return DiversifyCard(k.DESFireApp, uid, aidBytes(aid))
}

// SingleKey is a KeySource that returns the same key for every role and card:
// AN12196's examples (all keys zero) and `card sun-verify --key`.
type SingleKey Key

// SUNMetaReadKey implements KeySource.
func (s SingleKey) SUNMetaReadKey() (Key, error) { return Key(s), nil }

// SUNFileReadKey implements KeySource.
func (s SingleKey) SUNFileReadKey([]byte) (Key, error) { return Key(s), nil }

// NTAGAppKey implements KeySource.
func (s SingleKey) NTAGAppKey([]byte) (Key, error) { return Key(s), nil }

// NTAGSpareKey implements KeySource.
func (s SingleKey) NTAGSpareKey([]byte, byte) (Key, error) { return Key(s), nil }

// DESFireReadKey implements KeySource.
func (s SingleKey) DESFireReadKey([]byte, uint32) (Key, error) { return Key(s), nil }

// String masks the key.
func (s SingleKey) String() string { return keyMask }

// GoString masks the key.
func (s SingleKey) GoString() string { return keyMask }

// Format masks the key under every fmt verb.
func (s SingleKey) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, keyMask) }

// LogValue masks the key in slog output.
func (s SingleKey) LogValue() slog.Value { return slog.StringValue("[redacted]") }

var (
	_ KeySource = (*Keys)(nil)
	_ KeySource = SingleKey{}
)

// GenerateKeys draws fresh master keys from rand (crypto/rand.Reader in
// production).
func GenerateKeys(rand io.Reader) (*Keys, error) {
	var k Keys
	for _, dst := range []*Key{&k.NTAGApp, &k.SUNMeta, &k.SUNFileRead, &k.DESFireApp} {
		if _, err := io.ReadFull(rand, dst[:]); err != nil {
			return nil, fmt.Errorf("cardio: generating keys: %w", err)
		}
	}
	return &k, nil
}

// ErrKeysExist is returned by SaveKeys when the file already exists.
var ErrKeysExist = errors.New("cardio: key file already exists")

// ErrKeyFileMode is returned by LoadKeys for a key file readable or writable
// by group or others.
var ErrKeyFileMode = errors.New("cardio: key file must not be accessible by group or others (chmod 600)")

const keyFileHeader = "# citypass card master keys v1 — secret: mode 0600, never share or log"

var keyFileFields = []string{"ntag-app", "sun-meta", "sun-file-read", "desfire-app"}

func (k *Keys) fields() []*Key { return []*Key{&k.NTAGApp, &k.SUNMeta, &k.SUNFileRead, &k.DESFireApp} }

// SaveKeys writes k to path with mode 0600, atomically and without replacing
// an existing file (ErrKeysExist).
func SaveKeys(path string, k *Keys) error {
	var buf bytes.Buffer
	buf.WriteString(keyFileHeader + "\n")
	for i, f := range k.fields() {
		fmt.Fprintf(&buf, "%s = %s\n", keyFileFields[i], hex.EncodeToString(f[:]))
	}
	if err := atomicfile.WriteNewFile(path, buf.Bytes(), 0o600); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %s", ErrKeysExist, path)
		}
		return fmt.Errorf("cardio: saving keys: %w", err)
	}
	return nil
}

// LoadKeys reads a key file written by SaveKeys. It refuses a file that group
// or others may access (ErrKeyFileMode) and never echoes key material in its
// errors.
func LoadKeys(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cardio: loading keys: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("cardio: loading keys: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o", ErrKeyFileMode, path, st.Mode().Perm())
	}
	return parseKeyFile(f, path)
}

// parseKeyFile parses the key-file format; errors name lines, never values.
func parseKeyFile(r io.Reader, path string) (*Keys, error) {
	var k Keys
	seen := make(map[string]bool)
	sc := bufio.NewScanner(io.LimitReader(r, 64<<10))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		name, val, ok := strings.Cut(s, "=")
		name = strings.TrimSpace(name)
		idx := -1
		for i, n := range keyFileFields {
			if n == name {
				idx = i
			}
		}
		if !ok || idx < 0 {
			return nil, fmt.Errorf("cardio: loading keys: %s line %d: unknown entry", path, line)
		}
		if seen[name] {
			return nil, fmt.Errorf("cardio: loading keys: %s line %d: duplicate %s", path, line, name)
		}
		key, err := ParseKey(val)
		if err != nil {
			return nil, fmt.Errorf("cardio: loading keys: %s line %d: %s is not 32 hex digits", path, line, name)
		}
		*k.fields()[idx] = key
		seen[name] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("cardio: loading keys: %w", err)
	}
	for _, n := range keyFileFields {
		if !seen[n] {
			return nil, fmt.Errorf("cardio: loading keys: %s: missing %s", path, n)
		}
	}
	return &k, nil
}
