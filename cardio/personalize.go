package cardio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// NTAG 424 DNA key numbers as Personalize assigns them.
const (
	NTAGKeyApp      byte = 0 // application master key: file settings, key changes
	NTAGKeyFileRead byte = 1 // SDMFileRead: SUN MAC session keys
	NTAGKeyMetaRead byte = 2 // SDMMetaRead: PICCData encryption
)

// NTAGNDEFFileNo is the native file number of the NDEF file E104.
const NTAGNDEFFileNo byte = 2

// PersonalizeOptions tune Personalize. The zero value is safe.
type PersonalizeOptions struct {
	// FactoryKey is the blank card's key 0, 1 and 2 (default all zero).
	FactoryKey Key
	// Rand supplies the EV2 challenge (default crypto/rand.Reader).
	Rand io.Reader
	// SUN names the URL parameters the readers will look for (default
	// picc_data/e and cmac/c); the template must use them.
	SUN SUNParams
	// SkipVerify skips the read-back (one SUN read, counter 1) that proves
	// the card now answers with a SUN the keys verify.
	SkipVerify bool
}

// SDMSettings are the ChangeFileSettings parameters of the NDEF file.
type SDMSettings struct {
	PICCOffset, MACInputOffset, MACOffset int
}

// ChangeFileSettingsData encodes the NDEF file settings Personalize writes:
// plain communication with SDM enabled; read free, write/read-write/change
// with key 0; UID and counter mirrored as encrypted PICCData (meta-read key
// 2) in ASCII; SDMMAC with file-read key 1; counter retrieval with key 1.
func ChangeFileSettingsData(s SDMSettings) []byte {
	le3 := func(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }
	d := []byte{
		0x40,       // FileOption: SDM and mirroring enabled, CommMode.Plain
		0x00, 0xE0, // AccessRights: RW 0, Change 0 | Read E, Write 0
		0xC1,       // SDMOptions: UID mirror, SDMReadCtr mirror, ASCII encoding
		0xF1, 0x21, // SDMAccessRights: RFU F, CtrRet 1 | MetaRead 2, FileRead 1
	}
	d = append(d, le3(s.PICCOffset)...)
	d = append(d, le3(s.MACInputOffset)...)
	d = append(d, le3(s.MACOffset)...)
	return d
}

// ChangeKeyData encodes the ChangeKey (C4) command data for a key other than
// the authentication key: (new ⊕ old) ‖ version ‖ CRC32(new), and for the
// authentication key itself: new ‖ version.
func ChangeKeyData(newKey, oldKey Key, version byte, isAuthKey bool) []byte {
	if isAuthKey {
		return append(append([]byte(nil), newKey[:]...), version)
	}
	d := make([]byte, 16, 21)
	for i := range d {
		d[i] = newKey[i] ^ oldKey[i]
	}
	d = append(d, version)
	return binary.LittleEndian.AppendUint32(d, CRC32NK(newKey[:]))
}

// CRC32NK is the DESFire/NTAG CRC32: IEEE polynomial, initial value
// FFFFFFFF, no final XOR.
func CRC32NK(b []byte) uint32 { return ^crc32.ChecksumIEEE(b) }

// ErrNotBlank is returned by Personalize for a card that is neither blank,
// nor a card interrupted during personalization with the same keys and URL,
// nor already personalized with them.
var ErrNotBlank = errors.New("cardio: card is not blank")

// Personalize turns a blank NTAG 424 DNA into a citypass SUN tag:
//
//  1. writes the NDEF URI record from urlTemplate ({picc} and {mac}
//     placeholders; "" means DefaultURLTemplate) with ISO UPDATE BINARY,
//  2. authenticates with key 0 (the factory key),
//  3. enables SUN mirroring on E104 (ChangeFileSettings, CommMode.Full),
//  4. changes keys 1 and 2, then key 0, to the card's keys from keys
//     (ChangeKey, CommMode.Full),
//  5. unless opts.SkipVerify, reads the card back and verifies its SUN.
//
// It returns the card's credential (UID; counter of the read-back).
//
// Personalize is resumable and idempotent: a card interrupted at any step
// (removed from the field, reader failure) is finished by running it again
// with the same keys and template, and a card it already personalized is
// only verified. This works because every step can tell "already done": the
// write-protected NDEF file is compared outside its mirrored windows, a key
// that was already changed fails ChangeKey's CRC check (91 1E) and is then
// "changed" from the target value to itself, and key 0, changed last, marks
// a finished card. A card that is not an NTAG 424 DNA yields
// ErrUnsupportedMedium; any other card yields ErrNotBlank.
func Personalize(ctx context.Context, t Transmitter, keys KeySource, urlTemplate string, opts *PersonalizeOptions) (Credential, error) {
	var o PersonalizeOptions
	if opts != nil {
		o = *opts
	}
	if o.Rand == nil {
		o.Rand = rand.Reader
	}
	if urlTemplate == "" {
		urlTemplate = DefaultURLTemplate
	}
	layout, err := BuildSUNNDEF(urlTemplate)
	if err != nil {
		return Credential{}, err
	}
	if u, err := ParseNDEFURI(layout.File); err != nil {
		return Credential{}, err
	} else if _, err := o.SUN.Parse(u); err != nil {
		return Credential{}, fmt.Errorf("personalize: the URL template does not carry {picc} and {mac} in the query parameters readers look for: %w", err)
	}
	uid, err := GetUID(ctx, t)
	if err != nil {
		return Credential{}, fmt.Errorf("personalize: %w", err)
	}
	v, err := GetVersion(ctx, t)
	if err != nil {
		return Credential{}, fmt.Errorf("personalize: %w", err)
	}
	if v.Medium() != MediumNTAG424DNA {
		return Credential{}, fmt.Errorf("personalize: %w: card is %s, not an NTAG 424 DNA", ErrUnsupportedMedium, v.Medium())
	}
	if len(uid) != 7 {
		return Credential{}, fmt.Errorf("personalize: %w: %d-byte UID (random ID enabled?)", ErrUnsupportedMedium, len(uid))
	}
	if !bytes.Equal(v.UID, make([]byte, 7)) && !bytes.Equal(v.UID, uid) {
		return Credential{}, fmt.Errorf("personalize: GetVersion UID %s differs from the reader's %s", hexUID(v.UID), hexUID(uid))
	}
	appKey, err := keys.NTAGAppKey(uid)
	if err != nil {
		return Credential{}, err
	}
	fileKey, err := keys.SUNFileReadKey(uid)
	if err != nil {
		return Credential{}, err
	}
	metaKey, err := keys.SUNMetaReadKey()
	if err != nil {
		return Credential{}, err
	}
	verify := func() (Credential, error) {
		cred := Credential{UID: hexUID(uid), Medium: MediumNTAG424DNA}
		if o.SkipVerify {
			return cred, nil
		}
		cred, err := ReadCredential(ctx, t, keys, &ReadOptions{Medium: MediumNTAG424DNA, SUN: o.SUN})
		if err != nil {
			return Credential{}, fmt.Errorf("personalize: read-back: %w", err)
		}
		return cred, nil
	}

	// 1. NDEF URI record: free to write on a blank card; on a card whose
	// personalization was interrupted it is write-protected and must
	// already hold our layout.
	if err := selectNDEF(ctx, t); err != nil {
		return Credential{}, fmt.Errorf("personalize: %w", err)
	}
	if err := writeNDEF(ctx, t, layout); err != nil {
		if !errors.Is(err, ErrPermissionDenied) {
			return Credential{}, fmt.Errorf("personalize: %w", err)
		}
		same, err := ndefMatches(ctx, t, layout)
		if err != nil {
			return Credential{}, fmt.Errorf("personalize: %w", err)
		}
		if !same {
			return Credential{}, fmt.Errorf("personalize: %w: the NDEF file is write-protected and holds another URL", ErrNotBlank)
		}
	}

	// 2. Authenticate with the factory key 0 — or find the card finished.
	s, err := AuthenticateEV2First(ctx, t, NTAGKeyApp, o.FactoryKey, o.Rand)
	if err != nil {
		if gone(ctx, err) || !errors.Is(err, ErrAuthentication) {
			return Credential{}, fmt.Errorf("personalize: %w", err)
		}
		if _, err := AuthenticateEV2First(ctx, t, NTAGKeyApp, appKey, o.Rand); err != nil {
			if gone(ctx, err) || !errors.Is(err, ErrAuthentication) {
				return Credential{}, fmt.Errorf("personalize: %w", err)
			}
			return Credential{}, fmt.Errorf("personalize: %w: key 0 is neither the factory key nor this card's key", ErrNotBlank)
		}
		return verify() // key 0 is changed last: the card is finished
	}

	// 3. SUN mirroring on E104; plain SUN: the MAC input is empty.
	fs := ChangeFileSettingsData(SDMSettings{PICCOffset: layout.PICCOffset, MACInputOffset: layout.MACOffset, MACOffset: layout.MACOffset})
	if _, err := s.Command(ctx, t, 0x5F, []byte{NTAGNDEFFileNo}, fs, CommFull); err != nil {
		return Credential{}, fmt.Errorf("personalize: ChangeFileSettings: %w", err)
	}

	// 4. Keys 1 and 2, then key 0 (which ends the session).
	const keyVersion = 0x01
	for _, k := range []struct {
		no  byte
		key Key
	}{{NTAGKeyFileRead, fileKey}, {NTAGKeyMetaRead, metaKey}} {
		_, err := s.Command(ctx, t, 0xC4, []byte{k.no}, ChangeKeyData(k.key, o.FactoryKey, keyVersion, false), CommFull)
		var se *StatusError
		if errors.As(err, &se) && se.SW == 0x911E {
			// Not the factory key any more: changed by an interrupted run?
			// "Change" it from the target to itself (a no-op when it is).
			if s, err = AuthenticateEV2First(ctx, t, NTAGKeyApp, o.FactoryKey, o.Rand); err != nil {
				return Credential{}, fmt.Errorf("personalize: %w", err)
			}
			_, err = s.Command(ctx, t, 0xC4, []byte{k.no}, ChangeKeyData(k.key, k.key, keyVersion, false), CommFull)
			if errors.As(err, &se) && se.SW == 0x911E {
				return Credential{}, fmt.Errorf("personalize: %w: key %d is neither the factory key nor this card's key", ErrNotBlank, k.no)
			}
		}
		if err != nil {
			return Credential{}, fmt.Errorf("personalize: ChangeKey %d: %w", k.no, err)
		}
	}
	if _, err := s.command(ctx, t, 0xC4, []byte{NTAGKeyApp}, ChangeKeyData(appKey, o.FactoryKey, keyVersion, true), CommFull, false); err != nil {
		return Credential{}, fmt.Errorf("personalize: ChangeKey 0: %w", err)
	}

	// 5. Read back.
	return verify()
}

func writeNDEF(ctx context.Context, t Transmitter, layout SUNLayout) error {
	const chunk = 128
	for off := 0; off < len(layout.File); off += chunk {
		end := min(off+chunk, len(layout.File))
		a := APDU{CLA: 0x00, INS: 0xD6, P1: byte(off >> 8), P2: byte(off), Data: layout.File[off:end]}
		if _, err := Command(ctx, t, a); err != nil {
			return fmt.Errorf("writing the NDEF file at %d: %w", off, err)
		}
	}
	return nil
}

// ndefMatches reads the NDEF file and compares it with layout outside the
// windows the tag mirrors into.
func ndefMatches(ctx context.Context, t Transmitter, layout SUNLayout) (bool, error) {
	file, err := Command(ctx, t, APDU{CLA: 0x00, INS: 0xB0, Le: 256})
	if err != nil {
		return false, fmt.Errorf("reading the NDEF file: %w", err)
	}
	if len(file) < len(layout.File) {
		return false, nil
	}
	for i, b := range layout.File {
		if (i >= layout.PICCOffset && i < layout.PICCOffset+32) || (i >= layout.MACOffset && i < layout.MACOffset+16) {
			continue
		}
		if file[i] != b {
			return false, nil
		}
	}
	return true, nil
}
