package pcsctest

import (
	"bytes"
	"errors"
	"slices"
	"sync"
)

// UltralightATR is the PC/SC part 3 ATR of a MIFARE Ultralight.
var UltralightATR = []byte{0x3B, 0x8F, 0x80, 0x01, 0x80, 0x4F, 0x0C, 0xA0, 0x00, 0x00, 0x03, 0x06,
	0x03, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, 0x68}

// GetUID is the PC/SC part 3 GET DATA (UID) pseudo-APDU.
var GetUID = []byte{0xFF, 0xCA, 0x00, 0x00, 0x00}

// ErrTorn is what a UIDCard's Transmit returns once torn: vpcd then drops
// the connection, which pcscd sees as the card leaving mid-command.
var ErrTorn = errors.New("pcsctest: card torn from the field")

// UIDCard is a minimal contactless card for the harness: it answers GET DATA
// (UID) with its UID and anything else with 6D 00. It is safe for concurrent
// use.
type UIDCard struct {
	UID []byte

	mu      sync.Mutex
	tearOn  []byte
	history [][]byte
}

// ATR returns UltralightATR.
func (c *UIDCard) ATR() []byte { return UltralightATR }

// TearOn makes the card fail (tear) when it receives cmd, instead of
// answering.
func (c *UIDCard) TearOn(cmd []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tearOn = slices.Clone(cmd)
}

// Transmit answers one APDU.
func (c *UIDCard) Transmit(cmd []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.history = append(c.history, slices.Clone(cmd))
	if c.tearOn != nil && bytes.Equal(cmd, c.tearOn) {
		return nil, ErrTorn
	}
	if bytes.Equal(cmd, GetUID) {
		return append(slices.Clone(c.UID), 0x90, 0x00), nil
	}
	return []byte{0x6D, 0x00}, nil
}

// Commands returns the APDUs the card received.
func (c *UIDCard) Commands() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.history)
}
