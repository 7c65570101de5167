// Package sim is the fleet's seeded simulation (docs/fleet.md,
// "Simulation"), after TigerBeetle's VOPR and FoundationDB's simulation
// tests: a whole city on one machine, driven by a seed, checked as it goes.
//
//  1. NewPlan (plan.go) is the pure core: from a Config and its seed it
//     draws the nodes and sites, the passes sold at the hub's desk, every
//     tap (a day with a morning and an afternoon peak) and the faults
//     (outages, a site partition, crashes, a wiped disk, a hub restart,
//     clock skew, blocked cards), as a list of events in time order. No
//     clock, no I/O: the same seed gives the same plan.
//  2. Run (run.go) is the thin loop that plays a plan on the loopback
//     harness (fleet/fleettest): an embedded hub and a LoopbackNode per
//     node, every one reading one simulated Clock. Simulated time moves a
//     tick at a time (5 minutes): the tick's events apply (faults first,
//     and a node back from one catches up before the tick's taps), then a
//     barrier waits until every node with a link has its journal
//     acknowledged by the hub and the hub's state up to the tick's end.
//     Real time is spent only on network delivery. So a node with a link
//     decides on everything the hub knew at the last tick, and a node's
//     decisions do not depend on the machine's speed: the same seed gives
//     the same report (Report.Deterministic), timings aside.
//  3. The invariants (Invariants, check.go) are checked at each crash, tap
//     and barrier, and at the end: every durable node record at the hub
//     exactly once; a wiped epoch's unreceived reported range at risk and
//     nothing else; ledger check clean on the hub and every node; the
//     hub's decisions those of the nodes; a standalone ledger fed the same
//     sales, blocks and taps in time order (a replay) decides every tap
//     the same, except taps decided by a node cut off (or after one of the
//     card's taps on such a node was still unknown to the hub); the
//     hub's statements equal the replay's but for the visits of those
//     taps; closing again pays nothing more. The first one broken is a
//     *Violation naming the seed.
//
// Runs are independent: each has its own hub, ports and directory.
package sim
