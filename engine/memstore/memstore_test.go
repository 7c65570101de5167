package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/engine/memstore"
)

func TestUpdateDiscardsOnError(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(func() time.Time { return time.Unix(100, 0) })
	boom := errors.New("boom")
	err := s.Update(ctx, func(tx engine.Txn) error {
		require.NoError(t, tx.PutPass(engine.Pass{ID: "P-1"}))
		require.NoError(t, tx.PutTap(&engine.TapRecord{Tap: engine.Tap{ID: engine.TapID{Device: "d", Seq: 1}}}))
		_, ok, err := tx.Pass("P-1")
		require.NoError(t, err)
		assert.True(t, ok, "a transaction reads its own writes")
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, s.View(ctx, func(r engine.Reader) error {
		_, ok, err := r.Pass("P-1")
		assert.False(t, ok)
		return err
	}))
	assert.Empty(t, s.Journal())
}

func TestJournalAndPostings(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(func() time.Time { return time.Unix(100, 0) })
	id := engine.TapID{Device: "d", Seq: 1}
	require.NoError(t, s.Update(ctx, func(tx engine.Txn) error {
		rec := &engine.TapRecord{Tap: engine.Tap{ID: id}}
		require.NoError(t, tx.PutTap(rec))
		assert.Equal(t, uint64(1), rec.JournalSeq)
		assert.Equal(t, time.Unix(100, 0), rec.RecordedAt)
		assert.Error(t, tx.PutTap(&engine.TapRecord{Tap: engine.Tap{ID: id}}), "a tap id is journaled once")
		assert.Error(t, tx.PutPosting(engine.Posting{ID: "x", Lines: []engine.PostingLine{{Account: "a", DebitMinor: 1}, {Account: "b", CreditMinor: 2}}}))
		ok := engine.Posting{ID: "sale/P-1", Lines: []engine.PostingLine{{Account: "a", DebitMinor: 1}, {Account: "b", CreditMinor: 1}}}
		require.NoError(t, tx.PutPosting(ok))
		assert.Error(t, tx.PutPosting(ok), "posting ids are unique")
		return nil
	}))
	require.Error(t, s.Update(ctx, func(tx engine.Txn) error {
		return tx.PutTap(&engine.TapRecord{Tap: engine.Tap{ID: id}})
	}))
	assert.Len(t, s.Journal(), 1)
	assert.Len(t, s.Postings(), 1)
}

func TestRecordsAreCopied(t *testing.T) {
	ctx := context.Background()
	s := memstore.New(nil)
	u := engine.Usage{Visits: []engine.Visit{{Tap: engine.TapID{Device: "d", Seq: 1}, Venue: "mucem"}}}
	require.NoError(t, s.Update(ctx, func(tx engine.Txn) error { return tx.PutUsage("P-1", u) }))
	u.Visits[0].Venue = "zoo"
	require.NoError(t, s.View(ctx, func(r engine.Reader) error {
		got, err := r.Usage("P-1")
		assert.Equal(t, "mucem", got.Visits[0].Venue)
		got.Visits[0].Venue = "other"
		return err
	}))
	require.NoError(t, s.View(ctx, func(r engine.Reader) error {
		got, err := r.Usage("P-1")
		assert.Equal(t, "mucem", got.Visits[0].Venue)
		return err
	}))
}
