package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// The gate workloads tap 72-hour adult passes of the sample tariff on
// metro gates: every tap is an entry with a rising authenticated counter,
// accepted (first tap activates the pass; later taps are 20 minutes apart in
// tap time, outside the 18-minute passback), so each one journals the tap
// and writes the card's counter and the pass's usage (and the pass itself on
// activation) in one durable Update, as at a real gate.
const (
	benchProduct = "cp72-adult"
	benchGate    = "rtm-metro/g"
	tapSpacing   = 20 * time.Minute
	// maxTapsPerCard keeps every tap inside the pass's 72 h validity.
	maxTapsPerCard = int(72*time.Hour/tapSpacing) - 1
)

// fixture is a ledger with passes sold onto cards and a validator on it.
type fixture struct {
	dir   string
	l     *ledger.Ledger
	v     *engine.Validator
	t     *tariff.Tariff
	base  time.Time // sale instant; taps start one hour later
	cards []string  // card i carries one pass
}

func cardUID(i int) string { return fmt.Sprintf("04%012X", i) }

// catalog is the sample tariff alone.
func sampleCatalog() (*tariff.Tariff, *tariff.Catalog, error) {
	t := tariff.SampleTariff()
	cat, err := tariff.NewCatalog(t)
	return t, cat, err
}

// openFixture opens (creating) the ledger in dir with a validator whose
// pass ids come from a seeded source. cards is how many cards the ledger
// holds (or will hold after sell).
func openFixture(dir string, cards int, noSync bool) (*fixture, error) {
	t, cat, err := sampleCatalog()
	if err != nil {
		return nil, err
	}
	l, err := ledger.Open(dir, &ledger.Options{NoSync: noSync})
	if err != nil {
		return nil, err
	}
	v, err := engine.New(l, cat, &engine.Options{Rand: rand.NewChaCha8([32]byte{'c', 'i', 't', 'y', 'p', 'a', 's', 's'})})
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	f := &fixture{dir: dir, l: l, v: v, t: t, base: t.EffectiveFrom.Add(24 * time.Hour), cards: make([]string, cards)}
	for i := range f.cards {
		f.cards[i] = cardUID(i)
	}
	return f, nil
}

func (f *fixture) Close() error { return f.l.Close() }

// storeTariff stores the tariff version in the ledger, as `citypass init`
// does (datadir.AddTariff).
func (f *fixture) storeTariff(ctx context.Context) error {
	if _, err := datadir.AddTariff(ctx, f.l, f.t); err != nil {
		return fmt.Errorf("bench: storing tariff: %w", err)
	}
	return nil
}

// sell sells one pass onto each card in [from, to), from workers goroutines.
func (f *fixture) sell(ctx context.Context, from, to, workers int) error {
	var wg sync.WaitGroup
	errs := make([]error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := from + w; i < to; i += workers {
				if ctx.Err() != nil {
					errs[w] = ctx.Err()
					return
				}
				if _, err := f.v.Sell(ctx, engine.SellRequest{Product: benchProduct, Card: f.cards[i], At: f.base, Channel: "bench"}); err != nil {
					errs[w] = fmt.Errorf("bench: selling onto card %d: %w", i, err)
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

// tapper makes the taps of one gate device over a fixed subset of cards,
// round-robin, each card's taps 20 minutes apart in tap time. Not safe for
// concurrent use: one per gate goroutine.
type tapper struct {
	f      *fixture
	device string
	seq    uint64
	cards  []int // card indexes this gate taps
	next   int
	done   []int // taps already made per card (indexed like cards)
}

// newTapper returns the tapper of gate g of gates: it taps cards g, g+gates,
// … round-robin; prior is how many taps every card already has.
func (f *fixture) newTapper(device string, g, gates, prior int) *tapper {
	tp := &tapper{f: f, device: device}
	for i := g; i < len(f.cards); i += gates {
		tp.cards = append(tp.cards, i)
		tp.done = append(tp.done, prior)
	}
	return tp
}

// tap makes the next tap and checks it was accepted.
func (tp *tapper) tap(ctx context.Context) error {
	if len(tp.cards) == 0 {
		return fmt.Errorf("bench: gate %s has no cards", tp.device)
	}
	j := tp.next
	tp.next = (tp.next + 1) % len(tp.cards)
	k := tp.done[j]
	if k >= maxTapsPerCard {
		return fmt.Errorf("bench: card %d would be tapped past its validity (%d taps): use more passes", tp.cards[j], k)
	}
	tp.done[j]++
	tp.seq++
	tap := engine.Tap{
		ID:         engine.TapID{Device: tp.device, Seq: tp.seq},
		Card:       tp.f.cards[tp.cards[j]],
		Gate:       benchGate,
		At:         tp.f.base.Add(time.Hour + time.Duration(k)*tapSpacing),
		Counter:    uint32(k + 1),
		HasCounter: true,
	}
	res, err := tp.f.v.Validate(ctx, tap)
	if err != nil {
		return fmt.Errorf("bench: tap %s: %w", tap.ID, err)
	}
	if !res.Decision.Accept {
		return fmt.Errorf("bench: tap %s on card %s denied: %s", tap.ID, tap.Card, res.Decision.Reason)
	}
	return nil
}
