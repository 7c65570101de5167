// Package reconcile turns the journal into money: signed partner statements,
// late-tap adjustments, matching against partners' own scan exports, SEPA
// payouts and finance reports (docs/semantics.md, "Reconciliation").
//
// # Statements
//
// A statement is one partner and one contract period (service days of the
// tariff zone: a day, an ISO week from Monday, or a month). Its id is
// "<partner>-<period>", e.g. "mucem-2026-11". Close writes two files:
//
//   - <id>.csv: a header and one line per visit, adjustment or flat fee, with
//     the stable columns line, kind, journal_seq, tap_device, tap_seq, at,
//     card, pass, product, category, venue, gate, service_day,
//     original_period, value, amount, capped, note. value is the line's worth
//     under the contract in force at the tap (contracts apply by tap date);
//     amount is what is paid after the period cap; capped is true when amount
//     < value; note is "over_limit" for an accepted entry beyond the pass's
//     entry limit at the venue (two offline devices both accepted it; the
//     venue is paid once), listed at 0. Lines: the flat fee first (flat
//     contracts), then the period's visits in journal order (journal_seq
//     ascending), then the adjustments in journal order. The amounts add up
//     to the manifest's net.
//   - <id>.json: the manifest with exactly the keys statement, partner,
//     period, period_start, period_end, data_as_of ({journal_seq,
//     recorded_at}), contract (tariff version and terms), currency, visits,
//     gross, cap_reduction, adjustments, net, csv_sha256, previous_sha256,
//     signature. Amounts are strings with 2 places and net = gross -
//     cap_reduction + adjustments.
//
// Valuation: per_visit pays Rates[category] per accepted entry;
// percent_of_gate pays Percent % of the venue's gate price per accepted entry
// (rounded per entry to 2 places, half away from zero); per_pass_day pays
// Rates[category] once per pass and service day with an accepted entry at the
// partner's venues (the first such entry in journal order); flat pays Amount
// per period (visits are listed at 0). A category without a rate is listed
// at 0. The cap of a period bounds everything paid for it, its own statement
// plus later adjustments: the line that crosses it gets the remainder and
// later lines are listed at 0, capped. The governing contract of a period
// (kind, cap, flat amount) is the one in force at its start.
//
// Every period is valued as one sequence in journal order: its flat fee,
// then each accepted entry at the partner with tap time in the period, by
// journal seq. Its statement lists the entries journaled up to its
// data_as_of; each later statement lists, as adjustments, those journaled
// since the previous statement. So an adjustment is valued exactly as if it
// had been on the period's statement after everything journaled before it
// (entry limits, distinct pass-days and the cap included), and closing any
// statement again computes the same lines. Amounts are integer minor units.
// Distinct pass-days and entry counts are kept by a 128-bit fingerprint
// (two maphash sums under random per-process seeds) of pass id, venue and
// service day instead of the ids themselves: exact unless two different
// keys of one period share a fingerprint (for ten million keys, a
// probability below 10^-24 per close, whatever the ids).
//
// # Invariants
//
//   - A closed statement never changes. The ledger stores its manifest,
//     data_as_of and net with its postings, atomically (PutStatement); the
//     CSV is not stored (a month of a busy network is gigabytes). Closing
//     again regenerates the CSV from the journal up to the stored
//     data_as_of (the journal is append-only, tariff versions are never
//     replaced), writes it with the stored manifest, and refuses with
//     ErrRegenerate if it does not hash to the manifest's csv_sha256 — so
//     "closing again writes the existing statement again, byte for byte"
//     holds or fails loudly. A statement stored with CSV bytes (ledger
//     records written before this) is written back as stored. Files are
//     written atomically (temp file, fsync, rename, fsync dir): the CSV is
//     streamed into its temp file while the journal is read, hashed on the
//     way, and renamed into place after the statement is stored. Nothing in
//     the bytes depends on the clock of the close, so two ledgers with the
//     same history close to identical files.
//   - A statement covers taps journaled up to data_as_of.journal_seq. A tap
//     of an already closed period journaled later (by journal order, whatever
//     its tap time) becomes an adjustment line on the partner's next
//     statement, naming original_period and valued under that period's
//     contract and remaining cap.
//   - A partner's periods close in order; each manifest's previous_sha256 is
//     the SHA-256 of the partner's previous manifest file (64 zeros for the
//     first), so removing or changing a statement breaks the chain.
//   - The signature is Ed25519 (base64) over CanonicalBytes: the manifest
//     JSON without "signature", keys sorted, no whitespace — what
//     `jq -cjS 'del(.signature)'` prints. Partners verify with the key
//     printed by FormatPublicKey.
//   - Postings are in minor units with deterministic ids. Closing posts
//     "close/<id>" (Dr partner_cost:<p> / Cr partner_payable:<p>, the net)
//     with its statement, and nothing else. Revenue recognition is its own
//     step, Recognize, over the passes rather than the journal (the month
//     end, `citypass reconcile close`, runs it through the period's end
//     after a successful Close): the recognition due and not yet posted is
//     stored in batches (one atomic Update each): "pass_revenue/<pass>" (Dr
//     deferred_revenue / Cr pass_revenue) for activated passes whose
//     validity ended, "breakage/<pass>" (Dr deferred_revenue / Cr
//     breakage_revenue) for never-activated passes whose activation
//     deadline passed; a pass found used after its breakage (a late offline
//     tap) is reclassified by "pass_revenue/<pass>" (Dr breakage_revenue /
//     Cr pass_revenue); refunded passes are never recognised. Ids are
//     deterministic and recognised passes are skipped, so Recognize is
//     idempotent and a run interrupted between batches is completed by the
//     next. Payout posts "payout/<id>" (Dr partner_payable:<p> / Cr bank).
//   - Memory does not grow with the number of taps. A close reads the
//     journal in one ordered pass (JournalBatches from seq 1 up to
//     data_as_of: a tap of the period may have been journaled at any time)
//     for all its statements, routing each tap to its partner by venue,
//     while the ledger's scanner and decoder goroutines read and decode the
//     next batches (a bounded number of recycled batches in flight). Lines go straight to
//     the files, through a goroutine per statement that hashes and writes
//     chunks of 256 KiB (at most 4 in flight). Per period being valued (the closed
//     one, plus each earlier period that has late taps on this statement,
//     found by a shorter first pass over the journal since the previous
//     statement) what is held is its paid amount and, only for
//     per_pass_day contracts and limited includes, one 20-byte slot per
//     pass-day or pass-venue(-day) count in an open-addressing table at
//     most 3/4 full (32 MB for a million pass-days). That grows with the
//     distinct pass-days of the period, not with its taps. Recognize
//     holds one entry per pass already recognised and one batch of
//     postings.
//   - Cost: linear in the journal up to data_as_of, read once (twice for
//     the part since the previous statement when there are late taps).
//
// # Matching, payouts, reports
//
// Match compares a statement with a partner's own scan export (CSV with a
// header naming scanned_at, card and gate): matched, ours-only and
// theirs-only visits with our amounts. A file with any bad row is refused as
// a whole with a *PartnerFileError listing every bad row by line (and
// column); nothing is recorded either way.
//
// Payout writes one pain.001.001.03 SEPA credit transfer (one transaction
// per closed, unpaid statement with a positive net; creditor data from the
// newest tariff naming the partner) atomically, then marks the statements
// paid in the ledger with the payout postings. With nothing to pay it writes
// nothing and returns ErrNothingToPay. The payout id (MsgId) is derived from
// the execution date and the statements paid, so a retry writes the same file.
//
// Sales, Revenue, Payables, Visits and TrialBalanceReport return data
// structs; every report and result implements Tabler, and Render prints it
// as an aligned table, CSV or JSON (amounts as strings with 2 places).
//
// The package talks to the ledger through the Ledger interface, declared
// here with the signatures of *ledger.Ledger. Functions are safe for
// concurrent use as far as the Ledger is; closes of one partner must not run
// concurrently (the ledger refuses the second PutStatement of an id).
package reconcile
