package virtual

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"

	"github.com/citypass/citypass/cardio"
)

// DESFire is a virtual MIFARE DESFire EV2 holding one application (AID
// given at construction) with two AES keys — key 0 the application master
// key, key 1 (cardio.DESFireReadKeyNo) the read key — and the pass file
// (cardio.DESFirePassFileNo, CommMode.MAC, read with key 1 or 0).
//
// Supported: PC/SC GET DATA UID; native GetVersion, SelectApplication,
// AuthenticateEV2First, ReadData (MAC) and GetCardUID under EV2 secure
// messaging.
type DESFire struct {
	uid  [7]byte
	rand io.Reader

	aid      uint32
	keys     [2]cardio.Key
	passFile []byte

	field
	appSelected bool
	session     *cardSession
	auth        *pendingAuth
	frames      [][]byte
}

// NewDESFire returns a card provisioned for keys: the pass application aid
// (0 = cardio.DefaultDESFireAID) with the card's diversified read key and a
// pass file naming its UID.
func NewDESFire(uid [7]byte, keys cardio.KeySource, aid uint32) (*DESFire, error) {
	if aid == 0 {
		aid = cardio.DefaultDESFireAID
	}
	rk, err := keys.DESFireReadKey(uid[:], aid)
	if err != nil {
		return nil, fmt.Errorf("virtual: DESFire read key: %w", err)
	}
	c := &DESFire{uid: uid, rand: rand.Reader, aid: aid, passFile: cardio.PassFile(uid[:])}
	c.field.handle, c.field.reset = c.handle, c.resetLocked
	if _, err := io.ReadFull(rand.Reader, c.keys[0][:]); err != nil {
		return nil, err
	}
	c.keys[1] = rk
	return c, nil
}

// SetRand replaces the card's randomness (deterministic tests).
func (c *DESFire) SetRand(r io.Reader) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rand = r
}

// UID returns the card UID in upper-case hex.
func (c *DESFire) UID() string { return hexUpper(c.uid[:]) }

// ATR implements Card.
func (c *DESFire) ATR() []byte { return bytes.Clone(ATR14443_4) }

func (c *DESFire) resetLocked() {
	c.appSelected, c.session, c.auth, c.frames = false, nil, nil, nil
}

func (c *DESFire) handle(raw []byte) []byte {
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
		if a.INS == 0xA4 {
			return resp(nil, swISONotFound)
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

func (c *DESFire) native(ins byte, data []byte) []byte {
	switch ins {
	case 0x60:
		if len(data) != 0 {
			return resp(nil, swLength)
		}
		c.frames = versionFrames([7]byte{0x04, 0x01, 0x01, 0x12, 0x00, 0x1A, 0x05},
			[7]byte{0x04, 0x01, 0x01, 0x12, 0x00, 0x1A, 0x05}, c.uid)
		f := c.frames[0]
		c.frames = c.frames[1:]
		return resp(f, swMore)
	case 0xAF:
		if c.auth != nil {
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
		if len(c.frames) > 0 {
			f := c.frames[0]
			c.frames = c.frames[1:]
			if len(c.frames) == 0 {
				c.frames = nil
				return resp(f, swNativeOK)
			}
			return resp(f, swMore)
		}
		return resp(nil, swIllegal)
	case 0x5A: // SelectApplication
		c.session = nil
		if len(data) != 3 {
			return resp(nil, swLength)
		}
		aid := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16
		switch aid {
		case 0:
			c.appSelected = false
		case c.aid:
			c.appSelected = true
		default:
			c.appSelected = false
			return resp(nil, swAppNotFound)
		}
		return resp(nil, swNativeOK)
	case 0x71:
		c.session = nil
		if len(data) < 2 {
			return resp(nil, swLength)
		}
		if !c.appSelected {
			return resp(nil, swPermission) // the PICC master key is not modelled
		}
		if data[0] > 1 {
			return resp(nil, swNoSuchKey)
		}
		p, ct, err := authPart1(c.rand, data[0], c.keys[data[0]])
		if err != nil {
			return resp(nil, swIllegal)
		}
		c.auth = p
		return resp(ct, swMore)
	case 0xAD:
		return c.readData(data)
	case 0x51:
		if c.session == nil {
			return resp(nil, swPermission)
		}
		if _, _, ok := c.session.unwrap(0x51, data, 0, cardio.CommFull); !ok {
			c.session = nil
			return resp(nil, swIntegrity)
		}
		return c.session.wrap(c.uid[:], cardio.CommFull)
	}
	c.session = nil
	return resp(nil, swIllegal)
}

func (c *DESFire) readData(payload []byte) []byte {
	if c.session == nil {
		return resp(nil, swPermission)
	}
	hdr, _, ok := c.session.unwrap(0xAD, payload, 7, cardio.CommMAC)
	if !ok {
		c.session = nil
		return resp(nil, swIntegrity)
	}
	if hdr[0] != cardio.DESFirePassFileNo {
		c.session = nil
		return resp(nil, swFileNotFound)
	}
	off := int(hdr[1]) | int(hdr[2])<<8 | int(hdr[3])<<16
	n := int(hdr[4]) | int(hdr[5])<<8 | int(hdr[6])<<16
	if n == 0 {
		n = len(c.passFile) - off
	}
	if off > len(c.passFile) || n < 0 || off+n > len(c.passFile) {
		c.session = nil
		return resp(nil, swBoundary)
	}
	return c.session.wrap(c.passFile[off:off+n], cardio.CommMAC)
}
