// Package datadir opens and creates a citypass data directory: the one place
// that knows where each part of it lives and how the parts fit together, so
// that the command line, the demo and an integrator's own program open it
// the same way.
//
// # Layout
//
//	<dir>/ledger/                     the Pebble ledger (passes, cards, taps, usage,
//	                                  postings, statements and every tariff version)
//	<dir>/keys/cards.key              the card master keys (cardio key file, mode 0600)
//	<dir>/keys/statement-signing.key  the statement signing key (reconcile, mode 0600)
//	<dir>/keys/originality.keys       optional: public keys trusted for the NXP originality
//	                                  check besides NXP's (cardio, docs/cards.md)
//
// # Story
//
// Init creates a data dir in one call: the card master keys, the statement
// signing key, and a ledger that stores the first tariff version. Open opens
// it again: it waits a little while another process holds the ledger
// (Options.LockWait), builds the tariff catalog from the versions stored in
// the ledger (LoadCatalog) and an engine.Validator on both. AddTariff stores
// a further version once it forms a valid catalog with the stored ones.
//
// On a fleet node's data dir (ReadIdentity), the Validator numbers its taps
// above the ledger's floor (fleet.SeqFloor) and decides with the node's
// state_as_of, read from the state cursor its sync stores in the ledger
// (ReadStateCursor, StateAsOf; docs/semantics.md, "Offline policy"). On a
// hub or a standalone data dir nothing is ever stale.
//
// The catalog always comes from the ledger, never from a file on the side:
// a pass keeps the tariff version it was sold under, and every command that
// opens the data dir sees the same versions.
//
// # Invariants
//
//   - Init validates before it writes, and refuses a dir that already holds a
//     ledger (ErrInitialized). It never replaces an existing key file: keys
//     already present are kept (a signing key's public half is held by
//     partners; card keys are in every personalized card).
//   - A DataDir is safe for concurrent use (its Ledger and Validator are);
//     Close closes the ledger once.
//
// The package does file I/O only through ledger.Open, cardio's and
// reconcile's key files, and os.Stat/os.MkdirAll on the layout above.
package datadir
