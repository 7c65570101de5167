package cardio

// Transmitter sends one command APDU to a card and returns the raw response
// APDU (data followed by the two status bytes). It is exactly the method
// *scard.Card has, so a PC/SC card handle is a Transmitter as is.
//
// Implementations report a card that left the field as an error for which
// errors.Is(err, ErrCardRemoved) holds. cardio calls Transmit from one
// goroutine at a time per card.
type Transmitter interface {
	Transmit(cmd []byte) ([]byte, error)
}
