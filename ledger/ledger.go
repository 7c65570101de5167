package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/citypass/citypass/engine"
)

// FormatMajorVersion is the Pebble on-disk format the ledger creates and
// ratchets to. Pinned: a Pebble upgrade never silently changes the format.
const FormatMajorVersion = pebble.FormatValueSeparation

// Errors. Match with errors.Is.
var (
	ErrClosed      = errors.New("ledger: closed")
	ErrFailed      = errors.New("ledger: failed; reopen required") // fail-stop after a fatal storage error
	ErrLocked      = errors.New("ledger: in use by another process")
	ErrTapConflict = errors.New("ledger: tap id already journaled")
	ErrExists      = errors.New("ledger: id already exists")
	ErrNotFound    = errors.New("ledger: not found")
	ErrAlreadyPaid = errors.New("ledger: statement already paid")
	ErrUnbalanced  = errors.New("ledger: posting is not balanced")
	ErrInvalid     = errors.New("ledger: invalid record")
)

// Logger receives Pebble's informational and error messages. Pebble's fatal
// messages never reach a Logger: the ledger turns them into ErrFailed.
// Implementations must be safe for concurrent use.
type Logger interface {
	Infof(format string, args ...any)
	Errorf(format string, args ...any)
}

// DefaultCacheSizeBytes is the Pebble block cache of a ledger opened
// without Options.CacheSizeBytes (the bench's raw baselines use it too).
const DefaultCacheSizeBytes = 32 << 20

// Options configure Open. The zero value is safe: every field documents its
// default. Open copies the struct.
type Options struct {
	// FS is the file system; default vfs.Default (the OS). Tests use
	// vfs.NewCrashableMem or errorfs.
	FS vfs.FS
	// Now is the ledger clock, stamped into TapRecord.RecordedAt; default
	// time.Now.
	Now func() time.Time
	// Logger receives Pebble's messages; default: discarded.
	Logger Logger
	// OnFatal, when set, is called once (on a Pebble goroutine or the
	// writer) with the error that failed the ledger, after it is marked
	// failed. A gate process typically logs and exits from it. Default: none;
	// every later Update returns the error wrapped in ErrFailed.
	OnFatal func(err error)
	// Rand is the source of the epoch drawn when a ledger is created;
	// default crypto/rand. Simulations pass a seeded source so a run
	// replays exactly.
	Rand io.Reader
	// NoSync commits without fsync. Tests only: an acknowledged write can
	// then be lost. Default false (every commit is pebble.Sync).
	NoSync bool
	// MustExist makes Open fail when dir holds no ledger. Default false:
	// Open creates one.
	MustExist bool
	// QueueLen bounds the writer's request queue; Update waits (or returns
	// ctx.Err()) while it is full. Default 4096.
	QueueLen int
	// GroupMax bounds how many Update requests share one commit. Default 512.
	GroupMax int
	// CacheSizeBytes is Pebble's block cache; default DefaultCacheSizeBytes.
	CacheSizeBytes int64
	// WriterCacheBytes bounds the writer's cache of hot records (cards,
	// passes, usage, balances); default 4 MiB; negative disables it.
	WriterCacheBytes int

	// alwaysPipeline (tests) disables the writer's inline commit of a lone
	// request, so tests can hold a sync open while the next group runs.
	alwaysPipeline bool
}

func (o *Options) withDefaults() Options {
	var c Options
	if o != nil {
		c = *o
	}
	if c.FS == nil {
		c.FS = vfs.Default
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.QueueLen <= 0 {
		c.QueueLen = 4096
	}
	if c.GroupMax <= 0 {
		c.GroupMax = 512
	}
	if c.WriterCacheBytes == 0 {
		c.WriterCacheBytes = 4 << 20
	}
	if c.CacheSizeBytes <= 0 {
		c.CacheSizeBytes = DefaultCacheSizeBytes
	}
	return c
}

// Ledger is the durable store of passes, cards, taps, usage, postings and
// statements. Safe for concurrent use: every write goes through one writer
// goroutine (group commit); reads use snapshots that hold only durable data.
type Ledger struct {
	dir  string
	opts Options
	db   *pebble.DB

	reqs chan *request
	quit chan struct{} // closed by Close
	done chan struct{} // closed when the writer and the syncer have exited
	// syncQ carries committed groups from the writer to the syncer, in
	// commit order; the writer closes it when it exits.
	syncQ    chan *pending
	syncDone chan struct{} // closed when the syncer exits
	closed   atomic.Bool

	// failure is set once, on the first fatal storage error.
	failure  atomic.Pointer[failure]
	failedCh chan struct{}

	inCommit atomic.Int32  // goroutines (writer, syncer) inside a Pebble commit
	openGoid atomic.Uint64 // goroutine running pebble.Open, while it does

	// bgErr is Pebble's latest background error (a failed flush or
	// compaction). Not fatal by itself, but if it persists writes stall;
	// Update names it when its context ends.
	bgErr atomic.Pointer[failure]

	snapMu sync.Mutex
	snap   *snapRef // latest durable snapshot
	// retired holds the writer's references to replaced snapshots until
	// publish hands them back to be released together (see retireBatch).
	retired []*snapRef

	epoch uint64 // see Epoch; set by Open

	// Writer-owned state.
	lastSeq uint64 // last assigned journal seq
	commits uint64 // batches committed by the writer
	// inflight counts groups handed to the syncer and not yet answered;
	// only the writer raises it.
	inflight atomic.Int64
	group    map[string][]byte // the current group's writes, for its later transactions
	groupOps []op              // the current group's writes in order (runGroup's buffer)
	tx       txn               // the transaction being run (newTxn)
	cache    writerCache
	// devHW holds, per device, a seq at or above every seq journaled for
	// it, committed or in the current group (possibly higher: a failed
	// transaction's PutTap still raised it). A tap above it is new without
	// a read. Filled lazily from the database; see txn.tapIsNew.
	devHW map[string]uint64
}

// maxDeviceHW bounds devHW: a device met while it is full is not tracked
// (its taps are read), and a full map is emptied between groups. A variable
// for tests.
var maxDeviceHW = 1 << 16

// syncQLen bounds how many committed groups may wait for the syncer.
const syncQLen = 64

type failure struct{ err error }

// LockedError reports that another process holds the ledger's lock. It
// matches ErrLocked.
type LockedError struct {
	Dir     string
	PID     int    // holder's process id; 0 when unknown
	Command string // holder's command line, when known
	Err     error  // the underlying lock error
}

func (e *LockedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "ledger: %s is in use", e.Dir)
	if e.PID > 0 {
		fmt.Fprintf(&b, " by process %d", e.PID)
		if e.Command != "" {
			fmt.Fprintf(&b, " (%s)", e.Command)
		}
	} else {
		b.WriteString(" by another process")
	}
	return b.String()
}

func (e *LockedError) Is(target error) bool { return target == ErrLocked }
func (e *LockedError) Unwrap() error        { return e.Err }

// FatalError is the cause recorded when Pebble reports a fatal error. It
// matches ErrFailed and unwraps to Pebble's error (e.g. syscall.ENOSPC).
type FatalError struct {
	Msg string
	Err error // the first error among Pebble's message arguments; may be nil
}

func (e *FatalError) Error() string        { return "ledger: fatal storage error, ledger stopped: " + e.Msg }
func (e *FatalError) Is(target error) bool { return target == ErrFailed }
func (e *FatalError) Unwrap() error        { return e.Err }

// Open opens (creating unless opts.MustExist) the ledger in dir.
func Open(dir string, opts *Options) (*Ledger, error) {
	o := opts.withDefaults()
	l := &Ledger{
		dir:      dir,
		opts:     o,
		reqs:     make(chan *request, o.QueueLen),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		failedCh: make(chan struct{}),
		syncQ:    make(chan *pending, syncQLen),
		syncDone: make(chan struct{}),
		group:    make(map[string][]byte),
		cache:    writerCache{m: make(map[string]*cacheEntry), maxBytes: o.WriterCacheBytes},
		devHW:    make(map[string]uint64),
	}
	cache := pebble.NewCache(o.CacheSizeBytes)
	defer cache.Unref()
	po := &pebble.Options{
		FS:                 o.FS,
		Cache:              cache,
		FormatMajorVersion: FormatMajorVersion,
		ErrorIfNotExists:   o.MustExist,
		Logger:             &pebbleLogger{l: l},
		EventListener: &pebble.EventListener{
			BackgroundError: func(err error) {
				l.bgErr.Store(&failure{err: err})
				if l.opts.Logger != nil {
					l.opts.Logger.Errorf("pebble: background error: %v", err)
				}
			},
			WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
				if l.opts.Logger != nil {
					l.opts.Logger.Errorf("pebble: write stall: %s", info.Reason)
				}
			},
		},
	}
	for i := range po.Levels {
		// Tap-id lookups mostly miss (a new tap); bloom filters answer those
		// without reading data blocks.
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	if !o.MustExist {
		if err := o.FS.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("ledger: creating %s: %w", dir, err)
		}
	}
	db, err := l.openPebble(dir, po)
	if err != nil {
		if isLockErr(err) {
			le := &LockedError{Dir: dir, Err: err}
			if o.FS == vfs.Default {
				le.PID, le.Command = lockHolder(filepath.Join(dir, "LOCK"))
			}
			return nil, le
		}
		if errors.Is(err, pebble.ErrDBDoesNotExist) || errors.Is(err, syscall.ENOENT) && o.MustExist {
			return nil, fmt.Errorf("ledger: no ledger in %s: %w", dir, ErrNotFound)
		}
		return nil, fmt.Errorf("ledger: opening %s: %w", dir, err)
	}
	l.db = db
	if err := l.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	go l.syncer()
	go l.writer()
	return l, nil
}

// openPebble runs pebble.Open, turning a Fatalf on this goroutine (a failed
// MANIFEST write while creating or recovering the store) into an error. Such
// a failed Open may leave Pebble's files and lock held by this process.
func (l *Ledger) openPebble(dir string, po *pebble.Options) (db *pebble.DB, err error) {
	l.openGoid.Store(goid())
	defer func() {
		l.openGoid.Store(0)
		if r := recover(); r != nil {
			fs, ok := r.(*fatalSignal)
			if !ok {
				panic(r)
			}
			db, err = nil, fs.err
		}
	}()
	return pebble.Open(dir, po)
}

// goid returns the current goroutine's id, parsed from its stack header
// ("goroutine 18 [running]:"). Used only on the rare fatal path, to tell the
// goroutine that can take an error (Open's) from Pebble's background ones.
func goid() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		n, err := strconv.ParseUint(string(b[:i]), 10, 64)
		if err == nil {
			return n
		}
	}
	return 0
}

// isLockErr recognizes Pebble's lock failure: fcntl reports EAGAIN or EACCES
// when another process holds the lock; vfs.Default reports a plain error
// when this process already holds it (no sentinel to match).
func isLockErr(err error) bool {
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// init checks the schema, recovers the last journal seq and publishes the
// first snapshot.
func (l *Ledger) init() error {
	v, closer, err := l.db.Get(keySchema)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := l.create(); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("ledger: reading schema version: %w", err)
	default:
		sv, derr := decodeU64(keySchema, v, kindSchema)
		_ = closer.Close()
		if derr != nil {
			return derr
		}
		if err := l.upgrade(sv); err != nil {
			return err
		}
	}
	// Everything in the store now was written by an earlier process (and is
	// what survived its crash, if it crashed): take it as durable.
	if err := l.apply(func() error { return l.db.LogData(nil, pebble.Sync) }); err != nil {
		return fmt.Errorf("ledger: syncing WAL on open: %w", err)
	}
	releaseAll(l.publish(l.newSnap()))
	seq, err := l.LastJournalSeq()
	if err != nil {
		return err
	}
	l.lastSeq = seq
	return nil
}

// Close stops the writer (queued requests get ErrClosed) and closes Pebble.
func (l *Ledger) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	close(l.quit)
	select {
	case <-l.done:
	case <-l.failedCh:
		// After a fatal error the writer may be parked inside Pebble.
		select {
		case <-l.done:
		case <-time.After(5 * time.Second):
		}
	}
	l.snapMu.Lock()
	old := l.snap
	l.snap = nil
	retired := l.retired
	l.retired = nil
	l.snapMu.Unlock()
	if f := l.failure.Load(); f != nil {
		// After a fatal error Pebble's goroutines may be parked (see
		// pebbleLogger), possibly holding its mutex: closing could wait for
		// them forever. Give up after a while; the process should exit.
		ch := make(chan error, 1)
		go func() {
			for _, r := range append(retired, old) {
				if r != nil && r.refs.Add(-1) == 0 {
					_ = r.s.Close()
				}
			}
			ch <- l.db.Close()
		}()
		select {
		case err := <-ch:
			return errors.Join(f.err, err)
		case <-time.After(5 * time.Second):
			return fmt.Errorf("ledger: close abandoned after fatal error: %w", f.err)
		}
	}
	if old != nil {
		old.release()
	}
	releaseAll(retired)
	if err := l.db.Close(); err != nil {
		return fmt.Errorf("ledger: closing %s: %w", l.dir, err)
	}
	return nil
}

// Err returns the error that failed the ledger (matching ErrFailed), or nil.
func (l *Ledger) Err() error {
	if f := l.failure.Load(); f != nil {
		return f.err
	}
	return nil
}

func (l *Ledger) fail(err error) {
	if l.failure.CompareAndSwap(nil, &failure{err: err}) {
		if l.opts.Logger != nil {
			l.opts.Logger.Errorf("ledger %s: FATAL, ledger stopped (every write now fails): %v", l.dir, err)
		}
		if l.opts.OnFatal != nil {
			l.opts.OnFatal(err)
		}
		// Waiting callers are released last, so that when Update returns
		// the failure is logged and OnFatal has run.
		close(l.failedCh)
	}
}

// pebbleLogger routes Pebble's messages; Fatalf becomes a fail-stop of the
// ledger instead of os.Exit.
type pebbleLogger struct{ l *Ledger }

// fatalSignal carries a fatal commit error from pebbleLogger.Fatalf, on the
// writer goroutine, to the writer's recover.
type fatalSignal struct{ err error }

func (p *pebbleLogger) Infof(format string, args ...any) {
	if p.l.opts.Logger != nil {
		p.l.opts.Logger.Infof("pebble: "+format, args...)
	}
}

func (p *pebbleLogger) Errorf(format string, args ...any) {
	if p.l.opts.Logger != nil {
		p.l.opts.Logger.Errorf("pebble: "+format, args...)
	}
}

// Fatalf must not return: Pebble continues as if all were well when it does
// (DB.Apply returns nil after "fatal commit error"). A commit error arrives
// on the committing goroutine (the writer's batch commit or the syncer's
// WAL barrier, inside Ledger.apply; only applyInternal reports "fatal
// commit error"): panic with a fatalSignal that apply recovers, so the
// groups get the error. Anywhere else (a
// flush or compaction goroutine) park the goroutine for good: the ledger is
// failed, Pebble's state is no longer trusted, and the process decides
// (OnFatal) whether to exit.
func (p *pebbleLogger) Fatalf(format string, args ...any) {
	fe := &FatalError{Msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			fe.Err = err
			break
		}
	}
	if og := p.l.openGoid.Load(); og != 0 && og == goid() {
		// Inside Open, on Open's goroutine: Open returns the error.
		panic(&fatalSignal{err: fe})
	}
	p.l.fail(fe)
	if p.l.inCommit.Load() > 0 && strings.HasPrefix(format, "pebble: fatal commit error") {
		panic(&fatalSignal{err: fe})
	}
	select {} // park: see above
}

// snapRef is a reference-counted durable snapshot.
type snapRef struct {
	l    *Ledger
	s    *pebble.Snapshot
	refs atomic.Int32
}

func (r *snapRef) release() {
	if r.refs.Add(-1) == 0 && r.l.failure.Load() == nil {
		// After a fatal error the snapshot is left open: closing it takes
		// Pebble's mutex, which a parked goroutine may hold.
		_ = r.s.Close()
	}
}

// newSnap takes a snapshot of everything committed so far (one reference).
func (l *Ledger) newSnap() *snapRef {
	r := &snapRef{l: l, s: l.db.NewSnapshot()}
	r.refs.Store(1)
	return r
}

// retireBatch is how many replaced read snapshots are kept before they are
// released together. Closing the earliest Pebble snapshot re-scores
// compactions under the DB's mutex (a few µs, on every commit if each
// replaced snapshot were closed at once); closed newest first, a batch pays
// that once. Meanwhile they pin the overwritten versions of at most
// retireBatch commits.
const retireBatch = 32

// publish makes r (taking its reference) the read snapshot. Called only
// when everything r holds is durable: at open, and by the writer or the
// syncer after the WAL sync covering the batches r holds. The snapshot r
// replaces is retired; every retireBatch publishes, publish returns the
// retired ones for the caller to release (releaseAll) after answering the
// group, so no caller waits for it.
func (l *Ledger) publish(r *snapRef) (release []*snapRef) {
	l.snapMu.Lock()
	if l.snap != nil {
		l.retired = append(l.retired, l.snap)
	}
	l.snap = r
	if len(l.retired) >= retireBatch {
		release, l.retired = l.retired, make([]*snapRef, 0, retireBatch)
	}
	l.snapMu.Unlock()
	return release
}

// releaseAll releases snapshots published in the order given, newest
// first: only the last one closed can be Pebble's earliest snapshot.
func releaseAll(rs []*snapRef) {
	for i := len(rs) - 1; i >= 0; i-- {
		rs[i].release()
	}
}

// acquire returns the current durable snapshot; release it when done.
func (l *Ledger) acquire() (*snapRef, error) {
	if err := l.Err(); err != nil {
		return nil, err
	}
	l.snapMu.Lock()
	r := l.snap
	if r != nil {
		r.refs.Add(1)
	}
	l.snapMu.Unlock()
	if r == nil {
		return nil, ErrClosed
	}
	return r, nil
}

var _ engine.Store = (*Ledger)(nil)
