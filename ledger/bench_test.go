package ledger

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/citypass/citypass/engine"
)

// Benchmarks of the tap path against raw Pebble on the same disk: a raw
// synced batch holds as many keys, of the same sizes, as one tap transaction
// of the workload writes (journal record, tap-id and time indexes, card,
// usage, posting, two balances). Run:
//
//	go test -run='^$' -bench=. -benchtime=2s ./ledger/
//
// and compare BenchmarkAppend with BenchmarkRawAppend (p50-ns, p99-ns) and
// BenchmarkThroughput with BenchmarkRawThroughput (taps/s) per writer count.

const benchCards = 64

// tapBatchShape returns the key and value sizes one workload tap writes.
func tapBatchShape(b *testing.B) (keys, vals []int) {
	l, err := Open("/ledger", &Options{FS: vfs.NewMem()})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	ctx := context.Background()
	if err := wlSetup(ctx, l, benchCards); err != nil {
		b.Fatal(err)
	}
	// Warm the usage so the shape is a steady-state one.
	var res wlResult
	tap := wlTap("shape", 1, 0, benchCards)
	tap.Direction = engine.Entry
	if err := l.Update(ctx, wlTxn(tap, wlLimit, &res)); err != nil {
		b.Fatal(err)
	}
	err = l.update(ctx, func(t *txn) error {
		tap := wlTap("shape", 2, 0, benchCards)
		tap.Direction = engine.Entry
		tap.Card = wlCard(0)
		if err := wlTxn(tap, wlLimit, &res)(t); err != nil {
			return err
		}
		for _, o := range t.ops {
			keys = append(keys, len(o.key))
			vals = append(vals, len(o.val))
		}
		return errAbandon
	})
	if err != errAbandon {
		b.Fatal(err)
	}
	return keys, vals
}

func openBenchLedger(b *testing.B) *Ledger {
	l, err := Open(b.TempDir(), nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := wlSetup(context.Background(), l, benchCards); err != nil {
		b.Fatal(err)
	}
	return l
}

func openBenchRaw(b *testing.B) *pebble.DB {
	db, err := pebble.Open(b.TempDir(), &pebble.Options{FormatMajorVersion: FormatMajorVersion, Logger: &pebbleLogger{l: &Ledger{}}})
	if err != nil {
		b.Fatal(err)
	}
	return db
}

// rawTap commits one synced batch shaped like a tap's.
func rawTap(db *pebble.DB, keys, vals []int, n uint64, buf []byte) error {
	batch := db.NewBatch()
	defer batch.Close()
	for i := range keys {
		k := make([]byte, keys[i])
		k[0] = byte(i)
		if len(k) >= 9 {
			binary.BigEndian.PutUint64(k[1:], n)
		}
		if err := batch.Set(k, buf[:vals[i]], nil); err != nil {
			return err
		}
	}
	return batch.Commit(pebble.Sync)
}

func reportLatency(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkAppend: one gate; each op decides and journals a tap (card,
// pass and usage reads, from the writer cache when hot; no tap-id read above
// the device's high-water mark; one synced group of one).
func BenchmarkAppend(b *testing.B) {
	l := openBenchLedger(b)
	defer l.Close()
	ctx := context.Background()
	lat := make([]time.Duration, 0, 1<<16)
	var seq uint64
	b.ReportAllocs()
	for b.Loop() {
		seq++
		var res wlResult
		t0 := time.Now()
		if err := l.Update(ctx, wlTxn(wlTap("bench", seq, 0, benchCards), wlLimit, &res)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportLatency(b, lat)
}

// BenchmarkRawAppend: one writer committing raw synced batches of a tap's
// shape.
func BenchmarkRawAppend(b *testing.B) {
	keys, vals := tapBatchShape(b)
	db := openBenchRaw(b)
	defer db.Close()
	buf := make([]byte, 4096)
	lat := make([]time.Duration, 0, 1<<16)
	var n uint64
	b.ReportAllocs()
	for b.Loop() {
		n++
		t0 := time.Now()
		if err := rawTap(db, keys, vals, n, buf); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	reportLatency(b, lat)
}

var benchWriters = []int{1, 8, 64}

// parallel runs op b.N times over w goroutines and reports ops/s as taps/s.
func parallel(b *testing.B, w int, op func(g int, n uint64) error) {
	var next atomic.Int64
	var wg sync.WaitGroup
	var firstErr atomic.Value
	b.ResetTimer()
	t0 := time.Now()
	for g := 0; g < w; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				if err := op(g, uint64(n)); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(t0)
	b.StopTimer()
	if err := firstErr.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/el.Seconds(), "taps/s")
}

// BenchmarkThroughput: w gates tapping at once; group commit shares fsyncs.
func BenchmarkThroughput(b *testing.B) {
	for _, w := range benchWriters {
		b.Run(fmt.Sprintf("writers=%d", w), func(b *testing.B) {
			l := openBenchLedger(b)
			defer l.Close()
			ctx := context.Background()
			parallel(b, w, func(g int, n uint64) error {
				var res wlResult
				return l.Update(ctx, wlTxn(wlTap(fmt.Sprintf("gate-%d", g), n, 0, benchCards), wlLimit, &res))
			})
		})
	}
}

// BenchmarkRawThroughput: w goroutines committing raw synced tap-shaped
// batches (Pebble's own commit pipeline groups their syncs).
func BenchmarkRawThroughput(b *testing.B) {
	keys, vals := tapBatchShape(b)
	buf := make([]byte, 4096)
	for _, w := range benchWriters {
		b.Run(fmt.Sprintf("writers=%d", w), func(b *testing.B) {
			db := openBenchRaw(b)
			defer db.Close()
			parallel(b, w, func(_ int, n uint64) error { return rawTap(db, keys, vals, n, buf) })
		})
	}
}

// benchTapValue is a journal value shaped like a metro tap of the bench.
func benchTapValue() (key, val []byte) {
	paris := time.FixedZone("", 3600)
	at := time.Date(2026, 1, 15, 9, 30, 0, 0, paris)
	rec := &engine.TapRecord{
		Tap: engine.Tap{ID: engine.TapID{Device: "rtm-metro-g07", Seq: 123456}, Card: "04A1B2C3D4E5F6", Gate: "rtm-metro-g07",
			At: at, Counter: 42, HasCounter: true},
		JournalSeq: 987654, RecordedAt: at.Add(time.Millisecond), Venue: "rtm-metro", Pass: "P-7Q2M4X9K3T5W8ZJ1",
		Product: "cp72-adult", TariffVersion: "marseille-2026", Category: "adult",
		Decision: engine.Decision{Accept: true, Pass: "P-7Q2M4X9K3T5W8ZJ1", Product: "cp72-adult", ValidUntil: at.Add(72 * time.Hour)},
	}
	return journalKey(rec.JournalSeq), encodeTap(rec)
}

// BenchmarkDecodeTap: one journal value decoded into a new record with its
// own strings (Journal).
func BenchmarkDecodeTap(b *testing.B) {
	k, v := benchTapValue()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeTap(k, v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeTapInto: the same value decoded into a reused record with
// an interner (JournalBatches).
func BenchmarkDecodeTapInto(b *testing.B) {
	k, v := benchTapValue()
	in := newInterner()
	var r engine.TapRecord
	b.ReportAllocs()
	for b.Loop() {
		if err := decodeTapInto(k, v, &r, in); err != nil {
			b.Fatal(err)
		}
	}
}
