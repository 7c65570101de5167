// Package demo is `citypass demo`: a day in the city, end to end, on built-in
// defaults, in well under a minute.
//
// Run creates a data dir laid out as `citypass init` does (the ledger, the
// sample Marseille tariff, card master keys and the statement signing key,
// all derived from Config.Seed), personalizes a virtual NTAG 424 DNA card for
// every pass (cardio.Personalize on cardio/virtual; some passes go on
// DESFire EV2 cards instead), and plays Sunday 31 May 2026: about 2,000
// passes sold through the day at the desk and on the web, and their holders'
// taps at museums, on the boat to the Château d'If, on the metro, tram and
// bus, with what really happens at gates — exits, a second entry at the same
// museum (ALREADY_REDEEMED), a friend trying the card at the same station
// (PASSBACK), cards of other systems and blank cards (INVALID), a lost card
// blocked and replaced (REVOKED when found), a stolen card (BLOCKED), a
// skimmed card's clone (REPLAYED), a museums pass at the boat (PRODUCT),
// unused passes refunded.
//
// Every tap goes through the production path: the gate tap loop of
// gate reads the virtual card with cardio.Reader (SUN verification or
// EV2 authentication; or, with --pcsc, some taps over a real pcscd, see
// below), the engine Validator decides, and the Pebble ledger
// journals it durably before the gate opens. One goroutine per gate (22
// gates) runs concurrently, so the ledger commits taps in groups sharing one
// fsync (the demo counts the write-ahead log's fsyncs to show it); a live
// tally goes to Config.Progress about once a second.
//
// # Real PC/SC readers (--pcsc)
//
// With Config.PCSC the demo starts a private pcscd with the vpcd driver
// (cardio/pcsc/pcscd: its own reader.conf.d, ports and, when unshare works,
// mount namespace, so a system pcscd is left alone) and gives two gates, the
// MuCEM's J4 entry and the 83 bus at the Vieux-Port, a turnstile with a real
// PC/SC reader, one vpcd slot each. About PCSCTapsPerReader of each gate's
// taps (one in every n, the first of the day included) go to that
// turnstile: the visitor's virtual card is inserted through vpcd, pcscd
// powers it and reports it, and the production gate loop (gate.Run
// over a pcsc.Monitor watching that reader) reads it with cardio.Reader over
// libpcsclite, decides and journals, after which the card is taken off. The
// gate's other taps, and all other gates, read in-process. A card pcscd does
// not report, or reports gone before it was read, is presented again.
//
// pcscd polls a vpcd slot every 400 ms, so a reader takes about 0.8 s per
// tap (the removal and the next card are each seen at a poll): the PC/SC
// taps are bounded so that `citypass demo --pcsc` still plays the 2,000-pass
// day in about half a minute. Because a tap's number at its gate, its time
// and its place in the journal come from the timeline, not from the reader
// that read it, the same seed gives the same journal and byte-identical
// statements with and without --pcsc. It needs pcscd, vsmartcard-vpcd and
// root; elsewhere Run fails with an error wrapping ErrPCSCUnavailable that
// says which is missing.
//
// The next morning (06:00, after the service day, ISO week 22 and May have
// ended) the statements of every partner are closed for their contract
// period (day, week or month), verified (hashes, chain, Ed25519 signature),
// paid out in one pain.001 file, and the finance summary is printed: sales,
// decisions, visits by venue, statement nets, the trial balance, the ledger
// check, and the path of every file written.
//
// # Repeatability
//
// The day is drawn from the seed before anything runs, and the journal order
// is the timeline order even though gates run concurrently: each store
// transaction carries a ticket, and a sequencer in front of the ledger makes
// the ledger run them in ticket order while many wait in its queue (see
// sequencer). With the keys derived from the seed too, the same seed gives
// the same decisions, the same ledger contents and byte-identical statements
// and payout file. Only timings differ.
//
// Limits: Config.Passes is at most PassesMax; gate queues are bounded
// (gateQueueLen); with --pcsc only two gates have a PC/SC reader (pcscd's
// vpcd driver gives one entry two slots) and each reads about
// PCSCTapsPerReader taps, the rest in-process.
package demo
