package virtual

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/citypass/citypass/cardio"
)

// NTAG424 is a virtual NTAG 424 DNA. New cards are blank: all five keys zero,
// an empty NDEF file with free read and write, SUN off. cardio.Personalize
// turns one into a SUN tag; from then on every unauthenticated read of the
// NDEF file from offset 0 increments the 24-bit SDMReadCtr and mirrors fresh
// encrypted PICCData and SDMMAC into the URL.
//
// Supported: PC/SC GET DATA UID; ISO SELECT (NDEF application D2760000850101,
// files E103/E104/E105), READ BINARY, UPDATE BINARY; native GetVersion,
// AuthenticateEV2First, ChangeKey, ChangeFileSettings, GetFileSettings and
// GetCardUID under EV2 secure messaging.
type NTAG424 struct {
	uid  [7]byte
	rand io.Reader

	keys     [5]cardio.Key
	keyVer   [5]byte
	files    [4][]byte // index = native file number 1..3 (CC, NDEF, proprietary)
	settings [4]fileSettings
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

type fileSettings struct {
	comm                   byte // CommMode bits of FileOption
	read, write, rw, chg   byte // access conditions: key number, E free, F never
	sdm                    bool
	sdmOptions             byte
	ctrRet, meta, fileRead byte
	uidOff, ctrOff         int
	piccOff, macInOff      int
	encOff, encLen, macOff int
}

var ntagFIDs = map[uint16]byte{0xE103: 1, 0xE104: 2, 0xE105: 3}

// NewNTAG424 returns a blank card with this UID. The card draws its
// challenges and PICCData padding from crypto/rand unless SetRand is used.
func NewNTAG424(uid [7]byte) *NTAG424 {
	c := &NTAG424{uid: uid, rand: rand.Reader}
	c.field.handle, c.field.reset = c.handle, c.resetLocked
	// CC file per NTAG 424 DNA factory state: NDEF file E104, 256 bytes,
	// free read and write.
	c.files[1] = append([]byte{0x00, 0x17, 0x20, 0x01, 0x00, 0x00, 0xFF, 0x04, 0x06, 0xE1, 0x04, 0x01, 0x00, 0x00, 0x00,
		0x05, 0x06, 0xE1, 0x05, 0x00, 0x80, 0x82, 0x83}, make([]byte, 32-23)...)
	c.files[2] = make([]byte, cardio.NDEFFileSize)
	c.files[3] = make([]byte, 128)
	c.settings[1] = fileSettings{read: 0xE, write: 0x0, rw: 0x0, chg: 0x0}
	c.settings[2] = fileSettings{read: 0xE, write: 0xE, rw: 0xE, chg: 0x0}
	c.settings[3] = fileSettings{comm: 3, read: 0x2, write: 0x3, rw: 0x3, chg: 0x0}
	return c
}

// NewPersonalizedNTAG424 returns a card personalized by cardio.Personalize
// with keys and urlTemplate ("" = cardio.DefaultURLTemplate). Its counter is
// 1 after personalization's read-back.
func NewPersonalizedNTAG424(ctx context.Context, uid [7]byte, keys cardio.KeySource, urlTemplate string) (*NTAG424, error) {
	c := NewNTAG424(uid)
	if _, err := cardio.Personalize(ctx, c, keys, urlTemplate, nil); err != nil {
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
		c.frames = nil
		if c.auth != nil {
			c.auth = nil
		}
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

func (c *NTAG424) readBinary(a cardio.APDU) []byte {
	if a.P1&0x80 != 0 {
		return resp(nil, swISOP1P2) // short file identifiers not supported
	}
	if c.selected == 0 {
		return resp(nil, swISOConditions)
	}
	fs := &c.settings[c.selected]
	if fs.read != 0xE || fs.comm != 0 {
		return resp(nil, swISOSecurity)
	}
	if a.Le == 0 {
		return resp(nil, swISOLength)
	}
	off := int(a.P1)<<8 | int(a.P2)
	file := c.files[c.selected]
	if off > len(file) {
		return resp(nil, swISOWrongP1P2)
	}
	if c.selected == 2 && fs.sdm {
		if c.mirror == nil || off == 0 {
			img, err := c.sunImage(fs)
			if err != nil {
				return resp(nil, swISOConditions)
			}
			c.mirror = img
		}
		file = c.mirror
	}
	n := min(a.Le, len(file)-off)
	return resp(file[off:off+n], swOK)
}

// sunImage increments SDMReadCtr and mirrors PICCData and SDMMAC.
func (c *NTAG424) sunImage(fs *fileSettings) ([]byte, error) {
	if c.sdmCtr >= 0xFFFFFF {
		return nil, fmt.Errorf("SDMReadCtr exhausted")
	}
	c.sdmCtr++
	img := bytes.Clone(c.files[2])
	if fs.meta <= 4 {
		var pad [5]byte
		if _, err := io.ReadFull(c.rand, pad[:]); err != nil {
			return nil, err
		}
		enc, err := cardio.EncryptPICCData(c.keys[fs.meta], c.uid[:], c.sdmCtr, pad[:])
		if err != nil {
			return nil, err
		}
		if fs.piccOff+32 > len(img) {
			return nil, fmt.Errorf("PICCData offset out of the file")
		}
		copy(img[fs.piccOff:], hexUpper(enc))
	}
	if fs.fileRead <= 4 {
		if fs.macOff+16 > len(img) || fs.macInOff > fs.macOff {
			return nil, fmt.Errorf("SDMMAC offset out of the file")
		}
		m := cardio.SDMMAC(c.keys[fs.fileRead], c.uid[:], c.sdmCtr, img[fs.macInOff:fs.macOff])
		copy(img[fs.macOff:], hexUpper(m[:]))
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
	fs := &c.settings[c.selected]
	if fs.write != 0xE || fs.comm != 0 {
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
		if data[0] > 4 {
			return resp(nil, swNoSuchKey)
		}
		p, ct, err := authPart1(c.rand, data[0], c.keys[data[0]])
		if err != nil {
			return resp(nil, swIllegal)
		}
		c.auth = p
		return resp(ct, swMore)
	case 0xC4:
		return c.changeKey(data)
	case 0x5F:
		return c.changeFileSettings(data)
	case 0xF5:
		return c.getFileSettings(data)
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

func (c *NTAG424) authFinish(data []byte) []byte {
	p := c.auth
	c.auth = nil
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

func (c *NTAG424) fail(sw []byte) []byte {
	c.session = nil
	return resp(nil, sw)
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
	if chg := c.settings[no].chg; chg != 0xE && chg != c.session.keyNo {
		return c.fail(swPermission)
	}
	fs, ok := parseFileSettings(data, len(c.files[no]))
	if !ok || (fs.sdm && no != 2) {
		return c.fail(swParameter)
	}
	c.settings[no] = fs
	return c.session.wrap(nil, cardio.CommMAC)
}

// parseFileSettings decodes ChangeFileSettings data (NT4H2421Gx §10.7.1):
// FileOption, AccessRights, and with SDM: SDMOptions, SDMAccessRights and
// the offsets their values call for. It never panics.
func parseFileSettings(d []byte, size int) (fileSettings, bool) {
	var fs fileSettings
	if len(d) < 3 || d[0]&^0x43 != 0 { // only SDM and CommMode bits exist
		return fs, false
	}
	fs.comm = d[0] & 0x03
	fs.sdm = d[0]&0x40 != 0
	fs.rw, fs.chg = d[1]>>4, d[1]&0x0F
	fs.read, fs.write = d[2]>>4, d[2]&0x0F
	if !fs.sdm {
		return fs, len(d) == 3
	}
	p := 3
	if len(d) < p+3 {
		return fs, false
	}
	fs.sdmOptions = d[p]
	fs.ctrRet = d[p+1] & 0x0F
	fs.meta, fs.fileRead = d[p+2]>>4, d[p+2]&0x0F
	p += 3
	off := func() (int, bool) {
		if len(d) < p+3 {
			return 0, false
		}
		v := int(d[p]) | int(d[p+1])<<8 | int(d[p+2])<<16
		p += 3
		return v, v <= size
	}
	var ok bool
	uidMirror, ctrMirror := fs.sdmOptions&0x80 != 0, fs.sdmOptions&0x40 != 0
	if fs.sdmOptions&0x01 == 0 {
		return fs, false // only ASCII encoding exists
	}
	if fs.meta == 0xE && uidMirror {
		if fs.uidOff, ok = off(); !ok {
			return fs, false
		}
	}
	if fs.meta == 0xE && ctrMirror {
		if fs.ctrOff, ok = off(); !ok {
			return fs, false
		}
	}
	if fs.meta <= 4 {
		if fs.piccOff, ok = off(); !ok || fs.piccOff+32 > size {
			return fs, false
		}
	}
	if fs.fileRead != 0xF {
		if fs.macInOff, ok = off(); !ok {
			return fs, false
		}
		if fs.sdmOptions&0x10 != 0 {
			if fs.encOff, ok = off(); !ok {
				return fs, false
			}
			if fs.encLen, ok = off(); !ok {
				return fs, false
			}
		}
		if fs.macOff, ok = off(); !ok || fs.macOff+16 > size || fs.macInOff > fs.macOff {
			return fs, false
		}
	}
	if fs.sdmOptions&0x20 != 0 { // SDMReadCtrLimit
		if _, ok = off(); !ok {
			return fs, false
		}
	}
	if fs.meta != 0xE && fs.meta > 4 && fs.meta != 0xF {
		return fs, false
	}
	return fs, p == len(d)
}

func (fs fileSettings) encode(size int) []byte {
	le3 := func(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }
	opt := fs.comm
	if fs.sdm {
		opt |= 0x40
	}
	d := []byte{0x00, opt, fs.rw<<4 | fs.chg, fs.read<<4 | fs.write}
	d = append(d, le3(size)...)
	if !fs.sdm {
		return d
	}
	d = append(d, fs.sdmOptions, 0xF0|fs.ctrRet, fs.meta<<4|fs.fileRead)
	if fs.meta == 0xE && fs.sdmOptions&0x80 != 0 {
		d = append(d, le3(fs.uidOff)...)
	}
	if fs.meta == 0xE && fs.sdmOptions&0x40 != 0 {
		d = append(d, le3(fs.ctrOff)...)
	}
	if fs.meta <= 4 {
		d = append(d, le3(fs.piccOff)...)
	}
	if fs.fileRead != 0xF {
		d = append(d, le3(fs.macInOff)...)
		if fs.sdmOptions&0x10 != 0 {
			d = append(d, le3(fs.encOff)...)
			d = append(d, le3(fs.encLen)...)
		}
		d = append(d, le3(fs.macOff)...)
	}
	return d
}

// getFileSettings answers plain without a session and MACed within one.
func (c *NTAG424) getFileSettings(payload []byte) []byte {
	mode := cardio.CommPlain
	if c.session != nil {
		mode = cardio.CommMAC
	}
	var hdr []byte
	if mode == cardio.CommPlain {
		if len(payload) != 1 {
			return resp(nil, swLength)
		}
		hdr = payload
	} else {
		var e []byte
		if hdr, _, e = c.secured(0xF5, payload, 1, mode); e != nil {
			return e
		}
	}
	no := hdr[0]
	if no < 1 || no > 3 {
		return c.fail(swFileNotFound)
	}
	d := c.settings[no].encode(len(c.files[no]))
	if mode == cardio.CommPlain {
		return resp(d, swNativeOK)
	}
	return c.session.wrap(d, mode)
}

func (c *NTAG424) getCardUID(payload []byte) []byte {
	_, _, e := c.secured(0x51, payload, 0, cardio.CommFull)
	if e != nil {
		return e
	}
	return c.session.wrap(c.uid[:], cardio.CommFull)
}
