package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// request is one Update waiting for the writer.
type request struct {
	ctx   context.Context
	fn    func(t *txn) error
	reply chan error // buffered (1): the writer never blocks on a caller
}

// Update runs fn on the writer goroutine (engine.Store). fn's reads see
// every committed write (synced or still being synced) plus the writes of
// earlier transactions in the same group and its own; its writes commit
// atomically with the group in one Pebble batch, and Update returns only
// after a WAL sync covering that batch and everything fn read. When fn fails
// only its own writes are dropped. When a commit or sync fails, every
// transaction not yet answered gets the error and the ledger fails
// (ErrFailed). If ctx ends while the
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
	if l.opts.ReadOnly {
		return ErrReadOnly
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
// is queued (up to GroupMax), runs them in order, commits their writes as one
// batch without waiting for the WAL sync, and hands the group to the syncer.
// It then runs the next group while the syncer's fsync is in flight: the next
// group reads the previous one's writes from the database (committed, not yet
// synced), and is answered only after a sync that covers it (see syncer).
func (l *Ledger) writer() {
	defer func() {
		close(l.syncQ)
		<-l.syncDone
		close(l.done)
	}()
	last := 0 // size of the previous group
	for {
		var group []*request
		select {
		case r := <-l.reqs:
			// Sized for what is queued now (one, at a lone gate); a group
			// is kept until answered, so it is not reused.
			group = append(make([]*request, 0, min(l.opts.GroupMax, 1+len(l.reqs))), r)
		case <-l.quit:
			l.drainClosed()
			return
		}
		if last > 1 {
			// Callers answered by a recent group are submitting their next
			// transactions right now: let them, so they share this batch.
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

// pending is a group the writer ran and committed (its writes are in the
// memtable and the WAL buffer: visible to the writer, not durable), waiting
// for the syncer to make it durable and answer it.
type pending struct {
	reqs []*request
	errs []error
	// commits is l.commits after the group: every batch this group's
	// transactions read or wrote. The group is answered only after a WAL
	// sync that started after batch number commits was committed.
	commits uint64
	// snap, taken right after the group's commit (before the writer commits
	// anything else), holds exactly batches 1..commits; nil when the group
	// committed nothing. The syncer publishes it once they are synced.
	snap *snapRef
	// changes are the change-log revisions the group wrote, for
	// Ledger.recent once they are durable.
	changes []recentRev
}

func (l *Ledger) runGroup(group []*request) {
	p := &pending{reqs: group, errs: make([]error, len(group))}
	if err := l.Err(); err != nil {
		l.answerFailed(p, err)
		return
	}
	if len(l.devHW) >= l.opts.DeviceSeqsMax {
		// Between groups every write is committed: refilling from the
		// database is exact.
		clear(l.devHW)
	}
	clear(l.group)
	clear(l.groupRuns)
	l.groupRuns, l.groupIdx = l.groupRuns[:0], l.groupIdx[:0]
	ops := l.groupOps[:0] // every write of the group, in order
	defer func() {
		clear(ops) // keeps no value alive until the next group
		l.groupOps = ops[:0]
	}()
	for i, r := range group {
		if err := r.ctx.Err(); err != nil {
			p.errs[i] = err
			continue
		}
		t := l.newTxn()
		if err := t.run(r.fn); err != nil {
			l.lastSeq = t.seq0
			p.errs[i] = err
			continue
		}
		t.finishRuns()
		if l.opts.ChangeLog && len(t.changed) > 0 {
			t.logChanges()
			if l.recent != nil {
				p.changes = append(p.changes, t.revision(l.lastRev))
			}
		}
		// Only later transactions of the group read l.group: the last one
		// (the only one, at a lone gate) skips building it.
		if i < len(group)-1 {
			l.keepRuns(t)
			for _, o := range t.ops {
				l.group[string(o.key)] = o.val
			}
		}
		ops = append(ops, t.ops...)
	}
	// The batch is built once every transaction has run, at its final size:
	// grown write by write, it would copy a hub's group of uploads
	// (megabytes) several times over.
	size := batchrepr.HeaderLen
	for _, o := range ops {
		size += len(o.key) + len(o.val) + batchRecordOverhead
	}
	b := l.db.NewBatchWithSize(size, pebble.WithMaxRetainedSizeBytes(batchRetainBytes))
	defer b.Close()
	for _, o := range ops {
		if err := b.Set(o.key, o.val, nil); err != nil {
			// Only a misuse of the batch fails here; nothing is committed.
			l.fail(fmt.Errorf("ledger: building batch: %w", err))
			break
		}
	}
	// A lone request with nothing in flight and nothing queued (one gate)
	// commits with pebble.Sync and is answered here: every earlier batch
	// was answered by the syncer, so synced, and nothing could run during
	// this sync anyway. This saves the syncer's hand-offs on the latency path.
	inline := len(group) == 1 && l.inflight.Load() == 0 && len(l.reqs) == 0 && !l.opts.alwaysPipeline
	if !b.Empty() && l.Err() == nil {
		// NoSync: the batch enters the WAL buffer and the memtable in commit
		// order; the syncer's barrier makes it durable.
		wo := pebble.NoSync
		if inline && !l.opts.NoSync {
			wo = pebble.Sync
		}
		if err := l.apply(func() error { return b.Commit(wo) }); err != nil {
			l.fail(fmt.Errorf("ledger: commit: %w", err))
		} else {
			l.commits++
			// The writer is the only committer of keys: this snapshot holds
			// exactly batches 1..l.commits.
			p.snap = l.newSnap()
			for _, o := range ops { // in order: the last write of a key wins
				if writeOnce(o.key[0]) {
					continue
				}
				l.cache.put(o.key, o.val, o.obj)
			}
		}
	}
	if err := l.Err(); err != nil {
		// Nothing of this group is acknowledged (the ledger is failed, so
		// neither is any later group); its snapshot is never published.
		if p.snap != nil {
			p.snap.release()
		}
		l.answerFailed(p, err)
		return
	}
	p.commits = l.commits
	if inline {
		// Synced (or, empty, read only synced data): publish and answer.
		var retired []*snapRef
		if p.snap != nil {
			l.recent.add(p.changes)
			retired = l.publish(p.snap)
		}
		for i, r := range p.reqs {
			r.reply <- p.errs[i]
		}
		releaseAll(retired)
		return
	}
	l.inflight.Add(1)
	l.syncQ <- p
}

// answerFailed answers every request of p with its own error or, where it
// has none, with the ledger's failure: nothing is acknowledged.
func (l *Ledger) answerFailed(p *pending, ferr error) {
	for i, r := range p.reqs {
		err := p.errs[i]
		if err == nil {
			err = ferr
		}
		r.reply <- err
	}
}

// syncer makes committed groups durable and answers them, in commit order.
// It takes every group the writer has handed over, waits for one WAL sync
// that covers all of them (LogData(nil, pebble.Sync): Pebble syncs all WAL
// data queued before it; a WAL rotation syncs and closes the old log first),
// then publishes the newest group's snapshot and answers the groups. A sync
// error fails the ledger, and every group not yet answered, including ones
// already executed, gets the error: nothing is acknowledged that a crash
// could lose.
func (l *Ledger) syncer() {
	defer close(l.syncDone)
	var synced uint64 // batches known durable: 1..synced
	batch := make([]*pending, 0, syncQLen)
	for p := range l.syncQ {
		batch = append(batch[:0], p)
	more:
		for len(batch) < cap(batch) {
			select {
			case q, ok := <-l.syncQ:
				if !ok {
					break more
				}
				batch = append(batch, q)
			default:
				break more
			}
		}
		// Every group in batch was committed before it was queued, so before
		// this barrier starts: the barrier's sync covers it.
		if need := batch[len(batch)-1].commits; need > synced && l.Err() == nil {
			if err := l.syncWAL(); err != nil {
				l.fail(fmt.Errorf("ledger: syncing WAL: %w", err))
			} else {
				synced = need
			}
		}
		// The newest group's snapshot holds every batch of the others.
		var snap *snapRef
		for _, q := range batch {
			if q.snap != nil {
				snap = q.snap
			}
		}
		ferr := l.Err()
		var retired []*snapRef
		if snap != nil && ferr == nil {
			for _, q := range batch {
				l.recent.add(q.changes)
			}
			retired = l.publish(snap)
		}
		for _, q := range batch {
			if ferr != nil {
				l.answerFailed(q, ferr)
				continue
			}
			for i, r := range q.reqs {
				r.reply <- q.errs[i]
			}
		}
		// Only now: the writer's inline path relies on every handed-over
		// group being answered (and its snapshot published) at inflight 0.
		l.inflight.Add(-int64(len(batch)))
		// Snapshots are released only after the answers (see publish): the
		// older groups' ones that were never published (newer than every
		// retired one, so none is Pebble's earliest), then the retired ones.
		for _, q := range batch {
			if q.snap != nil && (q.snap != snap || ferr != nil) {
				q.snap.release()
			}
		}
		releaseAll(retired)
		clear(batch)
	}
}

// syncWAL waits until every batch committed so far is durable. With
// Options.NoSync (tests only) it does nothing.
func (l *Ledger) syncWAL() error {
	if l.opts.NoSync {
		return nil
	}
	return l.apply(func() error { return l.db.LogData(nil, pebble.Sync) })
}

// apply runs a Pebble commit (a batch commit or a LogData barrier) and turns
// a fatal commit error, which Pebble reports through Logger.Fatalf on the
// committing goroutine (see pebbleLogger.Fatalf), into an error.
func (l *Ledger) apply(commit func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			fs, ok := r.(*fatalSignal)
			if !ok {
				panic(r)
			}
			err = fs.err
		}
	}()
	return commit()
}

// txn is the engine.Txn handed to one fn. Not safe for concurrent use; it
// lives on the writer goroutine for the duration of fn, which must not keep
// it: the writer reuses one txn and its buffers (newTxn).
type txn struct {
	l    *Ledger
	seq0 uint64 // l.lastSeq before fn: restored when fn fails
	ops  []op   // fn's writes in order
	// idx indexes ops by key once there are more than txnIndexAfter of
	// them (indexed); newTxn keeps the map, emptied, for the next.
	idx map[string]int
	// changed lists the state keys written (Options.ChangeLog).
	changed [][]byte
	// runs and idxRuns are the origin runs and the aliases' index runs the
	// transaction wrote (origins.go); finishRuns stores them.
	runs    []*originRun
	idxRuns []indexRun
	// pre holds what Prefetch read from the database (a nil val with ok
	// false: absent), for the transaction's later reads.
	pre map[string]prefetched
	// miss is the last key get found absent in the database: PutTap after
	// Tap (the engine's idempotency check) then costs no second lookup.
	miss []byte
}

// newTxn resets the writer's txn for the next transaction, keeping its ops
// buffer and key index (cleared, so no value of the last transaction stays
// reachable) unless a transaction grew them past maxKeptOps. Writer only.
func (l *Ledger) newTxn() *txn {
	t := &l.tx
	ops, idx := t.ops, t.idx
	if cap(ops) > maxKeptOps {
		ops = nil
	}
	clear(ops)
	if len(idx) > maxKeptOps {
		idx = nil
	}
	clear(idx)
	*t = txn{l: l, seq0: l.lastSeq, ops: ops[:0], idx: idx}
	return t
}

// batchRetainBytes is the largest batch buffer Pebble keeps for reuse
// after a group's commit: a hub's group of uploads writes a few MB, which a
// kept buffer holds without growing a new one for every group.
const batchRetainBytes = 4 << 20

// batchRecordOverhead bounds what a batch adds to a write's key and
// value: its kind and two uvarint lengths.
const batchRecordOverhead = 1 + 2*binary.MaxVarintLen32

// maxKeptOps bounds the ops buffer and key index newTxn keeps: a tap
// writes five or six keys, a hub's upload of 1,000 records about 4,000.
const maxKeptOps = 8192

type op struct {
	key, val []byte
	// obj is val decoded, owned by the ledger (never the caller's), for the
	// writer cache; nil where not kept (see writerCache).
	obj any
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

func (t *txn) put(key, val []byte) { t.putObj(key, val, nil) }

// putObj is put that also hands the writer cache val's decoded form obj,
// which nobody else may hold.
func (t *txn) putObj(key, val []byte, obj any) {
	if i, ok := t.find(key); ok {
		// Written before in this transaction, so already noted as changed.
		t.ops[i].val, t.ops[i].obj = val, obj
		return
	}
	if t.l.opts.ChangeLog && isStateKey(key) {
		t.noteChange(key)
	}
	t.ops = append(t.ops, op{key: key, val: val, obj: obj})
	switch n := len(t.ops); {
	case n > txnIndexAfter+1:
		t.idx[string(key)] = n - 1
	case n == txnIndexAfter+1: // the index starts: every write so far
		if t.idx == nil {
			t.idx = make(map[string]int, 2*n)
		}
		for i, o := range t.ops {
			t.idx[string(o.key)] = i
		}
	}
}

// indexed reports whether t.idx indexes t.ops (see putObj).
func (t *txn) indexed() bool { return len(t.ops) > txnIndexAfter }

func (t *txn) find(key []byte) (int, bool) {
	if t.indexed() {
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
	v, _, ok, err := t.read(key)
	return v, ok, err
}

// read is get that also returns the writer-cache entry holding the value
// when it came from the cache or the database (nil when it came from this
// group's writes, or the cache is off).
func (t *txn) read(key []byte) ([]byte, *cacheEntry, bool, error) {
	if i, ok := t.find(key); ok {
		return t.ops[i].val, nil, true, nil
	}
	if v, ok := t.l.group[string(key)]; ok {
		return v, nil, true, nil
	}
	if e := t.l.cache.get(key); e != nil {
		return e.val, e, true, nil
	}
	if t.miss != nil && bytes.Equal(t.miss, key) {
		return nil, nil, false, nil
	}
	if pv, ok := t.pre[string(key)]; ok {
		return pv.val, nil, pv.ok, nil
	}
	v, closer, err := t.l.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		t.miss = key
		return nil, nil, false, nil
	}
	if err != nil {
		return nil, nil, false, fmt.Errorf("ledger: reading %s: %w", describeKey(key), storageErr(err))
	}
	out := bytes.Clone(v)
	_ = closer.Close()
	return out, t.l.cache.put(key, out, nil), true, nil
}

// readDecoded reads key like get and decodes it. A value from the writer
// cache is decoded once and kept there decoded: the result may then be
// shared with the cache, so the caller must copy it before handing it out.
func readDecoded[T any](t *txn, key []byte, decode func(key, v []byte) (*T, error)) (*T, bool, error) {
	v, e, ok, err := t.read(key)
	if err != nil || !ok {
		return nil, false, err
	}
	if e != nil {
		if obj, ok := e.obj.(*T); ok {
			return obj, true, nil
		}
	}
	obj, err := decode(key, v)
	if err != nil {
		return nil, false, err
	}
	if e != nil {
		e.obj = obj
	}
	return obj, true, nil
}

// writeOnce reports whether keys of prefix p are written once and rarely
// read again by the writer (journal records, their indexes and origins,
// postings, quarantined records, change-log records): the writer cache
// does not keep what it commits of them, so they do not push out the hot
// records it is for (a hub's upload commits a change record naming ~1,500
// keys beside its journal records, while the next upload reads passes,
// cards and usage).
func writeOnce(p byte) bool {
	switch p {
	case pJournal, pTime, pTapID, pPosting, pOrigin, pOriginIdx, pQuarantine, pChange:
		return true
	}
	return false
}

// writerCache holds values the writer read from or committed to the
// database, so hot records (cards, passes, usage, balances) are not read
// through Pebble on every tap. Owned by the writer goroutine. It holds the
// writer's view: committed, possibly not yet synced. It is coherent because
// the writer is the only committer, and after a failed commit or sync the
// ledger is stopped, so it is never read again. Bounded by bytes
// (Options.WriterCacheBytes); when full it is emptied (simple, and a refill
// is cheap).
type writerCache struct {
	m        map[string]*cacheEntry
	size     int
	maxBytes int
}

// cacheEntry is one cached value. Cards and passes are also kept decoded
// (obj: *engine.Card, *engine.Pass), so a tap does not decode them again;
// obj is never handed out (txn.Card and txn.Pass return copies) and is
// replaced, never modified, when the value changes.
type cacheEntry struct {
	val []byte
	obj any // val decoded, or nil until a read decodes it
}

func (c *writerCache) get(key []byte) *cacheEntry { return c.m[string(key)] }

// put stores key's value v (and its decoded form obj, or nil) and returns
// its entry; nil when the cache is off.
func (c *writerCache) put(key, v []byte, obj any) *cacheEntry {
	if c.maxBytes <= 0 {
		return nil
	}
	e := c.m[string(key)]
	if e != nil {
		c.size -= len(key) + len(e.val)
	}
	c.size += len(key) + len(v)
	if c.size > c.maxBytes {
		clear(c.m)
		c.size = len(key) + len(v)
		e = nil
	}
	if e == nil { // a new key string only for a new entry
		e = &cacheEntry{}
		c.m[string(key)] = e
	}
	e.val, e.obj = v, obj
	return e
}

func (t *txn) Tap(id engine.TapID) (engine.TapRecord, bool, error) {
	if fresh, err := t.tapIsNew(id); err != nil || fresh {
		return engine.TapRecord{}, false, err
	}
	return readTap(t.get, id)
}

func (t *txn) Pass(id string) (engine.Pass, bool, error) {
	p, ok, err := readDecoded(t, strKey(pPass, id), decodePass)
	if err != nil || !ok {
		return engine.Pass{}, false, err
	}
	return p.Clone(), true, nil
}

func (t *txn) Card(uid string) (engine.Card, bool, error) {
	c, ok, err := readDecoded(t, strKey(pCard, uid), decodeCard)
	if err != nil || !ok {
		return engine.Card{}, false, err
	}
	return c.Clone(), true, nil
}

func (t *txn) Usage(passID string) (engine.Usage, error) { return readUsage(t.get, passID) }

// tapIsNew reports whether tap id is certainly not journaled, without a
// point read: its seq is above the device's high-water mark in l.devHW.
// False means "not known: read". The mark of a device is loaded from the
// database (the writer's view: everything committed) the first time the
// writer meets the device; PutTap, the only writer of tap ids, calls this
// before writing, so when a mark is loaded no uncommitted tap of the device
// exists, and PutTap raises the mark with every tap it writes. A failed
// transaction's raise stays: a mark too high costs a read, never a wrong
// answer. Devices' seqs may arrive in any order: only a seq above every
// journaled one skips the read.
func (t *txn) tapIsNew(id engine.TapID) (bool, error) {
	l := t.l
	hw, ok := l.devHW[id.Device]
	if !ok {
		if id.Device == "" || strings.IndexByte(id.Device, 0) >= 0 || len(l.devHW) >= l.opts.DeviceSeqsMax {
			return false, nil
		}
		var err error
		if hw, err = l.loadDeviceHW(id.Device); err != nil {
			return false, err
		}
		l.devHW[id.Device] = hw
	}
	return id.Seq > hw, nil
}

// DeviceHighWater returns the highest seq journaled for device: committed,
// in this group or in this transaction (engine.Txn). It is the device's
// mark in l.devHW when the writer tracks the device (possibly higher, see
// tapIsNew), else what the database holds, raised by the group's and the
// transaction's own tap ids.
func (t *txn) DeviceHighWater(device string) (uint64, error) {
	if err := validDevice(device); err != nil {
		return 0, err
	}
	l := t.l
	if hw, ok := l.devHW[device]; ok {
		return hw, nil
	}
	hw, err := l.loadDeviceHW(device)
	if err != nil {
		return 0, err
	}
	if len(l.devHW) < l.opts.DeviceSeqsMax {
		// Tracked from now on: no tap of the device is written yet in this
		// group (PutTap would have loaded the mark), and PutTap raises it.
		l.devHW[device] = hw
		return hw, nil
	}
	// Untracked (the map is full): the group's and this transaction's taps
	// of the device are not in the database yet.
	raise := func(k []byte) {
		if len(k) > 0 && k[0] == pTapID {
			if d, s, ok := parseTapIDKey(k); ok && d == device && s > hw {
				hw = s
			}
		}
	}
	for k := range l.group {
		raise([]byte(k))
	}
	for _, o := range t.ops {
		raise(o.key)
	}
	return hw, nil
}

// loadDeviceHW returns the highest tap seq of device in the database (0
// when none). Writer only.
func (l *Ledger) loadDeviceHW(device string) (seq uint64, err error) {
	p := deviceTapPrefix(device)
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: upperBound(p)})
	if err != nil {
		return 0, fmt.Errorf("ledger: reading high-water mark of device %q: %w", device, storageErr(err))
	}
	if it.Last() {
		_, s, ok := parseTapIDKey(it.Key())
		if !ok {
			err = &CorruptionError{Key: bytes.Clone(it.Key()), Reason: "malformed tap key"}
		}
		seq = s
	}
	if ierr := errors.Join(it.Error(), it.Close()); ierr != nil {
		return 0, fmt.Errorf("ledger: reading high-water mark of device %q: %w", device, storageErr(ierr))
	}
	return seq, err
}

// validDevice checks a tap id's device: an id, without NUL (the key
// separator).
func validDevice(device string) error {
	if err := validID("tap device", device); err != nil {
		return err
	}
	if strings.IndexByte(device, 0) >= 0 {
		return fmt.Errorf("%w: tap device %q contains NUL", ErrInvalid, device)
	}
	return nil
}

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
func (t *txn) PutTap(rec *engine.TapRecord) error { return t.putTap(rec, false) }

// putTap is PutTap; keepRecordedAt keeps rec.RecordedAt (a record journaled
// first by another ledger) instead of stamping the ledger clock.
func (t *txn) putTap(rec *engine.TapRecord, keepRecordedAt bool) error {
	if err := validDevice(rec.ID.Device); err != nil {
		return err
	}
	if rec.ID.Seq == 0 {
		return fmt.Errorf("%w: tap %s: seq 0 (seqs start at 1)", ErrInvalid, rec.ID)
	}
	if err := tariff.CheckInstant(rec.At); err != nil {
		// Stored times are int64 nanoseconds: out of range, they would wrap.
		return fmt.Errorf("%w: tap %s: %w", ErrInvalid, rec.ID, err)
	}
	idKey := tapIDKey(rec.ID.Device, rec.ID.Seq)
	fresh, err := t.tapIsNew(rec.ID)
	if err != nil {
		return err
	}
	if !fresh {
		if _, ok, err := t.get(idKey); err != nil {
			return err
		} else if ok {
			return fmt.Errorf("%w: %s", ErrTapConflict, rec.ID)
		}
	}
	if hw, ok := t.l.devHW[rec.ID.Device]; ok && rec.ID.Seq > hw {
		t.l.devHW[rec.ID.Device] = rec.ID.Seq
	}
	t.l.lastSeq++
	rec.JournalSeq = t.l.lastSeq
	if !keepRecordedAt {
		rec.RecordedAt = t.l.opts.Now()
	}
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
	own := p.Clone()
	t.putObj(strKey(pPass, p.ID), encodePass(&own), &own)
	return nil
}

// PutCard stores c (insert or replace).
func (t *txn) PutCard(c engine.Card) error {
	if err := validID("card uid", c.UID); err != nil {
		return err
	}
	own := c.Clone()
	t.putObj(strKey(pCard, c.UID), encodeCard(&own), &own)
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
