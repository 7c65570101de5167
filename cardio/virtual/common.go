package virtual

import (
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/citypass/citypass/cardio"
)

// ATR14443_4 is the ATR a PC/SC reader builds for an ISO 14443-4 type A card
// whose ATS has the single historical byte 80 (DESFire and NTAG 424 DNA look
// alike here; GetVersion tells them apart).
var ATR14443_4 = []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}

// Status words the virtual cards answer with.
var (
	swOK            = []byte{0x90, 0x00}
	swNativeOK      = []byte{0x91, 0x00}
	swMore          = []byte{0x91, 0xAF}
	swAuthError     = []byte{0x91, 0xAE}
	swPermission    = []byte{0x91, 0x9D}
	swLength        = []byte{0x91, 0x7E}
	swParameter     = []byte{0x91, 0x9E}
	swNoSuchKey     = []byte{0x91, 0x40}
	swIntegrity     = []byte{0x91, 0x1E}
	swIllegal       = []byte{0x91, 0x1C}
	swFileNotFound  = []byte{0x91, 0xF0}
	swAppNotFound   = []byte{0x91, 0xA0}
	swBoundary      = []byte{0x91, 0xBE}
	swISOLength     = []byte{0x67, 0x00}
	swISONotFound   = []byte{0x6A, 0x82}
	swISOP1P2       = []byte{0x6A, 0x86}
	swISOSecurity   = []byte{0x69, 0x82}
	swISOINS        = []byte{0x6D, 0x00}
	swISOCLA        = []byte{0x6E, 0x00}
	swISOFunction   = []byte{0x6A, 0x81}
	swISOWrongP1P2  = []byte{0x6B, 0x00}
	swISOConditions = []byte{0x69, 0x85}
)

func resp(data []byte, sw []byte) []byte {
	out := make([]byte, 0, len(data)+2)
	out = append(out, data...)
	return append(out, sw...)
}

// errRemoved is what Transmit returns once the card left the field.
var errRemoved = fmt.Errorf("virtual card: %w", cardio.ErrCardRemoved)

// field is a virtual card's presence in the reader's RF field and the lock
// that every method of the card takes. The card plugs in its APDU handler and
// the reset of its volatile state (selection, sessions); both run with mu held.
type field struct {
	mu sync.Mutex
	removal
	handle func(apdu []byte) []byte
	reset  func()
}

// Remove takes the card out of the field: Transmit fails with
// cardio.ErrCardRemoved until Insert.
func (f *field) Remove() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed, f.removeAfter = true, 0
	f.reset()
}

// Insert puts the card back into the field (powered up, nothing selected).
func (f *field) Insert() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removed, f.removeAfter = false, 0
	f.reset()
}

// RemoveAfter lets the card answer n more APDUs and then leave the field
// (n <= 0 removes it now): a removal in the middle of a transaction.
func (f *field) RemoveAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n <= 0 {
		f.removed = true
		f.reset()
		return
	}
	f.removeAfter = n
}

// Removed reports whether the card is out of the field.
func (f *field) Removed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removed
}

// Reset implements Card: it drops the selection and any session.
func (f *field) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reset()
}

// PowerOn implements Card: a fresh power-up is a reset.
func (f *field) PowerOn() { f.Reset() }

// PowerOff implements Card.
func (f *field) PowerOff() { f.Reset() }

// Transmit implements Card and cardio.Transmitter.
func (f *field) Transmit(apdu []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.step() {
		f.reset()
		return nil, errRemoved
	}
	return f.handle(apdu), nil
}

// removal is the field-presence state shared by the virtual cards.
type removal struct {
	removed     bool
	removeAfter int // >0: APDUs still answered before the card leaves; 0: off
}

// step accounts for one Transmit; it reports false when the card is gone.
func (r *removal) step() bool {
	if r.removed {
		return false
	}
	if r.removeAfter > 0 {
		r.removeAfter--
		if r.removeAfter == 0 {
			r.removed = true
		}
	}
	return true
}

func hexUpper(b []byte) string { return strings.ToUpper(hex.EncodeToString(b)) }

// cardSession is the card side of an EV2 secure-messaging session.
type cardSession struct {
	keyNo    byte
	ti       [4]byte
	ctr      uint16
	enc, mac cardio.Key
}

type pendingAuth struct {
	keyNo    byte
	key      cardio.Key
	rndB     [16]byte
	nonFirst bool // AuthenticateEV2NonFirst: keep TI and CmdCtr, answer E(K, RndA')
}

// authPart1 answers AuthenticateEV2First's first pass: E(K, RndB).
func authPart1(rand io.Reader, keyNo byte, key cardio.Key) (*pendingAuth, []byte, error) {
	p := &pendingAuth{keyNo: keyNo, key: key}
	if _, err := io.ReadFull(rand, p.rndB[:]); err != nil {
		return nil, nil, err
	}
	ct, err := cardio.CBCEncrypt(key, [16]byte{}, p.rndB[:])
	if err != nil {
		return nil, nil, err
	}
	return p, ct, nil
}

// authPart2 checks E(K, RndA ‖ RndB') and answers E(K, TI ‖ RndA' ‖ PDcap2 ‖
// PCDcap2). A nil session means the reader does not know the key.
func authPart2(rand io.Reader, p *pendingAuth, data []byte) (*cardSession, []byte, error) {
	if len(data) != 32 {
		return nil, nil, nil
	}
	pt, err := cardio.CBCDecrypt(p.key, [16]byte{}, data)
	if err != nil {
		return nil, nil, nil
	}
	var rndA [16]byte
	copy(rndA[:], pt[:16])
	rb := cardio.RotateLeft(p.rndB)
	if !cardio.Equal(pt[16:], rb[:]) {
		return nil, nil, nil
	}
	s := &cardSession{keyNo: p.keyNo}
	if _, err := io.ReadFull(rand, s.ti[:]); err != nil {
		return nil, nil, err
	}
	s.enc, s.mac = cardio.EV2SessionKeys(p.key, rndA, p.rndB)
	ra := cardio.RotateLeft(rndA)
	msg := make([]byte, 0, 32)
	msg = append(msg, s.ti[:]...)
	msg = append(msg, ra[:]...)
	msg = append(msg, make([]byte, 12)...) // PDcap2, PCDcap2
	ct, err := cardio.CBCEncrypt(p.key, [16]byte{}, msg)
	if err != nil {
		return nil, nil, err
	}
	return s, ct, nil
}

// authPart2NonFirst checks E(K, RndA ‖ RndB') of AuthenticateEV2NonFirst
// and answers E(K, RndA'): the session keeps its TI and command counter and
// takes keys derived from the new challenges. A nil session means the
// reader does not know the key.
func authPart2NonFirst(p *pendingAuth, old *cardSession, data []byte) (*cardSession, []byte) {
	if len(data) != 32 || old == nil {
		return nil, nil
	}
	pt, err := cardio.CBCDecrypt(p.key, [16]byte{}, data)
	if err != nil {
		return nil, nil
	}
	var rndA [16]byte
	copy(rndA[:], pt[:16])
	rb := cardio.RotateLeft(p.rndB)
	if !cardio.Equal(pt[16:], rb[:]) {
		return nil, nil
	}
	s := &cardSession{keyNo: p.keyNo, ti: old.ti, ctr: old.ctr}
	s.enc, s.mac = cardio.EV2SessionKeys(p.key, rndA, p.rndB)
	ra := cardio.RotateLeft(rndA)
	ct, _ := cardio.CBCEncrypt(p.key, [16]byte{}, ra[:])
	return s, ct
}

// unwrap checks a secured command's MAC and returns its header and (for
// CommFull, decrypted) data. ok is false on a bad MAC or padding.
func (s *cardSession) unwrap(ins byte, payload []byte, hdrLen int, mode cardio.CommMode) (hdr, data []byte, ok bool) {
	if mode == cardio.CommPlain {
		if len(payload) < hdrLen {
			return nil, nil, false
		}
		return payload[:hdrLen], payload[hdrLen:], true
	}
	if len(payload) < hdrLen+8 {
		return nil, nil, false
	}
	body, mac := payload[:len(payload)-8], payload[len(payload)-8:]
	want := cardio.EV2MAC(s.mac, ins, s.ctr, s.ti, body)
	if !cardio.Equal(mac, want[:]) {
		return nil, nil, false
	}
	hdr, data = body[:hdrLen], body[hdrLen:]
	if mode == cardio.CommFull && len(data) > 0 {
		pt, err := cardio.CBCDecrypt(s.enc, cardio.EV2IV(s.enc, false, s.ti, s.ctr), data)
		if err != nil {
			return nil, nil, false
		}
		if data, err = cardio.UnpadISO(pt); err != nil {
			return nil, nil, false
		}
	}
	return hdr, data, true
}

// wrap advances the counter and protects a success response.
func (s *cardSession) wrap(data []byte, mode cardio.CommMode) []byte {
	return resp(s.seal(data, mode), swNativeOK)
}

// seal advances the counter and returns the protected response data
// (without status word): data as is (plain), data ‖ MACt, or E(data) ‖ MACt.
func (s *cardSession) seal(data []byte, mode cardio.CommMode) []byte {
	s.ctr++
	if mode == cardio.CommPlain {
		return data
	}
	body := data
	if mode == cardio.CommFull && len(data) > 0 {
		body, _ = cardio.CBCEncrypt(s.enc, cardio.EV2IV(s.enc, true, s.ti, s.ctr), cardio.PadISO(data))
	}
	m := cardio.EV2MAC(s.mac, 0x00, s.ctr, s.ti, body)
	return append(append([]byte(nil), body...), m[:]...)
}

// versionFrames builds the three GetVersion frames.
func versionFrames(hw, sw [7]byte, uid [7]byte) [][]byte {
	prod := append(uid[:], 0xBA, 0x7C, 0x00, 0x00, 0x00, 0x26, 0x24) // batch, week 26, year 24
	return [][]byte{hw[:], sw[:], prod}
}
