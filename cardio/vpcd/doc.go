// Package vpcd plugs a card implemented in Go into a real pcscd through
// vsmartcard's vpcd reader driver (libifdvpcd).
//
// The driver, loaded by pcscd from a reader.conf.d entry such as
//
//	FRIENDLYNAME "Virtual PCD"
//	DEVICENAME   /dev/null:0x8C7B
//	LIBPATH      /usr/lib/pcsc/drivers/serial/libifdvpcd.so
//
// listens on a TCP port (35963 = 0x8C7B by default for slot 0, the next port
// for slot 1). A virtual card is a TCP client of that port: connecting is
// inserting the card, closing the connection is removing it. Every message in
// either direction is a 2-byte big-endian length followed by the payload, and
// vpcd always speaks first. A 1-byte payload from vpcd is a control message
// (00 power off, 01 power on, 02 reset, 04 get ATR); only "get ATR" is
// answered, with the card's ATR. Every other payload is a command APDU, which
// the card answers with a response APDU.
//
// Insert connects a Card and serves it from one goroutine until the card is
// removed (Insertion.Close), the context is cancelled, the card's Transmit
// fails (the card is torn away mid-command), or pcscd closes the connection.
//
// Latency: Debian's vpcd driver (0.8) writes the length and the body of each
// message with two send calls. Against the peer's delayed ACK that costs about
// 40 ms per exchange, so the client sets TCP_QUICKACK on the socket before
// every read (the flag is not sticky) and writes each answer with a single
// write. With it one APDU round trip through pcscd takes about 0.15 ms.
package vpcd
