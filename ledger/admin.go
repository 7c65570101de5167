package ledger

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/citypass/citypass/engine"
)

// Statement is a closed partner statement as reconcile files it.
type Statement struct {
	ID, Partner, Period string
	PeriodKind          string
	ClosedAt            time.Time
	AsOfSeq             uint64 // last JournalSeq covered
	NetMinor            int64
	CSV, Manifest       []byte
	PaidBy              string // payout id; empty while unpaid
}

// PutTariff stores a tariff version's raw TOML under a new id (ErrExists if
// the id is taken). Durable on return.
func (l *Ledger) PutTariff(ctx context.Context, id string, toml []byte) error {
	if err := validID("tariff id", id); err != nil {
		return err
	}
	return l.update(ctx, func(t *txn) error {
		k := strKey(pTariff, id)
		if _, ok, err := t.get(k); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: tariff %s", ErrExists, id)
		}
		var n uint64
		v, ok, err := t.get(keyTariffCount)
		if err != nil {
			return err
		}
		if ok {
			if n, err = decodeU64(keyTariffCount, v, kindCounter); err != nil {
				return err
			}
		}
		n++
		t.put(keyTariffCount, encodeU64(kindCounter, n))
		t.put(k, encodeTariff(&StoredTariff{ID: id, Ordinal: n, TOML: toml}))
		return nil
	})
}

// Tariffs returns every stored tariff version in load order.
func (l *Ledger) Tariffs() ([]StoredTariff, error) {
	var out []StoredTariff
	err := l.scan(context.Background(), []byte{pTariff}, []byte{pTariff + 1}, func(k, v []byte) error {
		t, err := decodeTariff(k, v)
		if err != nil {
			return err
		}
		out = append(out, *t)
		return nil
	})
	slices.SortFunc(out, func(a, b StoredTariff) int { return int(a.Ordinal) - int(b.Ordinal) })
	return out, err
}

// PutStatement stores a new statement (ErrExists if the id is taken) with
// its postings, atomically and durably.
func (l *Ledger) PutStatement(ctx context.Context, st Statement, postings ...engine.Posting) error {
	if err := validID("statement id", st.ID); err != nil {
		return err
	}
	return l.update(ctx, func(t *txn) error {
		k := strKey(pStatement, st.ID)
		if _, ok, err := t.get(k); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: statement %s", ErrExists, st.ID)
		}
		t.put(k, encodeStatement(&st))
		for _, p := range postings {
			if err := t.PutPosting(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// Statement returns the statement with id, if any.
func (l *Ledger) Statement(id string) (Statement, bool, error) {
	ref, err := l.acquire()
	if err != nil {
		return Statement{}, false, err
	}
	defer ref.release()
	k := strKey(pStatement, id)
	v, ok, err := snapReader{s: ref.s}.get(k)
	if err != nil || !ok {
		return Statement{}, false, err
	}
	s, err := decodeStatement(k, v)
	if err != nil {
		return Statement{}, false, err
	}
	return *s, true, nil
}

// Statements calls fn for every statement, by id.
func (l *Ledger) Statements(ctx context.Context, fn func(*Statement) error) error {
	return l.scan(ctx, []byte{pStatement}, []byte{pStatement + 1}, func(k, v []byte) error {
		s, err := decodeStatement(k, v)
		if err != nil {
			return err
		}
		return fn(s)
	})
}

// MarkPaid sets PaidBy = payoutID on every statement in ids and records the
// payout's postings, atomically and durably. An unknown id (ErrNotFound) or
// an already paid statement (ErrAlreadyPaid) fails the whole call.
func (l *Ledger) MarkPaid(ctx context.Context, ids []string, payoutID string, postings ...engine.Posting) error {
	if err := validID("payout id", payoutID); err != nil {
		return err
	}
	return l.update(ctx, func(t *txn) error {
		for _, id := range ids {
			k := strKey(pStatement, id)
			v, ok, err := t.get(k)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("%w: statement %s", ErrNotFound, id)
			}
			s, err := decodeStatement(k, v)
			if err != nil {
				return err
			}
			if s.PaidBy != "" {
				return fmt.Errorf("%w: statement %s by payout %s", ErrAlreadyPaid, id, s.PaidBy)
			}
			s.PaidBy = payoutID
			t.put(k, encodeStatement(s))
		}
		for _, p := range postings {
			if err := t.PutPosting(p); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutMeta stores a small named value (replace), durably.
func (l *Ledger) PutMeta(ctx context.Context, key string, value []byte) error {
	if err := validID("meta key", key); err != nil {
		return err
	}
	return l.update(ctx, func(t *txn) error {
		t.put(strKey(pMeta, key), encodeBytes(kindMeta, value))
		return nil
	})
}

// Meta returns the value stored under key, if any.
func (l *Ledger) Meta(key string) ([]byte, bool, error) {
	ref, err := l.acquire()
	if err != nil {
		return nil, false, err
	}
	defer ref.release()
	k := strKey(pMeta, key)
	v, ok, err := snapReader{s: ref.s}.get(k)
	if err != nil || !ok {
		return nil, false, err
	}
	b, err := decodeBytes(k, v, kindMeta)
	return b, err == nil, err
}
