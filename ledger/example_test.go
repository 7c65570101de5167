package ledger_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
)

// Example journals one tap in a transaction and reads it back in journal
// order. Update returns only once the tap is durable.
func Example() {
	ctx := context.Background()
	l, err := ledger.Open("/data/ledger", &ledger.Options{FS: vfs.NewMem()})
	if err != nil {
		panic(err)
	}
	defer l.Close()
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	err = l.Update(ctx, func(tx engine.Txn) error {
		if _, ok, err := tx.Tap(engine.TapID{Device: "gate-1", Seq: 1}); err != nil || ok {
			return err // a duplicate would return the stored decision instead
		}
		rec := &engine.TapRecord{
			Tap:      engine.Tap{ID: engine.TapID{Device: "gate-1", Seq: 1}, Card: "04A1", Gate: "mucem/main", At: at},
			Venue:    "mucem",
			Decision: engine.Decision{Reason: engine.ReasonInvalid},
		}
		return tx.PutTap(rec)
	})
	if err != nil {
		panic(err)
	}
	_ = l.Journal(ctx, 0, func(r *engine.TapRecord) error {
		fmt.Println(r.JournalSeq, r.ID, r.Decision.Reason)
		return nil
	})
	// Output: 1 gate-1#1 INVALID
}
