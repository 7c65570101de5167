// Package node runs a fleet node's side of sync (docs/fleet.md):
//
//   - uplink: it uploads the node ledger's journal to the hub in batches,
//     read from the ledger's durable snapshots, and advances its cursor
//     (meta fleet.uplink) only on the hub's acknowledgement, never beyond
//     what the stream confirmed it stored (a mark the hub sends before that
//     confirmation arrives counts once it does); it looks for new records
//     every poll; after a reconnection, or while the hub's mark stays below
//     what was sent, it re-sends from the mark;
//   - downlink: it loads a snapshot of the hub's state when it has none (or
//     its position fell out of the state stream's retention, or the hub's
//     ledger changed), then applies the state stream in order, each fetch in
//     one synced ledger transaction with its cursor (meta fleet.state: hub
//     epoch, stream sequence, revision and state_as_of);
//   - reports: at every contact it tells the hub its last seq, clock and
//     state_as_of.
//
// The tap path never waits on any of it: a gate decides and journals
// locally. What a node guarantees (docs/fleet.md, "What a node
// guarantees"): after a crash every tap whose decision was returned is in
// its ledger and is uploaded from the saved cursor (a re-send is a repeat);
// after a partition it keeps deciding, its staleness grows, and on heal it
// re-sends from the hub's mark and catches the state up; after a wipe it is
// a new ledger epoch numbering taps above its new floor, and what the hub
// never received of the old epoch shows as at risk.
//
// The node owns its ledger and its taps subject; it only reads the state
// stream, through a consumer of its own whose deliveries it acknowledges
// (so that a message lost on the way comes again).
package node
