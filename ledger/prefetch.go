package ledger

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/engine"
)

// prefetched is a value Prefetch read from the database.
type prefetched struct {
	val []byte
	ok  bool
}

// prefetchMax bounds the keys one transaction prefetches.
const prefetchMax = 1 << 16

// prefetchOrderedMin is the fewest keys Prefetch reads through an
// iterator. An iterator's seek positions every table the key's range
// overlaps, a data block in each; a point read skips the tables whose bloom
// filter rules the key out. Seeks in key order pay off when many keys
// share blocks (an upload of hundreds of records); a few keys (an online
// node's upload of a tap or two) are cheaper read one by one, as the
// transaction's reads do without a prefetch. A variable for tests.
var prefetchOrderedMin = 64

// Prefetch reads the passes passIDs (with their usage), the cards cardUIDs
// and the tap ids taps that the transaction will read, in key order
// through database iterators, and keeps them for the transaction's reads.
// Keys the transaction's group or the writer cache hold are not read (they
// are read from there), nor are tap ids above their device's known
// high-water mark (Tap knows them new without a read). Fewer than
// prefetchOrderedMin keys are left to the transaction's point reads.
// Prefetching changes no result, only the cost of the reads that follow.
func (t *txn) Prefetch(passIDs, cardUIDs []string, taps []engine.TapID) error {
	unknown := taps[:0:0]
	for _, id := range taps {
		fresh, err := t.tapIsNew(id)
		if err != nil {
			return err
		}
		if !fresh {
			unknown = append(unknown, id)
		}
	}
	taps = unknown
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
	runs := tapRuns(taps)
	dense := 0 // the dense runs' tap ids, read by range
	for _, r := range runs {
		if r.dense() {
			dense += len(r.seqs)
			continue
		}
		for _, seq := range r.seqs {
			add(tapIDKey(r.device, seq))
		}
	}
	if n := len(keys) + dense; n < prefetchOrderedMin || len(t.pre)+n > prefetchMax {
		return nil // the reads go to the database one by one
	}
	if t.pre == nil {
		t.pre = make(map[string]prefetched, len(keys)+len(taps))
	}
	keep := func(k, v []byte, ok bool) { t.pre[string(k)] = prefetched{val: v, ok: ok} }
	if err := readInOrder(t.l.db, sortedUnique(keys), keep); err != nil {
		return err
	}
	return readTapRuns(t.l.db, runs, keep)
}

// tapRun is the tap ids of one device among those a transaction reads,
// seqs ascending without repeats.
type tapRun struct {
	device string
	seqs   []uint64
}

// dense reports whether the run's seqs fill most of their range: a node's
// upload holds stretches of consecutive seqs of each of its devices, whose
// ids are read with one scan of the range instead of a seek each.
func (r *tapRun) dense() bool {
	return r.seqs[len(r.seqs)-1]-r.seqs[0] < 2*uint64(len(r.seqs))+64
}

// tapRuns groups tap ids by device.
func tapRuns(taps []engine.TapID) []tapRun {
	if len(taps) == 0 {
		return nil
	}
	sorted := slices.Clone(taps)
	slices.SortFunc(sorted, func(a, b engine.TapID) int {
		if c := strings.Compare(a.Device, b.Device); c != 0 {
			return c
		}
		return cmp.Compare(a.Seq, b.Seq)
	})
	sorted = slices.Compact(sorted)
	var runs []tapRun
	for _, id := range sorted {
		if n := len(runs); n == 0 || runs[n-1].device != id.Device {
			runs = append(runs, tapRun{device: id.Device})
		}
		runs[len(runs)-1].seqs = append(runs[len(runs)-1].seqs, id.Seq)
	}
	return runs
}

// readTapRuns reads the dense runs' tap ids, each run with one scan of its
// range, and calls fn for every id in them (nil and false: absent).
func readTapRuns(r pebble.Reader, runs []tapRun, fn func(k, v []byte, ok bool)) (err error) {
	var it *pebble.Iterator
	for _, run := range runs {
		if !run.dense() {
			continue
		}
		lo := tapIDKey(run.device, run.seqs[0])
		hi := upperBound(tapIDKey(run.device, run.seqs[len(run.seqs)-1]))
		if it == nil {
			if it, err = r.NewIter(&pebble.IterOptions{LowerBound: lo}); err != nil {
				return fmt.Errorf("ledger: reading %s: %w", describeKey(lo), storageErr(err))
			}
		}
		found := map[uint64][]byte{}
		for valid := it.SeekGE(lo); valid && bytes.Compare(it.Key(), hi) < 0; valid = it.Next() {
			dev, seq, ok := parseTapIDKey(it.Key())
			if !ok || dev != run.device {
				continue
			}
			v, verr := it.ValueAndErr()
			if verr != nil {
				err = verr
				break
			}
			found[seq] = bytes.Clone(v)
		}
		if err = errors.Join(err, it.Error()); err != nil {
			break
		}
		for _, seq := range run.seqs {
			v, ok := found[seq]
			fn(tapIDKey(run.device, seq), v, ok)
		}
	}
	if it != nil {
		err = errors.Join(err, it.Close())
	}
	if err != nil {
		return fmt.Errorf("ledger: reading tap ids: %w", storageErr(err))
	}
	return nil
}

// sortedUnique sorts keys in place and drops repeats.
func sortedUnique(keys [][]byte) [][]byte {
	slices.SortFunc(keys, bytes.Compare)
	return slices.CompactFunc(keys, bytes.Equal)
}

// readInOrder reads keys (ascending, no repeats) through one iterator over
// r and calls fn with a copy of each value, or nil and false for an absent
// key. A point read searches every level of the store on its own, while
// seeks in ascending order on one iterator reuse its position.
func readInOrder(r pebble.Reader, keys [][]byte, fn func(k, v []byte, ok bool)) (err error) {
	if len(keys) == 0 {
		return nil
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: keys[0], UpperBound: upperBound(keys[len(keys)-1])})
	if err != nil {
		return fmt.Errorf("ledger: reading %s: %w", describeKey(keys[0]), storageErr(err))
	}
	for _, k := range keys {
		if !it.SeekGE(k) || !bytes.Equal(it.Key(), k) {
			if err = it.Error(); err != nil {
				break
			}
			fn(k, nil, false)
			continue
		}
		var v []byte
		if v, err = it.ValueAndErr(); err != nil {
			break
		}
		fn(k, bytes.Clone(v), true)
	}
	if err = errors.Join(err, it.Close()); err != nil {
		return fmt.Errorf("ledger: reading %s: %w", describeKey(keys[0]), storageErr(err))
	}
	return nil
}
