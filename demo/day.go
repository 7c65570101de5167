package demo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/gate"
)

// playDay runs the day's events: one goroutine per gate (the real tap loop
// of gate: read the card, decide, journal durably), one sales desk,
// and the dispatcher that hands each event, with its ticket, to the gate or
// desk where it happens. Gates work concurrently, so the ledger commits
// their taps in groups; the sequencer keeps the journal in timeline order.
func (d *day) playDay(ctx context.Context, p *plan) error {
	reader := &cardio.Reader{Keys: d.keys}
	var lanes []*pcscLane
	if d.cfg.PCSC {
		var err error
		lanes, err = d.startPCSC(ctx, p, reader)
		if d.pcscd != nil {
			defer func() {
				if cerr := d.pcscd.Close(); cerr != nil {
					d.fail(fmt.Errorf("demo: %w", cerr))
				}
			}()
		}
		if err != nil {
			for _, l := range lanes {
				l.m.Close()
			}
			return err
		}
	}
	d.tally = newTally(d.cfg.Progress)
	stopTally := d.tally.start()
	start := time.Now()
	syncs0 := d.walSync.Load()

	var wg sync.WaitGroup
	gateCh := make([]chan *event, len(cityGates))
	for i, spec := range cityGates {
		gateCh[i] = make(chan *event, gateQueueLen)
		g, err := d.newGate(spec, reader)
		if err != nil {
			return err
		}
		wg.Go(func() { d.runGate(ctx, g, gateCh[i]) })
	}
	laneOf := make([]*pcscLane, len(cityGates))
	for _, l := range lanes {
		laneOf[l.gate] = l
		wg.Go(func() { d.runLane(ctx, l) })
	}
	deskCh := make(chan *event, deskQueueLen)
	wg.Go(func() { d.runDesk(ctx, deskCh) })
	d.sum.Gates = len(cityGates)

	dispatchErr := d.dispatch(ctx, p, gateCh, laneOf, deskCh, reader)
	for _, ch := range gateCh {
		close(ch)
	}
	for _, l := range lanes {
		close(l.events)
	}
	close(deskCh)
	wg.Wait()
	d.sum.PCSCTaps, d.sum.PCSCRetries = int(d.pcscTaps.Load()), int(d.pcscRetries.Load())
	d.seq.wait()
	stopTally()

	d.sum.DayTime = time.Since(start)
	d.sum.WALSyncs = int(d.walSync.Load() - syncs0)
	d.tally.fill(d.sum)
	if d.sum.DayTime > 0 {
		d.sum.TapsPerSec = float64(d.sum.Taps) / d.sum.DayTime.Seconds()
	}
	if err := ctx.Err(); err != nil {
		// Interrupted: what failed after that is its consequence.
		return fmt.Errorf("demo: interrupted after %d taps: %w", d.sum.Taps, err)
	}
	return firstOf(dispatchErr, d.err())
}

// dispatch walks the timeline: it numbers every transaction and every
// gate's taps, chains the reads of each card, records the skimmers' reads
// and sends each event to its gate (or the gate's PC/SC turnstile, for one
// tap in its lane's every) or the desk.
func (d *day) dispatch(ctx context.Context, p *plan, gateCh []chan *event, laneOf []*pcscLane, deskCh chan *event, reader *cardio.Reader) error {
	var n uint64
	seqs := make([]uint64, len(cityGates))
	for _, ev := range p.events {
		if err := ctx.Err(); err != nil {
			return err
		}
		if ev.kind == evTap || ev.kind == evSkim {
			ev.waitFor, ev.done = ev.card.chain, make(chan struct{})
			ev.card.chain = ev.done
		}
		if ev.kind == evSkim {
			if err := d.skim(ctx, ev, reader); err != nil {
				return err
			}
			continue
		}
		ev.tk = &ticket{n: n, at: ev.at}
		n++
		d.sum.Transactions++
		if ev.kind == evTap {
			seqs[ev.gate]++
			ev.seq = seqs[ev.gate]
			ch := gateCh[ev.gate]
			if l := laneOf[ev.gate]; l != nil && (ev.seq-1)%uint64(l.every) == 0 {
				ch = l.events
			}
			select {
			case ch <- ev:
			case <-ctx.Done():
				return ctx.Err()
			}
			continue
		}
		select {
		case deskCh <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// skim reads a card through a recorder, as a skimmer's phone would, and
// gives its clone the recorded answers.
func (d *day) skim(ctx context.Context, ev *event, reader *cardio.Reader) error {
	if ev.waitFor != nil {
		<-ev.waitFor
	}
	defer close(ev.done)
	rec := &recorder{dev: ev.card.dev, answers: map[string][][]byte{}}
	if _, err := reader.Read(ctx, rec, ev.card.dev.ATR()); err != nil {
		return fmt.Errorf("demo: skimming card %s: %w", ev.card.uid, err)
	}
	ev.newCard.dev = &replay{atr: ev.card.dev.ATR(), answers: rec.answers, next: map[string]int{}}
	return nil
}

// recorder passes commands to a card and keeps its answers, in order per
// command (GetVersion asks for more frames with the same command).
type recorder struct {
	dev     device
	answers map[string][][]byte
}

func (r *recorder) Transmit(cmd []byte) ([]byte, error) {
	resp, err := r.dev.Transmit(cmd)
	if err == nil {
		k := hex.EncodeToString(cmd)
		r.answers[k] = append(r.answers[k], append([]byte(nil), resp...))
	}
	return resp, err
}

// replay is a cloned card: it answers each command with what the genuine
// card answered the skimmer, so it presents an old SUN. A gate reads it from
// one goroutine at a time.
type replay struct {
	atr     []byte
	answers map[string][][]byte
	next    map[string]int
}

func (r *replay) ATR() []byte { return r.atr }

func (r *replay) Transmit(cmd []byte) ([]byte, error) {
	k := hex.EncodeToString(cmd)
	if list := r.answers[k]; len(list) > 0 {
		i := r.next[k] % len(list)
		r.next[k]++
		return append([]byte(nil), list[i]...), nil
	}
	return []byte{0x6D, 0x00}, nil // instruction not supported
}

// demoGate is one gate's tap loop and the event it is handling.
type demoGate struct {
	spec gateSpec
	g    *gate.Gate
	cur  *event // owned by the gate's goroutine
}

func (d *day) newGate(spec gateSpec, reader *cardio.Reader) (*demoGate, error) {
	dg := &demoGate{spec: spec}
	g, err := gate.New(gate.Config{
		Gate:      spec.id,
		Device:    spec.id,
		Direction: spec.dir,
		Read:      reader.Read,
		Validate: func(ctx context.Context, tap engine.Tap) (engine.Result, error) {
			return d.v.Validate(withTicket(ctx, dg.cur.tk), tap)
		},
		// The tap's number at its gate, given by the dispatcher: the same
		// whichever turnstile (in-process or PC/SC) reads it.
		NextSeq: func() (uint64, error) { return dg.cur.seq, nil },
		Now:     func() time.Time { return dg.cur.at },
		// Generous bounds: on a busy 2-core machine a read or a group
		// commit can wait for the CPU; the demo wants decisions, not
		// "tap again".
		ReadTimeout:   30 * time.Second,
		DecideTimeout: time.Minute,
	})
	if err != nil {
		return nil, err
	}
	dg.g = g
	return dg, nil
}

func (d *day) runGate(ctx context.Context, g *demoGate, events <-chan *event) {
	for ev := range events {
		if ev.waitFor != nil {
			<-ev.waitFor
		}
		g.cur = ev
		out := g.g.Handle(ctx, gate.Presentation{Reader: "virtual " + g.spec.id, ATR: ev.card.dev.ATR(), Card: ev.card.dev})
		d.seq.skip(ev.tk)
		close(ev.done)
		d.tally.record(&out)
		if out.Kind == gate.OutcomeError && ctx.Err() == nil {
			d.fail(fmt.Errorf("demo: tap of card %s at %s: %w", ev.card.uid, g.spec.id, out.Err))
		}
	}
}

// runDesk is the sales desk: sales, refunds, block-list entries and card
// replacements, in timeline order (one desk keeps pass ids repeatable).
func (d *day) runDesk(ctx context.Context, events <-chan *event) {
	for ev := range events {
		tctx := withTicket(ctx, ev.tk)
		var err error
		switch ev.kind {
		case evSale:
			var p engine.Pass
			p, err = d.v.Sell(tctx, engine.SellRequest{Product: ev.v.product, Card: ev.card.uid, At: ev.at, Channel: ev.v.channel})
			ev.v.passID = p.ID
			if err == nil {
				d.tally.sale()
			}
		case evRefund:
			_, err = d.v.Refund(tctx, ev.v.passID, ev.at)
			if err == nil {
				d.sum.Refunds++
			}
		case evBlock:
			err = d.v.Block(tctx, ev.card.uid, ev.reason, ev.at)
			if err == nil {
				d.sum.Blocks++
			}
		case evReplace:
			_, err = d.v.Replace(tctx, ev.v.passID, ev.newCard.uid, ev.at)
			if err == nil {
				d.sum.Replaced++
			}
		}
		d.seq.skip(ev.tk)
		if err != nil && !errors.Is(err, context.Canceled) {
			d.fail(fmt.Errorf("demo: desk at %s: %w", ev.at.Format(time.TimeOnly), err))
		}
	}
}
