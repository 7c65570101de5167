package pcsc_test

import (
	"context"
	"testing"
	"time"

	"github.com/ebfe/scard"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/pcsc"
	"github.com/citypass/citypass/cardio/pcsc/pcsctest"
	"github.com/citypass/citypass/cardio/vpcd"
)

// eventWait bounds every wait for an event. pcscd polls vpcd every 400 ms,
// so events normally come within half a second; the bound only keeps a
// broken test from hanging.
const eventWait = 15 * time.Second

var testUID = []byte{0x04, 0xA2, 0x3B, 0x5A, 0x6C, 0x12, 0x90}

// next returns the next event of kind on reader (any reader when empty),
// skipping others.
func next(t *testing.T, m *pcsc.Monitor, kind pcsc.EventKind, reader string) pcsc.Event {
	t.Helper()
	timeout := time.After(eventWait)
	for {
		select {
		case ev, ok := <-m.Events():
			require.True(t, ok, "events closed while waiting for %v", kind)
			if ev.Kind == pcsc.CardPresent && (ev.Kind != kind || reader != "" && ev.Reader != reader) {
				require.NoError(t, ev.Card.Close())
			}
			if ev.Kind == kind && (reader == "" || ev.Reader == reader) {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %v event on %q within %v", kind, reader, eventWait)
		}
	}
}

func openMonitor(t *testing.T, opts pcsc.Options) *pcsc.Monitor {
	t.Helper()
	m, err := pcsc.Open(t.Context(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, m.Close()) })
	return m
}

func TestE2ECardRoundTrip(t *testing.T) {
	d := pcsctest.Start(t)
	m := openMonitor(t, pcsc.Options{Readers: []string{pcsctest.FriendlyName}})
	next(t, m, pcsc.ServiceUp, "")
	next(t, m, pcsc.ReaderAdded, d.Reader(0))

	card := &pcsctest.UIDCard{UID: testUID}
	in := d.Insert(0, card, nil)
	ev := next(t, m, pcsc.CardPresent, d.Reader(0))
	assert.Equal(t, pcsctest.UltralightATR, ev.ATR)
	assert.Equal(t, d.Reader(0), ev.Card.Reader())
	assert.Equal(t, pcsctest.UltralightATR, ev.Card.ATR())
	assert.False(t, ev.At.IsZero())

	rsp, err := ev.Card.Transmit(pcsctest.GetUID)
	require.NoError(t, err)
	assert.Equal(t, append(append([]byte(nil), testUID...), 0x90, 0x00), rsp)
	rsp, err = ev.Card.Transmit([]byte{0x00, 0xB0, 0x00, 0x00, 0x10})
	require.NoError(t, err)
	assert.Equal(t, []byte{0x6D, 0x00}, rsp)
	_, err = ev.Card.Transmit(nil)
	assert.ErrorIs(t, err, pcsc.ErrEmptyCommand, "an empty command is refused, not a panic")
	require.NoError(t, ev.Card.Close())
	require.NoError(t, ev.Card.Close(), "Close twice")
	_, err = ev.Card.Transmit(pcsctest.GetUID)
	assert.ErrorIs(t, err, pcsc.ErrClosed)
	assert.Equal(t, uint64(2), in.APDUs())
	assert.Contains(t, m.Readers(), d.Reader(1))

	require.NoError(t, in.Close())
	next(t, m, pcsc.CardRemoved, d.Reader(0))

	// The same card again is a new presentation.
	d.Insert(0, card, nil)
	ev = next(t, m, pcsc.CardPresent, d.Reader(0))
	rsp, err = ev.Card.Transmit(pcsctest.GetUID)
	require.NoError(t, err)
	assert.Len(t, rsp, len(testUID)+2)
	require.NoError(t, ev.Card.Close())
}

func TestE2ERemovalMidTransaction(t *testing.T) {
	d := pcsctest.Start(t)
	m := openMonitor(t, pcsc.Options{Readers: []string{d.Reader(1)}})
	card := &pcsctest.UIDCard{UID: testUID}
	read := []byte{0x00, 0xB0, 0x00, 0x00, 0x00}
	card.TearOn(read)
	d.Insert(1, card, nil)
	ev := next(t, m, pcsc.CardPresent, d.Reader(1))
	defer ev.Card.Close()

	_, err := ev.Card.Transmit(pcsctest.GetUID)
	require.NoError(t, err)
	rsp, err := ev.Card.Transmit(read)
	require.Error(t, err, "answer % X", rsp)
	assert.ErrorIs(t, err, cardio.ErrCardRemoved, "a card torn mid-command is card-gone (tap again): %v", err)
	var pe *pcsc.Error
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "transmit", pe.Op)
	assert.Equal(t, d.Reader(1), pe.Reader)
	_, err2 := ev.Card.Transmit(pcsctest.GetUID)
	assert.ErrorIs(t, err2, cardio.ErrCardRemoved, "card-gone is sticky")
	next(t, m, pcsc.CardRemoved, d.Reader(1))
	require.NoError(t, ev.Card.Close())
}

func TestE2EReaderFilter(t *testing.T) {
	d := pcsctest.Start(t)
	m := openMonitor(t, pcsc.Options{Readers: []string{d.Reader(1)}})
	next(t, m, pcsc.ReaderAdded, d.Reader(1))
	assert.Equal(t, []string{d.Reader(1)}, m.Readers())
	d.Insert(0, &pcsctest.UIDCard{UID: testUID}, nil) // on the unwatched slot
	d.Insert(1, &pcsctest.UIDCard{UID: []byte{1, 2, 3, 4}}, nil)
	ev := next(t, m, pcsc.CardPresent, "")
	assert.Equal(t, d.Reader(1), ev.Reader, "only the watched reader reports cards")
	require.NoError(t, ev.Card.Close())
}

func TestE2EServiceRestart(t *testing.T) {
	d := pcsctest.Start(t)
	m := openMonitor(t, pcsc.Options{Readers: []string{pcsctest.FriendlyName}, BackoffMax: 500 * time.Millisecond})
	next(t, m, pcsc.ServiceUp, "")
	// The card stays on the reader: it dials vpcd again when pcscd is back.
	in := d.Insert(0, &pcsctest.UIDCard{UID: testUID}, &vpcd.Options{Redial: 50 * time.Millisecond})
	ev := next(t, m, pcsc.CardPresent, d.Reader(0))
	_, err := ev.Card.Transmit(pcsctest.GetUID)
	require.NoError(t, err)

	d.Stop()
	down := next(t, m, pcsc.ServiceDown, "")
	assert.ErrorIs(t, down.Err, pcsc.ErrServiceDown)
	assert.Empty(t, m.Readers())
	_, err = ev.Card.Transmit(pcsctest.GetUID)
	assert.Error(t, err, "the old connection died with pcscd")
	require.NoError(t, ev.Card.Close())

	d.Restart()
	next(t, m, pcsc.ServiceUp, "")
	ev = next(t, m, pcsc.CardPresent, d.Reader(0))
	rsp, err := ev.Card.Transmit(pcsctest.GetUID)
	require.NoError(t, err, "the monitor recovered and the card reads again")
	assert.Equal(t, []byte{0x90, 0x00}, rsp[len(rsp)-2:])
	require.NoError(t, ev.Card.Close())
	assert.Equal(t, 2, in.Sessions())
}

func TestE2EServiceAbsentAtOpen(t *testing.T) {
	d := pcsctest.Start(t)
	d.Stop()
	m := openMonitor(t, pcsc.Options{Readers: []string{pcsctest.FriendlyName}, BackoffMax: 200 * time.Millisecond})
	down := next(t, m, pcsc.ServiceDown, "")
	assert.ErrorIs(t, down.Err, pcsc.ErrServiceDown)
	d.Restart()
	next(t, m, pcsc.ServiceUp, "")
	next(t, m, pcsc.ReaderAdded, d.Reader(0))
}

func TestE2ECloseEndsWait(t *testing.T) {
	pcsctest.Start(t)
	m, err := pcsc.Open(t.Context(), pcsc.Options{WaitTimeout: time.Hour})
	require.NoError(t, err)
	next(t, m, pcsc.ServiceUp, "")
	// The monitor now waits (up to an hour); Close cancels the wait.
	require.NoError(t, m.Close())
	for range m.Events() {
	}
}

// Another application holding a transaction on the card must not hang our
// Transmit (libpcsclite would retry forever without PCSCLITE_NO_BLOCKING).
func TestE2ECardHeldByAnotherApplication(t *testing.T) {
	d := pcsctest.Start(t)
	d.Insert(0, &pcsctest.UIDCard{UID: testUID}, nil)
	m := openMonitor(t, pcsc.Options{Readers: []string{d.Reader(0)}})
	ev := next(t, m, pcsc.CardPresent, d.Reader(0))
	defer ev.Card.Close()
	require.NoError(t, ev.Card.Connect())

	other, err := scard.EstablishContext()
	require.NoError(t, err)
	defer other.Release()
	h, err := other.Connect(d.Reader(0), scard.ShareShared, scard.ProtocolAny)
	require.NoError(t, err)
	defer h.Disconnect(scard.LeaveCard)
	require.NoError(t, h.BeginTransaction())
	defer h.EndTransaction(scard.LeaveCard)

	done := make(chan error, 1)
	go func() {
		_, err := ev.Card.Transmit(pcsctest.GetUID)
		done <- err
	}()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, scard.ErrSharingViolation)
		assert.NotErrorIs(t, err, cardio.ErrCardRemoved)
	case <-time.After(eventWait):
		t.Fatal("Transmit blocked behind another application's transaction")
	}
}

func TestE2EWaitCard(t *testing.T) {
	d := pcsctest.Start(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	_, err := pcsc.WaitCard(ctx, d.Reader(1))
	cancel()
	assert.ErrorIs(t, err, context.DeadlineExceeded, "no card on the reader")

	d.Insert(1, &pcsctest.UIDCard{UID: testUID}, nil)
	ctx, cancel = context.WithTimeout(t.Context(), eventWait)
	defer cancel()
	c, err := pcsc.WaitCard(ctx, pcsctest.FriendlyName)
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, d.Reader(1), c.Reader())
	rsp, err := c.Transmit(pcsctest.GetUID)
	require.NoError(t, err)
	assert.Equal(t, []byte{0x90, 0x00}, rsp[len(rsp)-2:])

	// OpenCard: the same without waiting, ATR from PC/SC.
	c2, err := pcsc.OpenCard(d.Reader(1))
	require.NoError(t, err)
	assert.Equal(t, pcsctest.UltralightATR, c2.ATR())
	require.NoError(t, c2.Close())
	_, err = pcsc.OpenCard(d.Reader(0))
	assert.ErrorIs(t, err, cardio.ErrCardRemoved, "no card: tap again")
}
