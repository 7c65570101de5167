package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/citypass/citypass/ledger"
)

// Shape is the I/O of one commit: Keys keys of KeyBytes each, every one with a
// value of ValueBytes. The raw baselines write batches of the same shape as
// the ledger commits for one tap.
type Shape struct {
	Keys       int // keys per batch; default 2
	KeyBytes   int // bytes per key; default 17 (table byte + two big-endian u64)
	ValueBytes int // bytes per value; default 115 (≈ 230 B per batch)
}

func (s Shape) withDefaults() Shape {
	if s.Keys <= 0 {
		s.Keys = 2
	}
	if s.KeyBytes < 17 {
		s.KeyBytes = 17
	}
	if s.ValueBytes <= 0 {
		s.ValueBytes = 115
	}
	return s
}

func (s Shape) String() string {
	s = s.withDefaults()
	return fmt.Sprintf("%d×(%d B key + %d B value)", s.Keys, s.KeyBytes, s.ValueBytes)
}

// RawOptions returns the Pebble options of the raw baselines. They mirror
// ledger.Open's: the ledger's pinned FormatMajorVersion, its default block
// cache (ledger.DefaultCacheSizeBytes), bloom filters (10 bits per key) on
// every level, and Pebble's defaults for everything else (no
// WALMinSyncInterval).
func RawOptions() *pebble.Options {
	o := &pebble.Options{
		FormatMajorVersion: ledger.FormatMajorVersion,
		CacheSize:          ledger.DefaultCacheSizeBytes,
		Logger:             quietLogger{},
	}
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return o
}

// quietLogger drops Pebble's informational output (bench prints its own
// progress) and panics on Fatalf, which a benchmark must not survive.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)           {}
func (quietLogger) Errorf(string, ...any)          {}
func (quietLogger) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }

// rawDB is a raw Pebble store with writers of a fixed batch shape.
type rawDB struct {
	db    *pebble.DB
	shape Shape
}

func openRaw(dir string, shape Shape) (*rawDB, error) {
	db, err := pebble.Open(dir, RawOptions())
	if err != nil {
		return nil, fmt.Errorf("bench: opening raw pebble: %w", err)
	}
	return &rawDB{db: db, shape: shape.withDefaults()}, nil
}

func (r *rawDB) Close() error { return r.db.Close() }

// rawWriter writes synced batches under its own key range.
type rawWriter struct {
	r     *rawDB
	id    uint64
	seq   uint64
	key   []byte
	value []byte
}

func (r *rawDB) writer(id int) *rawWriter {
	v := make([]byte, r.shape.ValueBytes)
	rng := rand.New(rand.NewPCG(uint64(id), 0x5eed))
	for i := range v {
		v[i] = byte(rng.Uint32()) // incompressible, like encoded records
	}
	return &rawWriter{r: r, id: uint64(id), key: make([]byte, r.shape.KeyBytes), value: v}
}

// commit writes one batch of the shape with pebble.Sync (or NoSync).
func (w *rawWriter) commit(sync bool) error {
	b := w.r.db.NewBatch()
	for k := 0; k < w.r.shape.Keys; k++ {
		w.seq++
		w.key[0] = byte(0x10 + k)
		binary.BigEndian.PutUint64(w.key[1:], w.id)
		binary.BigEndian.PutUint64(w.key[9:], w.seq)
		w.value[0], w.value[1] = byte(w.seq), byte(w.seq>>8)
		if err := b.Set(w.key, w.value, nil); err != nil {
			_ = b.Close()
			return err
		}
	}
	opt := pebble.Sync
	if !sync {
		opt = pebble.NoSync
	}
	if err := b.Commit(opt); err != nil {
		_ = b.Close()
		return err
	}
	return b.Close()
}

// rawThroughput runs writers concurrent writers, each committing synced
// batches until d has passed, and returns batches per second.
func (r *rawDB) rawThroughput(ctx context.Context, writers int, d time.Duration) (float64, error) {
	return concurrently(ctx, writers, d, func(i int) (func() error, error) {
		w := r.writer(i + 1)
		return func() error { return w.commit(true) }, nil
	})
}

// concurrently runs n workers, each calling its op in a loop until d has
// passed (or the first error), and returns completed ops per second.
func concurrently(ctx context.Context, n int, d time.Duration, mk func(i int) (func() error, error)) (float64, error) {
	ops := make([]func() error, n)
	for i := range ops {
		op, err := mk(i)
		if err != nil {
			return 0, err
		}
		ops[i] = op
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	counts := make([]int64, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for i := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil && time.Now().Before(deadline) {
				if err := ops[i](); err != nil {
					errs[i] = err
					cancel()
					return
				}
				counts[i]++
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total int64
	for i := range counts {
		if errs[i] != nil {
			return 0, errs[i]
		}
		total += counts[i]
	}
	if err := parent.Err(); err != nil {
		return 0, err
	}
	return float64(total) / elapsed.Seconds(), nil
}
