// Package ledger is citypass's durable store: tariff versions, passes, cards,
// per-pass usage, the tap journal, double-entry postings with running account
// balances, partner statements and small metadata, in an embedded Pebble
// (github.com/cockroachdb/pebble/v2) database. It implements engine.Store.
//
// # Durability contract
//
//   - One writer goroutine owns every read-modify-write. Update requests queue
//     to it (bounded, Options.QueueLen); it takes what is queued (up to
//     Options.GroupMax), runs each transaction in order and commits the group's
//     writes as ONE Pebble batch with pebble.Sync (group commit: concurrent
//     gates share one fsync). Update returns nil only after that sync.
//   - A transaction reads committed data plus the writes of the group's
//     earlier transactions plus its own. A transaction that fails (or panics)
//     loses only its own writes; a failed commit fails every transaction of
//     the group and nothing is acknowledged.
//   - A tap, its usage, card and postings written in one transaction are one
//     atomic batch: after any crash all of them exist or none does.
//   - Visibility before durability (Pebble publishes a batch before its WAL
//     sync): readers never see unsynced data. View and every iterator read
//     the ledger's published snapshot, which the writer replaces only after a
//     synced commit; the writer's own reads come from the database, whose
//     contents are all durable because the writer is its only committer and
//     waits for each sync. A duplicate tap whose original is in the same group
//     is answered with the group, after its sync.
//   - Fail-stop: Pebble reports unrecoverable errors (a failed WAL write or
//     sync, disk full, MANIFEST errors) through Logger.Fatalf, which by default
//     exits the process, and after which its DB.Apply returns nil as if all
//     were well. The ledger installs its own logger: the error is recorded,
//     logged to Options.Logger, passed to Options.OnFatal, and every later
//     Update and read returns it (a *FatalError matching ErrFailed, wrapping
//     Pebble's error, e.g. syscall.ENOSPC). A commit error reaches the writer
//     as an error for its whole group; during Open, Open returns it; on a
//     background goroutine (a flush's MANIFEST write) the ledger parks that
//     goroutine for good and Close gives up on Pebble after 5 s. Reopen to recover: the store then holds exactly
//     what Pebble's WAL recovery finds, which includes every acknowledged
//     write.
//   - A failing flush or compaction is not fatal in Pebble (it retries); it is
//     logged, and if it persists writes stall: Update then returns at its
//     context's deadline with ctx.Err() naming the background error. Gates
//     pass a deadline and stay shut.
//   - The writer keeps a bounded cache (Options.WriterCacheBytes) of hot
//     records it read from, or committed to, the database; it holds durable
//     values only and is coherent because the writer is the only committer.
//   - Pebble's LOCK file keeps a second process out; Open then returns a
//     *LockedError (ErrLocked) naming the holder's pid and command (Linux).
//   - FormatMajorVersion is pinned (FormatMajorVersion constant).
//
// # Key layout
//
// Keys are a one-byte table prefix followed by raw ids or fixed-width
// big-endian numbers, so the default bytes.Compare order is the natural one:
//
//	0x01 "schema"                 schema version (1)
//	0x01 "tariffs"                number of tariff versions loaded
//	0x02 <tariff id>              StoredTariff{ID, Ordinal, TOML}
//	0x10 <pass id>                engine.Pass
//	0x11 <card uid>               engine.Card (bindings, revoked, blocked, last counter)
//	0x12 <pass id>                engine.Usage
//	0x20 <device> 0x00 <seq:8>    journal seq of tap (device, seq)   — tap identity
//	0x21 <journal seq:8>          engine.TapRecord                    — journal order
//	0x22 <at:8> <journal seq:8>   (empty)                             — time index
//	0x30 <posting id>             engine.Posting
//	0x31 <account>                Balance{Dr, Cr, lines} over all postings
//	0x40 <statement id>           Statement
//	0x50 <name>                   PutMeta bytes
//
// The tap identity is (device, seq), never the journal seq: taps from many
// devices merge without loss or double counting (a fleet uploader resumes a
// device from DeviceHighWater; a re-sent tap finds its id). Device names may
// not contain NUL. at is UnixNano with the sign bit flipped (zero time sorts
// first).
//
// # Values
//
// Every value is kind(1) ‖ version(1) ‖ payload ‖ CRC-32C(4) over the rest;
// the payload is varints and length-prefixed strings in a fixed order per
// kind. Every read verifies the checksum, the kind and the version and
// returns a *CorruptionError (ErrCorrupt) naming the key. Times keep their
// instant and zone offset; compare them with time.Time.Equal.
//
// # Check
//
// Check recounts usage from the journal, verifies the journal and its
// indexes, references, Σ debits = Σ credits, stored balances and every
// checksum, and reports problems (citypass ledger check).
package ledger
