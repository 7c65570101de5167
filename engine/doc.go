// Package engine decides taps and runs the pass lifecycle of citypass.
//
// The heart is Decide, a pure function: a tap, the pass it resolves to (with the
// tariff version and product it was sold under), the card record, the gate's
// venue and the pass's usage go in; a Decision and the Effects to store come
// out. It reads no clock, does no I/O, logs nothing and starts no goroutine, so
// the same inputs always give the same answer, whenever and wherever the tap is
// replayed. Every rule is evaluated at the tap's own time in the tariff's zone.
// The checks run in the order of docs/semantics.md ("Order of checks") and the
// first that fails decides:
//
//	INVALID, REPLAYED, (exit: accept, count nothing), REVOKED, BLOCKED,
//	CANCELED, STALE, PRODUCT, NOT_YET_VALID, EXPIRED, PASSBACK,
//	ALREADY_REDEEMED, OK
//
// STALE (check 6a) applies on a fleet node only: Input.StateAsOf is the hub
// time its copy of the hub's state is complete up to, and a tap later than
// that by more than the product's max_staleness is denied STALE, or, under
// when_stale = "accept", decided as usual with an accept flagged STALE
// (docs/semantics.md, "Offline policy"). The hub and a standalone ledger
// pass a zero StateAsOf: never stale.
//
// A denied tap is a Decision with a Reason, never an error. Reasons and flags
// are persisted and never renumbered.
//
// Validator is the thin loop around Decide: it reads the node's state_as_of
// (Options.StateAsOf, when set), then inside one Store.Update (the store's
// single writer) it checks the tap id for a duplicate, reads the card,
// resolves the pass (a card's live pass, else its newest), decides, and
// journals the tap with the pass activation, usage and card counter the
// decision implies. Update returns only once that is durable, so a gate opens
// only on a recorded accept. Because every decision is taken on the writer
// with the state of all earlier commits, concurrent taps of one pass never
// both spend its last entry. The lifecycle (Sell, Refund, Block, Unblock,
// Replace) runs the same way and posts sales and refunds in minor units.
//
// Invariants: validity ends are exclusive; an entry is never accepted at or
// after the end of validity or the activation deadline, for a blocked card, a
// revoked card or a refunded pass; limits count accepted entries per venue
// (never exits) and are never exceeded; a tap id is journaled once.
//
// Beyond the order of checks, the engine decides so (each is tested in
// testdata/*.txt):
//   - a product with clock "fixed" or activation "fixed_start" needs a start
//     date at sale (validity from the start of that service day, never before
//     the sale's service day); no other product takes one; at_sale and fixed
//     passes are active from the sale and never carry ACTIVATED;
//   - the card's counter is stored from every tap that passes the REPLAYED
//     check, denied or not; a tap without a counter is not checked;
//   - a gate's venue is looked up in the pass's tariff version, then in the
//     version in force at the tap, then in any version; none is an error;
//   - a sale is refused onto a blocked or revoked card, before the first
//     tariff version takes effect, and when the card has a live pass; Block
//     needs a card that has carried a pass, and a card already blocked stays
//     as it is (error); a replacement card must not be blocked;
//   - a duplicate tap repeats the stored decision exactly, ACTIVATED included.
//
// Package engine/memstore is an in-memory Store for tests; package ledger is
// the durable one.
package engine
