package ledger

import (
	"bytes"
	"context"
	"fmt"
	"strings"

	"github.com/citypass/citypass/engine"
)

// Records are small values that another package owns and gives their
// meaning: reconcile keeps its statements, payouts and payout settings
// here. The ledger stores them under a table name and an id, checksums
// them like every value, and writes them atomically with postings; it never
// reads inside them. The method signatures use only built-in and engine
// types, so a package that stores records needs no type of the ledger's.

// RecordGet reads a record inside UpdateRecords: the value stored under
// table and id as this transaction sees it (its own puts included).
type RecordGet = func(table, id string) ([]byte, bool, error)

// RecordPut stores value under table and id inside UpdateRecords, replacing
// what was there.
type RecordPut = func(table, id string, value []byte) error

// PostingPut stores a balanced posting inside UpdateRecords (a reused id or
// an unbalanced posting fails the transaction).
type PostingPut = func(p engine.Posting) error

// Record returns the record id of table, if any. The bytes are the
// caller's.
func (l *Ledger) Record(table, id string) ([]byte, bool, error) {
	k, err := recordKey(table, id)
	if err != nil {
		return nil, false, err
	}
	ref, err := l.acquire()
	if err != nil {
		return nil, false, err
	}
	defer ref.release()
	v, ok, err := snapReader{s: ref.s}.get(k)
	if err != nil || !ok {
		return nil, false, err
	}
	b, err := decodeBytes(k, v, kindRecord)
	return b, err == nil, err
}

// Records calls fn for every record of table, by id, from one snapshot.
// value is fn's to keep.
func (l *Ledger) Records(ctx context.Context, table string, fn func(id string, value []byte) error) error {
	lo, err := recordKey(table, "")
	if err != nil {
		return err
	}
	hi := append(bytes.Clone(lo[:len(lo)-1]), 1)
	return l.scan(ctx, lo, hi, func(k, v []byte) error {
		b, err := decodeBytes(k, v, kindRecord)
		if err != nil {
			return err
		}
		return fn(string(k[len(lo):]), b)
	})
}

// UpdateRecords runs fn as one atomic, durable transaction on the writer
// goroutine: the records it puts and the postings it stores commit together
// when fn returns nil, and nothing of it is kept when fn or the commit
// fails. fn reads records with get (seeing its own puts), so a
// read-check-write in fn is safe against every other writer. fn must not
// block, and must not keep get, put or post past its return.
func (l *Ledger) UpdateRecords(ctx context.Context, fn func(get RecordGet, put RecordPut, post PostingPut) error) error {
	return l.update(ctx, func(t *txn) error {
		get := func(table, id string) ([]byte, bool, error) {
			k, err := recordKey(table, id)
			if err != nil {
				return nil, false, err
			}
			v, ok, err := t.get(k)
			if err != nil || !ok {
				return nil, false, err
			}
			b, err := decodeBytes(k, v, kindRecord)
			return b, err == nil, err
		}
		put := func(table, id string, value []byte) error {
			if err := validID(table+" id", id); err != nil {
				return err
			}
			k, err := recordKey(table, id)
			if err != nil {
				return err
			}
			t.put(k, encodeBytes(kindRecord, value))
			return nil
		}
		return fn(get, put, t.PutPosting)
	})
}

// recordKey is pRecord ‖ table ‖ 0x00 ‖ id.
func recordKey(table, id string) ([]byte, error) {
	if table == "" || len(table) > 64 || strings.IndexByte(table, 0) >= 0 {
		return nil, fmt.Errorf("%w: record table %q (1-64 bytes, no NUL)", ErrInvalid, table)
	}
	k := make([]byte, 0, 2+len(table)+len(id))
	k = append(k, pRecord)
	k = append(k, table...)
	k = append(k, 0)
	return append(k, id...), nil
}
