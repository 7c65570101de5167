// Package cardio turns a contactless card into a Credential the engine can
// judge: it frames APDUs, maps status words to typed errors, tells media apart
// (ATR per PC/SC part 3, then the native GetVersion command) and proves who the
// card is with its own AES keys.
//
// The package never talks to PC/SC itself. Everything goes through the
// one-method Transmitter seam, which *scard.Card (used only by cardio/pcsc),
// the in-process virtual cards in cardio/virtual and scripted fakes in tests
// all satisfy.
//
// # Media
//
//   - NTAG 424 DNA with SUN (Secure Unique NFC, NXP AN12196): the tag mirrors
//     encrypted PICCData (UID and a 24-bit read counter) and a truncated
//     AES-CMAC into its NDEF URL on every read. ReadCredential selects the NDEF
//     application, reads file E104, parses the URL, decrypts PICCData with the
//     SDM meta-read key and checks the SDMMAC with the card's diversified
//     file-read key. The caller (the engine) enforces that the counter rises.
//   - MIFARE DESFire EV2/EV3 (NXP AN12343): AuthenticateEV2First with the
//     card's diversified application key, a MACed ReadData of the pass file and
//     the encrypted GetCardUID, all under EV2 secure messaging.
//   - Anything else (Ultralight, Classic, unknown ISO 14443-4) only yields its
//     UID, and only when the caller sets ReadOptions.InsecureUID.
//
// # Entry points
//
//   - ReadCredential (or Reader.Read) for a gate: detect, read, prove.
//   - DetectMedium, GetUID, GetVersion for diagnostics.
//   - ParseSUN, VerifySUN and CredentialFromSUN for SUN messages given out of
//     band (`citypass tap --sun`, `citypass card sun-verify`).
//   - Personalize for a blank NTAG 424 DNA (`citypass card personalize`):
//     the NXP originality check, every key set, every unused access right
//     closed, the CC file rewritten to match, and a read-back of all of it
//     (docs/cards.md).
//   - CheckCard for a sales desk (`citypass pass sell --reader`): the card's
//     proof and, for NTAG 424 DNA, its originality signature.
//   - The NTAG 424 DNA commands themselves (GetKeyVersion, GetFileSettings,
//     ChangeFileSettings, ReadData, WriteData, GetFileCounters, Read_Sig,
//     ChangeKey, GetCardUID, AuthenticateEV2First and NonFirst), each
//     without authentication and as a Session method under EV2 secure
//     messaging; FileSettings is the one encoding of a file's settings and
//     access rule, shared with the virtual card.
//   - GenerateKeys, SaveKeys, LoadKeys (`citypass card keys init`).
//   - ProofFailure to tell an INVALID tap (with its UID) from a retry.
//
// # Keys
//
// Per-card keys are diversified from master keys with NXP AN10922 (AES-128,
// always two CMAC blocks). Keys never appear in logs: Key and Keys mask
// themselves in every fmt verb and in slog, and Trace masks the data of
// key-bearing commands.
//
// # Invariants
//
//   - Every loop that talks to the card is bounded (GET RESPONSE, additional
//     frames, chained reads).
//   - MACs and authentication responses are compared in constant time.
//   - Personalize writes nothing to a card whose NXP originality signature
//     does not verify under the trusted keys (NXP's by default).
//   - A credential whose proof fails is reported as a *ProofError (errors.Is
//     ErrProofFailed) that still carries the UID when it is known, so the
//     engine can journal the tap as INVALID.
//   - A card that leaves the field surfaces as ErrCardRemoved, never as a
//     proof failure: the gate asks for another tap and journals nothing.
package cardio
