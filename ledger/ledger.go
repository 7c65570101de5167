package ledger

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/sstable"
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
	ErrUnbalanced  = errors.New("ledger: posting is not balanced")
	ErrInvalid     = errors.New("ledger: invalid record")
	// ErrInvalidOptions: Open was given an Options field out of range.
	ErrInvalidOptions = errors.New("ledger: invalid options")
	ErrReadOnly       = errors.New("ledger: opened read-only")
	ErrDiskFull       = errors.New("ledger: disk full")
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

// DefaultMemTableSize is the memtable of a ledger opened without
// Options.MemTableSize (Pebble's own default).
const DefaultMemTableSize = 4 << 20

// DefaultMemTables is Options.MemTables of a ledger opened without it.
const DefaultMemTables = 2

// DefaultL0Tables is Options.L0Tables of a ledger opened without it
// (Pebble's own L0 compaction threshold).
const DefaultL0Tables = 4

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
	// OnFatal, when set, is called once (on a Pebble goroutine, the writer
	// or the syncer) with the error that failed the ledger, after it is
	// marked failed; a process typically reports it and exits. When it
	// returns, every later Update and read returns the error (ErrFailed),
	// and a fatal error met on a Pebble background goroutine ends the
	// process with a panic (see the package doc, Fail-stop). Default: none.
	OnFatal func(err error)
	// Rand is the source of the epoch drawn when a ledger is created;
	// default crypto/rand. Simulations pass a seeded source so a run
	// replays exactly.
	Rand io.Reader
	// ChangeLog numbers every transaction that changes a tariff, pass, card
	// or usage and records what it changed (changelog.go): a hub's ledger,
	// whose changes flow down to nodes. Default false.
	ChangeLog bool
	// NoSync commits without fsync. Tests only: an acknowledged write can
	// then be lost. Default false (every commit is pebble.Sync).
	NoSync bool
	// MustExist makes Open fail when dir holds no ledger. Default false:
	// Open creates one.
	MustExist bool
	// ReadOnly opens an existing ledger for reading only (implies
	// MustExist): nothing is written, not even the flush of a recovered
	// WAL, so a ledger on a read-only medium (a backup) or a full disk can
	// be inspected. Update and every write return ErrReadOnly. It takes a
	// shared lock where the directory allows (see readLock): several readers
	// at once, never beside a writer. A damaged file does not fail Open: the
	// reads that need it do, naming it (DamagedFileError), and Check lists
	// it. Default false.
	ReadOnly bool
	// QueueLen bounds the writer's request queue; Update waits (or returns
	// ctx.Err()) while it is full. Default 4096.
	QueueLen int
	// GroupMax bounds how many Update requests share one commit. Default 512.
	GroupMax int
	// CacheSizeBytes is Pebble's block cache; default DefaultCacheSizeBytes.
	CacheSizeBytes int64
	// MemTableSize is Pebble's memtable, which is also about how large its
	// log grows before a new one starts; default DefaultMemTableSize. A
	// ledger that takes little (a simulated node among hundreds in one
	// process, each a log in memory) is cheaper with 256 KiB.
	MemTableSize int64
	// MemTables is how many full memtables may wait for their flush before
	// writes stall; default DefaultMemTables (Pebble's own). A ledger that
	// takes bursts of large transactions (a hub's catch-up) stalls less
	// with 4 while flushes share the CPU with compactions.
	MemTables int
	// L0Tables is how many overlapping tables of recent writes (Pebble's
	// L0 sublevels, through which every read passes) Pebble lets pile up
	// before it compacts them into the levels below; writes stall at three
	// times as many. Default DefaultL0Tables (Pebble's own). More tables
	// mean fewer rewrites of the levels below and dearer reads: a hub's
	// ledger, which takes uploads of 1,000 records whose reads it prefetches,
	// spends less CPU per record with 64 (bench/README.md).
	L0Tables int
	// FastestCompression compresses the store's tables with Pebble's
	// fastest compression (MinLZ; Snappy on arm64, where MinLZ has no
	// assembly) instead of Snappy: less CPU for every table written and read
	// in a flush or compaction, and about as small. Tables already written
	// keep their compression until rewritten; either reads the other's.
	FastestCompression bool
	// WriterCacheBytes bounds the writer's cache of hot records (cards,
	// passes, usage, balances); default 4 MiB; negative disables it.
	WriterCacheBytes int
	// DeviceSeqsMax bounds how many devices' highest tap numbers the writer
	// keeps, to know a tap above them is new without a read. A device met
	// while it is full is not tracked (its taps are read), and a full set
	// is emptied between groups. Default 65536.
	DeviceSeqsMax int
	// JournalBatchLen is how many records a JournalBatches batch holds.
	// Default 256, at most 65536.
	JournalBatchLen int
	// JournalBatchesInFlight is how many batches per decoder the scanner
	// and the decoders of JournalBatches may run ahead of its fn. Default
	// 16, at most 1024.
	JournalBatchesInFlight int
	// JournalDecoders is how many goroutines decode the journal in
	// JournalBatches. Default one per CPU beyond the caller's, at least 1
	// and at most 3 (the scanner is one more goroutine); at most 64.
	JournalDecoders int
	// DiskFullRetry is how long Pebble's retry of a flush or compaction that
	// found the disk full is held back. Default 1 s.
	DiskFullRetry time.Duration

	// alwaysPipeline (tests) disables the writer's inline commit of a lone
	// request, so tests can hold a sync open while the next group runs.
	alwaysPipeline bool
}

// Clone returns a copy of o (of the zero Options when o is nil). Open works
// on a clone: the caller's struct is never changed.
func (o *Options) Clone() *Options {
	var c Options
	if o != nil {
		c = *o
	}
	return &c
}

// EnsureDefaults sets every unset field of o to its documented default and
// returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.FS == nil {
		o.FS = vfs.Default
	}
	if o.ReadOnly {
		o.MustExist = true
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.QueueLen == 0 {
		o.QueueLen = 4096
	}
	if o.GroupMax == 0 {
		o.GroupMax = 512
	}
	if o.WriterCacheBytes == 0 {
		o.WriterCacheBytes = 4 << 20
	}
	if o.CacheSizeBytes == 0 {
		o.CacheSizeBytes = DefaultCacheSizeBytes
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = DefaultMemTableSize
	}
	if o.L0Tables == 0 {
		o.L0Tables = DefaultL0Tables
	}
	if o.MemTables == 0 {
		o.MemTables = DefaultMemTables
	}
	if o.DeviceSeqsMax == 0 {
		o.DeviceSeqsMax = 1 << 16
	}
	if o.JournalBatchLen == 0 {
		o.JournalBatchLen = 256
	}
	if o.JournalBatchesInFlight == 0 {
		o.JournalBatchesInFlight = 16
	}
	if o.JournalDecoders == 0 {
		o.JournalDecoders = min(max(runtime.GOMAXPROCS(0)-1, 1), 3)
	}
	if o.DiskFullRetry == 0 {
		o.DiskFullRetry = time.Second
	}
	return o
}

// Validate reports the first field of o (after EnsureDefaults) that is out
// of range, as an error matching ErrInvalidOptions.
func (o *Options) Validate() error {
	for _, c := range []struct {
		name      string
		v, lo, hi int64
	}{
		{"QueueLen", int64(o.QueueLen), 1, 1 << 20},
		{"GroupMax", int64(o.GroupMax), 1, 1 << 16},
		{"CacheSizeBytes", o.CacheSizeBytes, 1, 1 << 40},
		{"MemTableSize", o.MemTableSize, 64 << 10, 1 << 30},
		{"L0Tables", int64(o.L0Tables), 2, 256},
		{"MemTables", int64(o.MemTables), 2, 16},
		{"DeviceSeqsMax", int64(o.DeviceSeqsMax), 1, 1 << 24},
		{"JournalBatchLen", int64(o.JournalBatchLen), 1, 1 << 16},
		{"JournalBatchesInFlight", int64(o.JournalBatchesInFlight), 1, 1 << 10},
		{"JournalDecoders", int64(o.JournalDecoders), 1, 64},
		{"DiskFullRetry", int64(o.DiskFullRetry), 1, int64(time.Hour)},
	} {
		if c.v < c.lo || c.v > c.hi {
			return fmt.Errorf("%w: %s is %d, want %d to %d", ErrInvalidOptions, c.name, c.v, c.lo, c.hi)
		}
	}
	if o.FS == nil || o.Now == nil {
		return fmt.Errorf("%w: FS and Now must be set (call EnsureDefaults)", ErrInvalidOptions)
	}
	return nil
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
	// release forgets the directory claimed for this process (claimDir).
	release func()

	// failure is set once, on the first fatal storage error.
	failure  atomic.Pointer[failure]
	failedCh chan struct{}

	// opening is set while Open waits for Pebble; backgroundError then
	// sends a disk-full error on openFull (buffered, 1).
	opening  atomic.Bool
	openFull chan error

	// damaged lists the files Pebble reported corrupt (dataCorruption).
	damagedMu sync.Mutex
	damaged   []string

	// bgErr is Pebble's latest background error (a failed flush or
	// compaction). Not fatal by itself, but if it persists writes stall;
	// Update names it when its context ends.
	bgErr atomic.Pointer[failure]

	snapMu sync.Mutex
	snap   *snapRef // latest durable snapshot
	// retired holds the writer's references to replaced snapshots until
	// publish hands them back to be released together (see retireBatch).
	retired []*snapRef

	epoch   uint64    // see Epoch; set by Open
	created time.Time // see Created; set by Open

	// recent keeps the newest durable revisions for Changes (ChangeLog); it
	// has its own lock.
	recent *recentChanges

	// Writer-owned state.
	lastRev uint64 // last change-log revision (Options.ChangeLog)
	lastSeq uint64 // last assigned journal seq
	commits uint64 // batches committed by the writer
	// inflight counts groups handed to the syncer and not yet answered;
	// only the writer raises it.
	inflight atomic.Int64
	group    map[string][]byte // the current group's writes, for its later transactions
	groupOps []op              // the current group's writes in order (runGroup's buffer)
	// groupRuns and groupIdx are the current group's origin and index runs
	// (origins.go), for its later transactions.
	groupRuns []*originRun
	groupIdx  []indexRun
	tx        txn // the transaction being run (newTxn)
	cache     writerCache
	// devHW holds, per device, a seq at or above every seq journaled for
	// it, committed or in the current group (possibly higher: a failed
	// transaction's PutTap still raised it, which costs a read, never a
	// wrong answer). A tap above it is new without a read; seqs may arrive
	// in any order, and one at or below it is read. Filled lazily from the
	// database the first time the writer meets a device; bounded by
	// Options.DeviceSeqsMax. See txn.tapIsNew.
	devHW map[string]uint64
}

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

// DiskFullError reports that the file system holding the ledger is full.
// It matches ErrDiskFull and syscall.ENOSPC, and unwraps to the error that
// said so (a *FatalError when it failed the ledger).
type DiskFullError struct {
	Dir string
	Err error
}

func (e *DiskFullError) Error() string {
	return fmt.Sprintf("ledger: the disk holding %s is full (no space left on device): free some space, then try again (nothing acknowledged is lost)", e.Dir)
}
func (e *DiskFullError) Is(target error) bool { return target == ErrDiskFull }
func (e *DiskFullError) Unwrap() error        { return e.Err }

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
	o := opts.Clone().EnsureDefaults()
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if o.MustExist {
		// A missing directory is no ledger: say so before the lock file is
		// created in it (Pebble would leave one behind, and says a
		// read-only open of a missing directory in words only).
		if _, err := o.FS.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("ledger: no ledger in %s: %w", dir, ErrNotFound)
		}
	}
	l := &Ledger{
		dir:      dir,
		opts:     *o,
		reqs:     make(chan *request, o.QueueLen),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		failedCh: make(chan struct{}),
		syncQ:    make(chan *pending, syncQLen),
		syncDone: make(chan struct{}),
		group:    make(map[string][]byte),
		cache:    writerCache{m: make(map[string]*cacheEntry), maxBytes: o.WriterCacheBytes},
		devHW:    make(map[string]uint64),
		openFull: make(chan error, 1),
	}
	release, err := claimDir(o.FS, dir)
	if err != nil {
		return nil, err
	}
	l.release = release
	opened := false
	defer func() {
		if !opened {
			release()
		}
	}()
	cache := pebble.NewCache(o.CacheSizeBytes)
	defer cache.Unref()
	pfs := o.FS
	if o.ReadOnly {
		pfs = readOnlyFS{pfs}
	}
	po := &pebble.Options{
		FS:                          pfs,
		ReadOnly:                    o.ReadOnly,
		Cache:                       cache,
		MemTableSize:                uint64(o.MemTableSize),
		MemTableStopWritesThreshold: o.MemTables,
		// The stall thresholds keep Pebble's own ratio (4 and 12).
		L0CompactionThreshold: o.L0Tables,
		L0StopWritesThreshold: 3 * o.L0Tables,
		FormatMajorVersion:    FormatMajorVersion,
		ErrorIfNotExists:      o.MustExist,
		Logger:                &pebbleLogger{l: l},
		EventListener: &pebble.EventListener{
			DataCorruption:  l.dataCorruption,
			BackgroundError: l.backgroundError,
			WriteStallBegin: func(info pebble.WriteStallBeginInfo) {
				if l.opts.Logger != nil {
					l.opts.Logger.Errorf("pebble: write stall: %s", info.Reason)
				}
			},
		},
	}
	if o.FastestCompression {
		for i := range po.Levels {
			po.Levels[i].Compression = func() *sstable.CompressionProfile { return sstable.FastestCompression }
		}
	}
	for i := range po.Levels {
		// Tap-id lookups mostly miss (a new tap); bloom filters answer those
		// without reading data blocks.
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	if !o.MustExist {
		if err := o.FS.MkdirAll(dir, 0o755); err != nil {
			if errors.Is(err, syscall.ENOSPC) {
				return nil, &DiskFullError{Dir: dir, Err: err}
			}
			return nil, fmt.Errorf("ledger: creating %s: %w", dir, err)
		}
	}
	db, err := l.openWatched(dir, po, &opened)
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrDiskFull) {
			err = &DiskFullError{Dir: dir, Err: err}
		}
		if errors.Is(err, ErrDiskFull) {
			return nil, err
		}
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
		if errors.Is(err, fs.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return nil, fmt.Errorf("ledger: %s cannot be written here (%w): only commands that read work on it", dir, err)
		}
		return nil, fmt.Errorf("ledger: opening %s: %w", dir, storageErr(err))
	}
	l.db = db
	if err := l.init(); err != nil {
		_ = db.Close()
		if errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrDiskFull) {
			err = &DiskFullError{Dir: dir, Err: err}
		}
		return nil, err
	}
	opened = true
	if o.ReadOnly {
		close(l.done) // no writer, no syncer
		return l, nil
	}
	go l.syncer()
	go l.writer()
	return l, nil
}

// openWatched runs openPebble on a goroutine of its own and returns its
// result, or a *DiskFullError as soon as Pebble reports that the disk is
// full while opening. Pebble's Open waits for the flush of the recovered
// WAL, and retries a failed flush without end: on a full disk it would
// never return. The abandoned open goes on retrying (slowly, see
// backgroundError) until space is freed, then closes the store it opened
// and releases the directory (*claimed is set so that Open does not).
func (l *Ledger) openWatched(dir string, po *pebble.Options, claimed *bool) (*pebble.DB, error) {
	type result struct {
		db  *pebble.DB
		err error
	}
	res := make(chan result, 1)
	l.opening.Store(true)
	go func() {
		db, err := l.openPebble(dir, po)
		res <- result{db, err}
	}()
	select {
	case r := <-res:
		l.opening.Store(false)
		return r.db, r.err
	case err := <-l.openFull:
		select {
		case r := <-res: // it finished meanwhile
			l.opening.Store(false)
			return r.db, r.err
		default:
		}
		*claimed = true
		go func() {
			if r := <-res; r.db != nil {
				_ = r.db.Close()
			}
			l.release()
		}()
		return nil, &DiskFullError{Dir: dir, Err: err}
	}
}

// backgroundError is Pebble's report of a failed flush or compaction, which
// Pebble retries at once and forever. It is logged and kept for Update's
// timeout message. A full disk (ENOSPC) fails the ledger (see Open's doc:
// writes stop at once with a disk-full error instead of stalling), tells a
// running Open to give up, and slows Pebble's retries to one a second:
// the callback runs on the retrying goroutine.
func (l *Ledger) backgroundError(err error) {
	l.bgErr.Store(&failure{err: err})
	if l.opts.Logger != nil {
		l.opts.Logger.Errorf("pebble: background error: %v", err)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		return
	}
	if l.opening.Load() {
		select {
		case l.openFull <- err:
		default:
		}
	} else {
		l.fail(&FatalError{Msg: "background flush or compaction: " + err.Error(), Err: err})
	}
	time.Sleep(l.opts.DiskFullRetry)
}

// openPebble runs pebble.Open, turning a Fatalf during it (a failed
// MANIFEST write while creating or recovering the store, which Pebble
// reports on the goroutine calling Open) into an error. Such a failed Open
// may leave Pebble's files and lock held by this process.
func (l *Ledger) openPebble(dir string, po *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
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

// isLockErr recognizes Pebble's lock failure: fcntl reports EAGAIN or EACCES
// when another process holds the lock (vfs.NewMem reports EAGAIN for a lock
// held in this process; a real directory held in this process is caught
// earlier, by claimDir).
//
// The lock is fcntl's answer, a bare errno: EACCES inside a *fs.PathError
// is a LOCK file this user may not open (a read-only data dir), not a lock
// held by another process.
func isLockErr(err error) bool {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return false
	}
	return errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES)
}

// init checks the schema, recovers the last journal seq and publishes the
// first snapshot. Read-only, it only checks the schema, and a damaged file
// under it is left for the reads (and Check) to report.
func (l *Ledger) init() error {
	if l.opts.ReadOnly {
		v, closer, err := l.db.Get(keySchema)
		switch {
		case errors.Is(err, pebble.ErrNotFound):
			return fmt.Errorf("ledger: no ledger in %s: %w", l.dir, ErrNotFound)
		case errors.Is(storageErr(err), ErrCorrupt):
		case err != nil:
			return fmt.Errorf("ledger: reading schema version: %w", err)
		default:
			sv, derr := decodeU64(keySchema, v, kindSchema)
			_ = closer.Close()
			if derr == nil && sv != schemaVersion {
				return fmt.Errorf("ledger: schema version %d, this release reads %d: open it once read-write (any command that writes) to upgrade it", sv, schemaVersion)
			}
		}
		if v, closer, err := l.db.Get(keyEpoch); err == nil {
			l.epoch, _ = decodeU64(keyEpoch, v, kindCounter)
			_ = closer.Close()
		}
		return l.publishOpened()
	}
	v, closer, err := l.db.Get(keySchema)
	switch {
	case errors.Is(err, pebble.ErrNotFound):
		if err := l.create(); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("ledger: reading schema version: %w", storageErr(err))
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
	if err := l.publishOpened(); err != nil {
		return err
	}
	if l.opts.ChangeLog {
		l.recent = newRecentChanges(recentChangesBytes)
	}
	if l.lastRev, err = l.loadLastRev(); err != nil {
		return err
	}
	return nil
}

// Close stops the writer (queued requests get ErrClosed) and closes Pebble.
// After a fatal error it returns that error (joined with Close's own).
func (l *Ledger) Close() error {
	if !l.closed.CompareAndSwap(false, true) {
		return ErrClosed
	}
	close(l.quit)
	// The writer and the syncer never stay inside Pebble: a fatal commit
	// error reaches them as an error (apply), after which they commit
	// nothing more.
	<-l.done
	l.snapMu.Lock()
	old := l.snap
	l.snap = nil
	retired := l.retired
	l.retired = nil
	l.snapMu.Unlock()
	if old != nil {
		old.release()
	}
	releaseAll(retired)
	err := l.db.Close()
	l.release()
	if err != nil {
		err = fmt.Errorf("ledger: closing %s: %w", l.dir, err)
	}
	if f := l.failure.Load(); f != nil {
		return errors.Join(f.err, err)
	}
	return err
}

// Err returns the error that failed the ledger (matching ErrFailed), or nil.
func (l *Ledger) Err() error {
	if f := l.failure.Load(); f != nil {
		return f.err
	}
	return nil
}

func (l *Ledger) fail(err error) {
	if errors.Is(err, syscall.ENOSPC) && !errors.Is(err, ErrDiskFull) {
		err = &DiskFullError{Dir: l.dir, Err: err}
	}
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

// fatalSignal is the panic value of pebbleLogger.Fatalf. apply and
// openPebble recover it into the error it carries.
type fatalSignal struct{ err error }

// Error makes an unrecovered fatalSignal print its cause.
func (f *fatalSignal) Error() string { return f.err.Error() }

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
// (DB.Apply returns nil after a failed commit). It fails the ledger (the
// failure is logged, OnFatal runs, every waiting and later Update and read
// returns it), then panics with a *fatalSignal:
//
//   - on the goroutine that committed (the writer's batch or the syncer's
//     WAL barrier, inside apply) or that runs pebble.Open (openPebble), the
//     panic is recovered and becomes the error those calls return;
//   - on a Pebble background goroutine (a flush or compaction whose
//     MANIFEST write failed) nothing recovers it and the process ends, as
//     with Pebble's own logger (os.Exit): Pebble's state can no longer be
//     trusted, and letting that goroutine go on or unwind could let another
//     write the MANIFEST after a failed write. OnFatal has run by then, so a
//     process can report the error and exit on its own terms first.
//
// Which case applies needs no goroutine identity: a panic is recovered
// exactly where a recover is on the stack.
func (p *pebbleLogger) Fatalf(format string, args ...any) {
	fe := &FatalError{Msg: fmt.Sprintf(format, args...)}
	for _, a := range args {
		if err, ok := a.(error); ok {
			fe.Err = err
			break
		}
	}
	p.l.fail(fe)
	panic(&fatalSignal{err: p.l.Err()})
}

// dataCorruption is Pebble's report of a damaged file found while reading
// (a block or footer failing its checksum). The read that found it returns
// an error (storageErr names the file); the ledger is not stopped: every
// read that needs the damaged file fails, the rest of the store stays
// readable (ledger check lists what it can), and nothing is decided on
// data it could not read. Pebble's default (Logger.Fatalf) is replaced.
func (l *Ledger) dataCorruption(info pebble.DataCorruptionInfo) {
	l.damagedMu.Lock()
	if !slices.Contains(l.damaged, info.Path) && len(l.damaged) < 64 {
		l.damaged = append(l.damaged, info.Path)
	}
	l.damagedMu.Unlock()
	if l.opts.Logger != nil {
		l.opts.Logger.Errorf("ledger %s: damaged file %s: %v", l.dir, info.Path, info.Details)
	}
}

// Damaged returns the store files Pebble reported damaged since Open.
func (l *Ledger) Damaged() []string {
	l.damagedMu.Lock()
	defer l.damagedMu.Unlock()
	return slices.Clone(l.damaged)
}

// storageErr turns an error from a Pebble read into a *DamagedFileError
// naming the file when Pebble attached its corruption report, and leaves
// any other error as it is.
func storageErr(err error) error {
	if err == nil {
		return nil
	}
	var dfe *DamagedFileError
	if errors.As(err, &dfe) {
		return err
	}
	if info := pebble.ExtractDataCorruptionInfo(err); info != nil {
		// Details is Pebble's error without the report it carries (whose
		// text is a placeholder).
		cause := info.Details
		if cause == nil {
			cause = err
		}
		return &DamagedFileError{Path: info.Path, Err: cause}
	}
	return err
}

// snapRef is a reference-counted durable snapshot.
type snapRef struct {
	l    *Ledger
	s    *pebble.Snapshot
	refs atomic.Int32
	// lastJournal is the highest journal seq s holds (0: none), so that
	// LastJournalSeq, which an uploader polls, reads no store; or
	// lastJournalErr, why a read-only open could not read it.
	lastJournal    uint64
	lastJournalErr error
}

func (r *snapRef) release() {
	if r.refs.Add(-1) == 0 {
		_ = r.s.Close()
	}
}

// newSnap takes a snapshot of everything committed so far (one reference).
// Called by the writer (or by Open before it runs): l.lastSeq is then the
// highest journal seq committed.
func (l *Ledger) newSnap() *snapRef {
	r := &snapRef{l: l, s: l.db.NewSnapshot(), lastJournal: l.lastSeq}
	r.refs.Store(1)
	return r
}

// publishOpened publishes the first read snapshot of a store just opened,
// with the highest journal seq read from the store itself, and starts the
// writer's numbering after it. A read-only open goes on when that read
// fails (a damaged store is opened read-only to be checked): its
// LastJournalSeq returns the error.
func (l *Ledger) publishOpened() error {
	r := l.newSnap()
	k, err := lastKey(r.s, []byte{pJournal}, []byte{pJournal + 1})
	if err == nil && k != nil {
		seq, ok := parseJournalKey(k)
		if !ok {
			err = &CorruptionError{Key: k, Reason: "malformed journal key"}
		}
		r.lastJournal = seq
	}
	if err != nil && !l.opts.ReadOnly {
		r.release()
		return err
	}
	r.lastJournalErr = err
	l.lastSeq = r.lastJournal
	releaseAll(l.publish(r))
	return nil
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

// DamagedFileError reports a store file that failed its checksums (Pebble
// found on-disk corruption while reading it). It matches ErrCorrupt.
type DamagedFileError struct {
	Path string // the damaged file
	Err  error  // Pebble's error
}

func (e *DamagedFileError) Error() string {
	return fmt.Sprintf("ledger: damaged file %s (it fails its checksums): %v", e.Path, e.Err)
}
func (e *DamagedFileError) Is(target error) bool { return target == ErrCorrupt }
func (e *DamagedFileError) Unwrap() error        { return e.Err }
