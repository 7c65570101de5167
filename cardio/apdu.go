package cardio

import (
	"context"
	"fmt"
)

// Bounds on response loops (STYLE: a limit on everything).
const (
	// MaxGetResponseRounds bounds the 61xx GET RESPONSE loop of one exchange.
	MaxGetResponseRounds = 16
	// MaxAdditionalFrames bounds the 91AF additional-frame loop of one native
	// command.
	MaxAdditionalFrames = 32
	// MaxResponseBytes bounds the data collected by either loop.
	MaxResponseBytes = 4 << 10
)

// Status words cardio checks by value.
const (
	SWOK              uint16 = 0x9000
	SWNativeOK        uint16 = 0x9100
	SWAdditionalFrame uint16 = 0x91AF
	SWEndOfFile       uint16 = 0x6282 // end of file reached before Le bytes (data is valid)
)

// APDU is a short ISO 7816-4 command APDU (cases 1–4).
type APDU struct {
	CLA, INS, P1, P2 byte
	Data             []byte // at most 255 bytes; nil or empty: no Lc
	// Le is the expected response length: 0 means no Le field (case 1/3),
	// 1..256 is encoded as one byte (256 as 00).
	Le int
}

// Bytes encodes the APDU.
func (a APDU) Bytes() ([]byte, error) {
	if len(a.Data) > 255 {
		return nil, fmt.Errorf("cardio: APDU data of %d bytes exceeds a short APDU", len(a.Data))
	}
	if a.Le < 0 || a.Le > 256 {
		return nil, fmt.Errorf("cardio: APDU Le %d out of range", a.Le)
	}
	b := make([]byte, 0, 6+len(a.Data))
	b = append(b, a.CLA, a.INS, a.P1, a.P2)
	if len(a.Data) > 0 {
		b = append(b, byte(len(a.Data)))
		b = append(b, a.Data...)
	}
	if a.Le > 0 {
		b = append(b, byte(a.Le)) // 256 wraps to 00
	}
	return b, nil
}

// Response is a parsed response APDU.
type Response struct {
	Data []byte
	SW   uint16
}

// SW1 and SW2 return the status bytes.
func (r Response) SW1() byte { return byte(r.SW >> 8) }

// SW2 returns the second status byte.
func (r Response) SW2() byte { return byte(r.SW) }

// OK reports a success status: 9000, 9100 or 6282 (end of file; data valid).
func (r Response) OK() bool { return r.SW == SWOK || r.SW == SWNativeOK || r.SW == SWEndOfFile }

// Err returns nil for a success status and a *StatusError otherwise.
func (r Response) Err() error {
	if r.OK() {
		return nil
	}
	return &StatusError{SW: r.SW}
}

// ParseResponse splits a response APDU into data and status word. It never
// panics and does not retain b.
func ParseResponse(b []byte) (Response, error) {
	if len(b) < 2 {
		return Response{}, fmt.Errorf("%w: response of %d bytes has no status word", ErrMalformed, len(b))
	}
	n := len(b) - 2
	data := make([]byte, n)
	copy(data, b[:n])
	return Response{Data: data, SW: uint16(b[n])<<8 | uint16(b[n+1])}, nil
}

// Exchange sends a and returns the response, following 61xx with GET RESPONSE
// (bounded by MaxGetResponseRounds) and answering 6Cxx by resending once with
// the Le the card asked for. It checks ctx before every transmission (a
// Transmit itself cannot be interrupted). Status words are not interpreted
// beyond that: use Response.Err.
func Exchange(ctx context.Context, t Transmitter, a APDU) (Response, error) {
	raw, err := a.Bytes()
	if err != nil {
		return Response{}, err
	}
	r, err := transmit(ctx, t, raw)
	if err != nil {
		return Response{}, err
	}
	if r.SW1() == 0x6C {
		le := int(r.SW2())
		if le == 0 {
			le = 256
		}
		a.Le = le
		if raw, err = a.Bytes(); err != nil {
			return Response{}, err
		}
		if r, err = transmit(ctx, t, raw); err != nil {
			return Response{}, err
		}
	}
	data := r.Data
	for round := 0; r.SW1() == 0x61; round++ {
		if round >= MaxGetResponseRounds {
			return Response{}, fmt.Errorf("%w: more than %d GET RESPONSE rounds", ErrTooManyFrames, MaxGetResponseRounds)
		}
		le := int(r.SW2())
		if le == 0 {
			le = 256
		}
		getResp, _ := APDU{CLA: a.CLA &^ 0x80 & 0x03, INS: 0xC0, Le: le}.Bytes() // GET RESPONSE on the same channel
		if r, err = transmit(ctx, t, getResp); err != nil {
			return Response{}, err
		}
		data = append(data, r.Data...)
		if len(data) > MaxResponseBytes {
			return Response{}, fmt.Errorf("%w: response exceeds %d bytes", ErrTooManyFrames, MaxResponseBytes)
		}
	}
	r.Data = data
	return r, nil
}

// Command is Exchange that also requires a success status word.
func Command(ctx context.Context, t Transmitter, a APDU) ([]byte, error) {
	r, err := Exchange(ctx, t, a)
	if err != nil {
		return nil, err
	}
	if err := r.Err(); err != nil {
		return nil, err
	}
	return r.Data, nil
}

// Native builds the ISO 7816-4 wrapping of a native DESFire/NTAG command:
// 90 INS 00 00 [Lc data] 00.
func Native(ins byte, data []byte) APDU {
	return APDU{CLA: 0x90, INS: ins, Data: data, Le: 256}
}

// NativeExchange sends one native command and returns its response without
// interpreting 91AF (protocols such as AuthenticateEV2First use it as a step).
func NativeExchange(ctx context.Context, t Transmitter, ins byte, data []byte) (Response, error) {
	return Exchange(ctx, t, Native(ins, data))
}

// NativeFrames sends a native command and collects its additional frames
// (91AF → 90 AF 00 00 00), bounded by MaxAdditionalFrames and
// MaxResponseBytes. The final status must be 9100.
func NativeFrames(ctx context.Context, t Transmitter, ins byte, data []byte) ([]byte, error) {
	r, err := NativeExchange(ctx, t, ins, data)
	if err != nil {
		return nil, err
	}
	out := r.Data
	for frames := 0; r.SW == SWAdditionalFrame; frames++ {
		if frames >= MaxAdditionalFrames {
			return nil, fmt.Errorf("%w: more than %d additional frames", ErrTooManyFrames, MaxAdditionalFrames)
		}
		if r, err = NativeExchange(ctx, t, 0xAF, nil); err != nil {
			return nil, err
		}
		out = append(out, r.Data...)
		if len(out) > MaxResponseBytes {
			return nil, fmt.Errorf("%w: response exceeds %d bytes", ErrTooManyFrames, MaxResponseBytes)
		}
	}
	if r.SW != SWNativeOK {
		return nil, &StatusError{SW: r.SW}
	}
	return out, nil
}

func transmit(ctx context.Context, t Transmitter, raw []byte) (Response, error) {
	if err := ctx.Err(); err != nil {
		return Response{}, err
	}
	b, err := t.Transmit(raw)
	if err != nil {
		return Response{}, fmt.Errorf("transmit %02X %02X: %w", raw[0], raw[1], err)
	}
	return ParseResponse(b)
}

// ParseCommand decodes a short command APDU (cases 1–4, as a card sees it).
// An Le byte of 00 means 256. It never panics and does not retain b.
func ParseCommand(b []byte) (APDU, error) {
	var a APDU
	if len(b) < 4 {
		return a, fmt.Errorf("%w: command APDU of %d bytes", ErrMalformed, len(b))
	}
	a.CLA, a.INS, a.P1, a.P2 = b[0], b[1], b[2], b[3]
	rest := b[4:]
	switch {
	case len(rest) == 0: // case 1
	case len(rest) == 1: // case 2
		a.Le = leValue(rest[0])
	default:
		lc := int(rest[0])
		if lc == 0 {
			return a, fmt.Errorf("%w: extended APDUs are not supported", ErrMalformed)
		}
		switch len(rest) {
		case 1 + lc: // case 3
		case 2 + lc: // case 4
			a.Le = leValue(rest[1+lc])
		default:
			return a, fmt.Errorf("%w: Lc %d does not match %d data bytes", ErrMalformed, lc, len(rest)-1)
		}
		a.Data = append([]byte(nil), rest[1:1+lc]...)
	}
	return a, nil
}

func leValue(b byte) int {
	if b == 0 {
		return 256
	}
	return int(b)
}
