package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/tariff"
)

// bulkCardsPerUpdate is how many cards' sale and taps one bulk Update
// writes; with bulkWorkers concurrent Updates a group commit carries at most
// bulkWorkers×bulkCardsPerUpdate cards (≈ 3 MB at 10 taps per card).
const (
	bulkCardsPerUpdate = 100
	bulkWorkers        = 8
)

// BuildLedger writes a ledger of passes passes, one per card, and taps
// taps, taps/passes per card, then closes it. It is the bulk path used to
// make ledgers far bigger than gates could fill in a benchmark's time:
// instead of one Validator.Validate per tap (each reading the card, pass and
// usage back from Pebble), every card's history is decided in memory by the
// real engine.Decide (with engine.Effects.Apply carrying pass, card and usage
// state from tap to tap, exactly as the Validator stores it) and written
// through the ledger's own engine.Store.Update — Txn.PutPass, PutCard,
// PutUsage, PutPosting (the sale, as Validator.Sell posts it) and one
// Txn.PutTap per tap — bulkCardsPerUpdate cards per Update from bulkWorkers
// goroutines, on a ledger opened with Options.NoSync (group commits without
// fsync; this is setup, not measurement). The result is what gates tapping
// 72-hour passes on metro gates every 20 minutes would have journaled: the
// same keys, values and journal order the measured workloads then read.
func BuildLedger(ctx context.Context, env Env, dir string, passes, taps int) (*Built, error) {
	if passes <= 0 || taps%passes != 0 {
		return nil, fmt.Errorf("bench: %d taps do not divide over %d passes", taps, passes)
	}
	per := taps / passes
	if per > maxTapsPerCard {
		return nil, fmt.Errorf("bench: %d taps per pass exceed a pass's validity", per)
	}
	start := time.Now()
	f, err := openFixture(dir, 0, true)
	if err != nil {
		return nil, err
	}
	if err = f.storeTariff(ctx); err == nil {
		err = f.bulk(ctx, env, passes, per, start)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	if err := settle(ctx, env, dir); err != nil {
		return nil, err
	}
	b := &Built{Dir: dir, Passes: passes, Taps: taps, TapsPerPass: per, Seconds: round(time.Since(start).Seconds(), 1)}
	env.logf("built %s: %d passes, %d taps in %.0f s", filepath.Dir(dir), passes, taps, b.Seconds)
	return b, nil
}

// settleLimit bounds how long settle waits for Pebble's compactions;
// settleQuiet is how long none must run.
const (
	settleLimit = 15 * time.Minute
	settleQuiet = time.Second
)

// settle opens the built store in dir with raw Pebble and waits until its
// compactions are done: none has run for settleQuiet. A bulk load ends with
// a compaction backlog that Pebble works off after the next open; the first
// workload to open the ledger would otherwise measure its taps against those
// compactions, which a ledger that grew over months does not have. (Pebble's estimated compaction debt is no test: it can stay
// above zero with nothing left that its picker would schedule.) Then it has
// the file system write back what the build left dirty (flushFS).
func settle(ctx context.Context, env Env, dir string) error {
	start := time.Now()
	db, err := pebble.Open(dir, RawOptions())
	if err != nil {
		return fmt.Errorf("bench: opening %s: %w", dir, err)
	}
	quietSince := time.Now()
	for time.Since(quietSince) < settleQuiet {
		if db.Metrics().Compact.NumInProgress > 0 {
			quietSince = time.Now()
		}
		if time.Since(start) > settleLimit {
			_ = db.Close()
			return fmt.Errorf("bench: %s still compacting after %s", dir, settleLimit)
		}
		select {
		case <-ctx.Done():
			_ = db.Close()
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := db.Close(); err != nil {
		return fmt.Errorf("bench: closing %s: %w", dir, err)
	}
	// The build wrote with NoSync: its last gigabyte or so is still dirty
	// in the page cache, and the kernel's writeback of it would compete
	// with the first measured runs' fsyncs. Written back now, it is setup,
	// like the compactions.
	if err := flushFS(dir); err != nil {
		return err
	}
	env.logf("settled %s: compactions done and written back in %.1f s", filepath.Dir(dir), time.Since(start).Seconds())
	return nil
}

// bulkSpec is what every bulk-written card shares.
type bulkSpec struct {
	t          *tariff.Tariff
	prod       *tariff.Product
	venue      *tariff.Venue
	base       time.Time
	per        int
	priceMinor int64
}

// newBulkSpec returns the spec of cards sold at base on tariff t with per
// taps each.
func newBulkSpec(t *tariff.Tariff, base time.Time, per int) (*bulkSpec, error) {
	prod, ok := t.Product(benchProduct)
	if !ok {
		return nil, fmt.Errorf("bench: sample tariff has no %s", benchProduct)
	}
	venue, err := t.VenueOfGate(benchGate)
	if err != nil {
		return nil, err
	}
	price, err := tariff.MinorUnits(prod.Price)
	if err != nil {
		return nil, err
	}
	return &bulkSpec{t: t, prod: prod, venue: venue, base: base, per: per, priceMinor: price}, nil
}

func (f *fixture) bulk(ctx context.Context, env Env, passes, per int, start time.Time) error {
	spec, err := newBulkSpec(f.t, f.base, per)
	if err != nil {
		return err
	}
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, bulkWorkers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := 0; w < bulkWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			device := "build-" + strconv.Itoa(w)
			var seq uint64
			for ctx.Err() == nil {
				from := int(next.Add(bulkCardsPerUpdate)) - bulkCardsPerUpdate
				if from >= passes {
					return
				}
				to := min(from+bulkCardsPerUpdate, passes)
				err := f.l.Update(ctx, func(tx engine.Txn) error {
					s := seq
					for i := from; i < to; i++ {
						if err := spec.card(tx, i, device, &s); err != nil {
							return err
						}
					}
					seq = s
					return nil
				})
				if err != nil {
					errs[w] = err
					cancel()
					return
				}
				if d := done.Add(int64(to - from)); d/100_000 != (d-int64(to-from))/100_000 {
					env.logf("building %s: %d/%d passes, %d taps (%.0f s)", filepath.Dir(f.dir), d, passes, d*int64(per), time.Since(start).Seconds())
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
	return ctx.Err()
}

// sold returns card i's pass and card as sold, before any tap.
func (s *bulkSpec) sold(i int) (engine.Pass, engine.Card) {
	uid := cardUID(i)
	id := fmt.Sprintf("BP%014d", i)
	p := engine.Pass{
		ID: id, TariffVersion: s.t.ID, Product: s.prod.ID, Category: s.prod.Category,
		Card: uid, Cards: []string{uid}, SoldAt: s.base, PriceMinor: s.priceMinor,
		Currency: s.t.Currency, Channel: "bench", Status: engine.PassSold,
	}
	if s.prod.ActivateWithin > 0 {
		p.ActivateBy = s.base.Add(s.prod.ActivateWithin)
	}
	return p, engine.Card{UID: uid, Passes: []string{id}}
}

// tap returns the k-th tap (from 0) of card i by device, numbered seq.
func (s *bulkSpec) tap(i, k int, device string, seq uint64) engine.Tap {
	return engine.Tap{
		ID: engine.TapID{Device: device, Seq: seq}, Card: cardUID(i), Gate: benchGate,
		At: s.base.Add(time.Hour + time.Duration(k)*tapSpacing), Counter: uint32(k + 1), HasCounter: true,
	}
}

// decide decides tap on pass p, card c and usage u as a gate would and
// returns its journal record; the effects are applied to p, c and u.
func (s *bulkSpec) decide(tap engine.Tap, p *engine.Pass, c *engine.Card, u *engine.Usage) (engine.TapRecord, error) {
	d, eff := engine.Decide(&engine.Input{Tap: &tap, Tariff: s.t, Product: s.prod, Venue: s.venue, Pass: p, Card: c, Usage: u})
	if !d.Accept {
		return engine.TapRecord{}, fmt.Errorf("bench: bulk tap %s of card %s denied: %s", tap.ID, tap.Card, d.Reason)
	}
	eff.Apply(p, c, u)
	return engine.TapRecord{Tap: tap, Venue: s.venue.ID, Pass: p.ID, Product: p.Product, TariffVersion: p.TariffVersion, Category: p.Category, Decision: d}, nil
}

// card writes card i's sale and its per taps (decided by engine.Decide).
func (s *bulkSpec) card(tx engine.Txn, i int, device string, seq *uint64) error {
	p, c := s.sold(i)
	id := p.ID
	var u engine.Usage
	if err := tx.PutPosting(engine.Posting{ID: "sale/" + id, At: s.base, Kind: "sale", Ref: id, Lines: []engine.PostingLine{
		{Account: engine.AccountSalesClearing, DebitMinor: s.priceMinor},
		{Account: engine.AccountDeferredRevenue, CreditMinor: s.priceMinor},
	}}); err != nil {
		return err
	}
	for k := 0; k < s.per; k++ {
		*seq++
		rec, err := s.decide(s.tap(i, k, device, *seq), &p, &c, &u)
		if err != nil {
			return err
		}
		if err := tx.PutTap(&rec); err != nil {
			return err
		}
	}
	if err := tx.PutPass(p); err != nil {
		return err
	}
	if err := tx.PutCard(c); err != nil {
		return err
	}
	if s.per > 0 {
		return tx.PutUsage(id, u)
	}
	return nil
}
