package ledger

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/citypass/citypass/engine"
)

// The change log (docs/fleet.md, "State down"): with Options.ChangeLog, the
// ledger numbers every transaction that changes a tariff, a pass, a card or
// a pass's usage with a revision (1, 2, …, in commit order) and stores, in
// the same batch, the keys it changed:
//
//	0x63 <rev:8>   the changed records' keys (kind byte + id), in order
//
// A hub publishes the log to its nodes in revision order; a reader that has
// seen revision R has seen every change committed before R's.
const pChange byte = 0x63

const kindChange byte = 20

func changeKey(rev uint64) []byte { return binary.BigEndian.AppendUint64([]byte{pChange}, rev) }

// StateKind names the kind of a record that flows down to nodes. The
// values are the ledger's key prefixes.
type StateKind byte

// State kinds.
const (
	StateTariff StateKind = StateKind(pTariff)
	StatePass   StateKind = StateKind(pPass)
	StateCard   StateKind = StateKind(pCard)
	StateUsage  StateKind = StateKind(pUsage)
)

func (k StateKind) String() string {
	switch k {
	case StateTariff:
		return "tariff"
	case StatePass:
		return "pass"
	case StateCard:
		return "card"
	case StateUsage:
		return "usage"
	}
	return fmt.Sprintf("kind_%d", byte(k))
}

func isStateKey(k []byte) bool {
	if len(k) < 2 {
		return false
	}
	switch k[0] {
	case pTariff, pPass, pCard, pUsage:
		return true
	}
	return false
}

// noteChange records a state key the transaction writes for the first time
// (ChangeLog; putObj calls it only for a key not among t.ops yet, so each
// key is noted once, in the order of its first write).
func (t *txn) noteChange(key []byte) {
	t.changed = append(t.changed, key)
}

// logChanges gives a successful transaction that changed state the next
// revision and writes its change record. Writer only.
func (t *txn) logChanges() {
	if len(t.changed) == 0 {
		return
	}
	t.l.lastRev++
	e := newEnc(kindChange, 8*len(t.changed))
	e.u64(uint64(len(t.changed)))
	for _, k := range t.changed {
		e.bytes(k)
	}
	t.put(changeKey(t.l.lastRev), e.finish())
}

func decodeChange(key, v []byte) ([][]byte, error) {
	d, err := openValue(key, v, kindChange)
	if err != nil {
		return nil, err
	}
	n := d.count()
	out := make([][]byte, 0, n)
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, append([]byte(nil), d.raw()...))
	}
	return out, d.done(key)
}

// loadLastRev reads the newest revision of the change log (0 when none).
func (l *Ledger) loadLastRev() (uint64, error) {
	ref, err := l.acquire()
	if err != nil {
		return 0, err
	}
	defer ref.release()
	k, err := lastKey(ref.s, []byte{pChange}, []byte{pChange + 1})
	if err != nil || k == nil {
		return 0, err
	}
	if len(k) != 9 {
		return 0, &CorruptionError{Key: k, Reason: "malformed change key"}
	}
	return binary.BigEndian.Uint64(k[1:]), nil
}

// StateItem is one record that flows down to nodes: its kind, id and the
// ledger's own encoding of its value (framed and checksummed). A zero-length
// Value means the record was deleted.
type StateItem struct {
	Kind  StateKind
	ID    string
	Value []byte
}

// Change is one revision of the change log with the records it changed, as
// they are now (a later revision may have changed them again: readers apply
// revisions in order and end with the latest values).
type Change struct {
	Rev   uint64
	Items []StateItem
}

// LastRev returns the newest durable revision of the change log.
func (l *Ledger) LastRev() (uint64, error) { return l.loadLastRev() }

// changesReadMax bounds the keys Changes reads at once: it gathers the
// revisions of up to about that many keys, reads their values in key
// order, then hands the revisions out.
var changesReadMax = 1 << 16

// Changes calls fn for each revision from fromRev on, in order, with the
// changed records' current values (as of one durable point), and stops
// after max revisions (max <= 0: no limit). The newest revisions come from
// memory (recentChanges), older ones from one snapshot of the store. The
// items' values are read-only.
func (l *Ledger) Changes(ctx context.Context, fromRev uint64, max int, fn func(*Change) error) error {
	if err := l.Err(); err != nil {
		return err
	}
	if kept, ok := l.recent.changes(fromRev, max); ok {
		for _, c := range kept {
			if err := fn(c); err != nil {
				return err
			}
		}
		return nil
	}
	return l.storedChanges(ctx, fromRev, max, fn)
}

// storedChanges is Changes reading the store.
func (l *Ledger) storedChanges(ctx context.Context, fromRev uint64, max int, fn func(*Change) error) error {
	ref, err := l.acquire()
	if err != nil {
		return err
	}
	defer ref.release()
	var (
		revs  []uint64
		keyed [][][]byte // keyed[i]: the keys revs[i] changed
		nkeys int
	)
	// emit reads the gathered revisions' values, one read per distinct key
	// in key order, and calls fn for each revision.
	emit := func() error {
		all := make([][]byte, 0, nkeys)
		for _, keys := range keyed {
			all = append(all, keys...)
		}
		vals := make(map[string][]byte, len(all))
		if err := readInOrder(ref.s, sortedUnique(all), func(k, v []byte, _ bool) { vals[string(k)] = v }); err != nil {
			return err
		}
		for i, keys := range keyed {
			c := &Change{Rev: revs[i], Items: make([]StateItem, len(keys))}
			for j, sk := range keys {
				c.Items[j] = StateItem{Kind: StateKind(sk[0]), ID: string(sk[1:]), Value: vals[string(sk)]}
			}
			if err := fn(c); err != nil {
				return err
			}
		}
		revs, keyed, nkeys = revs[:0], keyed[:0], 0
		return nil
	}
	n := 0
	err = scanSnap(ctx, ref.s, changeKey(fromRev), []byte{pChange + 1}, func(k, v []byte) error {
		if max > 0 && n >= max {
			return errStopScan
		}
		n++
		keys, err := decodeChange(k, v)
		if err != nil {
			return err
		}
		if nkeys > 0 && nkeys+len(keys) > changesReadMax {
			if err := emit(); err != nil {
				return err
			}
		}
		revs, keyed, nkeys = append(revs, binary.BigEndian.Uint64(k[1:])), append(keyed, keys), nkeys+len(keys)
		return nil
	})
	if err == errStopScan {
		err = nil
	}
	if err == nil && len(revs) > 0 {
		err = emit()
	}
	return err
}

// StateSnapshot calls fn for every tariff, pass, card and usage record with
// id after (kind, afterID), in key order, from one snapshot, up to max
// items; it returns the revision the snapshot holds.
func (l *Ledger) StateSnapshot(ctx context.Context, after StateItem, max int, fn func(StateItem) error) (rev uint64, err error) {
	ref, err := l.acquire()
	if err != nil {
		return 0, err
	}
	defer ref.release()
	k, err := lastKey(ref.s, []byte{pChange}, []byte{pChange + 1})
	if err != nil {
		return 0, err
	}
	if k != nil {
		rev = binary.BigEndian.Uint64(k[1:])
	}
	lo := []byte{pTariff}
	if after.Kind != 0 {
		lo = append(append([]byte{byte(after.Kind)}, after.ID...), 0)
	}
	n := 0
	err = scanSnap(ctx, ref.s, lo, []byte{pUsage + 1}, func(k, v []byte) error {
		if !isStateKey(k) {
			return nil
		}
		if n >= max {
			return errStopScan
		}
		n++
		return fn(StateItem{Kind: StateKind(k[0]), ID: string(k[1:]), Value: append([]byte(nil), v...)})
	})
	if err == errStopScan {
		err = nil
	}
	return rev, err
}

// errStopScan ends a scan early without an error.
var errStopScan = errors.New("stop scan")

// StateValue is a decoded StateItem: exactly one field is set.
type StateValue struct {
	Tariff *StoredTariff
	Pass   *engine.Pass
	Card   *engine.Card
	Usage  *engine.Usage
}

// DecodeStateItem verifies and decodes a StateItem.
func DecodeStateItem(it StateItem) (StateValue, error) {
	key := append([]byte{byte(it.Kind)}, it.ID...)
	var sv StateValue
	var err error
	switch it.Kind {
	case StateTariff:
		sv.Tariff, err = decodeTariff(key, it.Value)
	case StatePass:
		sv.Pass, err = decodePass(key, it.Value)
	case StateCard:
		sv.Card, err = decodeCard(key, it.Value)
	case StateUsage:
		var u engine.Usage
		u, err = decodeUsage(key, it.Value)
		sv.Usage = &u
	default:
		err = &CorruptionError{Key: key, Reason: "not a state record"}
	}
	return sv, err
}

// PutMeta stores a small named value (replace) in the transaction.
func (t *txn) PutMeta(key string, value []byte) error {
	if err := validID("meta key", key); err != nil {
		return err
	}
	t.put(strKey(pMeta, key), encodeBytes(kindMeta, value))
	return nil
}

// Meta reads a named value through the transaction.
func (t *txn) Meta(key string) ([]byte, bool, error) {
	k := strKey(pMeta, key)
	v, ok, err := t.get(k)
	if err != nil || !ok {
		return nil, false, err
	}
	b, err := decodeBytes(k, v, kindMeta)
	return b, err == nil, err
}

// PutStoredTariff stores a tariff version another ledger loaded (the hub's),
// keeping its id and ordinal; a version already stored is left as it is
// (versions never change).
func (t *txn) PutStoredTariff(st StoredTariff) error {
	if err := validID("tariff id", st.ID); err != nil {
		return err
	}
	k := strKey(pTariff, st.ID)
	if _, ok, err := t.get(k); err != nil || ok {
		return err
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
	t.put(keyTariffCount, encodeU64(kindCounter, max(n, st.Ordinal)))
	t.put(k, encodeTariff(&st))
	return nil
}
