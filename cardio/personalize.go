package cardio

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// NTAG 424 DNA key numbers as Personalize assigns them. Every key is
// diversified per card except the meta-read key (docs/cards.md).
const (
	NTAGKeyApp      byte = 0 // application master key: file settings, key changes
	NTAGKeyFileRead byte = 1 // SDMFileRead: SUN MAC session keys
	NTAGKeyMetaRead byte = 2 // SDMMetaRead: PICCData encryption (shared by all cards)
	NTAGKeySpare3   byte = 3 // used by no access right
	NTAGKeySpare4   byte = 4 // used by no access right
)

// NTAGKeyVersion is the version Personalize gives every key it sets
// (factory keys have version 00).
const NTAGKeyVersion byte = 0x01

// PersonalizeOptions tune Personalize. The zero value is safe.
type PersonalizeOptions struct {
	// FactoryKey is the blank card's value of keys 0–4 (default all zero).
	FactoryKey Key
	// Rand supplies the EV2 challenges (default crypto/rand.Reader).
	Rand io.Reader
	// SUN names the URL parameters the readers will look for (default
	// picc_data/e and cmac/c); the template must use them.
	SUN SUNParams
	// OriginalityKeys are the public keys a card's originality signature
	// must verify under before anything is written (nil: NXP's,
	// NXPOriginalityKey). Tests with virtual cards name the virtual test key.
	OriginalityKeys []*ecdsa.PublicKey
	// SkipVerify skips the read-back that proves the result: the file
	// settings and the CC file as written, every key authenticating, and
	// one SUN read (counter 1) that the keys verify.
	SkipVerify bool
}

// NTAGFile is one file of an NTAG 424 DNA: its native number, its size and
// the settings Personalize gives it.
type NTAGFile struct {
	No       byte
	Size     int
	Settings FileSettings
}

// PersonalizedFiles is the file layout of a card Personalize finished with
// layout: the one table Personalize writes, its verification reads back and
// the CC file describes.
//
//   - CC (E103): read free (NFC readers need it), write never.
//   - NDEF (E104): read free with SUN mirroring (PICCData under key 2,
//     SDMMAC with key 1, plain SUN: MAC input empty), write never, counter
//     retrieval never (the counter travels in the SUN).
//   - Proprietary (E105): no access; citypass keeps nothing on the card.
//
// Every file can still be reconfigured with key 0 (Change).
func PersonalizedFiles(layout SUNLayout) []NTAGFile {
	return []NTAGFile{
		{No: NTAGCCFileNo, Size: NTAGCCFileSize, Settings: FileSettings{
			Comm: CommPlain, Read: AccessFree, Write: AccessNever, ReadWrite: AccessNever, Change: Access(NTAGKeyApp)}},
		{No: NTAGNDEFFileNo, Size: NDEFFileSize, Settings: FileSettings{
			Comm: CommPlain, Read: AccessFree, Write: AccessNever, ReadWrite: AccessNever, Change: Access(NTAGKeyApp),
			SDM: &SDM{
				UIDMirror: true, ReadCtrMirror: true,
				CtrRet: AccessNever, MetaRead: Access(NTAGKeyMetaRead), FileRead: Access(NTAGKeyFileRead),
				PICCDataOffset: layout.PICCOffset, MACInputOffset: layout.MACOffset, MACOffset: layout.MACOffset,
			}}},
		{No: NTAGProprietaryFileNo, Size: NTAGProprietaryFileSize, Settings: FileSettings{
			Comm: CommFull, Read: AccessNever, Write: AccessNever, ReadWrite: AccessNever, Change: Access(NTAGKeyApp)}},
	}
}

// CCFile builds the capability container (NFC Forum Type 4 Tag, mapping
// version 2.0, 32 bytes) that describes files: one File Control TLV each
// for the NDEF and the proprietary file, whose access bytes say what the
// settings grant: 00 free, FF never, 80+n key n.
func CCFile(files []NTAGFile) []byte {
	cc := []byte{0x00, 0x17, 0x20, 0x01, 0x00, 0x00, 0xFF}
	for _, want := range []struct {
		no  byte
		tag byte
		fid uint16
	}{{NTAGNDEFFileNo, 0x04, 0xE104}, {NTAGProprietaryFileNo, 0x05, 0xE105}} {
		for _, f := range files {
			if f.No != want.no {
				continue
			}
			s := f.Settings
			cc = append(cc, want.tag, 0x06, byte(want.fid>>8), byte(want.fid), byte(f.Size>>8), byte(f.Size),
				ccAccess(s.Read, s.ReadWrite), ccAccess(s.Write, s.ReadWrite))
		}
	}
	return append(cc, make([]byte, NTAGCCFileSize-len(cc))...)
}

// ccSettings returns the settings files give the CC file.
func ccSettings(files []NTAGFile) FileSettings {
	for _, f := range files {
		if f.No == NTAGCCFileNo {
			return f.Settings
		}
	}
	return FileSettings{}
}

// ccAccess is the CC access byte for an operation granted by cond or rw.
func ccAccess(cond, rw Access) byte {
	switch {
	case cond == AccessFree || rw == AccessFree:
		return 0x00
	case cond.IsKey():
		return 0x80 | byte(cond)
	case rw.IsKey():
		return 0x80 | byte(rw)
	}
	return 0xFF
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

// ErrNotPersonalized is returned by Personalize when the read-back finds the
// card different from what it wrote (settings, CC file, a key, the SUN).
var ErrNotPersonalized = errors.New("cardio: card does not hold its personalization")

// Personalize turns a blank NTAG 424 DNA into a citypass SUN tag
// (docs/cards.md):
//
//  1. refuses a card whose NXP originality signature does not verify
//     (CheckOriginality with opts.OriginalityKeys), before writing anything,
//  2. writes the NDEF URI record from urlTemplate ({picc} and {mac}
//     placeholders; "" means DefaultURLTemplate) with ISO UPDATE BINARY,
//  3. authenticates with key 0 (the factory key),
//  4. writes the CC file that describes the access rights of step 5,
//  5. sets the file settings of PersonalizedFiles (ChangeFileSettings,
//     CommMode.Full): SUN on the NDEF file, every right it does not use
//     closed,
//  6. changes keys 1–4, then key 0, to the card's keys from keys
//     (ChangeKey, CommMode.Full),
//  7. unless opts.SkipVerify, reads the card back: the file settings and
//     the CC file, the signature under MAC, every key by authenticating
//     with it (AuthenticateEV2First, then AuthenticateEV2NonFirst) and its
//     version, and one SUN read that the keys verify.
//
// It returns the card's credential (UID; counter of the read-back).
//
// Personalize is resumable and idempotent: a card interrupted at any step
// (removed from the field, reader failure) is finished by running it again
// with the same keys and template, and a card it already personalized,
// also with an earlier layout, is brought to this one and verified. Every
// step can tell "already done": the write-protected NDEF and CC files are
// compared with what they should hold (the NDEF file outside its mirrored
// windows), file settings are simply written again, a key whose version
// says it was changed is "changed" from its target value to itself (a wrong
// guess fails ChangeKey's CRC check, 91 1E, and the other value is tried),
// and key 0, changed last, tells a card we started from one we did not. A
// card that is not an NTAG 424 DNA yields ErrUnsupportedMedium, a clone
// ErrNotGenuine, any other card ErrNotBlank.
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
	ck, err := cardKeys(keys, uid)
	if err != nil {
		return Credential{}, err
	}
	p := &personalization{ctx: ctx, t: t, o: &o, uid: uid, ks: keys, keys: ck, layout: layout, files: PersonalizedFiles(layout)}
	p.cc = CCFile(p.files)

	// 1. Originality, before the card is touched. Selecting the NDEF
	// application first ends any session a previous user left open, in
	// which Read_Sig would have to be MACed.
	if err := selectNDEF(ctx, t); err != nil {
		return Credential{}, fmt.Errorf("personalize: %w", err)
	}
	if p.sig, err = CheckOriginality(ctx, t, uid, o.OriginalityKeys); err != nil {
		return Credential{}, fmt.Errorf("personalize: %w", err)
	}
	if err := p.run(); err != nil {
		return Credential{}, fmt.Errorf("personalize: %w", err)
	}
	if o.SkipVerify {
		return Credential{UID: hexUID(uid), Medium: MediumNTAG424DNA}, nil
	}
	cred, err := p.verify()
	if err != nil {
		return Credential{}, fmt.Errorf("personalize: read-back: %w", err)
	}
	return cred, nil
}

// cardKeys derives keys 0–4 of the card with uid.
func cardKeys(keys KeySource, uid []byte) ([5]Key, error) {
	var ck [5]Key
	var err error
	if ck[NTAGKeyApp], err = keys.NTAGAppKey(uid); err != nil {
		return ck, err
	}
	if ck[NTAGKeyFileRead], err = keys.SUNFileReadKey(uid); err != nil {
		return ck, err
	}
	if ck[NTAGKeyMetaRead], err = keys.SUNMetaReadKey(); err != nil {
		return ck, err
	}
	for _, no := range []byte{NTAGKeySpare3, NTAGKeySpare4} {
		if ck[no], err = keys.NTAGSpareKey(uid, no); err != nil {
			return ck, err
		}
	}
	return ck, nil
}

// personalization is one run of Personalize on one card.
type personalization struct {
	ctx    context.Context
	t      Transmitter
	o      *PersonalizeOptions
	uid    []byte
	ks     KeySource
	keys   [5]Key // keys 0–4 of this card
	layout SUNLayout
	files  []NTAGFile
	cc     []byte
	sig    []byte
	// authKey is the value of key 0 the card accepted: the factory key of
	// a card we have not finished, the card's own key otherwise.
	authKey Key
}

func (p *personalization) auth() (*Session, error) {
	return AuthenticateEV2First(p.ctx, p.t, NTAGKeyApp, p.authKey, p.o.Rand)
}

// run does steps 2–6 of Personalize.
func (p *personalization) run() error {
	ctx, t := p.ctx, p.t
	// 2. NDEF URI record: free to write on a blank card; on a card whose
	// personalization was interrupted it is write-protected and must
	// already hold our layout.
	if err := selectNDEF(ctx, t); err != nil {
		return err
	}
	if err := writeNDEF(ctx, t, p.layout); err != nil {
		if !errors.Is(err, ErrPermissionDenied) {
			return err
		}
		same, err := ndefMatches(ctx, t, p.layout)
		if err != nil {
			return err
		}
		if !same {
			return fmt.Errorf("%w: the NDEF file is write-protected and holds another URL", ErrNotBlank)
		}
	}

	// 3. Key 0: the factory key, or the card's own (a card we finished
	// before, maybe with an earlier layout).
	finished := false
	p.authKey = p.o.FactoryKey
	s, err := p.auth()
	if err != nil {
		if gone(ctx, err) || !errors.Is(err, ErrAuthentication) {
			return err
		}
		p.authKey, finished = p.keys[NTAGKeyApp], true
		if s, err = p.auth(); err != nil {
			if gone(ctx, err) || !errors.Is(err, ErrAuthentication) {
				return err
			}
			return fmt.Errorf("%w: key 0 is neither the factory key nor this card's key", ErrNotBlank)
		}
	}

	// 4. The CC file, while its settings may still allow writing it.
	if s, err = p.ensureCC(s); err != nil {
		return err
	}

	// 5. File settings; writing them again is harmless.
	for _, f := range p.files {
		if err := s.ChangeFileSettings(ctx, t, f.No, f.Settings); err != nil {
			return err
		}
	}

	// 6. Keys 1–4, then key 0 (which ends the session).
	for no := NTAGKeyFileRead; no <= NTAGKeySpare4; no++ {
		if s, err = p.changeKey(s, no); err != nil {
			return err
		}
	}
	if finished {
		return nil
	}
	return s.ChangeKey(ctx, t, NTAGKeyApp, p.keys[NTAGKeyApp], p.o.FactoryKey, NTAGKeyVersion)
}

// ensureCC writes the CC file if its settings let key 0 write it, and
// otherwise checks that it already holds p.cc.
func (p *personalization) ensureCC(s *Session) (*Session, error) {
	ctx, t := p.ctx, p.t
	fs, _, err := s.GetFileSettings(ctx, t, NTAGCCFileNo)
	if err != nil {
		return nil, err
	}
	if mode, ok := fs.Access(OpWrite, true, NTAGKeyApp); ok {
		return s, s.WriteData(ctx, t, NTAGCCFileNo, 0, p.cc, mode)
	}
	mode, ok := fs.Access(OpRead, true, NTAGKeyApp)
	if !ok {
		return nil, fmt.Errorf("%w: the CC file can be neither written nor read with key 0", ErrNotBlank)
	}
	got, err := s.ReadData(ctx, t, NTAGCCFileNo, 0, len(p.cc), mode)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(got, p.cc) {
		return nil, fmt.Errorf("%w: the CC file is write-protected and describes other access rights", ErrNotBlank)
	}
	return s, nil
}

// changeKey sets key no to the card's key. The key version tells which
// value the key has now (factory 00, ours NTAGKeyVersion); a wrong guess
// fails the card's CRC check (91 1E, which ends the session) and the other
// value is tried.
func (p *personalization) changeKey(s *Session, no byte) (*Session, error) {
	ctx, t := p.ctx, p.t
	ver, err := s.GetKeyVersion(ctx, t, no)
	if err != nil {
		return nil, err
	}
	olds := []Key{p.o.FactoryKey, p.keys[no]}
	if ver == NTAGKeyVersion {
		olds[0], olds[1] = olds[1], olds[0]
	}
	for i, old := range olds {
		err = s.ChangeKey(ctx, t, no, p.keys[no], old, NTAGKeyVersion)
		var se *StatusError
		if !errors.As(err, &se) || se.SW != 0x911E {
			return s, err
		}
		if i == 0 {
			if s, err = p.auth(); err != nil {
				return nil, err
			}
		}
	}
	return nil, fmt.Errorf("%w: key %d is neither the factory key nor this card's key", ErrNotBlank, no)
}

// verify reads the card back (step 7 of Personalize).
func (p *personalization) verify() (Credential, error) {
	ctx, t := p.ctx, p.t
	s, err := AuthenticateEV2First(ctx, t, NTAGKeyApp, p.keys[NTAGKeyApp], p.o.Rand)
	if err != nil {
		return Credential{}, fmt.Errorf("key 0: %w", err)
	}
	for _, f := range p.files {
		got, size, err := s.GetFileSettings(ctx, t, f.No)
		if err != nil {
			return Credential{}, err
		}
		if size != f.Size || !bytes.Equal(got.ChangeData(), f.Settings.ChangeData()) {
			return Credential{}, fmt.Errorf("%w: file %d has settings %v (%d bytes), want %v (%d bytes)", ErrNotPersonalized, f.No, got, size, f.Settings, f.Size)
		}
	}
	mode, _ := ccSettings(p.files).Access(OpRead, true, NTAGKeyApp)
	cc, err := s.ReadData(ctx, t, NTAGCCFileNo, 0, len(p.cc), mode)
	if err != nil {
		return Credential{}, err
	}
	if !bytes.Equal(cc, p.cc) {
		return Credential{}, fmt.Errorf("%w: the CC file holds % X, want % X", ErrNotPersonalized, cc, p.cc)
	}
	sig, err := s.ReadSig(ctx, t)
	if err != nil {
		return Credential{}, err
	}
	if !bytes.Equal(sig, p.sig) {
		return Credential{}, fmt.Errorf("%w: the originality signature read under MAC differs from the one checked", ErrNotPersonalized)
	}
	for no := NTAGKeyApp; no <= NTAGKeySpare4; no++ {
		if no != NTAGKeyApp {
			if err := s.AuthenticateEV2NonFirst(ctx, t, no, p.keys[no], p.o.Rand); err != nil {
				return Credential{}, fmt.Errorf("key %d: %w", no, err)
			}
		}
		ver, err := s.GetKeyVersion(ctx, t, no)
		if err != nil {
			return Credential{}, err
		}
		if ver != NTAGKeyVersion {
			return Credential{}, fmt.Errorf("%w: key %d has version %02X, want %02X", ErrNotPersonalized, no, ver, NTAGKeyVersion)
		}
	}
	cred, err := ReadCredential(ctx, t, p.ks, &ReadOptions{Medium: MediumNTAG424DNA, SUN: p.o.SUN})
	if err != nil {
		return Credential{}, fmt.Errorf("SUN: %w", err)
	}
	return cred, nil
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
