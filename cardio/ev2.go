package cardio

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
)

// EV2 secure messaging (NXP AN12343 for DESFire EV2, AN12196 for NTAG 424 DNA;
// both cards share it).

// EV2SessionKeys derives KSesAuthENC and KSesAuthMAC from the authentication
// key and the two challenges:
//
//	SV = xx xx 00 01 00 80 ‖ RndA[0..1] ‖ (RndA[2..7] ⊕ RndB[0..5]) ‖ RndB[6..15] ‖ RndA[8..15]
//
// with prefix A5 5A for ENC and 5A A5 for MAC, each key = CMAC(key, SV).
func EV2SessionKeys(key Key, rndA, rndB [16]byte) (enc, mac Key) {
	sv := func(p0, p1 byte) []byte {
		b := make([]byte, 0, 32)
		b = append(b, p0, p1, 0x00, 0x01, 0x00, 0x80)
		b = append(b, rndA[0], rndA[1])
		for i := 0; i < 6; i++ {
			b = append(b, rndA[2+i]^rndB[i])
		}
		b = append(b, rndB[6:]...)
		b = append(b, rndA[8:]...)
		return b
	}
	return Key(cmacKey(key, sv(0xA5, 0x5A))), Key(cmacKey(key, sv(0x5A, 0xA5)))
}

// EV2IV computes the IV for CommMode.Full: E(KSesAuthENC, A5 5A ‖ TI ‖
// CmdCtr(LE) ‖ 0⁸) for a command, prefix 5A A5 for a response (where the
// counter has already been incremented).
func EV2IV(enc Key, response bool, ti [4]byte, ctr uint16) [16]byte {
	var in [16]byte
	in[0], in[1] = 0xA5, 0x5A
	if response {
		in[0], in[1] = 0x5A, 0xA5
	}
	copy(in[2:6], ti[:])
	binary.LittleEndian.PutUint16(in[6:8], ctr)
	return aesECB(enc, in)
}

// EV2MAC computes MACt = Truncate(CMAC(KSesAuthMAC, code ‖ CmdCtr(LE) ‖ TI ‖
// data…)). code is the command byte for a command and the return code (00)
// for a response, whose counter is the incremented one.
func EV2MAC(mac Key, code byte, ctr uint16, ti [4]byte, data ...[]byte) [8]byte {
	n := 7
	for _, d := range data {
		n += len(d)
	}
	in := make([]byte, 0, n)
	in = append(in, code, byte(ctr), byte(ctr>>8))
	in = append(in, ti[:]...)
	for _, d := range data {
		in = append(in, d...)
	}
	return Truncate(cmacKey(mac, in))
}

// RotateLeft returns b rotated left by one byte (RndA', RndB').
func RotateLeft(b [16]byte) [16]byte {
	var r [16]byte
	copy(r[:], b[1:])
	r[15] = b[0]
	return r
}

// CommMode is the protection of a command's data under EV2 secure messaging.
type CommMode uint8

// Communication modes.
const (
	CommPlain CommMode = 0 // no protection (the counter still advances)
	CommMAC   CommMode = 1 // command and response carry MACt
	CommFull  CommMode = 3 // data encrypted (AES-CBC, ISO padding) and MACed
)

// Session is an authenticated EV2 secure-messaging session. It is not safe
// for concurrent use; one card, one goroutine.
type Session struct {
	keyNo    byte
	ti       [4]byte
	ctr      uint16
	enc, mac Key
	valid    bool
}

// KeyNo is the key number the session authenticated with.
func (s *Session) KeyNo() byte { return s.keyNo }

// TI is the transaction identifier the card chose.
func (s *Session) TI() [4]byte { return s.ti }

// CmdCtr is the command counter of the next command.
func (s *Session) CmdCtr() uint16 { return s.ctr }

// Valid reports whether the session can still be used (an error status or a
// change of the authentication key ends it).
func (s *Session) Valid() bool { return s.valid }

// errSessionClosed means a command was sent on an ended session.
var errSessionClosed = fmt.Errorf("%w: EV2 session no longer valid", ErrAuthentication)

// AuthenticateEV2First runs the two-pass mutual authentication (native 71,
// then AF) with key keyNo and returns the session. rand supplies RndA
// (crypto/rand.Reader in production). A card that does not know key answers
// 91AE, reported as a StatusError matching ErrAuthentication; a card whose
// answer does not prove the key yields ErrAuthentication too.
func AuthenticateEV2First(ctx context.Context, t Transmitter, keyNo byte, key Key, rand io.Reader) (*Session, error) {
	r, err := NativeExchange(ctx, t, 0x71, []byte{keyNo, 0x00})
	if err != nil {
		return nil, fmt.Errorf("AuthenticateEV2First: %w", err)
	}
	if r.SW != SWAdditionalFrame {
		return nil, fmt.Errorf("AuthenticateEV2First: %w", &StatusError{SW: r.SW})
	}
	if len(r.Data) != 16 {
		return nil, fmt.Errorf("AuthenticateEV2First: %w: E(RndB) of %d bytes", ErrMalformed, len(r.Data))
	}
	var zero [16]byte
	dec, _ := cbcDecrypt(key, zero, r.Data)
	var rndA, rndB [16]byte
	copy(rndB[:], dec)
	if _, err := io.ReadFull(rand, rndA[:]); err != nil {
		return nil, fmt.Errorf("AuthenticateEV2First: RndA: %w", err)
	}
	rb := RotateLeft(rndB)
	msg := append(rndA[:], rb[:]...)
	encMsg, _ := cbcEncrypt(key, zero, msg)
	r, err = NativeExchange(ctx, t, 0xAF, encMsg)
	if err != nil {
		return nil, fmt.Errorf("AuthenticateEV2First: %w", err)
	}
	if r.SW != SWNativeOK {
		return nil, fmt.Errorf("AuthenticateEV2First: %w", &StatusError{SW: r.SW})
	}
	if len(r.Data) != 32 {
		return nil, fmt.Errorf("AuthenticateEV2First: %w: answer of %d bytes", ErrMalformed, len(r.Data))
	}
	plain, _ := cbcDecrypt(key, zero, r.Data)
	ra := RotateLeft(rndA)
	if !Equal(plain[4:20], ra[:]) {
		return nil, fmt.Errorf("AuthenticateEV2First: %w: card did not prove the key", ErrAuthentication)
	}
	s := &Session{keyNo: keyNo, valid: true}
	copy(s.ti[:], plain[0:4])
	s.enc, s.mac = EV2SessionKeys(key, rndA, rndB)
	return s, nil
}

// AuthenticateEV2NonFirst re-authenticates an open session with key keyNo
// (native 77, then AF; NXP AN12196 Table 23): the card answers E(K, RndA')
// alone, the session keeps its TI and command counter and takes fresh
// session keys. It proves the card holds key without leaving the
// transaction. Any failure ends the session; a card that does not know the
// key answers 91AE (ErrAuthentication).
func (s *Session) AuthenticateEV2NonFirst(ctx context.Context, t Transmitter, keyNo byte, key Key, rand io.Reader) error {
	if !s.valid {
		return errSessionClosed
	}
	s.valid = false // until the card proves the key
	r, err := NativeExchange(ctx, t, insAuthEV2NonFirst, []byte{keyNo})
	if err != nil {
		return fmt.Errorf("AuthenticateEV2NonFirst: %w", err)
	}
	if r.SW != SWAdditionalFrame {
		return fmt.Errorf("AuthenticateEV2NonFirst: %w", &StatusError{SW: r.SW})
	}
	if len(r.Data) != 16 {
		return fmt.Errorf("AuthenticateEV2NonFirst: %w: E(RndB) of %d bytes", ErrMalformed, len(r.Data))
	}
	var zero, rndA, rndB [16]byte
	dec, _ := cbcDecrypt(key, zero, r.Data)
	copy(rndB[:], dec)
	if _, err := io.ReadFull(rand, rndA[:]); err != nil {
		return fmt.Errorf("AuthenticateEV2NonFirst: RndA: %w", err)
	}
	rb := RotateLeft(rndB)
	encMsg, _ := cbcEncrypt(key, zero, append(rndA[:], rb[:]...))
	r, err = NativeExchange(ctx, t, 0xAF, encMsg)
	if err != nil {
		return fmt.Errorf("AuthenticateEV2NonFirst: %w", err)
	}
	if r.SW != SWNativeOK {
		return fmt.Errorf("AuthenticateEV2NonFirst: %w", &StatusError{SW: r.SW})
	}
	if len(r.Data) != 16 {
		return fmt.Errorf("AuthenticateEV2NonFirst: %w: answer of %d bytes", ErrMalformed, len(r.Data))
	}
	plain, _ := cbcDecrypt(key, zero, r.Data)
	ra := RotateLeft(rndA)
	if !Equal(plain, ra[:]) {
		return fmt.Errorf("AuthenticateEV2NonFirst: %w: card did not prove key %d", ErrAuthentication, keyNo)
	}
	s.keyNo, s.valid = keyNo, true
	s.enc, s.mac = EV2SessionKeys(key, rndA, rndB)
	return nil
}

// ChangeKey sets key keyNo to newKey with version (native C4, CommMode.Full;
// the session must be authenticated with key 0). For another key than the
// session's, oldKey is its current value (the card checks the CRC of the
// result); changing the session's own key ends the session.
func (s *Session) ChangeKey(ctx context.Context, t Transmitter, keyNo byte, newKey, oldKey Key, version byte) error {
	own := keyNo == s.keyNo
	if _, err := s.command(ctx, t, insChangeKey, []byte{keyNo}, ChangeKeyData(newKey, oldKey, version, own), CommFull, !own); err != nil {
		return fmt.Errorf("ChangeKey %d: %w", keyNo, err)
	}
	return nil
}

// Command sends native command ins under secure messaging: header travels in
// clear (MACed), data is protected per mode, and the response is checked (and
// decrypted for CommFull) the same way. Additional frames are collected
// (bounded). An error status ends the session.
func (s *Session) Command(ctx context.Context, t Transmitter, ins byte, header, data []byte, mode CommMode) ([]byte, error) {
	return s.command(ctx, t, ins, header, data, mode, true)
}

// command implements Command; respMAC false is for ChangeKey of the
// authentication key, which the card answers without MAC (the session ends).
func (s *Session) command(ctx context.Context, t Transmitter, ins byte, header, data []byte, mode CommMode, respMAC bool) ([]byte, error) {
	if !s.valid {
		return nil, errSessionClosed
	}
	payload := append([]byte(nil), header...)
	switch mode {
	case CommPlain:
		payload = append(payload, data...)
	case CommMAC:
		payload = append(payload, data...)
		m := EV2MAC(s.mac, ins, s.ctr, s.ti, payload)
		payload = append(payload, m[:]...)
	case CommFull:
		if len(data) > 0 {
			ct, _ := cbcEncrypt(s.enc, EV2IV(s.enc, false, s.ti, s.ctr), PadISO(data))
			payload = append(payload, ct...)
		}
		m := EV2MAC(s.mac, ins, s.ctr, s.ti, payload)
		payload = append(payload, m[:]...)
	default:
		return nil, fmt.Errorf("cardio: unknown CommMode %d", mode)
	}
	if len(payload) > 255 {
		return nil, fmt.Errorf("cardio: command %02X data of %d bytes exceeds one frame", ins, len(payload))
	}
	resp, err := NativeFrames(ctx, t, ins, payload)
	if err != nil {
		s.valid = false
		return nil, err
	}
	s.ctr++
	if !respMAC {
		s.valid = false
		return resp, nil
	}
	if mode == CommPlain {
		return resp, nil
	}
	if len(resp) < 8 {
		s.valid = false
		return nil, fmt.Errorf("%w: response to %02X of %d bytes lacks its MAC", ErrMalformed, ins, len(resp))
	}
	body, got := resp[:len(resp)-8], resp[len(resp)-8:]
	want := EV2MAC(s.mac, 0x00, s.ctr, s.ti, body)
	if !Equal(got, want[:]) {
		s.valid = false
		return nil, fmt.Errorf("%w: response MAC of command %02X", ErrIntegrity, ins)
	}
	if mode == CommFull && len(body) > 0 {
		pt, err := cbcDecrypt(s.enc, EV2IV(s.enc, true, s.ti, s.ctr), body)
		if err != nil {
			s.valid = false
			return nil, err
		}
		return UnpadISO(pt)
	}
	return body, nil
}
