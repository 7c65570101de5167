package ledger

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/engine"
)

// request is one Update waiting for the writer.
type request struct {
	ctx   context.Context
	fn    func(t *txn) error
	reply chan error // buffered (1): the writer never blocks on a caller
}

// Update runs fn on the writer goroutine (engine.Store). fn's reads see
// durable data plus the writes of earlier transactions in the same group and
// its own; its writes commit atomically with the group in one synced Pebble
// batch, and Update returns only after that sync. When fn fails only its own
// writes are dropped. When the commit fails, every transaction of the group
// gets the error and the ledger fails (ErrFailed). If ctx ends while the
// request waits, Update returns ctx.Err() (naming Pebble's last background
// error, if any: a failing flush stalls writes); a transaction that already
// ran may still commit (not acknowledged, durable: a retry finds it). Gates
// should pass a deadline.
func (l *Ledger) Update(ctx context.Context, fn func(tx engine.Txn) error) error {
	return l.update(ctx, func(t *txn) error { return fn(t) })
}

func (l *Ledger) update(ctx context.Context, fn func(t *txn) error) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if err := l.Err(); err != nil {
		return err
	}
	r := &request{ctx: ctx, fn: fn, reply: make(chan error, 1)}
	select {
	case l.reqs <- r:
	case <-ctx.Done():
		return ctx.Err()
	case <-l.quit:
		return ErrClosed
	case <-l.failedCh:
		return l.Err()
	}
	select {
	case err := <-r.reply:
		return err
	case <-ctx.Done():
		if bg := l.bgErr.Load(); bg != nil {
			return fmt.Errorf("%w (storage background error: %w)", ctx.Err(), bg.err)
		}
		return ctx.Err()
	case <-l.failedCh:
		// The writer may be stuck inside Pebble after a fatal error.
		select {
		case err := <-r.reply:
			return err
		default:
			return l.Err()
		}
	case <-l.done:
		// Close raced with the send: the writer is gone.
		select {
		case err := <-r.reply:
			return err
		default:
			return ErrClosed
		}
	}
}

// writer owns every read-modify-write: it takes a request, drains what else
// is queued (up to GroupMax), runs them in order and commits them together.
func (l *Ledger) writer() {
	defer close(l.done)
	group := make([]*request, 0, l.opts.GroupMax)
	last := 0 // size of the previous group
	for {
		select {
		case r := <-l.reqs:
			group = append(group[:0], r)
		case <-l.quit:
			l.drainClosed()
			return
		}
		if last > 1 {
			// Callers answered by the last group are submitting their next
			// transactions right now: let them, so they share this commit
			// instead of waiting out another fsync.
			runtime.Gosched()
		}
	drain:
		for len(group) < l.opts.GroupMax {
			select {
			case r := <-l.reqs:
				group = append(group, r)
			default:
				break drain
			}
		}
		l.runGroup(group)
		last = len(group)
		clear(group)
	}
}

func (l *Ledger) drainClosed() {
	for {
		select {
		case r := <-l.reqs:
			r.reply <- ErrClosed
		default:
			return
		}
	}
}

func (l *Ledger) runGroup(group []*request) {
	errs := make([]error, len(group))
	if err := l.Err(); err != nil {
		for _, r := range group {
			r.reply <- err
		}
		return
	}
	seq0 := l.lastSeq
	clear(l.group)
	b := l.db.NewBatch()
	defer b.Close()
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			errs[i] = err
			continue
		}
		t := &txn{l: l, seq0: l.lastSeq, ops: make([]op, 0, 8)}
		if err := t.run(r.fn); err != nil {
			l.lastSeq = t.seq0
			errs[i] = err
			continue
		}
		for _, o := range t.ops {
			if err := b.Set(o.key, o.val, nil); err != nil {
				// Only a misuse of the batch fails here; nothing is committed.
				errs[i] = fmt.Errorf("ledger: building batch: %w", err)
				l.fail(errs[i])
				break
			}
			l.group[string(o.key)] = o.val
		}
	}
	if !b.Empty() && l.Err() == nil {
		if err := l.commit(b); err != nil {
			l.lastSeq = seq0
			clear(l.cache.m)
			l.fail(err)
		} else {
			l.publishSnapshot()
			for k, v := range l.group {
				if k[0] != pJournal && k[0] != pTime && k[0] != pTapID && k[0] != pPosting {
					// Journal records, indexes and postings are written
					// once and rarely read again by the writer.
					l.cache.put(k, v)
				}
			}
		}
	}
	if ferr := l.Err(); ferr != nil {
		// Nothing of this group is acknowledged.
		for i := range errs {
			if errs[i] == nil {
				errs[i] = ferr
			}
		}
	}
	for i, r := range group {
		r.reply <- errs[i]
	}
}

// commit applies the group's batch with pebble.Sync (NoSync in tests) and
// turns a fatal commit error (see pebbleLogger.Fatalf) into an error.
func (l *Ledger) commit(b *pebble.Batch) (err error) {
	l.inCommit.Store(true)
	defer func() {
		l.inCommit.Store(false)
		if r := recover(); r != nil {
			fs, ok := r.(*fatalSignal)
			if !ok {
				panic(r)
			}
			err = fs.err
		}
	}()
	if err := b.Commit(l.writeO); err != nil {
		return fmt.Errorf("ledger: commit: %w", err)
	}
	return nil
}

// txn is the engine.Txn handed to one fn. Not safe for concurrent use; it
// lives on the writer goroutine for the duration of fn.
type txn struct {
	l    *Ledger
	seq0 uint64 // l.lastSeq before fn: restored when fn fails
	ops  []op   // fn's writes in order
	idx  map[string]int
	// miss is the last key get found absent in the database: PutTap after
	// Tap (the engine's idempotency check) then costs no second lookup.
	miss []byte
}

type op struct {
	key, val []byte
}

// run calls fn, turning a panic into an error (its writes are dropped).
func (t *txn) run(fn func(t *txn) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("ledger: transaction panicked: %v\n%s", r, debug.Stack())
		}
	}()
	return fn(t)
}

const txnIndexAfter = 16 // linear search over fewer writes

func (t *txn) put(key, val []byte) {
	if i, ok := t.find(key); ok {
		t.ops[i].val = val
		return
	}
	t.ops = append(t.ops, op{key: key, val: val})
	if t.idx != nil {
		t.idx[string(key)] = len(t.ops) - 1
	} else if len(t.ops) > txnIndexAfter {
		t.idx = make(map[string]int, 2*len(t.ops))
		for i, o := range t.ops {
			t.idx[string(o.key)] = i
		}
	}
}

func (t *txn) find(key []byte) (int, bool) {
	if t.idx != nil {
		i, ok := t.idx[string(key)]
		return i, ok
	}
	for i := range t.ops {
		if bytes.Equal(t.ops[i].key, key) {
			return i, true
		}
	}
	return 0, false
}

// get reads through the transaction's writes, the group's writes and the
// database (whose contents are durable: the writer is the only committer
// and waits for each sync). The returned slice must not be modified.
func (t *txn) get(key []byte) ([]byte, bool, error) {
	if i, ok := t.find(key); ok {
		return t.ops[i].val, true, nil
	}
	if v, ok := t.l.group[string(key)]; ok {
		return v, true, nil
	}
	if v, ok := t.l.cache.get(key); ok {
		return v, true, nil
	}
	if t.miss != nil && bytes.Equal(t.miss, key) {
		return nil, false, nil
	}
	v, closer, err := t.l.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		t.miss = key
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("ledger: reading %s: %w", describeKey(key), err)
	}
	out := bytes.Clone(v)
	_ = closer.Close()
	t.l.cache.put(string(key), out)
	return out, true, nil
}

// writerCache holds values the writer read from or committed to the
// database, so hot records (cards, passes, usage, balances) are not read
// through Pebble on every tap. Owned by the writer goroutine. It only ever
// holds durable values: database reads (the writer is the only committer and
// waits for each sync) and a group's writes after their commit returned.
// Bounded by bytes; when full it is emptied (simple, and a refill is cheap).
type writerCache struct {
	m        map[string][]byte
	size     int
	maxBytes int
}

func (c *writerCache) get(key []byte) ([]byte, bool) {
	v, ok := c.m[string(key)]
	return v, ok
}

func (c *writerCache) put(key string, v []byte) {
	if c.maxBytes <= 0 {
		return
	}
	if old, ok := c.m[key]; ok {
		c.size -= len(key) + len(old)
	}
	c.size += len(key) + len(v)
	if c.size > c.maxBytes {
		clear(c.m)
		c.size = len(key) + len(v)
	}
	c.m[key] = v
}

func (t *txn) Tap(id engine.TapID) (engine.TapRecord, bool, error) { return readTap(t.get, id) }
func (t *txn) Pass(id string) (engine.Pass, bool, error)           { return readPass(t.get, id) }
func (t *txn) Card(uid string) (engine.Card, bool, error)          { return readCard(t.get, uid) }
func (t *txn) Usage(passID string) (engine.Usage, error)           { return readUsage(t.get, passID) }

func validID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	}
	if len(id) > 1024 {
		return fmt.Errorf("%w: %s of %d bytes (max 1024)", ErrInvalid, what, len(id))
	}
	return nil
}

// PutTap journals rec, assigning JournalSeq and RecordedAt. The tap id
// (device, seq) must not be journaled yet (ErrTapConflict).
func (t *txn) PutTap(rec *engine.TapRecord) error {
	if err := validID("tap device", rec.ID.Device); err != nil {
		return err
	}
	if strings.IndexByte(rec.ID.Device, 0) >= 0 {
		return fmt.Errorf("%w: tap device %q contains NUL", ErrInvalid, rec.ID.Device)
	}
	idKey := tapIDKey(rec.ID.Device, rec.ID.Seq)
	if _, ok, err := t.get(idKey); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: %s", ErrTapConflict, rec.ID)
	}
	t.l.lastSeq++
	rec.JournalSeq = t.l.lastSeq
	rec.RecordedAt = t.l.opts.Now()
	t.put(journalKey(rec.JournalSeq), encodeTap(rec))
	t.put(idKey, encodeU64(kindTapIndex, rec.JournalSeq))
	t.put(timeKey(rec.At, rec.JournalSeq), emptyValue)
	return nil
}

// PutPass stores p (insert or replace).
func (t *txn) PutPass(p engine.Pass) error {
	if err := validID("pass id", p.ID); err != nil {
		return err
	}
	t.put(strKey(pPass, p.ID), encodePass(&p))
	return nil
}

// PutCard stores c (insert or replace).
func (t *txn) PutCard(c engine.Card) error {
	if err := validID("card uid", c.UID); err != nil {
		return err
	}
	t.put(strKey(pCard, c.UID), encodeCard(&c))
	return nil
}

// PutUsage stores a pass's usage (replace).
func (t *txn) PutUsage(passID string, u engine.Usage) error {
	if err := validID("pass id", passID); err != nil {
		return err
	}
	t.put(strKey(pUsage, passID), encodeUsage(&u))
	return nil
}

// PutPosting records a balanced posting under a new id and adds its lines to
// the account balances.
func (t *txn) PutPosting(p engine.Posting) error {
	if err := validID("posting id", p.ID); err != nil {
		return err
	}
	if !p.Balanced() {
		return fmt.Errorf("%w: %s", ErrUnbalanced, p.ID)
	}
	key := strKey(pPosting, p.ID)
	if _, ok, err := t.get(key); err != nil {
		return err
	} else if ok {
		return fmt.Errorf("%w: posting %s", ErrExists, p.ID)
	}
	for _, ln := range p.Lines {
		if err := validID("account", ln.Account); err != nil {
			return fmt.Errorf("posting %s: %w", p.ID, err)
		}
		bk := strKey(pBalance, ln.Account)
		bal := &Balance{Account: ln.Account}
		v, ok, err := t.get(bk)
		if err != nil {
			return err
		}
		if ok {
			if bal, err = decodeBalance(bk, v); err != nil {
				return err
			}
		}
		bal.DebitMinor += ln.DebitMinor
		bal.CreditMinor += ln.CreditMinor
		bal.Postings++
		if bal.DebitMinor < 0 || bal.CreditMinor < 0 {
			return fmt.Errorf("%w: posting %s overflows account %s", ErrInvalid, p.ID, ln.Account)
		}
		t.put(bk, encodeBalance(bal))
	}
	t.put(key, encodePosting(&p))
	return nil
}

var _ engine.Txn = (*txn)(nil)
