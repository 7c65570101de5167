// Package natsio is the fleet's NATS transport (docs/fleet.md,
// "Transport"): the embedded nats-server with JetStream (every write synced
// before its acknowledgement; NKey authentication; a node confined by
// NodePermissions to its own subjects; TLS required beyond loopback;
// optional cluster), credentials files, connections (Connect, with a
// per-node inbox and reconnection), the streams (StreamConfigs,
// EnsureStreams: Limits retention, never WorkQueue, no sources), uploads
// to and from the ingest consumer, the state stream's publisher and reader,
// request/reply services, and commands forwarded to a running hub (Exec,
// ServeExec).
//
// Every call takes a context and returns when it ends: a node's sync must
// be able to stop while its server is unreachable.
//
// The pinned tests (pinned_test.go) assert JetStream behaviours the design
// avoids depending on (E3 and E4 in docs/fleet.md, "Transport"), so an upgrade that changes them is
// noticed.
package natsio
