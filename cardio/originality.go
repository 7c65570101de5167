package cardio

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"strings"
	"sync"
)

// NXP originality signature (NXP AN12196, "Originality Signature
// Verification", asymmetric check): NXP signs each NTAG 424 DNA's 7-byte UID
// at production with ECDSA on secp224r1, without hashing (the UID is the
// integer signed), and the chip returns the 56-byte r‖s with Read_Sig. A
// chip of another maker, or an emulator that makes up its UID, cannot
// produce it. An emulator that copies a genuine chip's UID and signature
// passes this check; what it cannot copy is the AES keys Personalize
// writes, which every tap proves.

// NXPOriginalityKeyHex is the NTAG 424 DNA originality public key AN12196
// publishes (uncompressed secp224r1 point 04‖X‖Y). The application note's
// example UID and signature verify under it (TestOriginalityAN12196).
const NXPOriginalityKeyHex = "048A9B380AF2EE1B98DC417FECC263F8449C7625CECE82D9B9" +
	"16C992DA209D68422B81EC20B65A66B5102A61596AF3379200599316A00A1410"

// ErrNotGenuine means a card's originality signature does not verify under
// any trusted key: it is not a genuine NXP chip (a clone or an emulator).
var ErrNotGenuine = errors.New("cardio: not a genuine NXP NTAG 424 DNA")

// OriginalityError reports a card refused by the originality check.
// errors.Is(err, ErrNotGenuine) holds; Unwrap also yields the cause.
type OriginalityError struct {
	UID string // upper hex
	Err error  // why: the signature does not verify, or the card has none
}

// Error says what was refused and why, in words an operator can act on.
func (e *OriginalityError) Error() string {
	return fmt.Sprintf("card %s is not a genuine NXP NTAG 424 DNA (a clone or an emulator): %v", e.UID, e.Err)
}

// Unwrap returns ErrNotGenuine and the cause.
func (e *OriginalityError) Unwrap() []error { return []error{ErrNotGenuine, e.Err} }

// NXPOriginalityKey returns NXP's NTAG 424 DNA originality public key,
// parsed once and shared: callers must not modify it.
func NXPOriginalityKey() *ecdsa.PublicKey { return nxpOriginalityKey() }

var nxpOriginalityKey = sync.OnceValue(func() *ecdsa.PublicKey {
	k, err := ParseOriginalityKey(NXPOriginalityKeyHex)
	if err != nil {
		panic("cardio: NXPOriginalityKeyHex: " + err.Error()) // a constant; pinned by tests
	}
	return k
})

// ParseOriginalityKey decodes an uncompressed secp224r1 public key in hex
// (114 digits, 04‖X‖Y) and checks that it lies on the curve.
func ParseOriginalityKey(s string) (*ecdsa.PublicKey, error) {
	b, err := hex.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 57 {
		return nil, errors.New("cardio: an originality public key is 114 hex digits (04, X, Y on secp224r1)")
	}
	k, err := ecdsa.ParseUncompressedPublicKey(elliptic.P224(), b)
	if err != nil {
		return nil, fmt.Errorf("cardio: originality public key: %w", err)
	}
	return k, nil
}

// FormatOriginalityKey encodes k as ParseOriginalityKey reads it.
func FormatOriginalityKey(k *ecdsa.PublicKey) string {
	b, err := k.Bytes()
	if err != nil {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString(b))
}

// VerifyOriginality checks a 56-byte Read_Sig signature over uid under the
// trusted keys (nil: NXPOriginalityKey alone). A signature that verifies
// under none yields an *OriginalityError.
func VerifyOriginality(uid, sig []byte, keys []*ecdsa.PublicKey) error {
	if len(keys) == 0 {
		keys = []*ecdsa.PublicKey{NXPOriginalityKey()}
	}
	if len(sig) != SignatureSize {
		return &OriginalityError{UID: hexUID(uid), Err: fmt.Errorf("its signature has %d bytes, not %d", len(sig), SignatureSize)}
	}
	r := new(big.Int).SetBytes(sig[:SignatureSize/2])
	s := new(big.Int).SetBytes(sig[SignatureSize/2:])
	for _, k := range keys {
		if ecdsa.Verify(k, uid, r, s) {
			return nil
		}
	}
	return &OriginalityError{UID: hexUID(uid), Err: errors.New("its originality signature does not verify under NXP's public key")}
}

// CheckOriginality reads the card's originality signature (Read_Sig,
// without authentication, so no session may be open) and verifies it over
// uid. It returns the
// signature. A card that answers Read_Sig with an error status has no
// signature and is refused like one whose signature does not verify
// (*OriginalityError); a card that left the field, or a reader failure,
// passes through unchanged.
func CheckOriginality(ctx context.Context, t Transmitter, uid []byte, keys []*ecdsa.PublicKey) ([]byte, error) {
	sig, err := ReadSig(ctx, t)
	if err != nil {
		if gone(ctx, err) || !cardFault(err) {
			return nil, err
		}
		return nil, &OriginalityError{UID: hexUID(uid), Err: fmt.Errorf("it gives no originality signature (%v)", err)}
	}
	if err := VerifyOriginality(uid, sig, keys); err != nil {
		return nil, err
	}
	return sig, nil
}

// Bounds of an originality key file.
const (
	maxOriginalityKeys     = 64
	maxOriginalityFileSize = 64 << 10
)

// ParseOriginalityKeys reads trusted originality public keys, one per line
// as ParseOriginalityKey reads them; text after the key (separated by
// spaces) is a label, and blank lines and lines starting with # are
// ignored. name labels errors, which give the line number.
func ParseOriginalityKeys(r io.Reader, name string) ([]*ecdsa.PublicKey, error) {
	var keys []*ecdsa.PublicKey
	sc := bufio.NewScanner(io.LimitReader(r, maxOriginalityFileSize))
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		field, _, _ := strings.Cut(s, " ")
		field, _, _ = strings.Cut(field, "\t")
		k, err := ParseOriginalityKey(field)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %w", name, line, err)
		}
		if len(keys) == maxOriginalityKeys {
			return nil, fmt.Errorf("%s line %d: more than %d keys", name, line, maxOriginalityKeys)
		}
		keys = append(keys, k)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return keys, nil
}

// LoadOriginalityKeys returns the keys originality checks trust:
// NXPOriginalityKey, then the keys in the file at path (ParseOriginalityKeys)
// when it exists. The file lets an operator trust a key NXP publishes for
// another chip generation, or the test key of virtual cards on a
// development data dir.
func LoadOriginalityKeys(path string) ([]*ecdsa.PublicKey, error) {
	keys := []*ecdsa.PublicKey{NXPOriginalityKey()}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return keys, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cardio: originality keys: %w", err)
	}
	defer f.Close()
	more, err := ParseOriginalityKeys(f, path)
	if err != nil {
		return nil, fmt.Errorf("cardio: originality keys: %w", err)
	}
	return append(keys, more...), nil
}

// CheckOptions tune CheckCard. The zero value is safe: secure media only,
// NXP's originality key.
type CheckOptions struct {
	// Read tunes the credential read (ReadCredential).
	Read ReadOptions
	// OriginalityKeys are the keys an NTAG 424 DNA's originality signature
	// must verify under (nil: NXPOriginalityKey).
	OriginalityKeys []*ecdsa.PublicKey
}

// CheckCard is what a sales desk asks of the card on its reader before it
// sells a pass onto it: the card proves it is one of ours (ReadCredential,
// as at a gate) and, for an NTAG 424 DNA, that it is a genuine NXP chip
// (CheckOriginality over the proven UID). DESFire cards have no originality
// check here (docs/cards.md). Errors are ReadCredential's and
// *OriginalityError.
func CheckCard(ctx context.Context, t Transmitter, keys KeySource, opts *CheckOptions) (Credential, error) {
	var o CheckOptions
	if opts != nil {
		o = *opts
	}
	cred, err := ReadCredential(ctx, t, keys, &o.Read)
	if err != nil || cred.Medium != MediumNTAG424DNA {
		return cred, err
	}
	uid, err := hex.DecodeString(cred.UID)
	if err != nil {
		return Credential{}, fmt.Errorf("cardio: credential UID %q: %w", cred.UID, err)
	}
	// The SUN read left no session open, so Read_Sig goes in plain.
	if _, err := CheckOriginality(ctx, t, uid, o.OriginalityKeys); err != nil {
		return Credential{}, err
	}
	return cred, nil
}
