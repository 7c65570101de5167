// Package netproxy is a toggleable TCP proxy for fault tests of the fleet: a
// listener on 127.0.0.1 on a random port that forwards each connection to one
// target address, and that a test (or a simulator) can take down, bring back
// up, slow down or make flap on a seeded schedule. It uses only the standard
// library.
//
// Put one in front of each link a test wants to cut: a node's client
// connection to the hub, a leaf node's remote. NATS servers advertise the
// URLs of their peers, so a client or a leaf remote that may reconnect to a
// discovered URL goes around the proxy; set IgnoreDiscoveredServers (leaf
// remotes) or nats.IgnoreDiscoveredServers() (clients) in a partition test.
//
// # States
//
// A new proxy is up: every accepted connection is dialed through to the
// target and bytes flow both ways, with a TCP half-close passed on (a peer's
// FIN becomes a FIN to the other side). Down does two things at once:
//
//  1. it cuts every forwarded connection (both sides are reset), whatever
//     the mode;
//  2. until Up, each new connection is handled by the down mode:
//     Refuse resets it at once (the peer reads ECONNRESET, like a host
//     whose service is gone); Blackhole accepts it and holds it, reading
//     and dropping whatever the peer sends and never answering (like a dead
//     link: the peer notices only through its own timeouts).
//
// Up lets new connections through again. A connection blackholed while down
// stays dead after Up, as a real handshake lost on a dead link does; it ends
// when its peer gives up or the proxy closes. A connection whose target dial
// was still running when Down came is cut as soon as the dial returns.
//
// # Latency
//
// Options.Latency (or SetLatency) delays every chunk read from either side by
// that much before it is written to the other, in order, so a round trip
// takes at least twice the latency while throughput is kept (chunks are
// pipelined, up to 64 chunks of 32 KiB per direction; beyond that the reader
// waits and TCP pushes back on the sender).
//
// # Flapping
//
// Flap (or FlapSeed) toggles the proxy between up and down, starting from its
// current state, after intervals drawn uniformly in [FlapMin, FlapMax]
// (default 0.5–5 s) by a FlapSchedule: a seeded source gives the same
// sequence of intervals every time, so a failing test that prints its seed
// replays the same schedule of toggles. The toggles' instants still depend
// on the real clock; Options.After replaces it in tests.
//
// # Counters and limits
//
// Stats counts accepted, forwarded, refused, blackholed and cut connections,
// failed dials, bytes in each direction, discarded bytes and toggles. At most
// Options.MaxConns connections are held at once; one more is refused.
//
// # Goroutines
//
// A Proxy is safe for concurrent use. It runs one accept goroutine, one for
// a flapping schedule, one per blackholed connection and four per forwarded
// connection (a reader and a writer per direction). Close stops the
// listener and the schedule, closes every connection and returns only when
// every one of those goroutines has ended.
package netproxy
