package reconcile

import (
	"context"
	"time"

	"github.com/citypass/citypass/engine"
)

// Ledger is what reconcile needs from the ledger. It is declared here, by
// the caller, with only built-in and engine types, so *ledger.Ledger
// satisfies it without reconcile knowing the ledger's types, and tests use
// an in-memory fake. reconcile keeps its own state (statements, payouts,
// payout settings) as records whose bytes only it reads.
type Ledger interface {
	// Journal calls fn for every journaled tap with JournalSeq >= fromSeq,
	// in JournalSeq order, from one snapshot. Each record is fn's to keep.
	Journal(ctx context.Context, fromSeq uint64, fn func(*engine.TapRecord) error) error
	// JournalBatches reads the journal like Journal, calling fn with
	// consecutive batches of records in journal order, each valid only
	// until fn returns, strings included (they may view buffers that are
	// reused after), while other goroutines decode the next ones. Close
	// reads the journal through it.
	JournalBatches(ctx context.Context, fromSeq uint64, fn func([]engine.TapRecord) error) error
	// JournalBetween calls fn for every journaled tap with At in [from, to),
	// ascending At.
	JournalBetween(ctx context.Context, from, to time.Time, fn func(*engine.TapRecord) error) error
	// View runs fn against a consistent read of taps, passes, cards and
	// usage (engine.Store's reads). A close reads the usage of passes with
	// limited entries through it, and the journal seqs of the visits of a
	// pass over its limit.
	View(ctx context.Context, fn func(r engine.Reader) error) error
	// Usages calls fn for every pass's usage, by pass id. A close reads it
	// once, and only when it meets an entry at a limited venue, to find the
	// passes with more than one entry at such a venue.
	Usages(ctx context.Context, fn func(passID string, u *engine.Usage) error) error
	// LastJournalSeq is the highest JournalSeq assigned so far (0: empty).
	LastJournalSeq() (uint64, error)
	// Passes calls fn for every pass.
	Passes(ctx context.Context, fn func(*engine.Pass) error) error
	// Postings calls fn for every posting.
	Postings(ctx context.Context, fn func(*engine.Posting) error) error
	// Update runs fn as one atomic, durable transaction (engine.Store);
	// Recognize stores revenue recognition through it in bounded batches.
	Update(ctx context.Context, fn func(tx engine.Txn) error) error
	// Record returns the record id of table, if any.
	Record(table, id string) ([]byte, bool, error)
	// Records calls fn for every record of table, by id.
	Records(ctx context.Context, table string, fn func(id string, value []byte) error) error
	// UpdateRecords runs fn as one atomic, durable transaction: the records
	// it puts and the postings it posts commit together, or nothing does.
	UpdateRecords(ctx context.Context, fn func(get RecordGet, put RecordPut, post PostingPut) error) error
}

// The functions UpdateRecords hands its transaction.
type (
	// RecordGet reads a record as the transaction sees it.
	RecordGet = func(table, id string) ([]byte, bool, error)
	// RecordPut stores a record, replacing what was there.
	RecordPut = func(table, id string, value []byte) error
	// PostingPut stores a balanced posting; a reused id fails the
	// transaction.
	PostingPut = func(p engine.Posting) error
)

// Record tables of reconcile.
const (
	tableStatement = "statement" // statement id → Statement (JSON)
	tablePayout    = "payout"    // payout id → payout (JSON)
	tableConfig    = "config"    // setting name → JSON
)
