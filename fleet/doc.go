// Package fleet is the pure core of a city's fleet: one hub (the back
// office) and many nodes (gates, validators, desks), each with its own
// ledger, syncing through NATS JetStream. docs/fleet.md is the contract;
// this package holds its rules as functions of values, with no I/O:
//
//   - identity and numbering: Role, CheckNodeID, SeqFloor (a node numbers its
//     taps above a floor from its ledger's creation time, so a wiped node
//     never reuses an earlier ledger's tap ids);
//   - taps up: Batch (one upload: a run of one node epoch's journal records,
//     its message id), Ingest (what the hub does with a batch given what its
//     ledger holds: new records, repeats, gaps to ask again, aliases, tap-id
//     conflicts quarantined, effects merged), SameRecord;
//   - state down: StateCursor (where a node stands in the hub's state stream,
//     and its state_as_of), MergePass, MergeCard, MergeUsage (how a hub
//     record meets the node's own not-yet-acknowledged effects);
//   - the hub's view of each node: NodeEpoch (per node and ledger epoch: the
//     high-water of records held, the last seq reported, contact, clock
//     offset, state_as_of, tap-time span), Contact, BuildStatus (what `fleet
//     status` shows: backlog, at-risk ranges, staleness, clock skew,
//     quarantine) and Lagging (nodes a period's close must wait for).
//
// Who owns what (docs/fleet.md, "Transport"): each node writes only its own
// taps subject of the CITYPASS_TAPS stream and owns its ledger; the hub owns
// the durable ingest consumer, the CITYPASS_STATE stream (written only by its
// publisher), its ledger's fleet records (origins, node epochs, quarantine,
// the change log) and the acknowledgements. A node holds every record until
// the hub's ledger has it: nothing in the design trusts JetStream's
// retention, sources or deduplication for completeness.
//
// The I/O lives in the sub-packages: natsio (the NATS server, connections,
// streams and request/reply), wire (message encodings), hub (the back
// office's loops), node (a node's sync loops), fleettest (a loopback fleet
// for tests and the simulation) and netproxy (a TCP proxy that cuts links).
package fleet
