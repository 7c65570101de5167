package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// prefetched is a value Prefetch read from the database.
type prefetched struct {
	val []byte
	ok  bool
}

// prefetchMax bounds the keys one transaction prefetches.
const prefetchMax = 1 << 16

// Prefetch reads the passes passIDs (with their usage) and the cards
// cardUIDs that the transaction will read, in key order through one
// database iterator, and keeps them for the transaction's reads: a point
// read searches every level of the store on its own, while seeks in
// ascending order on one iterator reuse its position. Keys the
// transaction's group or the writer cache hold are not read (they are read
// from there). Prefetching changes no result, only the cost of the reads
// that follow.
func (t *txn) Prefetch(passIDs, cardUIDs []string) error {
	keys := make([][]byte, 0, 2*len(passIDs)+len(cardUIDs))
	add := func(k []byte) {
		if _, ok := t.find(k); ok {
			return
		}
		if _, ok := t.l.group[string(k)]; ok {
			return
		}
		if t.l.cache.get(k) != nil {
			return
		}
		if _, ok := t.pre[string(k)]; ok {
			return
		}
		keys = append(keys, k)
	}
	for _, id := range passIDs {
		add(strKey(pPass, id))
		add(strKey(pUsage, id))
	}
	for _, uid := range cardUIDs {
		add(strKey(pCard, uid))
	}
	if len(keys) == 0 {
		return nil
	}
	if len(t.pre)+len(keys) > prefetchMax {
		return nil // the reads go to the database one by one
	}
	slices.SortFunc(keys, bytes.Compare)
	keys = slices.CompactFunc(keys, bytes.Equal)
	if t.pre == nil {
		t.pre = make(map[string]prefetched, len(keys))
	}
	it, err := t.l.db.NewIter(&pebble.IterOptions{LowerBound: keys[0], UpperBound: upperBound(keys[len(keys)-1])})
	if err != nil {
		return fmt.Errorf("ledger: prefetching: %w", storageErr(err))
	}
	for _, k := range keys {
		if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
			if err = it.Error(); err != nil {
				break
			}
			t.pre[string(k)] = prefetched{}
			continue
		}
		var v []byte
		if v, err = it.ValueAndErr(); err != nil {
			break
		}
		t.pre[string(k)] = prefetched{val: bytes.Clone(v), ok: true}
	}
	if err = errors.Join(err, it.Close()); err != nil {
		return fmt.Errorf("ledger: prefetching %s: %w", describeKey(keys[0]), storageErr(err))
	}
	return nil
}
