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
// cardio/gate reads the virtual card with cardio.Reader (SUN verification or
// EV2 authentication), the engine Validator decides, and the Pebble ledger
// journals it durably before the gate opens. One goroutine per gate (22
// gates) runs concurrently, so the ledger commits taps in groups sharing one
// fsync (the demo counts the write-ahead log's fsyncs to show it); a live
// tally goes to Config.Progress about once a second.
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
// (gateQueueLen); --pcsc is not available (ErrPCSCUnavailable).
package demo
