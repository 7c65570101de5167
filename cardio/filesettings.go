package cardio

import (
	"fmt"
)

// NTAG 424 DNA file settings (NT4H2421Gx §10.7): the one encoding of a
// file's communication mode, access rights and Secure Dynamic Messaging
// options. Personalize writes them, GetFileSettings reads them back, and the
// virtual card in cardio/virtual stores and enforces them, all through the
// types and functions here.

// Access is an access condition of an NTAG 424 DNA file (one nibble): a key
// number 0–4, AccessFree or AccessNever.
type Access uint8

// Access conditions other than a key number.
const (
	AccessFree  Access = 0xE // granted without authentication
	AccessNever Access = 0xF // never granted
)

// IsKey reports whether a is a key number (0–4).
func (a Access) IsKey() bool { return a <= 4 }

// String names the condition: "key 2", "free" or "never".
func (a Access) String() string {
	switch {
	case a.IsKey():
		return fmt.Sprintf("key %d", uint8(a))
	case a == AccessFree:
		return "free"
	case a == AccessNever:
		return "never"
	}
	return fmt.Sprintf("RFU %X", uint8(a))
}

// SDM holds the Secure Dynamic Messaging settings of a file (the NDEF file
// is the only one that supports them). Offsets count bytes from the start
// of the file; the ones a setting does not call for are zero.
type SDM struct {
	UIDMirror     bool // SDMOptions bit 7: mirror the UID
	ReadCtrMirror bool // bit 6: mirror SDMReadCtr
	ReadCtrLimit  bool // bit 5: SDMReadCtrLimit is set
	EncFileData   bool // bit 4: encrypt part of the file data
	// The ASCII encoding bit (bit 0) is always set: it is the only encoding
	// the chip supports.

	CtrRet   Access // key for GetFileCounters
	MetaRead Access // key encrypting PICCData; AccessFree: UID and counter in plain
	FileRead Access // key whose session key MACs the file; AccessNever: no SDMMAC

	UIDOffset, ReadCtrOffset  int // plain mirrors (MetaRead free)
	PICCDataOffset            int // encrypted PICCData (MetaRead a key)
	MACInputOffset, MACOffset int // SDMMAC (FileRead not never)
	ENCOffset, ENCLength      int // EncFileData
	ReadCtrLimitValue         int // ReadCtrLimit
}

// FileSettings are a file's settings: communication mode, the four access
// conditions and SDM. Comm holds the two CommMode bits of FileOption as
// stored (10b, like 00b, means plain).
type FileSettings struct {
	Comm                           CommMode
	Read, Write, ReadWrite, Change Access
	SDM                            *SDM // nil: SDM and mirroring disabled
}

// FileOp is a data access: reading or writing a file.
type FileOp uint8

// File operations.
const (
	OpRead FileOp = iota
	OpWrite
)

// Access reports whether op is granted on a file with settings fs to a
// reader that is authenticated with key keyNo (authenticated false: no
// authentication), and the communication mode the data then travels in. A
// free condition (Read or ReadWrite for reading, Write or ReadWrite for
// writing) grants the access in CommMode.Plain; otherwise the reader must be
// authenticated with a key the conditions name, and the file's CommMode
// applies.
func (fs FileSettings) Access(op FileOp, authenticated bool, keyNo byte) (CommMode, bool) {
	cond := fs.Read
	if op == OpWrite {
		cond = fs.Write
	}
	if cond == AccessFree || fs.ReadWrite == AccessFree {
		return CommPlain, true
	}
	if authenticated && (Access(keyNo) == cond && cond.IsKey() || Access(keyNo) == fs.ReadWrite && fs.ReadWrite.IsKey()) {
		return fs.commMode(), true
	}
	return CommPlain, false
}

// commMode is the file's CommMode with 10b read as plain.
func (fs FileSettings) commMode() CommMode {
	if fs.Comm == CommMAC || fs.Comm == CommFull {
		return fs.Comm
	}
	return CommPlain
}

func le3(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }

// fileOption is the FileOption byte.
func (fs FileSettings) fileOption() byte {
	opt := byte(fs.Comm) & 0x03
	if fs.SDM != nil {
		opt |= 0x40
	}
	return opt
}

// accessRights encodes the two AccessRights bytes: RW‖Change, Read‖Write.
func (fs FileSettings) accessRights() []byte {
	return []byte{byte(fs.ReadWrite&0xF)<<4 | byte(fs.Change&0xF), byte(fs.Read&0xF)<<4 | byte(fs.Write&0xF)}
}

// appendSDM encodes the SDM part shared by ChangeFileSettings and
// GetFileSettings: SDMOptions, SDMAccessRights and the offsets the settings
// call for, in the datasheet's order.
func (s *SDM) appendSDM(d []byte) []byte {
	opt := byte(0x01) // ASCII
	if s.UIDMirror {
		opt |= 0x80
	}
	if s.ReadCtrMirror {
		opt |= 0x40
	}
	if s.ReadCtrLimit {
		opt |= 0x20
	}
	if s.EncFileData {
		opt |= 0x10
	}
	d = append(d, opt, 0xF0|byte(s.CtrRet&0xF), byte(s.MetaRead&0xF)<<4|byte(s.FileRead&0xF))
	if s.MetaRead == AccessFree && s.UIDMirror {
		d = append(d, le3(s.UIDOffset)...)
	}
	if s.MetaRead == AccessFree && s.ReadCtrMirror {
		d = append(d, le3(s.ReadCtrOffset)...)
	}
	if s.MetaRead.IsKey() {
		d = append(d, le3(s.PICCDataOffset)...)
	}
	if s.FileRead != AccessNever {
		d = append(d, le3(s.MACInputOffset)...)
		if s.EncFileData {
			d = append(d, le3(s.ENCOffset)...)
			d = append(d, le3(s.ENCLength)...)
		}
		d = append(d, le3(s.MACOffset)...)
	}
	if s.ReadCtrLimit {
		d = append(d, le3(s.ReadCtrLimitValue)...)
	}
	return d
}

// ChangeData encodes fs as the data of ChangeFileSettings (native 5F, sent
// in CommMode.Full after the file number): FileOption, AccessRights and the
// SDM part.
func (fs FileSettings) ChangeData() []byte {
	d := append([]byte{fs.fileOption()}, fs.accessRights()...)
	if fs.SDM != nil {
		d = fs.SDM.appendSDM(d)
	}
	return d
}

// Answer encodes fs as the card's answer to GetFileSettings for a standard
// data file of size bytes: FileType 00, FileOption, AccessRights, FileSize
// and the SDM part.
func (fs FileSettings) Answer(size int) []byte {
	d := []byte{0x00, fs.fileOption()}
	d = append(d, fs.accessRights()...)
	d = append(d, le3(size)...)
	if fs.SDM != nil {
		d = fs.SDM.appendSDM(d)
	}
	return d
}

// ParseChangeFileSettings decodes ChangeFileSettings data for a file of
// size bytes and checks it the way the chip does (unknown FileOption or
// SDMOptions bits, offsets outside the file, a MAC input after the MAC):
// errors match ErrMalformed. It never panics.
func ParseChangeFileSettings(d []byte, size int) (FileSettings, error) {
	if len(d) < 3 {
		return FileSettings{}, fmt.Errorf("%w: file settings of %d bytes", ErrMalformed, len(d))
	}
	return parseSettings(d[0], d[1:3], d[3:], size)
}

// ParseFileSettings decodes a GetFileSettings answer: the settings and the
// file size. It never panics.
func ParseFileSettings(b []byte) (FileSettings, int, error) {
	if len(b) < 7 {
		return FileSettings{}, 0, fmt.Errorf("%w: GetFileSettings answer of %d bytes", ErrMalformed, len(b))
	}
	if b[0] != 0x00 {
		return FileSettings{}, 0, fmt.Errorf("%w: file type %02X is not a standard data file", ErrMalformed, b[0])
	}
	size := int(b[4]) | int(b[5])<<8 | int(b[6])<<16
	fs, err := parseSettings(b[1], b[2:4], b[7:], size)
	return fs, size, err
}

func parseSettings(option byte, ar, rest []byte, size int) (FileSettings, error) {
	var fs FileSettings
	if option&^0x43 != 0 {
		return fs, fmt.Errorf("%w: FileOption %02X has RFU bits set", ErrMalformed, option)
	}
	fs.Comm = CommMode(option & 0x03)
	fs.ReadWrite, fs.Change = Access(ar[0]>>4), Access(ar[0]&0x0F)
	fs.Read, fs.Write = Access(ar[1]>>4), Access(ar[1]&0x0F)
	for _, a := range []Access{fs.ReadWrite, fs.Change, fs.Read, fs.Write} {
		if !a.IsKey() && a != AccessFree && a != AccessNever {
			return fs, fmt.Errorf("%w: access condition %X", ErrMalformed, uint8(a))
		}
	}
	if option&0x40 == 0 {
		if len(rest) != 0 {
			return fs, fmt.Errorf("%w: %d bytes after settings without SDM", ErrMalformed, len(rest))
		}
		return fs, nil
	}
	s, err := parseSDM(rest, size)
	if err != nil {
		return fs, err
	}
	fs.SDM = s
	return fs, nil
}

func parseSDM(d []byte, size int) (*SDM, error) {
	if len(d) < 3 {
		return nil, fmt.Errorf("%w: SDM settings of %d bytes", ErrMalformed, len(d))
	}
	opt := d[0]
	if opt&0x01 == 0 {
		return nil, fmt.Errorf("%w: SDM encoding must be ASCII", ErrMalformed)
	}
	if opt&0x0E != 0 {
		return nil, fmt.Errorf("%w: SDMOptions %02X has RFU bits set", ErrMalformed, opt)
	}
	s := &SDM{
		UIDMirror: opt&0x80 != 0, ReadCtrMirror: opt&0x40 != 0, ReadCtrLimit: opt&0x20 != 0, EncFileData: opt&0x10 != 0,
		CtrRet: Access(d[1] & 0x0F), MetaRead: Access(d[2] >> 4), FileRead: Access(d[2] & 0x0F),
	}
	for _, a := range []Access{s.CtrRet, s.MetaRead, s.FileRead} {
		if !a.IsKey() && a != AccessFree && a != AccessNever {
			return nil, fmt.Errorf("%w: SDM access condition %X", ErrMalformed, uint8(a))
		}
	}
	p := 3
	var err error
	off := func(name string, width int) int {
		if err != nil {
			return 0
		}
		if len(d) < p+3 {
			err = fmt.Errorf("%w: SDM settings end before %s", ErrMalformed, name)
			return 0
		}
		v := int(d[p]) | int(d[p+1])<<8 | int(d[p+2])<<16
		p += 3
		if v+width > size {
			err = fmt.Errorf("%w: %s %d (+%d) lies outside the %d-byte file", ErrMalformed, name, v, width, size)
		}
		return v
	}
	if s.MetaRead == AccessFree && s.UIDMirror {
		s.UIDOffset = off("UIDOffset", 14)
	}
	if s.MetaRead == AccessFree && s.ReadCtrMirror {
		s.ReadCtrOffset = off("SDMReadCtrOffset", 6)
	}
	if s.MetaRead.IsKey() {
		s.PICCDataOffset = off("PICCDataOffset", 32)
	}
	if s.FileRead != AccessNever {
		s.MACInputOffset = off("SDMMACInputOffset", 0)
		if s.EncFileData {
			s.ENCOffset = off("SDMENCOffset", 0)
			s.ENCLength = off("SDMENCLength", 0)
		}
		s.MACOffset = off("SDMMACOffset", 16)
		if err == nil && s.MACInputOffset > s.MACOffset {
			err = fmt.Errorf("%w: SDMMACInputOffset %d after SDMMACOffset %d", ErrMalformed, s.MACInputOffset, s.MACOffset)
		}
	}
	if s.ReadCtrLimit {
		if len(d) < p+3 {
			err = fmt.Errorf("%w: SDM settings end before SDMReadCtrLimit", ErrMalformed)
		} else {
			s.ReadCtrLimitValue = int(d[p]) | int(d[p+1])<<8 | int(d[p+2])<<16
			p += 3
		}
	}
	if err != nil {
		return nil, err
	}
	if p != len(d) {
		return nil, fmt.Errorf("%w: %d bytes after the SDM settings", ErrMalformed, len(d)-p)
	}
	return s, nil
}

// String renders the settings for error messages, e.g. "plain, read free,
// write never, read-write never, change key 0, SDM".
func (fs FileSettings) String() string {
	comm := [...]string{"plain", "MAC", "plain", "full"}[fs.Comm&3]
	s := fmt.Sprintf("%s, read %v, write %v, read-write %v, change %v", comm, fs.Read, fs.Write, fs.ReadWrite, fs.Change)
	if fs.SDM != nil {
		s += fmt.Sprintf(", SDM (meta-read %v, file-read %v, counter %v)", fs.SDM.MetaRead, fs.SDM.FileRead, fs.SDM.CtrRet)
	}
	return s
}
