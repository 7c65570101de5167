package pcsc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ebfe/scard"

	"github.com/citypass/citypass/cardio"
)

// pnpReader is the pseudo-reader that reports readers being plugged in.
const pnpReader = `\\?PnP?\Notification`

// AutoReaders, as the only entry of Options.Readers, watches every reader.
const AutoReaders = "auto"

// EventKind tells what an Event reports (cardio.ReaderEventKind). A
// CardPresent event's Card is set and must be closed by the receiver; a
// CardRemoved one also follows the loss of its reader or of pcscd; a
// ServiceDown one is reported once per outage while the monitor keeps
// retrying, and ServiceUp when it holds a PC/SC context again.
type EventKind = cardio.ReaderEventKind

// Event kinds: see cardio.ReaderEventKind.
const (
	CardPresent   = cardio.CardPresent
	CardRemoved   = cardio.CardRemoved
	ReaderAdded   = cardio.ReaderAdded
	ReaderRemoved = cardio.ReaderRemoved
	ServiceDown   = cardio.ServiceDown
	ServiceUp     = cardio.ServiceUp
)

// Event is one change the monitor saw.
type Event struct {
	Kind   EventKind
	Reader string    // reader name; empty for ServiceDown/ServiceUp
	ATR    []byte    // CardPresent: the card's ATR as pcscd reported it
	Card   *Card     // CardPresent: the presented card, not yet connected
	Err    error     // ServiceDown: the cause
	At     time.Time // when the monitor saw it (Options.Now)
}

// Options configure Open. The zero value watches every reader.
type Options struct {
	// Readers selects the readers to watch. An entry matches a reader whose
	// name equals it or starts with it (so "Virtual PCD" matches both
	// "Virtual PCD 00 00" and "Virtual PCD 00 01"). Empty, or the single
	// entry "auto", watches every reader.
	Readers []string
	// WaitTimeout bounds each GetStatusChange wait; it is also how often
	// the reader list is read again for hot-plug. Default 500 ms.
	WaitTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between attempts to reach
	// pcscd after it went away; the wait doubles from BackoffMin up to
	// BackoffMax. Defaults 100 ms and 5 s.
	BackoffMin, BackoffMax time.Duration
	// EventBuffer is the capacity of the Events channel. The monitor blocks
	// (and pcscd counts what happens meanwhile) when it is full. Default 16.
	EventBuffer int
	// IdleContexts is how many card I/O contexts are kept for reuse.
	// Default 2.
	IdleContexts int
	// Logger receives service and reader changes. Default: discard.
	Logger *slog.Logger
	// Now stamps events. Default time.Now.
	Now func() time.Time
}

// sysContext is the part of *scard.Context the monitor uses; unit tests
// replace it.
type sysContext interface {
	ListReaders() ([]string, error)
	GetStatusChange(rs []scard.ReaderState, timeout time.Duration) error
	Cancel() error
	Release() error
}

// Monitor watches readers on one goroutine and reports changes on Events.
// Its methods are safe for concurrent use.
type Monitor struct {
	opts      Options
	establish func() (sysContext, error)
	events    chan Event
	cancel    context.CancelFunc
	done      chan struct{}
	pool      *ioPool

	mu      sync.Mutex
	sc      sysContext // the monitor goroutine's context; guarded for Cancel
	closing bool
	readers []string
}

// Open starts watching readers. It returns at once: a pcscd that is not
// running is reported as ServiceDown on Events and retried, not returned as
// an error. The monitor stops when ctx is cancelled or Close is called.
func Open(ctx context.Context, opts Options) (*Monitor, error) {
	return open(ctx, opts, func() (sysContext, error) {
		c, err := establishContext()
		if err != nil {
			return nil, wrap("establish context", "", err)
		}
		return c, nil
	})
}

func open(ctx context.Context, opts Options, establish func() (sysContext, error)) (*Monitor, error) {
	o := opts
	o.Readers = slices.Clone(opts.Readers)
	if len(o.Readers) == 1 && o.Readers[0] == AutoReaders {
		o.Readers = nil
	}
	for _, r := range o.Readers {
		if r == "" || r == AutoReaders {
			return nil, fmt.Errorf("pcsc: reader %q must be the only entry or a reader name", r)
		}
	}
	if o.WaitTimeout == 0 {
		o.WaitTimeout = 500 * time.Millisecond
	}
	if o.BackoffMin == 0 {
		o.BackoffMin = 100 * time.Millisecond
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = 5 * time.Second
	}
	if o.EventBuffer == 0 {
		o.EventBuffer = 16
	}
	if o.IdleContexts == 0 {
		o.IdleContexts = 2
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	switch {
	case o.WaitTimeout < 0:
		return nil, fmt.Errorf("pcsc: negative WaitTimeout %v", o.WaitTimeout)
	case o.BackoffMin < 0 || o.BackoffMax < o.BackoffMin:
		return nil, fmt.Errorf("pcsc: backoff %v..%v is not a range", o.BackoffMin, o.BackoffMax)
	case o.EventBuffer < 0 || o.IdleContexts < 0:
		return nil, errors.New("pcsc: negative EventBuffer or IdleContexts")
	}
	mctx, cancel := context.WithCancel(ctx)
	m := &Monitor{
		opts:      o,
		establish: establish,
		events:    make(chan Event, o.EventBuffer),
		cancel:    cancel,
		done:      make(chan struct{}),
		pool:      newIOPool(o.IdleContexts),
	}
	stop := context.AfterFunc(mctx, m.stopWaiting)
	go func() {
		defer close(m.done)
		defer stop()
		m.run(mctx)
	}()
	return m, nil
}

// Events returns the channel of changes. It is closed when the monitor
// stops.
func (m *Monitor) Events() <-chan Event { return m.events }

// Readers returns the watched readers the monitor currently knows.
func (m *Monitor) Readers() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.readers)
}

// Close stops the monitor: it cancels the pending wait, waits for the
// goroutine to end and releases the idle card contexts. Cards already handed
// out stay usable until their own Close. Events not yet received are
// dropped (their Cards need no Close).
func (m *Monitor) Close() error {
	m.cancel()
	<-m.done
	m.pool.close()
	return nil
}

// interrupt ends a pending GetStatusChange. Cancel must be called with the
// context that is waiting; m.mu keeps the context from being released
// under it.
func (m *Monitor) interrupt() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closing = true
	if m.sc != nil {
		// A Cancel that races the wait's own timeout may make the wait
		// return SCARD_E_INVALID_HANDLE (LudovicRousseau/PCSC#160); the
		// loop checks its context first.
		_ = m.sc.Cancel()
	}
}

// stopWaiting interrupts the monitor's wait until its goroutine has ended.
// One Cancel is not enough: pcsc-lite cancels only a wait already in
// progress, so a Cancel that lands while the loop lists readers or emits an
// event is lost, and the wait after it would run its whole WaitTimeout (an
// hour, in TestE2ECloseEndsWait, which hung once that way).
func (m *Monitor) stopWaiting() {
	retry := time.NewTicker(cancelRetry)
	defer retry.Stop()
	for {
		m.interrupt()
		select {
		case <-m.done:
			return
		case <-retry.C:
		}
	}
}

// cancelRetry is how often stopWaiting repeats its Cancel.
const cancelRetry = 50 * time.Millisecond

// watched is what the monitor knows of one reader.
type watched struct {
	name    string
	present bool
	count   uint32 // insertion/removal counter: EventState >> 16
}

func (m *Monitor) run(ctx context.Context) {
	defer close(m.events)
	var (
		sc       sysContext
		states   []scard.ReaderState // watched readers, then the PnP entry
		known    []watched           // parallel to states[:len(known)]
		backoff  = m.opts.BackoffMin
		down     bool // ServiceDown was reported and no ServiceUp since
		lastDown error
	)
	log := m.opts.Logger
	// drop forgets everything pcscd told us and releases the context.
	drop := func(cause error) {
		m.mu.Lock()
		m.sc = nil
		m.readers = nil
		m.mu.Unlock()
		_ = sc.Release()
		sc = nil
		m.pool.drain()
		for _, w := range known {
			if w.present {
				m.emit(ctx, Event{Kind: CardRemoved, Reader: w.name})
			}
			m.emit(ctx, Event{Kind: ReaderRemoved, Reader: w.name})
		}
		states, known = nil, nil
		if !down {
			log.Warn("pcsc: service down", "err", cause)
			m.emit(ctx, Event{Kind: ServiceDown, Err: cause})
			down = true
		}
		lastDown = cause
	}
	defer func() {
		if sc != nil {
			m.mu.Lock()
			m.sc = nil
			m.mu.Unlock()
			_ = sc.Release()
		}
	}()

	for ctx.Err() == nil {
		if sc == nil {
			c, err := m.establish()
			if err != nil {
				if !down {
					log.Warn("pcsc: service down", "err", err)
					m.emit(ctx, Event{Kind: ServiceDown, Err: err})
					down = true
				}
				lastDown = err
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, m.opts.BackoffMax)
				continue
			}
			m.mu.Lock()
			if m.closing {
				m.mu.Unlock()
				_ = c.Release()
				return
			}
			m.sc = c
			m.mu.Unlock()
			sc = c
			if down {
				log.Info("pcsc: service up", "after", lastDown)
			}
			down = false
			m.emit(ctx, Event{Kind: ServiceUp})
		}

		names, err := listReaders(sc)
		if err != nil {
			if serviceGone(err) {
				drop(wrap("list readers", "", err))
				if !sleep(ctx, backoff) {
					return
				}
				backoff = min(2*backoff, m.opts.BackoffMax)
				continue
			}
			// Keep the readers we know rather than report them all gone.
			log.Warn("pcsc: listing readers", "err", err)
		} else {
			states, known = m.sync(ctx, states, known, m.filter(names))
		}
		if states == nil {
			// Nothing listed yet: wait on the PnP entry alone.
			states = []scard.ReaderState{{Reader: pnpReader, CurrentState: scard.StateUnaware}}
		}

		err = getStatusChange(sc, states, m.opts.WaitTimeout)
		switch {
		case ctx.Err() != nil:
			return
		case err == nil:
			backoff = m.opts.BackoffMin
			m.changes(ctx, states, known)
		case errors.Is(err, scard.ErrTimeout):
			backoff = m.opts.BackoffMin
		case errors.Is(err, scard.ErrCancelled),
			errors.Is(err, scard.ErrUnknownReader), errors.Is(err, scard.ErrReaderUnavailable):
			// A reader left between ListReaders and the wait (or a Cancel
			// that was not ours): list again, after a pause so that an
			// error that persists cannot spin the loop.
			if !sleep(ctx, m.opts.BackoffMin) {
				return
			}
		default:
			drop(wrap("get status change", "", err))
			if !sleep(ctx, backoff) {
				return
			}
			backoff = min(2*backoff, m.opts.BackoffMax)
		}
	}
}

func listReaders(sc sysContext) (names []string, err error) {
	defer recovered("list readers", &err)
	names, err = sc.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	return names, err
}

func getStatusChange(sc sysContext, rs []scard.ReaderState, timeout time.Duration) (err error) {
	defer recovered("get status change", &err)
	if len(rs) == 0 {
		// ebfe/scard indexes &states[0]; never reached (the PnP entry is
		// always there) but cheap to keep.
		return errors.New("pcsc: no reader states")
	}
	return sc.GetStatusChange(rs, timeout)
}

// filter keeps the watched readers, in pcscd's order.
func (m *Monitor) filter(names []string) []string {
	if len(m.opts.Readers) == 0 {
		return names
	}
	out := names[:0:0]
	for _, n := range names {
		for _, want := range m.opts.Readers {
			if n == want || strings.HasPrefix(n, want) {
				out = append(out, n)
				break
			}
		}
	}
	return out
}

// sync makes states/known follow names. When the set is unchanged (the
// common case) the slices are reused as they are, so each reader's
// CurrentState carries over.
func (m *Monitor) sync(ctx context.Context, states []scard.ReaderState, known []watched, names []string) ([]scard.ReaderState, []watched) {
	same := len(names) == len(known) && states != nil
	for i := 0; same && i < len(names); i++ {
		same = names[i] == known[i].name
	}
	if same {
		return states, known
	}
	newStates := make([]scard.ReaderState, 0, len(names)+1)
	newKnown := make([]watched, 0, len(names))
	var pnp scard.ReaderState
	if len(states) > 0 {
		pnp = states[len(states)-1]
	} else {
		pnp = scard.ReaderState{Reader: pnpReader, CurrentState: scard.StateUnaware}
	}
	// Publish the list before the events: whoever sees ReaderAdded finds
	// the reader in Readers().
	m.mu.Lock()
	m.readers = slices.Clone(names)
	m.mu.Unlock()
	for _, n := range names {
		i := slices.IndexFunc(known, func(w watched) bool { return w.name == n })
		if i >= 0 {
			newStates = append(newStates, states[i])
			newKnown = append(newKnown, known[i])
			continue
		}
		newStates = append(newStates, scard.ReaderState{Reader: n, CurrentState: scard.StateUnaware})
		newKnown = append(newKnown, watched{name: n})
		m.opts.Logger.Info("pcsc: reader added", "reader", n)
		m.emit(ctx, Event{Kind: ReaderAdded, Reader: n})
	}
	for _, w := range known {
		if slices.Contains(names, w.name) {
			continue
		}
		if w.present {
			m.emit(ctx, Event{Kind: CardRemoved, Reader: w.name})
		}
		m.opts.Logger.Info("pcsc: reader removed", "reader", w.name)
		m.emit(ctx, Event{Kind: ReaderRemoved, Reader: w.name})
	}
	newStates = append(newStates, pnp)
	return newStates, newKnown
}

// changes reports what a GetStatusChange that returned found.
func (m *Monitor) changes(ctx context.Context, states []scard.ReaderState, known []watched) {
	for i := range known {
		rs := &states[i]
		es := rs.EventState
		if es&scard.StateChanged == 0 {
			continue
		}
		// Keep the counter bits: pcsc-lite compares them to tell that a
		// card came and went between two waits.
		rs.CurrentState = es
		count := uint32(es) >> 16
		present := es&scard.StatePresent != 0 &&
			es&(scard.StateMute|scard.StateUnavailable|scard.StateUnknown) == 0
		w := &known[i]
		switch {
		case present && (!w.present || count != w.count):
			if w.present {
				// Removed and presented again between two waits.
				m.emit(ctx, Event{Kind: CardRemoved, Reader: w.name})
			}
			atr := slices.Clone(rs.Atr)
			m.emit(ctx, Event{Kind: CardPresent, Reader: w.name, ATR: atr,
				Card: &Card{reader: w.name, atr: atr, pool: m.pool}})
		case !present && w.present:
			m.emit(ctx, Event{Kind: CardRemoved, Reader: w.name})
		}
		w.present, w.count = present, count
	}
	pnp := &states[len(states)-1]
	if pnp.EventState&scard.StateChanged != 0 {
		pnp.CurrentState = pnp.EventState
	}
}

// emit delivers ev unless the monitor is stopping.
func (m *Monitor) emit(ctx context.Context, ev Event) {
	ev.At = m.opts.Now()
	select {
	case m.events <- ev:
	case <-ctx.Done():
	}
}

// sleep waits d or until ctx ends; it reports whether to go on.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

var noBlocking sync.Once

// establishContext is scard.EstablishContext, after making sure libpcsclite
// will not block forever on a card another application holds.
//
// libpcsclite retries SCardTransmit, SCardStatus and SCardReconnect every
// 100 ms, without end, while another process holds a transaction on the
// card (SCARD_E_SHARING_VIOLATION), and no context or timeout of ours can
// interrupt a call inside cgo. PCSCLITE_NO_BLOCKING turns that into an
// immediate error. libpcsclite reads it once, at the process's first
// SCardEstablishContext, so it is set before ours unless the environment
// already decides.
func establishContext() (*scard.Context, error) {
	noBlocking.Do(func() {
		if _, set := os.LookupEnv("PCSCLITE_NO_BLOCKING"); !set {
			os.Setenv("PCSCLITE_NO_BLOCKING", "1")
		}
	})
	return scard.EstablishContext()
}

// ListReaders returns the names of the readers pcscd knows, with a
// short-lived context of its own. No readers is an empty list, not an error.
func ListReaders() ([]string, error) {
	c, err := establishContext()
	if err != nil {
		return nil, wrap("establish context", "", err)
	}
	defer c.Release()
	names, err := listReaders(c)
	if err != nil {
		return nil, wrap("list readers", "", err)
	}
	return names, nil
}

// WaitCard waits until a card is presented on a reader and returns it,
// connected; the caller must Close it. reader is a name or prefix as in
// Options.Readers; "" or "auto" means any reader. A card already on the
// reader counts. It is meant for one-shot commands (personalize, a single
// tap); a gate runs a Monitor.
func WaitCard(ctx context.Context, reader string) (*Card, error) {
	var readers []string
	if reader != "" && reader != AutoReaders {
		readers = []string{reader}
	}
	m, err := Open(ctx, Options{Readers: readers})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	var lastDown error
	for {
		select {
		case ev, ok := <-m.Events():
			if !ok {
				return nil, ctx.Err()
			}
			switch ev.Kind {
			case ServiceDown:
				lastDown = ev.Err
			case CardPresent:
				if err := ev.Card.Connect(); err != nil {
					ev.Card.Close()
					if errors.Is(err, cardio.ErrCardRemoved) {
						continue // gone already: wait for the next one
					}
					return nil, err
				}
				return ev.Card, nil
			}
		case <-ctx.Done():
			if lastDown != nil {
				return nil, fmt.Errorf("%w (last: %w)", ctx.Err(), lastDown)
			}
			return nil, ctx.Err()
		}
	}
}
