package ledger

import (
	"context"
	"fmt"
	"slices"
)

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

// Flush writes everything committed so far from Pebble's memtable into
// sstables (it is durable before, in the WAL): a shorter WAL to replay on
// the next Open, and files a backup or a check can read without the WAL.
func (l *Ledger) Flush() error {
	if l.closed.Load() {
		return ErrClosed
	}
	if l.opts.ReadOnly {
		return ErrReadOnly
	}
	if err := l.Err(); err != nil {
		return err
	}
	if err := l.db.Flush(); err != nil {
		return fmt.Errorf("ledger: flushing %s: %w", l.dir, err)
	}
	return nil
}
