package reconcile

import (
	"context"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
)

// Ledger is what reconcile needs from the ledger. It is declared here, by the
// caller, with exactly the method signatures of *ledger.Ledger (CONTRACT.md),
// so the real ledger satisfies it and tests can use an in-memory fake.
type Ledger interface {
	// Journal calls fn for every journaled tap with JournalSeq >= fromSeq,
	// in JournalSeq order, from one snapshot. Each record is fn's to keep
	// (Close hands records to a second goroutine).
	Journal(ctx context.Context, fromSeq uint64, fn func(*engine.TapRecord) error) error
	// JournalBatches reads the journal like Journal, calling fn with
	// consecutive batches of records in journal order, each valid only
	// until fn returns, strings included (they may view buffers that are
	// reused after), while other goroutines decode the next ones
	// (ledger.Ledger.JournalBatches). Close reads the journal through it.
	JournalBatches(ctx context.Context, fromSeq uint64, fn func([]engine.TapRecord) error) error
	// JournalBetween calls fn for every journaled tap with At in [from, to),
	// ascending At.
	JournalBetween(ctx context.Context, from, to time.Time, fn func(*engine.TapRecord) error) error
	// LastJournalSeq is the highest JournalSeq assigned so far (0: empty).
	LastJournalSeq() (uint64, error)
	// Passes calls fn for every pass.
	Passes(ctx context.Context, fn func(*engine.Pass) error) error
	// Postings calls fn for every posting.
	Postings(ctx context.Context, fn func(*engine.Posting) error) error
	// PutStatement stores a statement and its postings atomically and
	// durably; a statement id is stored once.
	PutStatement(ctx context.Context, st StoredStatement, postings ...engine.Posting) error
	// Statement returns the stored statement with id, if any.
	Statement(id string) (StoredStatement, bool, error)
	// Statements calls fn for every stored statement, by ID.
	Statements(ctx context.Context, fn func(*StoredStatement) error) error
	// Update runs fn as one atomic, durable transaction (engine.Store);
	// Recognize stores revenue recognition through it in bounded batches.
	Update(ctx context.Context, fn func(tx engine.Txn) error) error
	// MarkPaid marks statements paid by a payout and stores the payout
	// postings, atomically and durably.
	MarkPaid(ctx context.Context, ids []string, payoutID string, postings ...engine.Posting) error
}

// StoredStatement is a closed statement as the ledger keeps it: the exact
// bytes of its two files (CSV, Manifest), the journal seq it covers
// (AsOfSeq), its net in minor units and the payout that paid it (PaidBy).
type StoredStatement = ledger.Statement

// The real ledger is a Ledger.
var _ Ledger = (*ledger.Ledger)(nil)
