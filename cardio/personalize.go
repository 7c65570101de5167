package cardio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
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
// It returns the card's credential (UID; counter of the read-back). A card
// that is not an NTAG 424 DNA yields ErrUnsupportedMedium; a card whose key 0
// is not the factory key (already personalized) yields an error matching
// ErrAuthentication. A failure after step 3 leaves a card that needs manual
// recovery; the steps run in the order that keeps key 0 known longest.
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

	// 1. NDEF URI record (write access is free on a blank card).
	if err := selectNDEF(ctx, t); err != nil {
		return Credential{}, fmt.Errorf("personalize: %w", err)
	}
	const chunk = 128
	for off := 0; off < len(layout.File); off += chunk {
		end := min(off+chunk, len(layout.File))
		a := APDU{CLA: 0x00, INS: 0xD6, P1: byte(off >> 8), P2: byte(off), Data: layout.File[off:end]}
		if _, err := Command(ctx, t, a); err != nil {
			return Credential{}, fmt.Errorf("personalize: writing the NDEF file at %d: %w", off, err)
		}
	}

	// 2. Authenticate with the factory key 0.
	s, err := AuthenticateEV2First(ctx, t, NTAGKeyApp, o.FactoryKey, o.Rand)
	if err != nil {
		return Credential{}, fmt.Errorf("personalize: card is not blank (factory key 0 refused): %w", err)
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
		if _, err := s.Command(ctx, t, 0xC4, []byte{k.no}, ChangeKeyData(k.key, o.FactoryKey, keyVersion, false), CommFull); err != nil {
			return Credential{}, fmt.Errorf("personalize: ChangeKey %d: %w", k.no, err)
		}
	}
	if _, err := s.command(ctx, t, 0xC4, []byte{NTAGKeyApp}, ChangeKeyData(appKey, o.FactoryKey, keyVersion, true), CommFull, false); err != nil {
		return Credential{}, fmt.Errorf("personalize: ChangeKey 0: %w", err)
	}

	cred := Credential{UID: hexUID(uid), Medium: MediumNTAG424DNA}
	if o.SkipVerify {
		return cred, nil
	}
	// 5. Read back.
	cred, err = ReadCredential(ctx, t, keys, &ReadOptions{Medium: MediumNTAG424DNA})
	if err != nil {
		return Credential{}, fmt.Errorf("personalize: read-back: %w", err)
	}
	return cred, nil
}
