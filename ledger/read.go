package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/engine"
)

// getter reads one key; ok is false when absent. The value must not be kept
// past the next call or modified.
type getter func(key []byte) ([]byte, bool, error)

func readTap(get getter, id engine.TapID) (engine.TapRecord, bool, error) {
	idKey := tapIDKey(id.Device, id.Seq)
	v, ok, err := get(idKey)
	if err != nil || !ok {
		return engine.TapRecord{}, false, err
	}
	seq, err := decodeU64(idKey, v, kindTapIndex)
	if err != nil {
		return engine.TapRecord{}, false, err
	}
	jk := journalKey(seq)
	v, ok, err = get(jk)
	if err != nil {
		return engine.TapRecord{}, false, err
	}
	if !ok {
		return engine.TapRecord{}, false, &CorruptionError{Key: idKey, Reason: fmt.Sprintf("journal record %d missing", seq)}
	}
	rec, err := decodeTap(jk, v)
	if err != nil {
		return engine.TapRecord{}, false, err
	}
	if rec.ID != id {
		return engine.TapRecord{}, false, &CorruptionError{Key: jk, Reason: fmt.Sprintf("holds tap %s, index says %s", rec.ID, id)}
	}
	return *rec, true, nil
}

func readPass(get getter, id string) (engine.Pass, bool, error) {
	k := strKey(pPass, id)
	v, ok, err := get(k)
	if err != nil || !ok {
		return engine.Pass{}, false, err
	}
	p, err := decodePass(k, v)
	if err != nil {
		return engine.Pass{}, false, err
	}
	return *p, true, nil
}

func readCard(get getter, uid string) (engine.Card, bool, error) {
	k := strKey(pCard, uid)
	v, ok, err := get(k)
	if err != nil || !ok {
		return engine.Card{}, false, err
	}
	c, err := decodeCard(k, v)
	if err != nil {
		return engine.Card{}, false, err
	}
	return *c, true, nil
}

func readUsage(get getter, passID string) (engine.Usage, error) {
	k := strKey(pUsage, passID)
	v, ok, err := get(k)
	if err != nil || !ok {
		return engine.Usage{}, err
	}
	return decodeUsage(k, v)
}

// snapReader reads one durable snapshot.
type snapReader struct{ s *pebble.Snapshot }

func (r snapReader) get(key []byte) ([]byte, bool, error) {
	v, closer, err := r.s.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("ledger: reading %s: %w", describeKey(key), storageErr(err))
	}
	out := bytes.Clone(v)
	_ = closer.Close()
	return out, true, nil
}

func (r snapReader) Tap(id engine.TapID) (engine.TapRecord, bool, error) { return readTap(r.get, id) }
func (r snapReader) Pass(id string) (engine.Pass, bool, error)           { return readPass(r.get, id) }
func (r snapReader) Card(uid string) (engine.Card, bool, error)          { return readCard(r.get, uid) }
func (r snapReader) Usage(passID string) (engine.Usage, error)           { return readUsage(r.get, passID) }

// View runs fn against a snapshot holding exactly the writes whose Update
// has been (or is being) acknowledged: never a write that is not yet synced.
func (l *Ledger) View(ctx context.Context, fn func(r engine.Reader) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ref, err := l.acquire()
	if err != nil {
		return err
	}
	defer ref.release()
	return fn(snapReader{s: ref.s})
}

// scan iterates keys in [lo, hi) of the durable snapshot, calling fn with
// each key and value (valid only during the call). It checks ctx every 256
// keys and returns the iterator's error, if any.
func (l *Ledger) scan(ctx context.Context, lo, hi []byte, fn func(k, v []byte) error) error {
	ref, err := l.acquire()
	if err != nil {
		return err
	}
	defer ref.release()
	return scanSnap(ctx, ref.s, lo, hi, fn)
}

func scanSnap(ctx context.Context, s *pebble.Snapshot, lo, hi []byte, fn func(k, v []byte) error) (err error) {
	it, err := s.NewIterWithContext(ctx, &pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("ledger: opening iterator: %w", storageErr(err))
	}
	defer func() {
		if cerr := it.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("ledger: iterating %s: %w", describeKey(lo), storageErr(cerr))
		}
	}()
	n := 0
	for valid := it.First(); valid; valid = it.Next() {
		if n++; n%256 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return fmt.Errorf("ledger: reading %s: %w", describeKey(it.Key()), storageErr(err))
		}
		if err := fn(it.Key(), v); err != nil {
			return err
		}
	}
	if err := it.Error(); err != nil {
		return fmt.Errorf("ledger: iterating %s: %w", describeKey(lo), storageErr(err))
	}
	return nil
}

// Journal calls fn for every journaled tap with JournalSeq >= fromSeq, in
// journal order, from one snapshot. It stops at fn's first error and
// returns it.
func (l *Ledger) Journal(ctx context.Context, fromSeq uint64, fn func(*engine.TapRecord) error) error {
	return l.scan(ctx, journalKey(fromSeq), []byte{pJournal + 1}, func(k, v []byte) error {
		rec, err := decodeTap(k, v)
		if err != nil {
			return err
		}
		return fn(rec)
	})
}

// JournalRaw calls fn for every journal record from fromSeq on, in seq
// order, from one snapshot, with the record as the ledger stores it: the
// bytes EncodeTapRecord writes and DecodeTapRecord reads, its frame
// verified. raw is valid only during the call. A node's uplink copies
// records into its uploads so, without decoding them.
func (l *Ledger) JournalRaw(ctx context.Context, fromSeq uint64, fn func(seq uint64, raw []byte) error) error {
	return l.scan(ctx, journalKey(fromSeq), []byte{pJournal + 1}, func(k, v []byte) error {
		seq, ok := parseJournalKey(k)
		if !ok {
			return &CorruptionError{Key: k, Reason: "malformed journal key"}
		}
		if _, err := openFrame(k, v, kindTap); err != nil {
			return err
		}
		return fn(seq, v)
	})
}

// JournalBetween calls fn for every journaled tap whose time At is in
// [from, to), by At ascending (ties by journal seq), from one snapshot.
func (l *Ledger) JournalBetween(ctx context.Context, from, to time.Time, fn func(*engine.TapRecord) error) error {
	if !from.Before(to) {
		return nil
	}
	ref, err := l.acquire()
	if err != nil {
		return err
	}
	defer ref.release()
	r := snapReader{s: ref.s}
	return scanSnap(ctx, ref.s, timeBound(from), timeBound(to), func(k, v []byte) error {
		_, seq, ok := parseTimeKey(k)
		if !ok {
			return &CorruptionError{Key: k, Reason: "malformed time-index key"}
		}
		if _, err := openValue(k, v, kindTimeIndex); err != nil {
			return err
		}
		jk := journalKey(seq)
		jv, ok, err := r.get(jk)
		if err != nil {
			return err
		}
		if !ok {
			return &CorruptionError{Key: k, Reason: fmt.Sprintf("journal record %d missing", seq)}
		}
		rec, err := decodeTap(jk, jv)
		if err != nil {
			return err
		}
		return fn(rec)
	})
}

// LastJournalSeq returns the highest durable journal seq (0 when empty).
func (l *Ledger) LastJournalSeq() (uint64, error) {
	ref, err := l.acquire()
	if err != nil {
		return 0, err
	}
	defer ref.release()
	return ref.lastJournal, ref.lastJournalErr
}

// DeviceHighWater returns the highest durable tap seq journaled for device
// (0 when none): where a device, or a fleet uploader, resumes.
func (l *Ledger) DeviceHighWater(device string) (uint64, error) {
	ref, err := l.acquire()
	if err != nil {
		return 0, err
	}
	defer ref.release()
	p := deviceTapPrefix(device)
	k, err := lastKey(ref.s, p, upperBound(p))
	if err != nil || k == nil {
		return 0, err
	}
	_, seq, ok := parseTapIDKey(k)
	if !ok {
		return 0, &CorruptionError{Key: k, Reason: "malformed tap key"}
	}
	return seq, nil
}

func lastKey(s *pebble.Snapshot, lo, hi []byte) (k []byte, err error) {
	it, err := s.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return nil, fmt.Errorf("ledger: opening iterator: %w", storageErr(err))
	}
	if it.Last() {
		k = bytes.Clone(it.Key())
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return nil, fmt.Errorf("ledger: seeking last of %s: %w", describeKey(lo), storageErr(err))
	}
	return k, nil
}

// Passes calls fn for every pass, by id.
func (l *Ledger) Passes(ctx context.Context, fn func(*engine.Pass) error) error {
	return l.scan(ctx, []byte{pPass}, []byte{pPass + 1}, func(k, v []byte) error {
		p, err := decodePass(k, v)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// Usages calls fn for every pass's usage, by pass id, from one snapshot.
// The usage is fn's to keep.
func (l *Ledger) Usages(ctx context.Context, fn func(passID string, u *engine.Usage) error) error {
	return l.scan(ctx, []byte{pUsage}, []byte{pUsage + 1}, func(k, v []byte) error {
		u, err := decodeUsage(k, v)
		if err != nil {
			return err
		}
		return fn(string(k[1:]), &u)
	})
}

// Cards calls fn for every known card, by uid (bindings, revocations, the
// block list, last counters).
func (l *Ledger) Cards(ctx context.Context, fn func(*engine.Card) error) error {
	return l.scan(ctx, []byte{pCard}, []byte{pCard + 1}, func(k, v []byte) error {
		c, err := decodeCard(k, v)
		if err != nil {
			return err
		}
		return fn(c)
	})
}

// Postings calls fn for every posting, by id.
func (l *Ledger) Postings(ctx context.Context, fn func(*engine.Posting) error) error {
	return l.scan(ctx, []byte{pPosting}, []byte{pPosting + 1}, func(k, v []byte) error {
		p, err := decodePosting(k, v)
		if err != nil {
			return err
		}
		return fn(p)
	})
}

// Balances calls fn for every account's running totals, by account: a trial
// balance without scanning postings.
func (l *Ledger) Balances(ctx context.Context, fn func(*Balance) error) error {
	return l.scan(ctx, []byte{pBalance}, []byte{pBalance + 1}, func(k, v []byte) error {
		b, err := decodeBalance(k, v)
		if err != nil {
			return err
		}
		return fn(b)
	})
}
