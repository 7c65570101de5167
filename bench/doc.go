// Package bench measures citypass against raw Pebble on the same machine in
// the same run (docs/semantics.md, "Performance and reliability").
//
// Every workload is a Config and a Run function, and every figure it reports
// stands beside a baseline that does the same I/O without citypass: the same
// Pebble version and options (RawOptions mirrors the ledger's), the same
// FormatMajorVersion, the same batch shape (keys and value bytes per commit)
// and the same pebble.Sync. A workload runs Runs times (at least 3), its
// measurement and its baseline interleaved so that machine noise hits both,
// and reports the median of each figure.
//
// Workloads:
//
//	decide     pure engine.Decide time per call
//	gate1      one gate: decision + durable journal, p50/p99, vs one raw synced
//	           writer, the two alternated tap by tap
//	gates      1, 8 and 64 concurrent gates, durable taps/s, vs as many raw writers
//	scale      tap p99 and process RSS on a big ledger vs a small one
//	reconcile  closing a month over the big journal vs a raw full scan of its keys;
//	           then, reported apart with no target, revenue recognition of its passes
//	recovery   ledger.Open + first read after SIGKILL of a process holding the big ledger
//	card       median card-read time, NTAG 424 SUN and DESFire
//	fleet      a hub (child process) and its nodes over NATS JetStream on
//	           127.0.0.1: catch-up of nodes' offline taps (taps/s into the hub
//	           ledger), online tap-to-hub-acknowledgement latency, the hub's RSS
//	           with 500 nodes, gate1's tap with a node's sync running vs not
//	           (alternated blocks), a block at the hub until 500 nodes deny,
//	           and a node 100,000 state updates behind until it is current;
//	           see RunFleet
//
// The raw batch shape is measured, not assumed: CalibrateShape taps a small
// ledger and diffs its keys, so the raw writers commit as many keys and
// bytes per batch as the ledger commits per tap.
//
// The big ledger of scale, reconcile and recovery (1,000,000 passes and
// 10,000,000 taps by default) is written by BuildLedger's bulk path: every
// card's history decided by engine.Decide in memory and written through the
// ledger's own Store.Update (PutPass, PutCard, PutUsage, PutPosting, PutTap)
// in NoSync group batches; see BuildLedger.
//
// Workloads whose RSS or crash behaviour must be attributable to one process
// (scale, reconcile, recovery, card reads over pcscd+vpcd, and the fleet's
// hub) run their
// measured phase in a child process, watched by the parent, which kills a
// child whose VmRSS passes Env.ChildRSSLimitMB:
// the caller supplies Config.Child, a function returning the command that
// re-executes the current binary in child mode, and the child calls
// RunChild. The citypass command does this with a hidden "bench child"
// sub-command; the package's tests do it from TestMain.
//
// Data lives in a temporary directory removed when Run returns. Results are
// a Result value, printed as a table (WriteTable) or as one JSON object; the
// targets of issues 7, 15 and 16 are evaluated by Result.Checks. Library
// code prints progress only to Config.Progress and never exits the process.
//
// Nothing here is safe for concurrent use unless said otherwise; Run owns
// every goroutine it starts and stops them before returning.
package bench
