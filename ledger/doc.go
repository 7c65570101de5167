// Package ledger is citypass's durable store: tariff versions, passes, cards,
// per-pass usage, the tap journal, double-entry postings with running account
// balances, records that other packages own and give their meaning (reconcile's
// statements, payouts and settings: Records, UpdateRecords) and small metadata,
// in an embedded Pebble (github.com/cockroachdb/pebble/v2) database. It implements engine.Store.
//
// # Durability contract
//
//   - One writer goroutine owns every read-modify-write. Update requests queue
//     to it (bounded, Options.QueueLen); it takes what is queued (up to
//     Options.GroupMax), runs each transaction in order and commits the group's
//     writes as ONE Pebble batch (group commit: concurrent gates share one
//     fsync). Update returns nil only after a WAL sync that covers the batch.
//   - The commit is pipelined. The writer commits group N's batch with
//     pebble.NoSync (it enters the WAL buffer and the memtable, in commit
//     order), takes a snapshot holding exactly batches 1..N, and hands the
//     group to one syncer goroutine; then it runs group N+1 at once, while N's
//     fsync is in flight. The syncer takes every group handed over so far,
//     calls db.LogData(nil, pebble.Sync) — a barrier whose sync covers all
//     WAL data queued before it, so every batch committed before it started
//     (a WAL rotation syncs and closes the old log first) — then publishes
//     the newest of those groups' snapshots and answers the groups in order.
//     The queue from the writer to the syncer holds at most 64 groups; when
//     it is full the writer waits. A lone request with no group in flight
//     and nothing else queued (a single gate) skips the hand-off: the writer
//     commits it with pebble.Sync, then publishes and answers it itself —
//     every earlier group has been answered, so synced, and nothing could
//     run during that sync anyway.
//   - A transaction reads everything committed so far, synced or not (group
//     N+1 sees N's writes), plus the writes of the group's earlier
//     transactions and its own. Every answer (nil, an error, a duplicate's
//     stored decision) is given only after a sync covering every batch
//     committed before the transaction ran: nothing it read can be lost
//     after it is answered. A transaction that fails (or panics) loses only
//     its own writes.
//   - A failed commit or WAL sync fails the ledger, and with it every group
//     not yet answered — including groups that already ran against the lost
//     writes: N+1 is never acknowledged when N's sync failed.
//   - A tap, its usage, card and postings written in one transaction are one
//     atomic batch: after any crash all of them exist or none does.
//   - Visibility before durability (Pebble publishes a batch before its WAL
//     sync, and the writer now commits ahead of the sync): readers never see
//     unsynced data. View and every iterator read the ledger's published
//     snapshot, which the syncer replaces only after the sync covering it.
//     Only the writer reads the live database.
//   - Fail-stop: Pebble reports unrecoverable errors (a failed WAL write or
//     sync, a failed MANIFEST write) through Logger.Fatalf, which by default
//     exits the process, and after which its DB.Apply returns nil as if all
//     were well. The ledger installs its own logger: the error is recorded,
//     logged to Options.Logger, passed to Options.OnFatal, and every waiting
//     and later Update and read returns it (a *FatalError matching
//     ErrFailed, wrapping Pebble's error; a *DiskFullError for ENOSPC).
//     Fatalf then panics. The panic is recovered where the ledger called
//     into Pebble — the writer's batch commit and the syncer's WAL barrier
//     (apply), pebble.Open (openPebble) — and becomes the error they
//     return; on a Pebble background goroutine (a flush or compaction whose
//     MANIFEST write failed) nothing recovers it and the process ends, as
//     with Pebble's default logger: Pebble's state is no longer trusted, and
//     letting that goroutine go on could write the MANIFEST after a failed
//     write. OnFatal runs before, so a process can report and exit cleanly
//     (citypass prints one line and exits 1). No goroutine is ever parked,
//     and nothing depends on Pebble's message texts. Reopen to recover: the
//     store then holds exactly what Pebble's WAL recovery finds, which
//     includes every acknowledged write.
//   - Damaged files: Pebble checksums every block; a read that finds a
//     damaged file (Pebble's DataCorruption event, which the ledger handles
//     instead of Pebble's default Fatalf) returns a *DamagedFileError
//     naming the file (ErrCorrupt). The ledger is not stopped: reads and
//     transactions that need the file fail (a gate answers ERROR and stays
//     shut), nothing is decided on data that could not be read. Check lists
//     each damaged file. A damaged WAL or MANIFEST fails Open with Pebble's
//     error; the one exception is the WAL's last record, which Pebble cannot
//     tell from a write torn by a crash and drops.
//   - Full disk: a commit or sync that finds the disk full fails the ledger
//     with a *DiskFullError (ErrDiskFull, syscall.ENOSPC), and so does a
//     flush or compaction that does (Pebble retries those forever; the
//     ledger holds each retry back a second). Open, which waits for the
//     flush of the recovered WAL, gives up with a *DiskFullError as soon as
//     that flush finds the disk full; the abandoned open retries once a
//     second and closes the store once space is freed. Nothing acknowledged
//     is lost: it is in the WAL, replayed by the next Open.
//   - Options.ReadOnly opens with Pebble's ReadOnly: nothing is written (no
//     flush, no new WAL, no LOCK file created), so a backup on a read-only
//     medium or a ledger on a full disk can be read and checked. It takes a
//     shared fcntl lock (readers together, never beside a writer).
//   - A failing flush or compaction is not fatal in Pebble (it retries); it is
//     logged, and if it persists writes stall: Update then returns at its
//     context's deadline with ctx.Err() naming the background error. Gates
//     pass a deadline and stay shut.
//   - Pebble's LOCK file keeps a second process out; Open then returns a
//     *LockedError (ErrLocked) naming the holder's pid and command (Linux).
//     A second Open of a directory this process has open is refused the
//     same way, from the ledger's own record (claimDir).
//   - FormatMajorVersion is pinned (FormatMajorVersion constant).
//
// # Keys and values
//
// docs/formats.md ("Ledger") gives the key layout and every value's
// encoding; keys.go and codec.go are the code. Keys are a one-byte table
// prefix and raw ids or fixed-width big-endian numbers, so Pebble's order is
// each table's natural order. A tap is identified by (device, seq), never by
// its journal seq: taps from many devices merge without loss or double
// counting (a fleet uploader resumes a device from DeviceHighWater; a re-sent
// tap finds its id). Every value carries its kind, a version and a CRC-32C;
// every read verifies them and returns a *CorruptionError (ErrCorrupt)
// naming the key. Times keep their instant and zone offset; compare them
// with time.Time.Equal.
//
// # Check
//
// Check recounts usage from the journal, verifies the journal and its
// indexes, references, Σ debits = Σ credits, stored balances and every
// checksum, and reports problems (citypass ledger check).
package ledger
