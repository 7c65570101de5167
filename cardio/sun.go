package cardio

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// NTAG 424 DNA Secure Unique NFC (SUN), AES mode (NXP AN12196 §3).

// SUNMessage is what a SUN URL carries.
type SUNMessage struct {
	// PICCData is the encrypted PICCData (16 bytes): PICCDataTag ‖ UID ‖
	// SDMReadCtr ‖ padding under the SDM meta-read key.
	PICCData []byte
	// MAC is the 8-byte SDMMAC.
	MAC []byte
	// MACInput is the mirrored text the MAC covers; empty for plain SUN
	// (SDMMACInputOffset == SDMMACOffset), the layout Personalize writes.
	MACInput []byte
}

// SUNParams names the URL query parameters of a SUN message. The zero value
// accepts the common spellings: picc_data or e, and cmac or c.
type SUNParams struct {
	PICC []string // default {"picc_data", "e"}
	MAC  []string // default {"cmac", "c"}
}

var (
	defaultPICCParams = []string{"picc_data", "e"}
	defaultMACParams  = []string{"cmac", "c"}
)

// MaxSUNLength bounds the URL or query ParseSUN accepts.
const MaxSUNLength = 2048

// ErrLRP reports a SUN message from a tag in LRP mode, which cardio does not
// verify.
var ErrLRP = errors.New("cardio: SUN message is in LRP mode (unsupported)")

// ParseSUN parses a SUN URL, "?query" or bare query with the default parameter
// names. It never panics.
func ParseSUN(urlOrQuery string) (SUNMessage, error) { return SUNParams{}.Parse(urlOrQuery) }

// Parse parses a SUN URL, "?query" or bare query.
func (p SUNParams) Parse(s string) (SUNMessage, error) {
	var msg SUNMessage
	if len(s) > MaxSUNLength {
		return msg, fmt.Errorf("%w: SUN message longer than %d bytes", ErrMalformed, MaxSUNLength)
	}
	q := strings.TrimSpace(s)
	if i := strings.IndexByte(q, '?'); i >= 0 {
		q = q[i+1:]
	}
	if i := strings.IndexByte(q, '#'); i >= 0 {
		q = q[:i]
	}
	vals, err := url.ParseQuery(q)
	if err != nil {
		return msg, fmt.Errorf("%w: SUN query: %v", ErrMalformed, err)
	}
	piccNames, macNames := p.PICC, p.MAC
	if len(piccNames) == 0 {
		piccNames = defaultPICCParams
	}
	if len(macNames) == 0 {
		macNames = defaultMACParams
	}
	get := func(names []string) (string, string, bool) {
		for _, n := range names {
			if v, ok := vals[n]; ok && len(v) > 0 {
				return n, v[0], true
			}
		}
		return "", "", false
	}
	pn, pv, ok := get(piccNames)
	if !ok {
		return msg, fmt.Errorf("%w: SUN message lacks %s", ErrMalformed, strings.Join(piccNames, "/"))
	}
	mn, mv, ok := get(macNames)
	if !ok {
		return msg, fmt.Errorf("%w: SUN message lacks %s", ErrMalformed, strings.Join(macNames, "/"))
	}
	picc, err := hex.DecodeString(pv)
	if err != nil {
		return msg, fmt.Errorf("%w: %s is not hex", ErrMalformed, pn)
	}
	switch len(picc) {
	case 16:
	case 24:
		return msg, ErrLRP
	default:
		return msg, fmt.Errorf("%w: %s has %d bytes, want 16", ErrMalformed, pn, len(picc))
	}
	mac, err := hex.DecodeString(mv)
	if err != nil || len(mac) != 8 {
		return msg, fmt.Errorf("%w: %s must be 16 hex digits", ErrMalformed, mn)
	}
	msg.PICCData, msg.MAC = picc, mac
	return msg, nil
}

// PICCData is decrypted SUN PICCData.
type PICCData struct {
	UID        []byte
	Counter    uint32
	HasCounter bool
}

// DecryptPICCData decrypts encrypted PICCData with the SDM meta-read key and
// checks its tag byte (UID mirrored, 7-byte UID). A wrong key almost surely
// fails the tag check; the MAC check catches the rest.
func DecryptPICCData(metaKey Key, enc []byte) (PICCData, error) {
	var p PICCData
	if len(enc) != 16 {
		return p, fmt.Errorf("%w: PICCData of %d bytes", ErrMalformed, len(enc))
	}
	pt, _ := cbcDecrypt(metaKey, [16]byte{}, enc)
	tag := pt[0]
	if tag&0x80 == 0 || tag&0x0F != 7 || tag&0x30 != 0 {
		return p, errors.New("PICCData does not decrypt (wrong meta-read key or not our tag)")
	}
	p.UID = append([]byte(nil), pt[1:8]...)
	if tag&0x40 != 0 {
		p.HasCounter = true
		p.Counter = uint32(pt[8]) | uint32(pt[9])<<8 | uint32(pt[10])<<16
	}
	return p, nil
}

// SDMSessionKeys derives KSesSDMFileReadENC and KSesSDMFileReadMAC from the
// file-read key, the UID and the 24-bit counter (SV = C3 3C / 3C C3 00 01 00 80
// ‖ UID ‖ SDMReadCtr(LE, 3 bytes)).
func SDMSessionKeys(fileReadKey Key, uid []byte, ctr uint32) (enc, mac Key) {
	sv := func(p0, p1 byte) []byte {
		b := make([]byte, 0, 32)
		b = append(b, p0, p1, 0x00, 0x01, 0x00, 0x80)
		b = append(b, uid...)
		b = append(b, byte(ctr), byte(ctr>>8), byte(ctr>>16))
		return b
	}
	return Key(cmacKey(fileReadKey, sv(0xC3, 0x3C))), Key(cmacKey(fileReadKey, sv(0x3C, 0xC3)))
}

// SDMMAC computes the 8-byte SUN MAC over input (empty for plain SUN).
func SDMMAC(fileReadKey Key, uid []byte, ctr uint32, input []byte) [8]byte {
	_, mac := SDMSessionKeys(fileReadKey, uid, ctr)
	return Truncate(cmacKey(mac, input))
}

// EncryptPICCData is the tag side of DecryptPICCData: UID and counter
// mirrored, 7-byte UID, then the 5 padding bytes pad (random on a real tag;
// missing bytes are zero).
func EncryptPICCData(metaKey Key, uid []byte, ctr uint32, pad []byte) ([]byte, error) {
	if len(uid) != 7 {
		return nil, fmt.Errorf("cardio: PICCData needs a 7-byte UID, got %d", len(uid))
	}
	var pt [16]byte
	pt[0] = 0xC7
	copy(pt[1:8], uid)
	pt[8], pt[9], pt[10] = byte(ctr), byte(ctr>>8), byte(ctr>>16)
	copy(pt[11:], pad)
	return cbcEncrypt(metaKey, [16]byte{}, pt[:])
}

// VerifySUN decrypts a SUN message with keys.SUNMetaReadKey and checks its
// MAC with the card's SUNFileReadKey. It returns the UID and counter. A
// message that does not verify yields a *ProofError (errors.Is
// ErrProofFailed) that carries the UID when the PICCData decrypted — under a
// wrong meta-read key that UID can be garbage (the tag check passes 1 time in
// 128), so it only labels the INVALID journal entry. The caller must still
// check that the counter rose since the last accepted tap.
func VerifySUN(msg SUNMessage, keys KeySource) (uid []byte, ctr uint32, err error) {
	if len(msg.PICCData) != 16 || len(msg.MAC) != 8 {
		return nil, 0, fmt.Errorf("%w: incomplete SUN message", ErrMalformed)
	}
	meta, err := keys.SUNMetaReadKey()
	if err != nil {
		return nil, 0, err
	}
	p, err := DecryptPICCData(meta, msg.PICCData)
	if err != nil {
		return nil, 0, proofErr("", MediumNTAG424DNA, err)
	}
	uidHex := hexUID(p.UID)
	if !p.HasCounter {
		return p.UID, 0, proofErr(uidHex, MediumNTAG424DNA, errors.New("PICCData does not mirror the read counter"))
	}
	fk, err := keys.SUNFileReadKey(p.UID)
	if err != nil {
		return nil, 0, err
	}
	want := SDMMAC(fk, p.UID, p.Counter, msg.MACInput)
	if !Equal(want[:], msg.MAC) {
		return p.UID, p.Counter, proofErr(uidHex, MediumNTAG424DNA, errors.New("SDMMAC does not verify"))
	}
	return p.UID, p.Counter, nil
}
