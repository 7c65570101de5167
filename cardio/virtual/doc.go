// Package virtual provides in-process contactless cards for tests, the bench
// and the demo:
//
//   - NTAG424: an NTAG 424 DNA. NewNTAG424 is blank (the data sheet's
//     factory state) and cardio.Personalize turns it into a SUN tag whose
//     every NDEF read carries fresh encrypted PICCData and SDMMAC with a
//     rising counter. NewPersonalizedNTAG424 does both; NewWrongKeyNTAG424
//     personalizes with master keys nobody else has (its proof always fails:
//     INVALID). The card implements the native command set citypass and
//     AN12196 use, enforces access rights and signs its UID with
//     TestOriginalityKey, which only tests trust (SetOriginalityKey makes a
//     clone); docs/cards.md lists what is and is not modelled.
//   - DESFire: a MIFARE DESFire EV2 with the citypass pass application
//     (NewDESFire provisions it for a key set): AuthenticateEV2First, MACed
//     ReadData, encrypted GetCardUID under EV2 secure messaging.
//
// Every card implements Card: the vpcd transport in cardio/vpcd drives the
// power control bytes and relays APDUs, and in-process callers use the card
// directly as a cardio.Transmitter. Remove simulates the card leaving the
// field (every later Transmit fails with cardio.ErrCardRemoved until Insert);
// RemoveAfter(n) lets it answer n more APDUs first — a removal in the middle
// of a transaction.
//
// The cards use the same crypto primitives as the verifier (cardio's CMAC,
// session keys, MACt), which cardio pins to NXP's published vectors, and the
// wire format is pinned to AN12196's example exchanges (the NTAG answers
// them byte for byte when it draws the note's random numbers), so a card and
// a reader cannot agree on a shared mistake unnoticed.
//
// The cards are safe for concurrent use (one mutex per card). They implement
// the subset of the command sets cardio uses; anything else answers with the
// card's "command not supported" status, never a panic (fuzzed).
package virtual
