// Package wire encodes what the fleet's nodes and hub send each other over
// NATS (docs/fleet.md, "Messages"): uploads of journal records (binary,
// each record in the ledger's own framed encoding, the whole checksummed),
// and the small JSON messages of acknowledgements and reports.
package wire
