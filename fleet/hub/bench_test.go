//go:build linux

package hub_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// The catch-up's hub ingest without NATS or nodes (bench/README.md, "Where
// the catch-up's time goes"): every node's offline journal applied through
// ApplyBatch by concurrent workers on a hub ledger on disk. The workload is
// shaped like the bench's catch-up: each node holds applyCardsPerNode
// cards sold at the hub and taps them round-robin, 10 taps a card, decided
// by engine.Decide; an upload of 1,000 records touches 500 passes, cards
// and usages. The defaults apply one upload per node (200,000 records, tens
// of seconds); -applybatch.uploads 5 is the bench's full catch-up (1M).
var (
	applyNodes   = flag.Int("applybatch.nodes", 200, "BenchmarkApplyBatch: nodes")
	applyUploads = flag.Int("applybatch.uploads", 1, "BenchmarkApplyBatch: uploads of 1,000 records per node (at most 5)")
	applyWorkers = flag.Int("applybatch.workers", 8, "BenchmarkApplyBatch: concurrent ApplyBatch callers")
)

const (
	applyCardsPerNode = 500
	applyTapsPerCard  = 10
	applyBatchLen     = 1000
)

// applyWorkload is the hub's sales and every node's uploads, built once.
type applyWorkload struct {
	passes  []engine.Pass
	cards   []engine.Card
	uploads [][]*fleet.Batch // per node, in node seq order
}

func newApplyWorkload(tb testing.TB, nodes, uploads int) *applyWorkload {
	t := tariff.SampleTariff()
	prod, ok := t.Product("cp72-adult")
	require.True(tb, ok)
	venue, err := t.VenueOfGate("rtm-metro/g")
	require.NoError(tb, err)
	price, err := tariff.MinorUnits(prod.Price)
	require.NoError(tb, err)
	base := t.EffectiveFrom.Add(24 * time.Hour)
	w := &applyWorkload{}
	for n := range nodes {
		node := fmt.Sprintf("node-%03d", n)
		passes := make([]engine.Pass, applyCardsPerNode)
		cards := make([]engine.Card, applyCardsPerNode)
		usage := make([]engine.Usage, applyCardsPerNode)
		for c := range applyCardsPerNode {
			i := n*applyCardsPerNode + c
			uid := fmt.Sprintf("04%012X", i)
			id := fmt.Sprintf("BP%014d", i)
			passes[c] = engine.Pass{ID: id, TariffVersion: t.ID, Product: prod.ID, Category: prod.Category,
				Card: uid, Cards: []string{uid}, SoldAt: base, PriceMinor: price, Currency: t.Currency,
				Channel: "bench", Status: engine.PassSold, ActivateBy: base.Add(prod.ActivateWithin)}
			cards[c] = engine.Card{UID: uid, Passes: []string{id}}
			w.passes = append(w.passes, passes[c].Clone())
			w.cards = append(w.cards, cards[c].Clone())
		}
		var recs []engine.TapRecord
		var seq uint64
		for k := 0; k < applyTapsPerCard && len(recs) < uploads*applyBatchLen; k++ {
			for c := range applyCardsPerNode {
				seq++
				tap := engine.Tap{ID: engine.TapID{Device: node, Seq: seq}, Card: cards[c].UID, Gate: "rtm-metro/g",
					At: base.Add(time.Hour + time.Duration(k)*20*time.Minute), Counter: uint32(k + 1), HasCounter: true}
				d, eff := engine.Decide(&engine.Input{Tap: &tap, Tariff: t, Product: prod, Venue: venue, Pass: &passes[c], Card: &cards[c], Usage: &usage[c]})
				require.True(tb, d.Accept, "tap %s denied: %s", tap.ID, d.Reason)
				eff.Apply(&passes[c], &cards[c], &usage[c])
				recs = append(recs, engine.TapRecord{JournalSeq: seq, RecordedAt: tap.At, Tap: tap, Venue: venue.ID,
					Pass: passes[c].ID, Product: prod.ID, TariffVersion: t.ID, Category: prod.Category, Decision: d})
			}
		}
		var bs []*fleet.Batch
		for len(recs) > 0 && len(bs) < uploads {
			m := min(applyBatchLen, len(recs))
			bs = append(bs, &fleet.Batch{Node: node, Epoch: 0x5eed<<16 | uint64(n+1), First: recs[0].JournalSeq,
				Last: recs[m-1].JournalSeq, SentAt: base.Add(4 * time.Hour), Records: recs[:m:m]})
			recs = recs[m:]
		}
		w.uploads = append(w.uploads, bs)
	}
	return w
}

// buildHub writes the hub ledger in dir as the bench's setup does: every
// pass and card sold, no taps, flushed.
func (w *applyWorkload) buildHub(tb testing.TB, dir string) {
	l, err := ledger.Open(dir, &ledger.Options{NoSync: true, ChangeLog: true})
	require.NoError(tb, err)
	ctx := context.Background()
	for lo := 0; lo < len(w.passes); lo += 1000 {
		hi := min(lo+1000, len(w.passes))
		require.NoError(tb, l.Update(ctx, func(tx engine.Txn) error {
			for i := lo; i < hi; i++ {
				if err := tx.PutPass(w.passes[i]); err != nil {
					return err
				}
				if err := tx.PutCard(w.cards[i]); err != nil {
					return err
				}
			}
			return nil
		}))
	}
	require.NoError(tb, l.Flush())
	require.NoError(tb, l.Close())
}

// apply applies every upload through ApplyBatch with workers callers; a
// node's uploads go to one worker, in order (as the hub's consumer hands a
// node's next upload only after its previous one).
func (w *applyWorkload) apply(ctx context.Context, l *ledger.Ledger, workers int, now time.Time) error {
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for k := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				any := false
				for n := k; n < len(w.uploads); n += workers {
					if round >= len(w.uploads[n]) {
						continue
					}
					any = true
					a, err := hub.ApplyBatch(ctx, l, w.uploads[n][round], now)
					if err == nil && (a.Gap || a.Journaled != applyBatchLen) {
						err = fmt.Errorf("upload %s: gap %v, %d journaled", w.uploads[n][round].MsgID(), a.Gap, a.Journaled)
					}
					if err != nil {
						errs[k] = err
						return
					}
				}
				if !any {
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkApplyBatch reports the hub's CPU per record (user + system of
// the whole process, Pebble's background work included: cpu-us over the
// applies, settled-cpu-us until the ledger is idle again) and the bytes
// written to the disk per record (/proc/self/io, over the applies).
func BenchmarkApplyBatch(b *testing.B) {
	require.LessOrEqual(b, *applyUploads, applyCardsPerNode*applyTapsPerCard/applyBatchLen)
	w := newApplyWorkload(b, *applyNodes, *applyUploads)
	records := 0
	for _, bs := range w.uploads {
		for _, u := range bs {
			records += len(u.Records)
		}
	}
	tmpl := filepath.Join(b.TempDir(), "hub")
	w.buildHub(b, tmpl)
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	var cpu time.Duration
	var written int64
	var settled time.Duration
	runs := 0
	for b.Loop() {
		b.StopTimer()
		dir := filepath.Join(b.TempDir(), "hub")
		require.NoError(b, os.CopyFS(dir, os.DirFS(tmpl)))
		lo := ledger.Options{MustExist: true}
		hub.LedgerOptions(&lo)
		l, err := ledger.Open(dir, &lo)
		require.NoError(b, err)
		cpu0, io0 := rusageCPU(b), writeBytes(b)
		b.StartTimer()
		require.NoError(b, w.apply(ctx, l, *applyWorkers, now))
		b.StopTimer()
		cpu += rusageCPU(b) - cpu0
		written += writeBytes(b) - io0
		settled += settle(b) - cpu0
		runs++
		require.NoError(b, l.Close())
		b.StartTimer()
	}
	b.ReportMetric(float64(records), "records/op")
	b.ReportMetric(float64(cpu.Microseconds())/float64(runs*records), "cpu-us/record")
	b.ReportMetric(float64(settled.Microseconds())/float64(runs*records), "settled-cpu-us/record")
	b.ReportMetric(float64(written)/float64(runs*records), "written-B/record")
}

// settle waits until the process is idle (Pebble's flushes and compactions
// of the applied uploads done: under 10 % of a core over a second, at most
// a minute, as the bench settles its hub) and returns the process's CPU
// time then, so the compaction debt an ingest leaves is counted too.
func settle(tb testing.TB) time.Duration {
	const window = time.Second
	deadline := time.Now().Add(time.Minute)
	prev := rusageCPU(tb)
	for {
		time.Sleep(window)
		now := rusageCPU(tb)
		if now-prev < window/10 || time.Now().After(deadline) {
			return now
		}
		prev = now
	}
}

func rusageCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(tb, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// writeBytes is what the process has caused to be written to storage.
func writeBytes(tb testing.TB) int64 {
	data, err := os.ReadFile("/proc/self/io")
	require.NoError(tb, err)
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "write_bytes: "); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			require.NoError(tb, err)
			return n
		}
	}
	tb.Fatal("no write_bytes in /proc/self/io")
	return 0
}
