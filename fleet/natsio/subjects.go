package natsio

// Subjects and streams of the fleet (docs/fleet.md, "Transport"). Node
// ids are [a-z0-9][a-z0-9-]*, so they are single subject tokens.
const (
	// TapsStream holds every node's uploads (Limits retention, never
	// WorkQueue: E4 in docs/fleet.md, "Transport"). The hub's durable
	// consumer IngestConsumer
	// reads it.
	TapsStream     = "CITYPASS_TAPS"
	IngestConsumer = "ingest"
	// StateStream carries the hub's state updates and heartbeats down to
	// the nodes, in the hub's commit order.
	StateStream = "CITYPASS_STATE"
	// StateSubject is the subject of StateStream.
	StateSubject = "citypass.state"
	// OperatorSubject is where the hub serves operator commands.
	OperatorSubject = "citypass.op.exec"
)

// TapsSubject is where node publishes its uploads.
func TapsSubject(node string) string { return "citypass.taps." + node }

// AckSubject is where the hub tells node what it has made durable.
func AckSubject(node string) string { return "citypass.ack." + node }

// HubSubject is the subject of a hub service (report, snapshot) asked by
// node; verb "*" is the wildcard of every service.
func HubSubject(verb, node string) string { return "citypass.hub." + verb + "." + node }

// InboxPrefix is node's reply inbox prefix: a node may subscribe only
// below its own.
func InboxPrefix(node string) string {
	if node == "" {
		return "_INBOX"
	}
	return "_i." + node
}
