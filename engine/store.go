package engine

import "context"

// Reader reads ledger state. Implementations read one consistent view.
// Every value returned is the caller's own: a store shares no map or slice
// of it with its state or with another caller, so the engine may modify
// what it read and put it back.
type Reader interface {
	// Tap returns the journaled tap with id, if any.
	Tap(id TapID) (TapRecord, bool, error)
	// Pass returns the pass with id, if any.
	Pass(id string) (Pass, bool, error)
	// Card returns what is known of a card UID, if anything.
	Card(uid string) (Card, bool, error)
	// Usage returns a pass's usage; the zero Usage when it has none.
	Usage(passID string) (Usage, error)
}

// Txn is a read-modify-write transaction on the store's single writer. Reads see
// the transaction's own writes and those of transactions committed before it.
type Txn interface {
	Reader
	// DeviceHighWater returns the highest tap seq journaled for device,
	// this transaction's taps included (0 when none); it may be higher than
	// that when a failed transaction numbered taps too (a gap, never a
	// reuse). Validate numbers a tap with Seq 0 from it.
	DeviceHighWater(device string) (uint64, error)
	// PutTap journals a tap. It assigns rec.JournalSeq and rec.RecordedAt.
	// A tap id already journaled is an error (callers check Tap first), and
	// so is seq 0, which no tap id has (see Tap.ID).
	PutTap(rec *TapRecord) error
	PutPass(p Pass) error
	PutCard(c Card) error
	PutUsage(passID string, u Usage) error
	// PutPosting records a balanced posting; an unbalanced one or a reused id
	// is an error.
	PutPosting(p Posting) error
}

// Store is the durable state the engine decides against. The ledger package
// implements it; tests may use an in-memory one. Safe for concurrent use.
type Store interface {
	// Update runs fn on the store's single writer goroutine. If fn returns
	// nil, everything it wrote commits atomically and is durable (fsync'd)
	// before Update returns nil; if fn or the commit fails, nothing it wrote
	// is kept and Update returns the error. Transactions from concurrent
	// callers may share one commit (group commit). fn must not block.
	Update(ctx context.Context, fn func(tx Txn) error) error
	// View runs fn against a consistent snapshot.
	View(ctx context.Context, fn func(r Reader) error) error
}
