// Package reconcile turns the journal into money: signed partner statements,
// late-tap adjustments, matching against partners' own scan exports, SEPA
// payouts with their lifecycle, and finance reports (docs/semantics.md,
// "Reconciliation"). The file formats are described in docs/formats.md.
//
// # Shape
//
// Like engine, reconcile is a pure core with thin loops around it:
//
//  1. planClose (close.go) decides, from the catalog and the stored
//     statements alone, which periods of which partners a close values.
//  2. The valuation core (valuation.go) takes journal records in journal
//     order and returns statement lines and running totals. It reads no
//     clock and does no I/O of its own: the usage of a pass with limited
//     entries comes through a small reader the loop hands it (passReader).
//     Its one rule of over-use (countEntry) and its order of valuation are
//     in one place.
//  3. The close loop (closer) reads the journal into the core, hands the
//     lines to the statement writers of package stmtfile (CSV formatting,
//     hashing, page cache, atomic files, behind a file-system seam), signs
//     the manifests and stores the statements.
//
// reconcile knows the ledger only through the Ledger interface, declared
// here with built-in and engine types: its statements, payouts and payout
// settings are records (Record, Records, UpdateRecords) whose bytes only
// reconcile reads.
//
// # Statements
//
// A statement is one partner and one contract period (service days of the
// tariff zone: a day, an ISO week from Monday, or a month). Its id is
// "<partner>-<period>", e.g. "mucem-2026-11". It is two files, <id>.csv
// (one line per flat fee, visit or adjustment) and <id>.json (the signed
// manifest); docs/formats.md gives their columns and keys.
//
// Valuation: per_visit pays Rates[category] per accepted entry;
// percent_of_gate pays Percent % of the venue's gate price per accepted entry
// (rounded per entry to 2 places, half away from zero); per_pass_day pays
// Rates[category] once per pass and service day with an accepted entry at the
// partner's venues (the first such entry in journal order); flat pays Amount
// per period whose contract was in force at its start (visits are listed at
// 0). A category without a rate is listed at 0. The cap of a period bounds
// everything paid for it, its own statement plus later adjustments: the line
// that crosses it gets the remainder and later lines are listed at 0, capped.
// The governing contract of a period (kind, cap, flat amount) is the one in
// force at its start; per-entry rates are those in force at each tap.
//
// Entry limits (countEntry): an accepted entry beyond its product's limit at
// the venue (two offline devices both accepted it) is listed at 0 and marked
// over_limit. The entries of a pass at a venue count over its whole
// validity, whatever period each was paid in, in entry order: the batch of
// the journal an entry was journaled in (the partner's statements'
// data_as_of cut the journal into batches), then tap time, device, seq. So
// entries that a close sees together are settled in canonical order
// whatever order they were journaled in, and an entry journaled after a
// statement never takes the place of one that statement judged. At its
// first limited entry a close reads every pass's usage once (Ledger.Usages:
// every accepted entry of each pass) and keeps the passes with more than
// one entry at a limited venue; only their entries there read the pass's
// usage and, over the limit, the journal seqs of its entries (Ledger.View).
// A close that meets no limited entry reads no usage.
//
// Every period is valued as one sequence in journal order: its flat fee,
// then each accepted entry at the partner with tap time in the period, by
// journal seq. Its statement lists the entries journaled up to its
// data_as_of; the partner's next statement lists, as adjustments, those of
// its earlier periods journaled since. So an adjustment is valued exactly as
// if it had been on the period's statement after everything journaled
// before it (distinct pass-days and the cap included; entry limits in entry
// order), and closing any statement again computes the same lines. Amounts
// are integer minor units. Distinct pass-days are kept by a 96-bit
// fingerprint (two maphash sums under random per-process seeds) of pass id
// and service day instead of the ids themselves: exact unless two
// different keys of one period share a fingerprint (for ten million keys,
// a probability below 10^-16 per close, whatever the ids).
//
// # Closing without gaps
//
// A partner's periods close in order, from the period holding its first
// contract's effective date, and none is ever skipped while something is
// due in it:
//
//   - Close with Through closes, for every partner, every period of its
//     contract kind that has ended by the end of that service day and is
//     not closed yet, oldest first, in one pass over the journal. Periods
//     with nothing due (no visit, no adjustment, no flat fee) get no
//     statement; their late taps, if any, go onto the partner's next
//     statement like any closed period's.
//   - Close with Period closes that period, and the partner's earlier open
//     periods along (those with only a flat fee get their statement);
//     when one has visits, it refuses with an *OpenPeriodsError listing
//     them, unless CatchUp closes them first.
//   - Coverage (run by `ledger check` and `reconcile verify`) reports the
//     journaled accepted entries that belong to no statement and never
//     will: entries of a period that has no statement although a later
//     statement of the partner closed after they were journaled.
//
// MonthEnd is the finance month end in its order: Close, then, only when it
// succeeded, Recognize through what the close covers.
//
// # Invariants
//
//   - A closed statement never changes. The ledger stores its manifest,
//     data_as_of and net with its posting, atomically; the CSV is not
//     stored (a month of a busy network is gigabytes). Closing again (Close
//     with the Period of a stored statement) regenerates the CSV from the
//     journal up to the stored data_as_of (the journal is append-only,
//     tariff versions are never replaced), writes it with the stored
//     manifest, and refuses with ErrRegenerate if it does not hash to the
//     manifest's csv_sha256. Nothing in the bytes depends on the clock of
//     the close, so two ledgers with the same history close to identical
//     files.
//   - A statement covers taps journaled up to data_as_of.journal_seq. A tap
//     of an earlier period journaled later (by journal order, whatever its
//     tap time) becomes an adjustment line on the partner's next statement,
//     naming original_period and valued under that period's contract and
//     remaining cap.
//   - Each manifest's previous_sha256 is the SHA-256 of the partner's
//     previous manifest file (64 zeros for the first), so removing or
//     changing a statement breaks the chain. The signature is Ed25519
//     (base64) over CanonicalBytes: the manifest JSON without "signature",
//     keys sorted, no whitespace — what `jq -cjS 'del(.signature)'` prints.
//   - Postings are in minor units with deterministic ids, and every step
//     balances. A close posts "close/<id>" (Dr partner_cost:<p> / Cr
//     partner_payable:<p>, the net) with its statement, dated at the
//     period's last instant, and nothing else. Recognize posts
//     "pass_revenue/<pass>" (Dr deferred_revenue / Cr pass_revenue) for
//     activated passes whose validity ended and "breakage/<pass>" (Dr
//     deferred_revenue / Cr breakage_revenue) for never-activated passes
//     whose activation deadline passed; a pass found used after its
//     breakage is reclassified (Dr breakage_revenue / Cr pass_revenue);
//     refunded passes are never recognised; it is idempotent and stores in
//     bounded batches. A payout posts "payout/<payout>/<partner>" (Dr
//     partner_payable:<p> / Cr bank) per transfer; a cancelled payout or a
//     transfer the bank rejected is reversed by
//     "payout-reversal/<payout>/<partner>" (Dr bank / Cr
//     partner_payable:<p>).
//   - Memory does not grow with the number of taps. A close reads the
//     journal in one ordered pass (JournalBatches from seq 1 up to
//     data_as_of: a tap of the period may have been journaled at any time)
//     for all its statements, while the ledger's scanner and decoder
//     goroutines read and decode the next batches. Lines go straight to the
//     files (package stmtfile). Per period being valued (each closed one,
//     plus each earlier period that has late taps on the first statement,
//     found by a shorter first pass over the journal since the previous
//     statement) what is held is its paid amount and, only for
//     per_pass_day contracts, one 16-byte slot per pass-day in an
//     open-addressing table at most 3/4 full. That grows with the distinct
//     pass-days of the period, not with its taps. Entry limits hold a
//     fingerprint per pass with more than one entry at a limited venue,
//     and the usage of one pass at a time. Recognize holds one entry per
//     pass already recognised and one batch of postings.
//   - Cost: linear in the journal up to data_as_of, read once (twice for
//     the part since the previous statement when there are late taps),
//     plus, when there are limited entries, one read of every pass's usage
//     and, for the passes with several entries at a limited venue, a read
//     of the usage per such entry.
//
// # Matching, payouts, reports
//
// Match compares a statement with a partner's own scan export (CSV with a
// header naming scanned_at, card and gate): matched, ours-only and
// theirs-only visits with our amounts. A file with any bad row is refused as
// a whole with a *PartnerFileError listing every bad row by line (and
// column); nothing is recorded either way.
//
// Payouts have a lifecycle. Payout issues one pain.001.001.03 SEPA credit
// transfer file with one transfer per partner for every closed, unpaid
// statement with a positive net (its statements in the remittance
// information), debiting the account stored by SetPayoutDebtor; in one
// atomic step it stores the payout, marks its statements paid and posts it,
// then writes the file, which ReissuePayout writes again byte for byte from
// the stored payout. CancelPayout unpays the statements of an issued payout
// (reversing postings); SettlePayout records that it left the account;
// ImportStatusReport applies the bank's pain.002 status report: a rejected
// transfer is reversed and its statements are paid by the next payout.
//
// Sales, Revenue, Payables, Visits, VisitsPivot and TrialBalanceReport
// return data structs; every report and result implements Tabler, and
// Render prints it as an aligned table, CSV (data rows only: totals apart,
// with RenderTotals), csv-fr for French spreadsheets, or JSON (counts as
// numbers, amounts as strings with 2 places, names next to ids).
//
// Functions are safe for concurrent use as far as the Ledger is; closes of
// one partner must not run concurrently (the second store of a statement
// id is refused), and payout steps are atomic in the ledger.
package reconcile
