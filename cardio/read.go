package cardio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Credential is what a card proved about itself.
type Credential struct {
	UID    string // upper-case hex
	Medium Medium
	// Counter is the NTAG 424 SUN read counter (HasCounter). The engine
	// requires it to rise from tap to tap (REPLAYED otherwise).
	Counter    uint32
	HasCounter bool
	// Authenticated is true when the card proved knowledge of its key (SUN
	// MAC, EV2 mutual authentication); false only for UID-only credentials
	// read with ReadOptions.InsecureUID.
	Authenticated bool
}

// Fixed layout of the DESFire pass application.
const (
	// DefaultDESFireAID is the pass application's AID when ReadOptions does
	// not name one.
	DefaultDESFireAID uint32 = 0xC17A55
	// DESFireReadKeyNo is the application key that reads the pass file.
	DESFireReadKeyNo byte = 1
	// DESFirePassFileNo is the pass file (CommMode.MAC, read with key 1).
	DESFirePassFileNo byte = 1
	// DESFirePassFileSize is the size of the pass file.
	DESFirePassFileSize = 32
)

// ReadOptions tune ReadCredential. The zero value is safe: secure media only,
// default SUN parameter names and DESFire AID, crypto/rand.
type ReadOptions struct {
	// ATR, when known, lets storage cards (Ultralight, Classic …) be
	// recognised without sending them native commands.
	ATR []byte
	// Medium, when not MediumUnknown, skips GetVersion (three round trips)
	// for a reader that already knows what it holds.
	Medium Medium
	// SUN names the URL parameters of the SUN message (default picc_data/e
	// and cmac/c).
	SUN SUNParams
	// DESFireAID is the pass application (default DefaultDESFireAID).
	DESFireAID uint32
	// InsecureUID accepts media without a cryptographic proof, returning
	// their UID with Authenticated false. Off by default: such cards are
	// trivially cloned.
	InsecureUID bool
	// Rand supplies the EV2 challenge RndA (default crypto/rand.Reader).
	Rand io.Reader
}

func (o *ReadOptions) withDefaults() ReadOptions {
	var c ReadOptions
	if o != nil {
		c = *o
	}
	if c.DESFireAID == 0 {
		c.DESFireAID = DefaultDESFireAID
	}
	if c.Rand == nil {
		c.Rand = rand.Reader
	}
	return c
}

// Reader reads credentials with fixed keys and options. It holds no card
// state and is safe for concurrent use if Keys is.
type Reader struct {
	Keys    KeySource
	Options ReadOptions
}

// Read reads the credential of the card behind t; atr (may be nil) overrides
// Options.ATR.
func (r *Reader) Read(ctx context.Context, t Transmitter, atr []byte) (Credential, error) {
	o := r.Options
	if atr != nil {
		o.ATR = atr
	}
	return ReadCredential(ctx, t, r.Keys, &o)
}

// ReadCredential identifies the card behind t and proves it:
//
//   - NTAG 424 DNA: the SUN message in the NDEF URL (3 APDUs after detection),
//   - DESFire EV2/EV3: AuthenticateEV2First, a MACed read of the pass file and
//     the encrypted GetCardUID,
//   - anything else: UID only, and only with opts.InsecureUID.
//
// Errors: ErrCardRemoved (and context errors) when the card left or the
// caller gave up — nothing is known, ask for another tap; a *ProofError
// (errors.Is ErrProofFailed) when the card answered but its proof failed or it
// is not one of ours — journal INVALID with ProofError.UID; other errors are
// reader or key-source failures.
func ReadCredential(ctx context.Context, t Transmitter, keys KeySource, opts *ReadOptions) (Credential, error) {
	o := opts.withDefaults()
	medium, uid, err := detect(ctx, t, o.ATR, o.Medium)
	if err != nil {
		return Credential{}, err
	}
	switch medium {
	case MediumNTAG424DNA:
		return readNTAGSUN(ctx, t, keys, &o, uid)
	case MediumDESFireEV2, MediumDESFireEV3:
		return readDESFire(ctx, t, keys, &o, uid, medium)
	}
	return readUIDOnly(ctx, t, medium, &o, uid)
}

// DetectMedium tells what card is behind t: a PC/SC part 3 storage card from
// its ATR (atr may be nil), otherwise from GetVersion (NTAG 424 DNA, DESFire
// EV1/EV2/EV3, or MediumISO14443_4 for a card without the NXP native command
// set). It also returns the UID the reader reports (nil if the reader has no
// GET DATA). Errors are removal, context and reader failures only.
func DetectMedium(ctx context.Context, t Transmitter, atr []byte) (Medium, []byte, error) {
	return detect(ctx, t, atr, MediumUnknown)
}

func detect(ctx context.Context, t Transmitter, atr []byte, hint Medium) (Medium, []byte, error) {
	if len(atr) > 0 && hint == MediumUnknown {
		if info, err := ParseATR(atr); err == nil && info.Storage {
			return info.Medium, nil, nil // readUIDOnly asks for the UID
		}
	}
	uid, err := GetUID(ctx, t)
	if err != nil {
		if gone(ctx, err) {
			return MediumUnknown, nil, err
		}
		uid = nil // some readers lack GET DATA; the card's own proof still names it
	}
	if hint != MediumUnknown {
		return hint, uid, nil
	}
	v, err := GetVersion(ctx, t)
	switch {
	case err == nil:
		return v.Medium(), uid, nil
	case gone(ctx, err):
		return MediumUnknown, nil, err
	}
	return MediumISO14443_4, uid, nil // no NXP native command set
}

// gone reports a card that left the field or a caller that gave up.
func gone(ctx context.Context, err error) bool {
	return errors.Is(err, ErrCardRemoved) || ctx.Err() != nil ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// cardFault reports errors that are the card's answer (status words,
// malformed or unauthentic data) rather than the reader's failure.
func cardFault(err error) bool {
	var se *StatusError
	return errors.As(err, &se) || errors.Is(err, ErrMalformed) || errors.Is(err, ErrIntegrity) ||
		errors.Is(err, ErrAuthentication) || errors.Is(err, ErrTooManyFrames) || errors.Is(err, ErrProofFailed)
}

// fail classifies err from step: removal and reader failures pass through,
// card faults become a *ProofError naming uid.
func fail(ctx context.Context, err error, uid []byte, m Medium, step string) error {
	if gone(ctx, err) || !cardFault(err) {
		return fmt.Errorf("%s: %w", step, err)
	}
	var pe *ProofError
	if errors.As(err, &pe) {
		if pe.UID == "" {
			pe.UID = hexUID(uid)
		}
		return err
	}
	return proofErr(hexUID(uid), m, fmt.Errorf("%s: %w", step, err))
}

// hexUID is a UID's canonical text, upper-case hex (the spelling
// engine.NormalizeUID gives; TestHexUIDIsCanonical holds the two together).
func hexUID(uid []byte) string { return strings.ToUpper(hex.EncodeToString(uid)) }

// ndefAID is the ISO DF name of the NFC Forum Type 4 NDEF application.
var ndefAID = []byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01}

func selectNDEF(ctx context.Context, t Transmitter) error {
	if _, err := Command(ctx, t, APDU{CLA: 0x00, INS: 0xA4, P1: 0x04, P2: 0x0C, Data: ndefAID}); err != nil {
		return fmt.Errorf("select NDEF application: %w", err)
	}
	if _, err := Command(ctx, t, APDU{CLA: 0x00, INS: 0xA4, P1: 0x00, P2: 0x0C, Data: []byte{0xE1, 0x04}}); err != nil {
		return fmt.Errorf("select NDEF file E104: %w", err)
	}
	return nil
}

// ReadSUNURL selects the NDEF file of an NTAG 424 DNA and returns the URL the
// tag mirrors (one READ BINARY of the whole file). `citypass tap` without
// --sun and diagnostics use it.
func ReadSUNURL(ctx context.Context, t Transmitter) (string, error) {
	if err := selectNDEF(ctx, t); err != nil {
		return "", err
	}
	file, err := Command(ctx, t, APDU{CLA: 0x00, INS: 0xB0, Le: 256})
	if err != nil {
		return "", fmt.Errorf("read NDEF file: %w", err)
	}
	return ParseNDEFURI(file)
}

func readNTAGSUN(ctx context.Context, t Transmitter, keys KeySource, o *ReadOptions, uid []byte) (Credential, error) {
	const m = MediumNTAG424DNA
	u, err := ReadSUNURL(ctx, t)
	if err != nil {
		return Credential{}, fail(ctx, err, uid, m, "NTAG 424 SUN")
	}
	msg, err := o.SUN.Parse(u)
	if err != nil {
		return Credential{}, fail(ctx, err, uid, m, "NTAG 424 SUN URL")
	}
	puid, ctr, err := VerifySUN(msg, keys)
	if err != nil {
		var pe *ProofError
		if errors.As(err, &pe) && uid != nil {
			// Under a wrong meta-read key PICCData may still pass its tag
			// check (1 in 128) and name a garbage UID; the reader's is real.
			pe.UID = hexUID(uid)
		}
		return Credential{}, fail(ctx, err, uid, m, "NTAG 424 SUN")
	}
	if uid != nil && !bytes.Equal(uid, puid) {
		return Credential{}, proofErr(hexUID(uid), m,
			fmt.Errorf("SUN message names UID %s, the reader sees %s", hexUID(puid), hexUID(uid)))
	}
	return Credential{UID: hexUID(puid), Medium: m, Counter: ctr, HasCounter: true, Authenticated: true}, nil
}

// PassFile is the content of the DESFire pass file for a card: magic "CPAS",
// format version 1, UID length, UID, zero padding to DESFirePassFileSize.
func PassFile(uid []byte) []byte {
	f := make([]byte, DESFirePassFileSize)
	copy(f, "CPAS")
	f[4] = 1
	f[5] = byte(len(uid))
	copy(f[6:], truncate(uid, 10))
	return f
}

func checkPassFile(f, uid []byte) error {
	if len(f) != DESFirePassFileSize || string(f[:4]) != "CPAS" || f[4] != 1 {
		return fmt.Errorf("%w: not a citypass pass file", ErrMalformed)
	}
	n := int(f[5])
	if n > 10 || !bytes.Equal(f[6:6+n], uid) {
		return fmt.Errorf("%w: pass file belongs to another card", ErrMalformed)
	}
	return nil
}

func readDESFire(ctx context.Context, t Transmitter, keys KeySource, o *ReadOptions, uid []byte, m Medium) (Credential, error) {
	if uid == nil {
		return Credential{}, fmt.Errorf("%w: the reader gives no UID to diversify the DESFire key", ErrUnsupportedMedium)
	}
	aid := aidBytes(o.DESFireAID)
	if _, err := NativeFrames(ctx, t, 0x5A, aid[:]); err != nil {
		return Credential{}, fail(ctx, err, uid, m, "DESFire select application")
	}
	key, err := keys.DESFireReadKey(uid, o.DESFireAID)
	if err != nil {
		return Credential{}, err
	}
	s, err := AuthenticateEV2First(ctx, t, DESFireReadKeyNo, key, o.Rand)
	if err != nil {
		return Credential{}, fail(ctx, err, uid, m, "DESFire")
	}
	hdr := []byte{DESFirePassFileNo, 0, 0, 0, DESFirePassFileSize, 0, 0}
	file, err := s.Command(ctx, t, 0xAD, hdr, nil, CommMAC)
	if err != nil {
		return Credential{}, fail(ctx, err, uid, m, "DESFire ReadData")
	}
	cuid, err := s.Command(ctx, t, 0x51, nil, nil, CommFull)
	if err != nil {
		return Credential{}, fail(ctx, err, uid, m, "DESFire GetCardUID")
	}
	if !bytes.Equal(cuid, uid) {
		return Credential{}, proofErr(hexUID(uid), m, fmt.Errorf("GetCardUID says %s", hexUID(cuid)))
	}
	if err := checkPassFile(file, cuid); err != nil {
		return Credential{}, proofErr(hexUID(uid), m, err)
	}
	return Credential{UID: hexUID(cuid), Medium: m, Authenticated: true}, nil
}

func readUIDOnly(ctx context.Context, t Transmitter, m Medium, o *ReadOptions, uid []byte) (Credential, error) {
	var err error
	if uid == nil {
		uid, err = GetUID(ctx, t)
	}
	if err != nil {
		if gone(ctx, err) || !cardFault(err) {
			return Credential{}, err
		}
		return Credential{}, fmt.Errorf("%w: %s card without a readable UID: %v", ErrUnsupportedMedium, m, err)
	}
	if !o.InsecureUID {
		return Credential{}, proofErr(hexUID(uid), m, ErrInsecureMedium)
	}
	return Credential{UID: hexUID(uid), Medium: m}, nil
}

// ProofFailure reports whether err is a failed card proof and, if so, the
// UID it names ("" when unknown): the engine journals such a tap as INVALID.
func ProofFailure(err error) (uid string, ok bool) {
	var pe *ProofError
	if errors.As(err, &pe) {
		return pe.UID, true
	}
	return "", errors.Is(err, ErrProofFailed)
}

// CredentialFromSUN verifies a SUN URL or query given out of band (`citypass
// tap --sun`, a phone that read the tag) and returns the credential it
// proves. Failures are *ProofError as in VerifySUN; malformed input is
// ErrMalformed.
func CredentialFromSUN(urlOrQuery string, params SUNParams, keys KeySource) (Credential, error) {
	msg, err := params.Parse(urlOrQuery)
	if err != nil {
		return Credential{}, err
	}
	uid, ctr, err := VerifySUN(msg, keys)
	if err != nil {
		return Credential{}, err
	}
	return Credential{UID: hexUID(uid), Medium: MediumNTAG424DNA, Counter: ctr, HasCounter: true, Authenticated: true}, nil
}
