// Package pcscgate feeds a gate from a PC/SC reader monitor: it turns each
// pcsc.Event into a gate.Event. It is the only part of the gate that needs
// cgo and libpcsclite (through cardio/pcsc); the gate loop itself does not.
//
//	m, _ := pcsc.Open(ctx, pcsc.Options{Readers: []string{"auto"}})
//	defer m.Close()
//	err := g.Run(ctx, pcscgate.Events(ctx, m.Events()))
package pcscgate

import (
	"context"

	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/gate"
)

// Event returns the gate's view of a monitor event (both name its kind
// with cardio.ReaderEventKind), false for a kind the gate does not know.
func Event(ev pcsc.Event) (gate.Event, bool) {
	if ev.Kind < gate.CardPresent || ev.Kind > gate.ServiceUp {
		return gate.Event{}, false
	}
	out := gate.Event{Kind: ev.Kind, Err: ev.Err, At: ev.At,
		Presentation: gate.Presentation{Reader: ev.Reader, ATR: ev.ATR}}
	if ev.Card != nil { // a nil *pcsc.Card must stay a nil Transmitter
		out.Presentation.Card = ev.Card
	}
	return out, true
}

// Events forwards the monitor's events as gate events, in order, until in
// closes (then the returned channel closes) or ctx ends. The goroutine it
// starts ends with them; a card it could not hand over is closed.
func Events(ctx context.Context, in <-chan pcsc.Event) <-chan gate.Event {
	out := make(chan gate.Event)
	go func() {
		defer close(out)
		for {
			var ev pcsc.Event
			var ok bool
			select {
			case <-ctx.Done():
				return
			case ev, ok = <-in:
				if !ok {
					return
				}
			}
			gev, known := Event(ev)
			if !known {
				if ev.Card != nil {
					_ = ev.Card.Close()
				}
				continue
			}
			select {
			case out <- gev:
			case <-ctx.Done():
				if ev.Card != nil {
					_ = ev.Card.Close()
				}
				return
			}
		}
	}()
	return out
}
