package pcsc

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/ebfe/scard"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
)

// fakePCSC plays pcscd for the monitor's unit tests: readers with a state
// and an insertion/removal counter, a service that can go down, and
// GetStatusChange waits that end on a change, a timeout or Cancel.
type fakePCSC struct {
	mu       sync.Mutex
	up       bool
	gen      int // bumped when the service goes down: older contexts die
	readers  []*fakeReader
	changed  chan struct{}
	attempts []time.Time // establish calls
	released int
	listErr  error // returned by ListReaders while set
	// lateCancelOnly makes Cancel act like pcsc-lite's: it ends a wait in
	// progress and is lost when none is.
	lateCancelOnly bool
	// listGate, when set, holds ListReaders until it is closed.
	listGate chan struct{}
}

type fakeReader struct {
	name  string
	state scard.StateFlag
	count uint32
	atr   []byte
}

func newFake() *fakePCSC { return &fakePCSC{up: true, changed: make(chan struct{})} }

// notifyLocked wakes every waiting GetStatusChange.
func (f *fakePCSC) notifyLocked() {
	close(f.changed)
	f.changed = make(chan struct{})
}

func (f *fakePCSC) addReader(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readers = append(f.readers, &fakeReader{name: name, state: scard.StateEmpty})
	f.notifyLocked()
}

func (f *fakePCSC) removeReader(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.readers = slices.DeleteFunc(f.readers, func(r *fakeReader) bool { return r.name == name })
	f.notifyLocked()
}

// set changes a reader's state; events is how many insertions/removals
// happened (the counter's increment).
func (f *fakePCSC) set(name string, state scard.StateFlag, events uint32) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, r := range f.readers {
		if r.name == name {
			r.state = state
			r.count += events
			r.atr = []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}
		}
	}
	f.notifyLocked()
}

func (f *fakePCSC) setUp(up bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.up = up
	if !up {
		f.gen++
	}
	f.notifyLocked()
}

func (f *fakePCSC) establish() (sysContext, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts = append(f.attempts, time.Now())
	if !f.up {
		return nil, wrap("establish context", "", scard.ErrNoService)
	}
	return &fakeCtx{f: f, gen: f.gen, cancel: make(chan struct{}, 1)}, nil
}

type fakeCtx struct {
	f       *fakePCSC
	gen     int
	cancel  chan struct{}
	waiting bool // in GetStatusChange (under f.mu)
}

func (c *fakeCtx) aliveLocked() bool { return c.f.up && c.f.gen == c.gen }

func (c *fakeCtx) ListReaders() ([]string, error) {
	c.f.mu.Lock()
	gate := c.f.listGate
	c.f.mu.Unlock()
	if gate != nil {
		<-gate
	}
	c.f.mu.Lock()
	defer c.f.mu.Unlock()
	if !c.aliveLocked() {
		return nil, scard.ErrNoService
	}
	if c.f.listErr != nil {
		return nil, c.f.listErr
	}
	if len(c.f.readers) == 0 {
		return nil, scard.ErrNoReadersAvailable
	}
	var names []string
	for _, r := range c.f.readers {
		names = append(names, r.name)
	}
	return names, nil
}

func (c *fakeCtx) GetStatusChange(rs []scard.ReaderState, timeout time.Duration) error {
	if len(rs) == 0 {
		panic("runtime error: index out of range [0] with length 0") // as ebfe/scard
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	c.f.mu.Lock()
	c.waiting = true
	c.f.mu.Unlock()
	defer func() {
		c.f.mu.Lock()
		c.waiting = false
		c.f.mu.Unlock()
	}()
	for {
		c.f.mu.Lock()
		if !c.aliveLocked() {
			c.f.mu.Unlock()
			return scard.ErrNoService
		}
		changed := false
		for i := range rs {
			if rs[i].Reader == pnpReader {
				rs[i].EventState = rs[i].CurrentState
				continue
			}
			idx := slices.IndexFunc(c.f.readers, func(r *fakeReader) bool { return r.Name() == rs[i].Reader })
			if idx < 0 {
				c.f.mu.Unlock()
				return scard.ErrUnknownReader
			}
			r := c.f.readers[idx]
			es := r.state | scard.StateFlag(r.count<<16)
			if rs[i].CurrentState == scard.StateUnaware || rs[i].CurrentState&^scard.StateChanged != es {
				rs[i].EventState = es | scard.StateChanged
				rs[i].Atr = slices.Clone(r.atr)
				changed = true
			} else {
				rs[i].EventState = rs[i].CurrentState &^ scard.StateChanged
			}
		}
		wait := c.f.changed
		c.f.mu.Unlock()
		if changed {
			return nil
		}
		select {
		case <-wait:
		case <-c.cancel:
			return scard.ErrCancelled
		case <-timer.C:
			return scard.ErrTimeout
		}
	}
}

func (r *fakeReader) Name() string { return r.name }

func (c *fakeCtx) Cancel() error {
	c.f.mu.Lock()
	lost := c.f.lateCancelOnly && !c.waiting
	c.f.mu.Unlock()
	if lost {
		return nil
	}
	select {
	case c.cancel <- struct{}{}:
	default:
	}
	return nil
}

func (c *fakeCtx) Release() error {
	c.f.mu.Lock()
	c.f.released++
	c.f.mu.Unlock()
	return nil
}

// recv returns the next event, failing after a (fake-clock) minute.
func recv(t *testing.T, m *Monitor) Event {
	t.Helper()
	select {
	case ev, ok := <-m.Events():
		require.True(t, ok, "events closed")
		return ev
	case <-time.After(time.Minute):
		t.Fatal("no event")
	}
	return Event{}
}

func kinds(evs ...Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Kind.String()+" "+ev.Reader)
	}
	return out
}

func recvN(t *testing.T, m *Monitor, n int) []string {
	t.Helper()
	var evs []Event
	for range n {
		evs = append(evs, recv(t, m))
	}
	return kinds(evs...)
}

func openFake(t *testing.T, f *fakePCSC, opts Options) *Monitor {
	t.Helper()
	m, err := open(t.Context(), opts, f.establish)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func TestMonitorPresentRemoveAndQuickTap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.addReader("R 00 00")
		m := openFake(t, f, Options{})
		assert.Equal(t, []string{"service-up ", "reader-added R 00 00"}, recvN(t, m, 2))
		synctest.Wait()
		assert.Equal(t, []string{"R 00 00"}, m.Readers())

		f.set("R 00 00", scard.StatePresent, 1)
		ev := recv(t, m)
		require.Equal(t, CardPresent, ev.Kind)
		assert.Equal(t, "R 00 00", ev.Reader)
		assert.Equal(t, []byte{0x3B, 0x81, 0x80, 0x01, 0x80, 0x80}, ev.ATR)
		require.NotNil(t, ev.Card)
		assert.Equal(t, ev.ATR, ev.Card.ATR())
		assert.Equal(t, "R 00 00", ev.Card.Reader())

		// A state change that is not a new card (e.g. INUSE) reports nothing.
		f.set("R 00 00", scard.StatePresent|scard.StateInuse, 0)
		// Removed and presented again between two waits: only the counter
		// tells.
		f.set("R 00 00", scard.StatePresent, 2)
		assert.Equal(t, []string{"card-removed R 00 00", "card-present R 00 00"}, recvN(t, m, 2))

		f.set("R 00 00", scard.StateEmpty, 1)
		assert.Equal(t, []string{"card-removed R 00 00"}, recvN(t, m, 1))

		// A mute card (no ATR) is not a presentation.
		f.set("R 00 00", scard.StatePresent|scard.StateMute, 1)
		f.set("R 00 00", scard.StateEmpty, 1)
		f.set("R 00 00", scard.StatePresent, 1)
		assert.Equal(t, []string{"card-present R 00 00"}, recvN(t, m, 1))
	})
}

func TestMonitorHotplugAndFilter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		m := openFake(t, f, Options{Readers: []string{"ACS"}, WaitTimeout: 500 * time.Millisecond})
		assert.Equal(t, []string{"service-up "}, recvN(t, m, 1))

		start := time.Now()
		f.addReader("Other 00 00")
		f.addReader("ACS ACR1252 00 00")
		f.set("Other 00 00", scard.StatePresent, 1)
		assert.Equal(t, []string{"reader-added ACS ACR1252 00 00"}, recvN(t, m, 1))
		assert.LessOrEqual(t, time.Since(start), 500*time.Millisecond,
			"a new reader is seen within one WaitTimeout (the reader list is polled)")

		f.set("ACS ACR1252 00 00", scard.StatePresent, 1)
		assert.Equal(t, []string{"card-present ACS ACR1252 00 00"}, recvN(t, m, 1))
		f.removeReader("ACS ACR1252 00 00")
		assert.Equal(t, []string{"card-removed ACS ACR1252 00 00", "reader-removed ACS ACR1252 00 00"}, recvN(t, m, 2))
		synctest.Wait()
		assert.Empty(t, m.Readers())
	})
}

func TestMonitorServiceDownBackoffAndRecovery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.addReader("R 00 00")
		f.set("R 00 00", scard.StatePresent, 1)
		m := openFake(t, f, Options{BackoffMin: 100 * time.Millisecond, BackoffMax: 1 * time.Second})
		assert.Equal(t, []string{"service-up ", "reader-added R 00 00", "card-present R 00 00"}, recvN(t, m, 3))

		f.setUp(false)
		down := time.Now()
		evs := []Event{recv(t, m), recv(t, m), recv(t, m)}
		assert.Equal(t, []string{"card-removed R 00 00", "reader-removed R 00 00", "service-down "}, kinds(evs...))
		assert.ErrorIs(t, evs[2].Err, ErrServiceDown)

		// Let it retry for 5 s: 100, 200, 400, 800 ms, then every second.
		time.Sleep(5 * time.Second)
		synctest.Wait()
		f.mu.Lock()
		attempts := slices.Clone(f.attempts[1:]) // [0] was the first, successful one
		f.mu.Unlock()
		var gaps []time.Duration
		prev := down
		for _, a := range attempts {
			gaps = append(gaps, a.Sub(prev))
			prev = a
		}
		require.GreaterOrEqual(t, len(gaps), 6)
		assert.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond,
			800 * time.Millisecond, time.Second, time.Second}, gaps[:6])
		select {
		case ev := <-m.Events():
			t.Fatalf("one ServiceDown per outage, got %v", ev.Kind)
		default:
		}

		f.setUp(true)
		assert.Equal(t, []string{"service-up ", "reader-added R 00 00", "card-present R 00 00"}, recvN(t, m, 3))
		f.mu.Lock()
		assert.GreaterOrEqual(t, f.released, 1, "the dead context was released")
		f.mu.Unlock()
	})
}

func TestMonitorListErrorKeepsReaders(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.addReader("R 00 00")
		m := openFake(t, f, Options{})
		recvN(t, m, 2)
		f.mu.Lock()
		f.listErr = scard.ErrInsufficientBuffer
		f.mu.Unlock()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		assert.Equal(t, []string{"R 00 00"}, m.Readers())
		f.set("R 00 00", scard.StatePresent, 1)
		assert.Equal(t, []string{"card-present R 00 00"}, recvN(t, m, 1),
			"a failed listing neither drops the readers nor stops the wait")
		f.mu.Lock()
		f.listErr = nil
		f.mu.Unlock()
		time.Sleep(3 * time.Second)
		synctest.Wait()
		select {
		case ev := <-m.Events():
			t.Fatalf("unexpected %v %s", ev.Kind, ev.Reader)
		default:
		}
	})
}

func TestMonitorServiceAbsentAtOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.setUp(false)
		m := openFake(t, f, Options{})
		ev := recv(t, m)
		assert.Equal(t, ServiceDown, ev.Kind)
		assert.ErrorIs(t, ev.Err, ErrServiceDown)
		f.setUp(true)
		assert.Equal(t, []string{"service-up "}, recvN(t, m, 1))
	})
}

func TestMonitorCloseCancelsWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.addReader("R 00 00")
		m := openFake(t, f, Options{WaitTimeout: time.Hour})
		recvN(t, m, 2)
		synctest.Wait() // the monitor is in its hour-long wait
		start := time.Now()
		require.NoError(t, m.Close())
		assert.Zero(t, time.Since(start), "Cancel ended the wait at once")
		_, ok := <-m.Events()
		assert.False(t, ok, "Events is closed")
		f.mu.Lock()
		assert.Equal(t, 1, f.released)
		f.mu.Unlock()
	})
}

// pcsc-lite loses a Cancel that arrives before the wait has begun; Close
// must still end the monitor at once, not after the wait's hour.
func TestMonitorCloseBeforeTheWaitBegins(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		f.addReader("R 00 00")
		f.lateCancelOnly = true
		m := openFake(t, f, Options{WaitTimeout: time.Hour})
		recvN(t, m, 2)
		synctest.Wait() // in the hour-long wait
		gate := make(chan struct{})
		f.mu.Lock()
		f.listGate = gate
		f.mu.Unlock()
		// A card ends the wait; the monitor reports it and, listing the
		// readers again, is held before its next wait.
		f.set("R 00 00", scard.StatePresent, 1)
		ev := recv(t, m)
		require.Equal(t, CardPresent, ev.Kind)
		require.NoError(t, ev.Card.Close())
		synctest.Wait()
		go func() {
			time.Sleep(10 * time.Millisecond) // after Close's first Cancel, lost
			close(gate)
		}()
		start := time.Now()
		require.NoError(t, m.Close())
		assert.Less(t, time.Since(start), time.Second, "a repeated Cancel ended the wait")
		for range m.Events() {
		}
	})
}

func TestMonitorContextCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFake()
		ctx, cancel := context.WithCancel(t.Context())
		m, err := open(ctx, Options{WaitTimeout: time.Hour}, f.establish)
		require.NoError(t, err)
		recvN(t, m, 1)
		cancel()
		for range m.Events() {
		}
		require.NoError(t, m.Close())
	})
}

func TestMonitorEventTime(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
		m := openFake(t, newFake(), Options{Now: func() time.Time { return at }})
		assert.Equal(t, at, recv(t, m).At)
	})
}

func TestOptionsValidation(t *testing.T) {
	f := newFake()
	for name, o := range map[string]Options{
		"auto among names": {Readers: []string{"auto", "R"}},
		"empty name":       {Readers: []string{""}},
		"negative wait":    {WaitTimeout: -1},
		"backoff range":    {BackoffMin: time.Second, BackoffMax: time.Millisecond},
		"negative buffer":  {EventBuffer: -1},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := open(t.Context(), o, f.establish)
			assert.Error(t, err)
		})
	}
	m, err := open(t.Context(), Options{Readers: []string{"auto"}}, f.establish)
	require.NoError(t, err)
	assert.Nil(t, m.opts.Readers, "auto watches every reader")
	require.NoError(t, m.Close())
}

func TestErrorClasses(t *testing.T) {
	for _, tc := range []struct {
		code  scard.Error
		class error
	}{
		{scard.ErrRemovedCard, cardio.ErrCardRemoved},
		{scard.ErrResetCard, cardio.ErrCardRemoved},
		{scard.ErrNoSmartcard, cardio.ErrCardRemoved},
		{scard.ErrUnresponsiveCard, cardio.ErrCardRemoved},
		{scard.ErrNotTransacted, cardio.ErrCardRemoved},
		{scard.ErrReaderUnavailable, cardio.ErrCardRemoved},
		{scard.ErrNoService, ErrServiceDown},
		{scard.ErrServiceStopped, ErrServiceDown},
		{scard.ErrSharingViolation, nil},
	} {
		err := wrap("transmit", "R 00 00", tc.code)
		var pe *Error
		require.ErrorAs(t, err, &pe)
		assert.Equal(t, uint32(tc.code), pe.Code)
		assert.ErrorIs(t, err, tc.code)
		if tc.class != nil {
			assert.ErrorIs(t, err, tc.class, "%v", tc.code)
		} else {
			assert.NotErrorIs(t, err, cardio.ErrCardRemoved)
			assert.NotErrorIs(t, err, ErrServiceDown)
		}
	}
	assert.Equal(t, `pcsc: transmit on "R 00 00": cardio: card removed (scard: Card was removed., 0x80100069)`,
		wrap("transmit", "R 00 00", scard.ErrRemovedCard).Error())
	assert.True(t, serviceGone(scard.ErrNoService))
	assert.True(t, serviceGone(errors.New("not a PC/SC error")))
	assert.False(t, serviceGone(scard.ErrTimeout))
}

func TestPanicGuards(t *testing.T) {
	err := getStatusChange(&fakeCtx{f: newFake()}, nil, time.Second)
	assert.Error(t, err, "an empty state slice is refused before ebfe/scard indexes it")
	var c panicky
	err = getStatusChange(c, []scard.ReaderState{{Reader: "R"}}, time.Second)
	assert.ErrorIs(t, err, ErrPanic)
	_, err = (&Card{reader: "R", pool: newIOPool(0)}).Transmit(nil)
	assert.ErrorIs(t, err, ErrEmptyCommand)
}

type panicky struct{ sysContext }

func (panicky) GetStatusChange([]scard.ReaderState, time.Duration) error { panic("boom") }
