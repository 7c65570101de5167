package pcscgate

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/gate"
)

// TestEventKinds: every kind the monitor reports has a gate kind of the same
// name, and an event without a card gives a nil Transmitter (not a typed nil
// *pcsc.Card, which Handle would try to read).
func TestEventKinds(t *testing.T) {
	at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for k := pcsc.CardPresent; k <= pcsc.ServiceUp; k++ {
		got, ok := Event(pcsc.Event{Kind: k, Reader: "R 00 00", ATR: []byte{1}, Err: assert.AnError, At: at})
		require.True(t, ok, k.String())
		assert.Equal(t, k.String(), got.Kind.String())
		assert.Equal(t, "R 00 00", got.Presentation.Reader)
		assert.Equal(t, []byte{1}, got.Presentation.ATR)
		assert.Nil(t, got.Presentation.Card)
		assert.Equal(t, assert.AnError, got.Err)
		assert.Equal(t, at, got.At)
	}
	_, ok := Event(pcsc.Event{Kind: pcsc.ServiceUp + 1})
	assert.False(t, ok)
}

func TestEventsForwardsInOrderAndStops(t *testing.T) {
	in := make(chan pcsc.Event, 3)
	in <- pcsc.Event{Kind: pcsc.ServiceUp}
	in <- pcsc.Event{Kind: pcsc.ServiceUp + 1} // unknown: dropped
	in <- pcsc.Event{Kind: pcsc.ReaderAdded, Reader: "R"}
	close(in)
	var kinds []gate.EventKind
	for ev := range Events(t.Context(), in) {
		kinds = append(kinds, ev.Kind)
	}
	assert.Equal(t, []gate.EventKind{gate.ServiceUp, gate.ReaderAdded}, kinds, "the channel closes after in")

	ctx, cancel := context.WithCancel(t.Context())
	open := make(chan pcsc.Event)
	out := Events(ctx, open)
	cancel()
	_, ok := <-out
	assert.False(t, ok, "a cancelled context closes the channel")
}
