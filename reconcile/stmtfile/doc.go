// Package stmtfile writes the files reconcile sends to partners and the
// bank: statement CSVs, streamed line by line, and whole files (manifests,
// payout files, keys) written atomically. It knows the statement CSV's
// columns and how each is formatted; reconcile decides what the lines are.
//
// A statement CSV is written through a Writer:
//
//  1. Create opens a temp file beside the final one (".<name>.tmp-*") and
//     writes the header (Columns).
//  2. Write formats each Line in place, exactly as encoding/csv.Writer
//     would (comma, LF, the same quoting), straight into a 256 KiB chunk;
//     full chunks go to a goroutine of the Writer's own that hashes
//     (SHA-256) and writes them, at most four in flight. The journal pass
//     that produces the lines never waits for the disk unless four chunks
//     are pending.
//  3. Finish writes what is left, syncs and closes the file and returns the
//     hex SHA-256 of every byte; Commit renames it into place and syncs the
//     directory. Discard removes the temp file after a failure, so a final
//     path never holds a partial file.
//
// Lines of adjustments are kept apart while the journal is read (an
// unhashed Writer: a spill) and appended after the statement's own lines
// with AppendFrom, renumbered.
//
// Page cache: when the file implements Writeback (OS files on Linux), the
// kernel is asked to start writing each MiB to disk as soon as it is
// written, and pages 8 MB behind the written end are dropped from the page
// cache once on disk. A CSV of gigabytes then holds a few MB of page cache
// and its final fsync waits only for its tail.
//
// Everything goes through FS, the file-system seam: OS in production, a
// fault-injecting FS in tests.
//
// Formatting: amounts are minor units written with 2 places (MinorString),
// times RFC 3339 in the tariff's zone, with the offset. The number and time
// formatters cache what repeats from line to line (the line number and
// journal seq go up by a little, most taps share product, venue, gate,
// service day and amounts).
//
// A Writer is not safe for concurrent use. WriteFile is safe for concurrent
// use on distinct paths.
package stmtfile
