package pcsc

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/ebfe/scard"

	"github.com/citypass/citypass/cardio"
)

// Card is a card presented on a reader. It connects on its first Transmit
// (or Connect) with its own PC/SC context, so the monitor is never blocked by
// card I/O. Its methods serialize; use it from one goroutine at a time.
type Card struct {
	reader string
	atr    []byte
	pool   *ioPool

	mu     sync.Mutex
	sc     *scard.Context
	h      *scard.Card
	err    error // sticky: the card is gone
	closed bool
}

var _ cardio.Transmitter = (*Card)(nil)

// Reader is the name of the reader the card was presented on.
func (c *Card) Reader() string { return c.reader }

// ATR is the card's ATR as the monitor saw it.
func (c *Card) ATR() []byte { return slices.Clone(c.atr) }

// Connect connects to the card now rather than on the first Transmit.
func (c *Card) Connect() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connectLocked()
}

func (c *Card) connectLocked() error {
	switch {
	case c.closed:
		return ErrClosed
	case c.err != nil:
		return c.err
	case c.h != nil:
		return nil
	}
	sc, fresh, err := c.pool.take()
	if err != nil {
		return err
	}
	h, err := connect(sc, c.reader)
	if err != nil && !fresh && serviceGone(err) {
		// An idle context from before a pcscd restart: try a new one.
		c.pool.put(sc, true)
		sc, err = c.pool.establish()
		if err != nil {
			return err
		}
		h, err = connect(sc, c.reader)
	}
	if err != nil {
		c.pool.put(sc, serviceGone(err))
		err = wrap("connect", c.reader, err)
		if errors.Is(err, cardio.ErrCardRemoved) {
			c.err = err
		}
		return err
	}
	if p := h.ActiveProtocol(); p != scard.ProtocolT0 && p != scard.ProtocolT1 {
		// ebfe/scard panics ("unknown protocol") on Transmit over anything
		// else.
		_ = h.Disconnect(scard.LeaveCard)
		c.pool.put(sc, false)
		return fmt.Errorf("%w %d on %q", ErrProtocol, p, c.reader)
	}
	c.sc, c.h = sc, h
	return nil
}

func connect(sc *scard.Context, reader string) (h *scard.Card, err error) {
	defer recovered("connect", &err)
	// Shared: another application may watch the same reader. Contactless
	// cards speak T=1; T=0 is accepted for completeness.
	return sc.Connect(reader, scard.ShareShared, scard.ProtocolAny)
}

// Transmit sends one command APDU and returns the response APDU. A card that
// left the field (or was reset) yields an error matching
// cardio.ErrCardRemoved, and so does every later call.
func (c *Card) Transmit(cmd []byte) ([]byte, error) {
	if len(cmd) == 0 {
		return nil, ErrEmptyCommand
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if err := c.connectLocked(); err != nil {
		return nil, err
	}
	rsp, err := transmit(c.h, cmd)
	if err != nil {
		err = wrap("transmit", c.reader, err)
		if errors.Is(err, cardio.ErrCardRemoved) || errors.Is(err, ErrServiceDown) {
			c.err = err
		}
		return nil, err
	}
	if len(rsp) < 2 {
		// Every response APDU ends with SW1 SW2. vpcd (and some readers)
		// report a transmission the card did not complete as success
		// with no bytes: the card left mid-command.
		c.err = &Error{Op: "transmit", Reader: c.reader, class: cardio.ErrCardRemoved,
			err: fmt.Errorf("response of %d bytes has no status word", len(rsp))}
		return nil, c.err
	}
	return rsp, nil
}

func transmit(h *scard.Card, cmd []byte) (rsp []byte, err error) {
	defer recovered("transmit", &err)
	return h.Transmit(cmd)
}

// Close disconnects the card, leaving it as it is (a contactless card
// resets itself when it leaves the field), and returns its context to the
// pool. It is safe to call more than once.
func (c *Card) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	if c.h == nil {
		return nil
	}
	err := c.h.Disconnect(scard.LeaveCard)
	broken := c.err != nil && errors.Is(c.err, ErrServiceDown) || err != nil && serviceGone(err)
	c.pool.put(c.sc, broken)
	c.sc, c.h = nil, nil
	if err != nil && !broken && classify(scardCode(err)) == nil {
		return wrap("disconnect", c.reader, err)
	}
	return nil
}

func scardCode(err error) scard.Error {
	var se scard.Error
	errors.As(err, &se)
	return se
}

// ioPool keeps a few idle card I/O contexts. Contexts are never shared: a
// Card takes one for as long as it is connected.
type ioPool struct {
	mu     sync.Mutex
	idle   []*scard.Context
	max    int
	closed bool
}

func newIOPool(max int) *ioPool { return &ioPool{max: max} }

// take returns an idle context, or a new one (fresh = true).
func (p *ioPool) take() (sc *scard.Context, fresh bool, err error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		sc = p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return sc, false, nil
	}
	p.mu.Unlock()
	sc, err = p.establish()
	return sc, true, err
}

func (p *ioPool) establish() (*scard.Context, error) {
	sc, err := establishContext()
	if err != nil {
		return nil, wrap("establish context", "", err)
	}
	return sc, nil
}

// put gives a context back; a broken one, or one over the limit, is
// released.
func (p *ioPool) put(sc *scard.Context, broken bool) {
	p.mu.Lock()
	if !broken && !p.closed && len(p.idle) < p.max {
		p.idle = append(p.idle, sc)
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = sc.Release()
}

// drain releases the idle contexts (pcscd went away).
func (p *ioPool) drain() {
	p.mu.Lock()
	idle := p.idle
	p.idle = nil
	p.mu.Unlock()
	for _, sc := range idle {
		_ = sc.Release()
	}
}

// close drains the pool and releases every context given back later.
func (p *ioPool) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.drain()
}

// OpenCard connects now to the card on reader, without a Monitor (for
// one-shot commands such as personalizing a card). The card's ATR is read
// from PC/SC. The caller must Close it, which also releases its context.
func OpenCard(reader string) (*Card, error) {
	c := &Card{reader: reader, pool: newIOPool(0)}
	if err := c.Connect(); err != nil {
		return nil, err
	}
	st, err := status(c.h)
	if err != nil {
		err = wrap("status", reader, err)
		c.Close()
		return nil, err
	}
	c.atr = slices.Clone(st.Atr)
	return c, nil
}

func status(h *scard.Card) (st *scard.CardStatus, err error) {
	defer recovered("status", &err)
	return h.Status()
}
