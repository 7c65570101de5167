// Package virtual provides in-process contactless cards for tests, the bench
// and the demo: an NTAG 424 DNA (blank, personalizable by cardio.Personalize,
// then answering every NDEF read with a fresh SUN whose counter rises) and a
// MIFARE DESFire EV2 (an application with the pass file, AuthenticateEV2First
// and EV2 secure messaging).
//
// Every card implements Card: the vpcd transport in cardio/vpcd drives the
// power control bytes and relays APDUs, and in-process callers use the card
// directly as a cardio.Transmitter. Remove simulates the card leaving the
// field: every later Transmit fails with cardio.ErrCardRemoved until Insert.
//
// The cards are safe for concurrent use (one mutex per card). They implement
// the subset of the command sets cardio uses; anything else answers with the
// card's "command not supported" status, never a panic.
package virtual
