package virtual

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"sync"

	"github.com/citypass/citypass/cardio"
)

// NTAG424 is a virtual NTAG 424 DNA. New cards are blank, in the factory
// state of the datasheet: all five keys zero (version 00), the CC file, an
// empty NDEF file with free read and write, the proprietary file readable
// with key 2 and writable with key 3 in CommMode.Full, SUN off.
// cardio.Personalize turns one into a SUN tag; from then on every
// unauthenticated read of the NDEF file from offset 0 (ISO READ BINARY or
// ReadData) increments the 24-bit SDMReadCtr and mirrors fresh encrypted
// PICCData and SDMMAC into the URL.
//
// Supported: PC/SC GET DATA UID; ISO SELECT (NDEF application D2760000850101,
// files E103/E104/E105), READ BINARY, UPDATE BINARY; native GetVersion,
// AuthenticateEV2First, AuthenticateEV2NonFirst, GetKeyVersion, ChangeKey,
// GetFileSettings, ChangeFileSettings, ReadData, WriteData, GetFileCounters,
// Read_Sig and GetCardUID, under EV2 secure messaging where the datasheet
// asks for it.
//
// Access rights are enforced as cardio.FileSettings.Access says: a free
// condition grants the access in CommMode.Plain, a key grants it to a
// session authenticated with that key in the file's CommMode, and anything
// else is refused with 91 9D (which ends the session). An error status ends
// the session, as on the chip. Every successful command of a session
// advances its command counter, plain ones included. Answers longer than a
// short APDU's 256 bytes come in 91 AF frames. Not modelled: LRP, random
// ID, SDMReadCtrLimit, encrypted file data and plain UID/counter mirrors in
// SUN, Tag Tamper, SetConfiguration, the PICC-level originality keys.
type NTAG424 struct {
	uid  [7]byte
	rand io.Reader

	sigKey *ecdsa.PrivateKey // nil: the card has no Read_Sig (911C)
	sig    []byte            // signed once, on the first Read_Sig, like NXP's at wafer test

	keys     [5]cardio.Key
	keyVer   [5]byte
	files    [4][]byte // index = native file number 1..3 (CC, NDEF, proprietary)
	settings [4]cardio.FileSettings
	sdmCtr   uint32

	field
	// volatile (cleared by power cycle, reset, removal)
	appSelected bool
	selected    byte // native file number of the selected EF, 0 none
	session     *cardSession
	auth        *pendingAuth
	frames      [][]byte
	mirror      []byte // NDEF image of the current read (from its offset-0 read)
}

var ntagFIDs = map[uint16]byte{0xE103: 1, 0xE104: 2, 0xE105: 3}

// factoryCC is the CC file as NTAG 424 DNA leaves the factory: NDEF file
// E104 (256 bytes, read and write free), proprietary file E105 (128 bytes,
// read key 2, write key 3).
var factoryCC = []byte{0x00, 0x17, 0x20, 0x01, 0x00, 0x00, 0xFF, 0x04, 0x06, 0xE1, 0x04, 0x01, 0x00, 0x00, 0x00,
	0x05, 0x06, 0xE1, 0x05, 0x00, 0x80, 0x82, 0x83}

// testOriginalityScalar is the private scalar of TestOriginalityKey. It is
// published here on purpose: only tests and development data dirs may trust
// its public half.
const testOriginalityScalar = "12797F07F5FC8173237A61347513821D79B5654094C20E58CF61E3A2"

// TestOriginalityKey is the secp224r1 key virtual NTAG 424 DNA cards sign
// their UID with unless SetOriginalityKey says otherwise. Tests trust its
// public half (cardio.PersonalizeOptions.OriginalityKeys, a data dir's
// originality key file); production trusts NXP's key alone, so a virtual
// card is refused there like any clone.
// The key is parsed once (deriving its public half costs a scalar
// multiplication) and shared: callers must not modify it.
func TestOriginalityKey() *ecdsa.PrivateKey { return testOriginalityKey() }

var testOriginalityKey = sync.OnceValue(func() *ecdsa.PrivateKey {
	d, _ := hex.DecodeString(testOriginalityScalar)
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P224(), d)
	if err != nil {
		panic("virtual: test originality key: " + err.Error())
	}
	return k
})

// TestOriginalityPublicKey is the public half of TestOriginalityKey.
func TestOriginalityPublicKey() *ecdsa.PublicKey { return &TestOriginalityKey().PublicKey }

// TestOriginalityKeys is the trust list of tests: TestOriginalityPublicKey
// alone.
func TestOriginalityKeys() []*ecdsa.PublicKey {
	return []*ecdsa.PublicKey{TestOriginalityPublicKey()}
}

// NewNTAG424 returns a blank card with this UID, signed with
// TestOriginalityKey. The card draws its challenges and PICCData padding
// from crypto/rand unless SetRand is used.
func NewNTAG424(uid [7]byte) *NTAG424 {
	c := &NTAG424{uid: uid, rand: rand.Reader, sigKey: TestOriginalityKey()}
	c.field.handle, c.field.reset = c.handle, c.resetLocked
	c.files[1] = append(bytes.Clone(factoryCC), make([]byte, cardio.NTAGCCFileSize-len(factoryCC))...)
	c.files[2] = make([]byte, cardio.NDEFFileSize)
	c.files[3] = make([]byte, cardio.NTAGProprietaryFileSize)
	c.settings[1] = cardio.FileSettings{Comm: cardio.CommPlain, Read: cardio.AccessFree, Write: 0, ReadWrite: 0, Change: 0}
	c.settings[2] = cardio.FileSettings{Comm: cardio.CommPlain, Read: cardio.AccessFree, Write: cardio.AccessFree, ReadWrite: cardio.AccessFree, Change: 0}
	c.settings[3] = cardio.FileSettings{Comm: cardio.CommFull, Read: 2, Write: 3, ReadWrite: 3, Change: 0}
	return c
}

// NewPersonalizedNTAG424 returns a card personalized by cardio.Personalize
// with keys and urlTemplate ("" = cardio.DefaultURLTemplate), trusting the
// card's TestOriginalityKey signature. Its counter is 1 after
// personalization's read-back.
func NewPersonalizedNTAG424(ctx context.Context, uid [7]byte, keys cardio.KeySource, urlTemplate string) (*NTAG424, error) {
	c := NewNTAG424(uid)
	if _, err := cardio.Personalize(ctx, c, keys, urlTemplate, &cardio.PersonalizeOptions{OriginalityKeys: TestOriginalityKeys()}); err != nil {
		return nil, fmt.Errorf("virtual: personalizing NTAG 424 %s: %w", c.UID(), err)
	}
	return c, nil
}

// NewWrongKeyNTAG424 returns a card personalized with freshly generated
// master keys the verifier does not know: its SUN never verifies (INVALID).
func NewWrongKeyNTAG424(ctx context.Context, uid [7]byte, urlTemplate string) (*NTAG424, error) {
	k, err := cardio.GenerateKeys(rand.Reader)
	if err != nil {
		return nil, err
	}
	return NewPersonalizedNTAG424(ctx, uid, k, urlTemplate)
}

// SetRand replaces the card's randomness (deterministic tests).
func (c *NTAG424) SetRand(r io.Reader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rand = r
}

// SetOriginalityKey makes the card sign its UID with k instead: a card whose
// signature no trusted key verifies is a clone. nil makes it a clone that
// does not implement Read_Sig at all (it answers 91 1C).
func (c *NTAG424) SetOriginalityKey(k *ecdsa.PrivateKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sigKey, c.sig = k, nil
}

// UID returns the card UID in upper-case hex.
func (c *NTAG424) UID() string { return hexUpper(c.uid[:]) }

// ATR implements Card.
func (c *NTAG424) ATR() []byte { return bytes.Clone(ATR14443_4) }

// Counter returns the SDMReadCtr (the value of the last SUN read).
func (c *NTAG424) Counter() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sdmCtr
}

func (c *NTAG424) resetLocked() {
	c.appSelected, c.selected, c.session, c.auth, c.frames, c.mirror = false, 0, nil, nil, nil, nil
}

func (c *NTAG424) handle(raw []byte) []byte {
	a, err := cardio.ParseCommand(raw)
	if err != nil {
		return resp(nil, swISOLength)
	}
	if !(a.CLA == 0x90 && a.INS == 0xAF) {
		c.frames, c.auth = nil, nil
	}
	switch a.CLA {
	case 0xFF:
		return getData(a, c.uid[:])
	case 0x00:
		c.mirrorReset(a)
		switch a.INS {
		case 0xA4:
			return c.isoSelect(a)
		case 0xB0:
			return c.readBinary(a)
		case 0xD6:
			return c.updateBinary(a)
		}
		return resp(nil, swISOINS)
	case 0x90:
		if a.P1 != 0 || a.P2 != 0 {
			return resp(nil, swParameter)
		}
		if a.INS != 0xAD && a.INS != 0xAF {
			c.mirror = nil
		}
		return c.native(a.INS, a.Data)
	}
	return resp(nil, swISOCLA)
}

func getData(a cardio.APDU, uid []byte) []byte {
	if a.INS != 0xCA {
		return resp(nil, swISOINS)
	}
	if a.P1 == 0x00 && a.P2 == 0x00 {
		return resp(uid, swOK)
	}
	return resp(nil, swISOFunction)
}

// mirrorReset forgets the mirrored image unless a is a READ BINARY past
// offset 0 continuing the same read.
func (c *NTAG424) mirrorReset(a cardio.APDU) {
	if a.INS == 0xB0 && (int(a.P1)<<8|int(a.P2)) > 0 {
		return
	}
	c.mirror = nil
}

func (c *NTAG424) isoSelect(a cardio.APDU) []byte {
	switch a.P1 {
	case 0x04: // by DF name
		if !bytes.Equal(a.Data, []byte{0xD2, 0x76, 0x00, 0x00, 0x85, 0x01, 0x01}) {
			return resp(nil, swISONotFound)
		}
		c.appSelected, c.selected, c.session, c.auth = true, 0, nil, nil
		return resp(nil, swOK)
	case 0x00, 0x02: // by file ID
		if len(a.Data) != 2 {
			return resp(nil, swISOLength)
		}
		fid := binary.BigEndian.Uint16(a.Data)
		if fid == 0xE110 { // the NDEF application's own FID
			c.appSelected, c.selected, c.session, c.auth = true, 0, nil, nil
			return resp(nil, swOK)
		}
		no, ok := ntagFIDs[fid]
		if !ok || !c.appSelected {
			return resp(nil, swISONotFound)
		}
		c.selected = no
		return resp(nil, swOK)
	}
	return resp(nil, swISOP1P2)
}

// isoGranted reports whether op on the selected file is granted to an ISO
// command: those travel in plain, so only free access counts.
func (c *NTAG424) isoGranted(op cardio.FileOp) bool {
	mode, ok := c.settings[c.selected].Access(op, false, 0)
	return ok && mode == cardio.CommPlain
}

func (c *NTAG424) readBinary(a cardio.APDU) []byte {
	if a.P1&0x80 != 0 {
		return resp(nil, swISOP1P2) // short file identifiers not supported
	}
	if c.selected == 0 {
		return resp(nil, swISOConditions)
	}
	if !c.isoGranted(cardio.OpRead) {
		return resp(nil, swISOSecurity)
	}
	if a.Le == 0 {
		return resp(nil, swISOLength)
	}
	off := int(a.P1)<<8 | int(a.P2)
	file, err := c.readImage(c.selected, off)
	if err != nil {
		return resp(nil, swISOConditions)
	}
	if off > len(file) {
		return resp(nil, swISOWrongP1P2)
	}
	n := min(a.Le, len(file)-off)
	return resp(file[off:off+n], swOK)
}

// readImage returns what an unauthenticated read of file no starting at
// off sees: the file, or for the SDM file a mirrored image, fresh for a read
// from offset 0 and kept for the rest of that read.
func (c *NTAG424) readImage(no byte, off int) ([]byte, error) {
	fs := c.settings[no]
	if no != cardio.NTAGNDEFFileNo || fs.SDM == nil || c.session != nil {
		return c.files[no], nil
	}
	if c.mirror == nil || off == 0 {
		img, err := c.sunImage(fs.SDM)
		if err != nil {
			return nil, err
		}
		c.mirror = img
	}
	return c.mirror, nil
}

// sunImage increments SDMReadCtr and mirrors PICCData and SDMMAC.
func (c *NTAG424) sunImage(s *cardio.SDM) ([]byte, error) {
	if c.sdmCtr >= 0xFFFFFF {
		return nil, fmt.Errorf("SDMReadCtr exhausted")
	}
	c.sdmCtr++
	img := bytes.Clone(c.files[2])
	if s.MetaRead.IsKey() {
		var pad [5]byte
		if _, err := io.ReadFull(c.rand, pad[:]); err != nil {
			return nil, err
		}
		enc, err := cardio.EncryptPICCData(c.keys[s.MetaRead], c.uid[:], c.sdmCtr, pad[:])
		if err != nil {
			return nil, err
		}
		copy(img[s.PICCDataOffset:], hexUpper(enc))
	}
	if s.FileRead.IsKey() {
		m := cardio.SDMMAC(c.keys[s.FileRead], c.uid[:], c.sdmCtr, img[s.MACInputOffset:s.MACOffset])
		copy(img[s.MACOffset:], hexUpper(m[:]))
	}
	return img, nil
}

func (c *NTAG424) updateBinary(a cardio.APDU) []byte {
	if a.P1&0x80 != 0 {
		return resp(nil, swISOP1P2)
	}
	if c.selected == 0 {
		return resp(nil, swISOConditions)
	}
	if !c.isoGranted(cardio.OpWrite) {
		return resp(nil, swISOSecurity)
	}
	off := int(a.P1)<<8 | int(a.P2)
	file := c.files[c.selected]
	if len(a.Data) == 0 || off+len(a.Data) > len(file) {
		return resp(nil, swISOWrongP1P2)
	}
	copy(file[off:], a.Data)
	return resp(nil, swOK)
}

func (c *NTAG424) native(ins byte, data []byte) []byte {
	switch ins {
	case 0x60: // GetVersion
		if len(data) != 0 {
			return resp(nil, swLength)
		}
		c.frames = versionFrames([7]byte{0x04, 0x04, 0x02, 0x30, 0x00, 0x11, 0x05},
			[7]byte{0x04, 0x04, 0x02, 0x01, 0x02, 0x11, 0x05}, c.uid)
		return c.nextFrame()
	case 0xAF:
		if c.auth != nil {
			return c.authFinish(data)
		}
		if c.frames != nil {
			return c.nextFrame()
		}
		return resp(nil, swIllegal)
	case 0x71: // AuthenticateEV2First
		c.session = nil
		if !c.appSelected {
			return resp(nil, swPermission)
		}
		if len(data) < 2 {
			return resp(nil, swLength)
		}
		return c.authStart(data[0], false)
	case 0x77: // AuthenticateEV2NonFirst
		if c.session == nil {
			return resp(nil, swPermission)
		}
		if len(data) != 1 {
			return c.fail(swLength)
		}
		return c.authStart(data[0], true)
	case 0x64:
		return c.getKeyVersion(data)
	case 0xC4:
		return c.changeKey(data)
	case 0x5F:
		return c.changeFileSettings(data)
	case 0xF5:
		return c.getFileSettings(data)
	case 0xAD:
		return c.readData(data)
	case 0x8D:
		return c.writeData(data)
	case 0xF6:
		return c.getFileCounters(data)
	case 0x3C:
		return c.readSig(data)
	case 0x51:
		return c.getCardUID(data)
	}
	c.session = nil
	return resp(nil, swIllegal)
}

func (c *NTAG424) nextFrame() []byte {
	f := c.frames[0]
	c.frames = c.frames[1:]
	if len(c.frames) == 0 {
		c.frames = nil
		return resp(f, swNativeOK)
	}
	return resp(f, swMore)
}

// reply answers with b in frames of at most 256 bytes.
func (c *NTAG424) reply(b []byte) []byte {
	const frame = 256
	if len(b) <= frame {
		return resp(b, swNativeOK)
	}
	for len(b) > 0 {
		n := min(frame, len(b))
		c.frames = append(c.frames, b[:n])
		b = b[n:]
	}
	return c.nextFrame()
}

func (c *NTAG424) authStart(keyNo byte, nonFirst bool) []byte {
	if keyNo > 4 {
		return c.fail(swNoSuchKey)
	}
	p, ct, err := authPart1(c.rand, keyNo, c.keys[keyNo])
	if err != nil {
		return c.fail(swIllegal)
	}
	p.nonFirst = nonFirst
	c.auth = p
	return resp(ct, swMore)
}

func (c *NTAG424) authFinish(data []byte) []byte {
	p := c.auth
	c.auth = nil
	if p.nonFirst {
		s, ct := authPart2NonFirst(p, c.session, data)
		c.session = s
		if s == nil {
			return resp(nil, swAuthError)
		}
		return resp(ct, swNativeOK)
	}
	s, ct, err := authPart2(c.rand, p, data)
	if err != nil || s == nil {
		c.session = nil
		return resp(nil, swAuthError)
	}
	c.session = s
	return resp(ct, swNativeOK)
}

// secured checks the session and the command MAC; on failure it returns the
// error response and ends the session.
func (c *NTAG424) secured(ins byte, payload []byte, hdrLen int, mode cardio.CommMode) (hdr, data, errResp []byte) {
	if c.session == nil {
		return nil, nil, resp(nil, swPermission)
	}
	hdr, data, ok := c.session.unwrap(ins, payload, hdrLen, mode)
	if !ok {
		c.session = nil
		return nil, nil, resp(nil, swIntegrity)
	}
	return hdr, data, nil
}

// command splits a command that is MACed within a session and plain
// without one into its header and data.
func (c *NTAG424) command(ins byte, payload []byte, hdrLen int, mode cardio.CommMode) (hdr, data, errResp []byte) {
	if c.session != nil {
		return c.secured(ins, payload, hdrLen, mode)
	}
	if len(payload) < hdrLen {
		return nil, nil, resp(nil, swLength)
	}
	return payload[:hdrLen], payload[hdrLen:], nil
}

// answer protects a success answer in mode within a session, plain without.
func (c *NTAG424) answer(data []byte, mode cardio.CommMode) []byte {
	if c.session == nil {
		return c.reply(data)
	}
	return c.reply(c.session.seal(data, mode))
}

func (c *NTAG424) fail(sw []byte) []byte {
	c.session = nil
	return resp(nil, sw)
}

// sessionKey reports the session's key number and whether there is one.
func (c *NTAG424) sessionKey() (byte, bool) {
	if c.session == nil {
		return 0, false
	}
	return c.session.keyNo, true
}

// getKeyVersion answers plain without a session and MACed within one.
func (c *NTAG424) getKeyVersion(payload []byte) []byte {
	hdr, data, e := c.command(0x64, payload, 1, cardio.CommMAC)
	if e != nil {
		return e
	}
	if len(data) != 0 {
		return c.fail(swLength)
	}
	if hdr[0] > 4 {
		return c.fail(swNoSuchKey)
	}
	return c.answer([]byte{c.keyVer[hdr[0]]}, cardio.CommMAC)
}

func (c *NTAG424) changeKey(payload []byte) []byte {
	hdr, data, e := c.secured(0xC4, payload, 1, cardio.CommFull)
	if e != nil {
		return e
	}
	if c.session.keyNo != 0 {
		return c.fail(swPermission)
	}
	no := hdr[0]
	if no > 4 {
		return c.fail(swNoSuchKey)
	}
	if no == c.session.keyNo {
		if len(data) != 17 {
			return c.fail(swLength)
		}
		copy(c.keys[no][:], data[:16])
		c.keyVer[no] = data[16]
		c.session = nil // changing the authentication key ends the session
		return resp(nil, swNativeOK)
	}
	if len(data) != 21 {
		return c.fail(swLength)
	}
	var nk cardio.Key
	for i := range nk {
		nk[i] = data[i] ^ c.keys[no][i]
	}
	if binary.LittleEndian.Uint32(data[17:21]) != cardio.CRC32NK(nk[:]) {
		return c.fail(swIntegrity)
	}
	c.keys[no], c.keyVer[no] = nk, data[16]
	return c.session.wrap(nil, cardio.CommMAC)
}

func (c *NTAG424) changeFileSettings(payload []byte) []byte {
	hdr, data, e := c.secured(0x5F, payload, 1, cardio.CommFull)
	if e != nil {
		return e
	}
	no := hdr[0]
	if no < 1 || no > 3 {
		return c.fail(swFileNotFound)
	}
	if chg := c.settings[no].Change; chg != cardio.AccessFree && chg != cardio.Access(c.session.keyNo) {
		return c.fail(swPermission)
	}
	fs, err := cardio.ParseChangeFileSettings(data, len(c.files[no]))
	if err != nil || (fs.SDM != nil && no != cardio.NTAGNDEFFileNo) {
		return c.fail(swParameter)
	}
	c.settings[no] = fs
	return c.session.wrap(nil, cardio.CommMAC)
}

// getFileSettings answers plain without a session and MACed within one.
func (c *NTAG424) getFileSettings(payload []byte) []byte {
	hdr, data, e := c.command(0xF5, payload, 1, cardio.CommMAC)
	if e != nil {
		return e
	}
	no := hdr[0]
	if len(data) != 0 {
		return c.fail(swLength)
	}
	if no < 1 || no > 3 {
		return c.fail(swFileNotFound)
	}
	return c.answer(c.settings[no].Answer(len(c.files[no])), cardio.CommMAC)
}

// dataCommand decodes the clear header of ReadData/WriteData (FileNo,
// Offset, Length) and finds the mode op travels in; errResp is set when the
// file does not exist or the access is not granted.
func (c *NTAG424) dataCommand(payload []byte, op cardio.FileOp) (no byte, mode cardio.CommMode, errResp []byte) {
	if len(payload) < 7 {
		return 0, 0, c.fail(swLength)
	}
	no = payload[0]
	if no < 1 || no > 3 {
		return 0, 0, c.fail(swFileNotFound)
	}
	keyNo, authenticated := c.sessionKey()
	mode, ok := c.settings[no].Access(op, authenticated, keyNo)
	if !ok {
		return 0, 0, c.fail(swPermission)
	}
	return no, mode, nil
}

func le3int(b []byte) int { return int(b[0]) | int(b[1])<<8 | int(b[2])<<16 }

func (c *NTAG424) readData(payload []byte) []byte {
	no, mode, e := c.dataCommand(payload, cardio.OpRead)
	if e != nil {
		return e
	}
	hdr, data, e := c.command(0xAD, payload, 7, mode)
	if e != nil {
		return e
	}
	if len(data) != 0 {
		return c.fail(swLength)
	}
	off, n := le3int(hdr[1:4]), le3int(hdr[4:7])
	size := len(c.files[no])
	if n == 0 && off <= size {
		n = size - off
	}
	if off > size || off+n > size {
		return c.fail(swBoundary)
	}
	file, err := c.readImage(no, off)
	if err != nil {
		return c.fail(swBoundary)
	}
	return c.answer(bytes.Clone(file[off:off+n]), mode)
}

func (c *NTAG424) writeData(payload []byte) []byte {
	no, mode, e := c.dataCommand(payload, cardio.OpWrite)
	if e != nil {
		return e
	}
	hdr, data, e := c.command(0x8D, payload, 7, mode)
	if e != nil {
		return e
	}
	off, n := le3int(hdr[1:4]), le3int(hdr[4:7])
	if n == 0 || len(data) != n {
		return c.fail(swLength)
	}
	if off+n > len(c.files[no]) {
		return c.fail(swBoundary)
	}
	copy(c.files[no][off:], data)
	return c.answer(nil, mode)
}

// getFileCounters answers the SDM read counter of a file with SDM: plain
// when SDMCtrRet is free, in CommMode.Full to a session with its key.
func (c *NTAG424) getFileCounters(payload []byte) []byte {
	if len(payload) < 1 {
		return c.fail(swLength)
	}
	no := payload[0]
	if no < 1 || no > 3 {
		return c.fail(swFileNotFound)
	}
	s := c.settings[no].SDM
	if s == nil {
		return c.fail(swPermission)
	}
	mode := cardio.CommPlain
	keyNo, authenticated := c.sessionKey()
	switch {
	case s.CtrRet == cardio.AccessFree:
	case s.CtrRet.IsKey() && authenticated && cardio.Access(keyNo) == s.CtrRet:
		mode = cardio.CommFull
	default:
		return c.fail(swPermission)
	}
	_, data, e := c.command(0xF6, payload, 1, mode)
	if e != nil {
		return e
	}
	if len(data) != 0 {
		return c.fail(swLength)
	}
	ctr := []byte{byte(c.sdmCtr), byte(c.sdmCtr >> 8), byte(c.sdmCtr >> 16), 0x00, 0x00}
	return c.answer(ctr, mode)
}

// readSig answers the originality signature: plain without a session, in
// CommMode.Full (MACed command, encrypted answer) within one.
func (c *NTAG424) readSig(payload []byte) []byte {
	if c.sigKey == nil {
		c.session = nil
		return resp(nil, swIllegal)
	}
	hdr, data, e := c.command(0x3C, payload, 1, cardio.CommFull)
	if e != nil {
		return e
	}
	if len(data) != 0 {
		return c.fail(swLength)
	}
	if hdr[0] != 0x00 {
		return c.fail(swParameter)
	}
	if c.sig == nil {
		r, s, err := ecdsa.Sign(rand.Reader, c.sigKey, c.uid[:])
		if err != nil {
			return c.fail(swIllegal)
		}
		c.sig = make([]byte, cardio.SignatureSize)
		r.FillBytes(c.sig[:cardio.SignatureSize/2])
		s.FillBytes(c.sig[cardio.SignatureSize/2:])
	}
	return c.answer(bytes.Clone(c.sig), cardio.CommFull)
}

func (c *NTAG424) getCardUID(payload []byte) []byte {
	_, _, e := c.secured(0x51, payload, 0, cardio.CommFull)
	if e != nil {
		return e
	}
	return c.session.wrap(c.uid[:], cardio.CommFull)
}
