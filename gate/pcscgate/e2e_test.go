package pcscgate_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/cardio/pcsc/pcsctest"
	"github.com/citypass/citypass/cardio/virtual"
	"github.com/citypass/citypass/cardio/vpcd"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/engine/memstore"
	"github.com/citypass/citypass/gate"
	"github.com/citypass/citypass/gate/gatetest"
	"github.com/citypass/citypass/gate/pcscgate"
	"github.com/citypass/citypass/tariff"
)

// recorder passes APDUs to a virtual card and keeps the transcript, as an
// attacker's sniffer would.
type recorder struct {
	*virtual.NTAG424
	mu   sync.Mutex
	cmds [][]byte
	rsps [][]byte
}

func (r *recorder) Transmit(cmd []byte) ([]byte, error) {
	rsp, err := r.NTAG424.Transmit(cmd)
	if err == nil {
		r.mu.Lock()
		r.cmds = append(r.cmds, bytes.Clone(cmd))
		r.rsps = append(r.rsps, bytes.Clone(rsp))
		r.mu.Unlock()
	}
	return rsp, err
}

// replayer is a clone that answers with a recorded transcript: the same SUN
// message again.
type replayer struct {
	mu   sync.Mutex
	cmds [][]byte
	rsps [][]byte
}

func (r *replayer) ATR() []byte { return virtual.ATR14443_4 }

func (r *replayer) Transmit(cmd []byte) ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, c := range r.cmds {
		if bytes.Equal(c, cmd) {
			rsp := r.rsps[i]
			r.cmds = append(r.cmds[:i:i], r.cmds[i+1:]...)
			r.rsps = append(r.rsps[:i:i], r.rsps[i+1:]...)
			return rsp, nil
		}
	}
	return []byte{0x6D, 0x00}, nil
}

// TestE2EGateOverPCSCD runs the gate loop on a real pcscd with virtual cards
// through vpcd and the real engine on an in-memory store: accept, replayed
// SUN message, wrong key, removal mid-read, pcscd restart, DESFire.
func TestE2EGateOverPCSCD(t *testing.T) {
	d := pcsctest.Start(t)
	keys, err := cardio.GenerateKeys(rand.Reader)
	require.NoError(t, err)
	ctx := t.Context()

	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	sold := time.Date(2026, 11, 27, 9, 0, 0, 0, paris)
	catalog, err := tariff.NewCatalog(tariff.SampleTariff())
	require.NoError(t, err)
	store := memstore.New(nil)
	v, err := engine.New(store, catalog, nil)
	require.NoError(t, err)

	ntag, err := virtual.NewPersonalizedNTAG424(ctx, [7]byte{0x04, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60}, keys, "")
	require.NoError(t, err)
	desfire, err := virtual.NewDESFire([7]byte{0x04, 0x70, 0x71, 0x72, 0x73, 0x74, 0x75}, keys, 0)
	require.NoError(t, err)
	wrong, err := virtual.NewWrongKeyNTAG424(ctx, [7]byte{0x04, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06}, "")
	require.NoError(t, err)
	for _, card := range []string{ntag.UID(), desfire.UID()} {
		_, err := v.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: card, At: sold})
		require.NoError(t, err)
	}

	var (
		mu    sync.Mutex
		clock = sold.Add(time.Hour)
	)
	outcomes := make(chan gate.Outcome, 16)
	reg := prometheus.NewRegistry()
	metrics, err := gate.NewMetrics(reg)
	require.NoError(t, err)
	g, err := gate.New(gate.Config{
		Gate: "mucem/g1", Device: "mucem-g1",
		Read:     (&cardio.Reader{Keys: keys}).Read,
		Validate: v.Validate,
		Now: func() time.Time {
			mu.Lock()
			defer mu.Unlock()
			clock = clock.Add(time.Minute)
			return clock
		},
		OnOutcome: func(o gate.Outcome) { outcomes <- o },
		Metrics:   metrics,
	})
	require.NoError(t, err)
	m, err := pcsc.Open(ctx, pcsc.Options{Readers: []string{pcsctest.FriendlyName}, BackoffMax: 500 * time.Millisecond})
	require.NoError(t, err)
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx, pcscgate.Events(runCtx, m.Events())) }()
	t.Cleanup(func() {
		stop()
		require.NoError(t, <-done)
		require.NoError(t, m.Close())
	})

	next := func(what string) gate.Outcome {
		t.Helper()
		select {
		case o := <-outcomes:
			return o
		case <-time.After(15 * time.Second):
			t.Fatalf("no outcome for %s", what)
		}
		return gate.Outcome{}
	}
	present := func(card vpcd.Card) gate.Outcome {
		t.Helper()
		in := d.Insert(0, card, nil)
		o := next(fmt.Sprintf("%T", card))
		if err := in.Close(); err != nil {
			// The card had left by itself (RemoveAfter).
			require.ErrorIs(t, err, cardio.ErrCardRemoved)
		}
		return o
	}

	// 1. The personalized NTAG 424 is accepted; a sniffer records the read.
	rec := &recorder{NTAG424: ntag}
	o := present(rec)
	require.NoError(t, o.Err)
	assert.True(t, o.Accept(), "%s %v", o.ReasonName(), o.Err)
	assert.Equal(t, ntag.UID(), o.Tap.Card)
	assert.True(t, o.Tap.HasCounter)
	first := o.Tap.Counter

	// 2. The same SUN message again, from a clone: REPLAYED.
	o = present(&replayer{cmds: rec.cmds, rsps: rec.rsps})
	assert.Equal(t, gate.OutcomeDecided, o.Kind, "%v", o.Err)
	assert.Equal(t, engine.ReasonReplayed, o.Result.Decision.Reason)
	assert.Equal(t, first, o.Tap.Counter)

	// 3. A card personalized with other keys: INVALID.
	o = present(wrong)
	assert.Equal(t, gate.OutcomeDecided, o.Kind)
	assert.Equal(t, engine.ReasonInvalid, o.Result.Decision.Reason)
	assert.True(t, o.Tap.ProofFailed)

	// 4. Removal in the middle of the read: tap again, nothing journaled.
	journaled := len(store.Journal())
	ntag.RemoveAfter(5)
	o = present(ntag)
	assert.Equal(t, gate.OutcomeTapAgain, o.Kind, "%v", o.Err)
	assert.Len(t, store.Journal(), journaled, "no journal entry for a card that left")
	ntag.Insert()

	// 5. pcscd stops and comes back: the gate recovers.
	d.Restart()
	// 6. DESFire EV2, after the restart.
	o = present(desfire)
	require.NoError(t, o.Err)
	assert.True(t, o.Accept(), "%s", o.ReasonName())
	assert.Equal(t, desfire.UID(), o.Tap.Card)

	journal := store.Journal()
	require.Len(t, journal, 4)
	var reasons []string
	for _, r := range journal {
		reasons = append(reasons, r.Decision.Reason.String())
	}
	assert.Equal(t, []string{"OK", "REPLAYED", "INVALID", "OK"}, reasons)

	assert.Equal(t, 2.0, gatetest.MetricValue(t, reg, "citypass_gate_taps_total", "decision", "accept", "reason", "OK"))
	assert.Equal(t, 1.0, gatetest.MetricValue(t, reg, "citypass_gate_taps_total", "decision", "tap_again", "reason", "CARD_GONE"))
	assert.Equal(t, 5.0, gatetest.MetricValue(t, reg, "citypass_gate_card_read_seconds"))
	assert.Equal(t, 4.0, gatetest.MetricValue(t, reg, "citypass_gate_decision_seconds"))
	assert.Equal(t, 1.0, gatetest.MetricValue(t, reg, "citypass_gate_pcsc_up"), "pcscd is back")
}
