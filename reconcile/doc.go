// Package reconcile turns the journal into money: signed partner statements,
// late-tap adjustments, matching against partners' own scan exports, SEPA
// payouts and finance reports (SPEC §6).
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
//     contracts), then the period's visits by tap time (then journal seq),
//     then adjustments by original period, tap time and journal seq. The
//     amounts add up to the manifest's net.
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
// partner's venues; flat pays Amount per period (visits are listed at 0). A
// category without a rate is listed at 0. The cap of a period bounds
// everything paid for it, its own statement plus later adjustments: the line
// that crosses it gets the remainder and later lines are listed at 0, capped.
// The governing contract of a period (kind, cap, flat amount) is the one in
// force at its start.
//
// # Invariants
//
//   - A closed statement never changes: it is stored in the ledger
//     (PutStatement, with its postings, atomically) and closing again writes
//     the stored bytes. Files are written atomically (temp file, fsync,
//     rename, fsync dir). Nothing in the bytes depends on the clock of the
//     close, so two ledgers with the same history close to identical files.
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
//   - Closing posts, in minor units and with deterministic ids: "close/<id>"
//     (Dr partner_cost:<p> / Cr partner_payable:<p>, the net). The first new
//     statement of a close also carries the revenue recognition due by the
//     period's end and not yet posted: "pass_revenue/<pass>" (Dr
//     deferred_revenue / Cr pass_revenue) for activated passes whose validity
//     ended, "breakage/<pass>" (Dr deferred_revenue / Cr breakage_revenue)
//     for never-activated passes whose activation deadline passed; a pass
//     found used after its breakage (a late offline tap) is reclassified by
//     "pass_revenue/<pass>" (Dr breakage_revenue / Cr pass_revenue). Payout
//     posts "payout/<id>" (Dr partner_payable:<p> / Cr bank).
//   - Memory does not grow with the journal: statements stream it
//     (JournalBetween for the period, Journal from the previous statement's
//     data_as_of for adjustments); the period's lines are valued as they
//     stream and encoded straight into the CSV, so what is held is the
//     statement's CSV bytes (which the ledger stores) plus one entry per
//     pass-day and pass-venue for per_pass_day and entry limits.
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
