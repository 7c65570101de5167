// Package hub runs the back office's side of the fleet (docs/fleet.md) on
// the hub's ledger:
//
//   - ingest: workers fetch uploads from the durable pull consumer of the
//     CITYPASS_TAPS stream, apply each (ApplyBatch: fleet.Ingest's result in
//     one synced ledger transaction, with the node epoch's high-water and the
//     origin records), and only then acknowledge the message and tell the
//     node its new mark;
//   - reports: nodes' contact (last seq, clock, state_as_of) kept per node
//     epoch, answered with the hub's mark so the node re-sends what is
//     missing;
//   - state down: the publisher appends the ledger's change log to the
//     CITYPASS_STATE stream in commit order, with a heartbeat at least every
//     HeartbeatEvery, and the snapshot service serves a node that has no
//     state or fell behind the stream's retention;
//   - completeness: CloseReady makes a statement's close wait for nodes that
//     uploaded taps of its period and have not been in contact since it
//     ended (LaggingError names them).
//
// Process opens all of it on a hub data dir (identity, operator
// credentials, the embedded NATS server or an existing cluster, streams);
// Enroll issues a node's credentials. A crash anywhere between apply and
// acknowledgement is a repeat the next time, never a loss or a double.
//
// What the hub does is observable without reading its ledger by hand:
// Stats counts the ingest's work; RegisterMetrics serves those counts,
// fleet status (ReadStatus) and the streams' state to Prometheus, read at
// each scrape; the loops log their events through Config.Log (docs/
// fleet.md, "Observing the hub"). Nothing logged or measured carries key
// material.
package hub
