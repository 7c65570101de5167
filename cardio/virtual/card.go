package virtual

import "github.com/citypass/citypass/cardio"

// Card is a virtual contactless card as a reader (or vpcd) sees it. The
// interface is stable: cardio/vpcd depends on it.
type Card interface {
	// ATR returns the answer to reset the reader reports for this card.
	ATR() []byte
	// Transmit answers one command APDU with a response APDU (data + SW1 SW2).
	// After Remove it returns an error matching cardio.ErrCardRemoved.
	Transmit(apdu []byte) ([]byte, error)
	// PowerOn, PowerOff and Reset mirror vpcd's control bytes 01, 00 and 02.
	// PowerOff and Reset drop the selected application and any
	// authenticated session; persistent state (keys, files, counters) stays.
	PowerOn()
	PowerOff()
	Reset()
}

// Compile-time checks: every virtual card is a Card and a cardio.Transmitter.
var (
	_ Card               = (*NTAG424)(nil)
	_ Card               = (*DESFire)(nil)
	_ cardio.Transmitter = (*NTAG424)(nil)
	_ cardio.Transmitter = (*DESFire)(nil)
)
