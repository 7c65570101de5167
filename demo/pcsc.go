package demo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/cardio/pcsc/pcscd"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/gate"
	"github.com/citypass/citypass/gate/pcscgate"
)

// The gates that have a real PC/SC reader with Config.PCSC, one per slot of
// the private pcscd: a museum entry and a bus validator.
var pcscGates = [pcscd.Slots]string{"mucem/j4", "rtm-bus/83-vieux-port"}

// PCSCTapsPerReader is about how many taps of the day each PC/SC reader
// reads with Config.PCSC: one tap in ceil(taps at the gate /
// PCSCTapsPerReader) at each of pcscGates, the first of the day included.
// pcscd sees a vpcd card at its next 400 ms poll and a removal followed by
// the next card after two, so a reader takes about 0.8 s per tap; the other
// taps of those gates are read in-process by the gate's other turnstile.
const PCSCTapsPerReader = 25

// pcscName is the private pcscd's vpcd entry.
const pcscName = "CityPass Demo PCD"

// pcscLane is the turnstile of a gate that has a PC/SC reader: the
// production gate loop (gate.Run over a pcsc.Monitor watching one
// reader of the private pcscd), and a feeder that inserts each visitor's
// virtual card through vpcd and removes it once the gate has decided.
type pcscLane struct {
	gate   int // index in cityGates
	slot   int
	reader string
	every  int // one tap in every goes to this lane
	events chan *event

	g       *gate.Gate
	m       *pcsc.Monitor
	cur     atomic.Pointer[event] // the tap on the reader: written by the feeder, read by the gate loop
	out     chan gate.Outcome
	quit    chan struct{} // closed when the feeder has stopped
	removed time.Time     // when the feeder last took a card off (feeder only)
}

// pcscMaxTries bounds the presentations of one card: "tap again" (the card
// seen leaving before it was read) makes the feeder present it again.
const pcscMaxTries = 5

// pcscOutcomeWait bounds the wait for the gate's outcome after an
// insertion; the card is then presented again.
const pcscOutcomeWait = 10 * time.Second

// pcscRemovedWait is how long the feeder leaves a reader empty after taking
// a card off: longer than pcscd's 400 ms poll, so that pcscd sees the reader
// empty before the next card connects (a card that connects in the same
// poll interval is sometimes not seen at all).
const pcscRemovedWait = 450 * time.Millisecond

// startPCSC starts the private pcscd and the PC/SC lanes of pcscGates. p
// tells how many taps each gate has.
func (d *day) startPCSC(ctx context.Context, p *plan, reader *cardio.Reader) ([]*pcscLane, error) {
	dmn, err := pcscd.Start(ctx, pcscd.Options{FriendlyName: pcscName})
	if err != nil {
		if errors.Is(err, pcscd.ErrUnavailable) {
			return nil, fmt.Errorf("%w: %w", ErrPCSCUnavailable, err)
		}
		return nil, fmt.Errorf("demo: %w", err)
	}
	d.pcscd = dmn
	d.sum.PCSCD = fmt.Sprintf("pcscd pid %d (%s), socket %s", dmn.PID(), pcscd.PcscdPath, pcscd.SocketPath())
	taps := make([]int, len(cityGates))
	for _, ev := range p.events {
		if ev.kind == evTap {
			taps[ev.gate]++
		}
	}
	var lanes []*pcscLane
	for slot, id := range pcscGates {
		gi := slices.IndexFunc(cityGates, func(g gateSpec) bool { return g.id == id })
		if gi < 0 {
			return nil, fmt.Errorf("demo: PC/SC gate %s is not a gate of the city", id)
		}
		l := &pcscLane{gate: gi, slot: slot, reader: dmn.Reader(slot),
			every:  max(1, (taps[gi]+PCSCTapsPerReader-1)/PCSCTapsPerReader),
			events: make(chan *event, gateQueueLen), out: make(chan gate.Outcome, 4), quit: make(chan struct{})}
		spec := cityGates[gi]
		l.g, err = gate.New(gate.Config{
			Gate:      spec.id,
			Device:    spec.id,
			Direction: spec.dir,
			Read:      reader.Read,
			Validate: func(ctx context.Context, tap engine.Tap) (engine.Result, error) {
				return d.v.Validate(withTicket(ctx, l.cur.Load().tk), tap)
			},
			NextSeq:       func() (uint64, error) { return l.cur.Load().seq, nil },
			Now:           func() time.Time { return l.cur.Load().at },
			ReadTimeout:   30 * time.Second,
			DecideTimeout: time.Minute,
			OnOutcome: func(o gate.Outcome) {
				select {
				case l.out <- o:
				case <-l.quit:
				}
			},
		})
		if err != nil {
			return nil, err
		}
		// Exactly this reader, not its sibling slot.
		l.m, err = pcsc.Open(ctx, pcsc.Options{Readers: []string{l.reader}, BackoffMax: time.Second})
		if err != nil {
			return nil, err
		}
		lanes = append(lanes, l)
		d.sum.PCSCReaders = append(d.sum.PCSCReaders, fmt.Sprintf("%s at %s (1 tap in %d)", l.reader, spec.id, l.every))
	}
	return lanes, nil
}

// runLane runs one PC/SC turnstile until events is closed and drained.
func (d *day) runLane(ctx context.Context, l *pcscLane) {
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- l.g.Run(gctx, pcscgate.Events(gctx, l.m.Events())) }()
	defer func() {
		close(l.quit)
		stop()
		<-done
		l.m.Close()
	}()
	for ev := range l.events {
		if ev.waitFor != nil {
			<-ev.waitFor
		}
		o, tries, err := d.presentPCSC(ctx, l, ev)
		d.seq.skip(ev.tk)
		close(ev.done)
		d.pcscTaps.Add(1)
		d.pcscRetries.Add(int64(tries - 1))
		if err != nil {
			if ctx.Err() == nil {
				d.fail(err)
			}
			continue
		}
		d.tally.record(&o)
		if o.Kind == gate.OutcomeError && ctx.Err() == nil {
			d.fail(fmt.Errorf("demo: tap of card %s at %s over PC/SC: %w", ev.card.uid, cityGates[l.gate].id, o.Err))
		}
	}
}

// presentPCSC puts ev's card on the lane's reader through vpcd until the
// gate decides its tap, and takes it off.
func (d *day) presentPCSC(ctx context.Context, l *pcscLane, ev *event) (gate.Outcome, int, error) {
	l.cur.Store(ev)
	var last gate.Outcome
	var lastErr error
	for try := 1; try <= pcscMaxTries; try++ {
		if !l.removed.IsZero() {
			if wait := pcscRemovedWait - time.Since(l.removed); wait > 0 && !sleepCtx(ctx, wait) {
				return last, try, ctx.Err()
			}
		}
		in, err := d.pcscd.Insert(ctx, l.slot, ev.card.dev, nil)
		if err != nil {
			return last, try, fmt.Errorf("demo: %w", err)
		}
		o, err := l.outcome(ctx, ev)
		cerr := in.Close()
		l.removed = time.Now()
		if ctx.Err() != nil {
			return last, try, ctx.Err()
		}
		if err != nil {
			// Not seen: present the card again.
			lastErr = err
			continue
		}
		last = o
		if o.Kind == gate.OutcomeTapAgain || o.Kind == gate.OutcomeUnreadable && o.Credential.UID == "" {
			// The card was seen leaving before it was read, or the reader
			// failed: the holder taps again.
			continue
		}
		if cerr != nil && o.Kind != gate.OutcomeDecided {
			return o, try, fmt.Errorf("demo: card %s on %s: %w", ev.card.uid, l.reader, cerr)
		}
		return o, try, nil
	}
	if lastErr == nil {
		lastErr = last.Err
	}
	return last, pcscMaxTries, fmt.Errorf("demo: card %s on %s: no decision after %d presentations: %w", ev.card.uid, l.reader, pcscMaxTries, lastErr)
}

// sleepCtx waits d or until ctx ends; it reports whether ctx is still live.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// outcome waits for the gate's outcome for ev's card. Outcomes naming
// another card (a stale presentation) are dropped.
func (l *pcscLane) outcome(ctx context.Context, ev *event) (gate.Outcome, error) {
	timeout := time.NewTimer(pcscOutcomeWait)
	defer timeout.Stop()
	for {
		select {
		case o := <-l.out:
			if o.Kind == gate.OutcomeTapAgain || o.Credential.UID == "" || o.Credential.UID == ev.card.uid {
				return o, nil
			}
		case <-timeout.C:
			return gate.Outcome{}, fmt.Errorf("demo: card %s not seen on %s within %v", ev.card.uid, l.reader, pcscOutcomeWait)
		case <-ctx.Done():
			return gate.Outcome{}, ctx.Err()
		}
	}
}
