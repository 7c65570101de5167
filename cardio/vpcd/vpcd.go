package vpcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Card is what vpcd serves: a card that answers command APDUs and has an ATR.
// The virtual cards of cardio/virtual satisfy it. Transmit and ATR are called
// from the insertion's goroutine only, one call at a time.
type Card interface {
	ATR() []byte
	Transmit(apdu []byte) ([]byte, error)
}

// The power control messages reach cards that keep session state (a
// selected file, an authentication) through these optional interfaces, which
// cardio/virtual's cards implement: 00 calls PowerOff, 01 PowerOn, 02 Reset.
// A card that implements only Reset gets Reset for all three.
type (
	// Resetter drops the card's session state.
	Resetter interface{ Reset() }
	// PowerOner is told the reader powered the card on.
	PowerOner interface{ PowerOn() }
	// PowerOffer is told the reader powered the card off.
	PowerOffer interface{ PowerOff() }
)

// Control bytes sent by vpcd (vsmartcard src/vpcd/vpcd.h).
const (
	ctrlOff   = 0x00
	ctrlOn    = 0x01
	ctrlReset = 0x02
	ctrlATR   = 0x04
)

// DefaultAddr is the vpcd driver's default address for slot 0 (port 0x8C7B).
const DefaultAddr = "127.0.0.1:35963"

// Errors reported by Insertion.Err.
var (
	// ErrRemoved means the card was removed by Close or by cancelling the
	// context given to Insert.
	ErrRemoved = errors.New("vpcd: card removed")
	// ErrReaderClosed means vpcd (pcscd) closed the connection.
	ErrReaderClosed = errors.New("vpcd: reader closed the connection")
)

// Options tune Insert. The zero value is usable.
type Options struct {
	// DialTimeout bounds each connection attempt. Default 2 s.
	DialTimeout time.Duration
	// Redial, when positive, keeps the card "on the reader" across pcscd
	// restarts: after the reader closes the connection, Insert's goroutine
	// dials again every Redial until it succeeds or the insertion is closed.
	// Zero (the default) ends the insertion when the reader goes away.
	Redial time.Duration
	// OnTransmit, when set, is called after every APDU exchange with the
	// command, the answer (nil when the card failed) and the card's error.
	// It runs on the insertion's goroutine and must not block.
	OnTransmit func(cmd, rsp []byte, err error)
}

// Insertion is one card connected to a vpcd slot. Its methods are safe for
// concurrent use.
type Insertion struct {
	addr   string
	card   Card
	opts   Options
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	conn     net.Conn
	err      error
	apdus    uint64
	sessions int
}

// maxMessage bounds a vpcd message; the length prefix is 16 bits anyway.
const maxMessage = 0xFFFF

// Insert connects card to the vpcd slot listening at addr (host:port) and
// serves it on a new goroutine. It returns once the connection is made, or
// with an error when it cannot be made. The card stays inserted until Close,
// until ctx is cancelled, until the card's Transmit fails, or until the reader
// closes the connection (see Options.Redial).
func Insert(ctx context.Context, addr string, card Card, opts *Options) (*Insertion, error) {
	if card == nil {
		return nil, errors.New("vpcd: nil card")
	}
	var o Options
	if opts != nil {
		o = *opts
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.Redial < 0 {
		return nil, fmt.Errorf("vpcd: negative Redial %v", o.Redial)
	}
	conn, err := dial(ctx, addr, o.DialTimeout)
	if err != nil {
		return nil, err
	}
	ictx, cancel := context.WithCancel(ctx)
	in := &Insertion{addr: addr, card: card, opts: o, cancel: cancel, done: make(chan struct{}), conn: conn, sessions: 1}
	// Closing the connection is what unblocks a read; do it when the
	// insertion's context ends.
	stop := context.AfterFunc(ictx, func() {
		in.mu.Lock()
		if in.conn != nil {
			in.conn.Close()
		}
		in.mu.Unlock()
	})
	go func() {
		defer close(in.done)
		defer stop()
		in.run(ictx, conn)
	}()
	return in, nil
}

func dial(ctx context.Context, addr string, timeout time.Duration) (net.Conn, error) {
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("vpcd: connecting to %s: %w", addr, err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		// Go sets TCP_NODELAY by default; say it, since the latency of
		// every exchange depends on it.
		if err := tc.SetNoDelay(true); err != nil {
			conn.Close()
			return nil, fmt.Errorf("vpcd: TCP_NODELAY: %w", err)
		}
	}
	return conn, nil
}

// run serves connections until the insertion ends.
func (in *Insertion) run(ctx context.Context, conn net.Conn) {
	for {
		err := in.serve(conn)
		conn.Close()
		if ctx.Err() != nil {
			in.finish(ErrRemoved)
			return
		}
		if !errors.Is(err, ErrReaderClosed) || in.opts.Redial <= 0 {
			in.finish(err)
			return
		}
		// The reader went away (pcscd stopped); keep the card on it.
		conn = nil
		t := time.NewTicker(in.opts.Redial)
		for conn == nil {
			select {
			case <-ctx.Done():
				t.Stop()
				in.finish(ErrRemoved)
				return
			case <-t.C:
			}
			c, err := dial(ctx, in.addr, in.opts.DialTimeout)
			if err == nil {
				conn = c
			}
		}
		t.Stop()
		in.mu.Lock()
		if ctx.Err() != nil {
			in.mu.Unlock()
			conn.Close()
			in.finish(ErrRemoved)
			return
		}
		in.conn = conn
		in.sessions++
		in.mu.Unlock()
	}
}

func (in *Insertion) finish(err error) {
	in.mu.Lock()
	in.conn = nil
	in.err = err
	in.mu.Unlock()
}

// serve answers vpcd on one connection until it fails.
func (in *Insertion) serve(conn net.Conn) error {
	var hdr [2]byte
	buf := make([]byte, maxMessage)
	out := make([]byte, 0, 2+258)
	for {
		// Not sticky: the kernel clears it again when it falls back to
		// delayed ACKs, so set it before every read.
		if err := quickAck(conn); err != nil {
			return readErr(fmt.Errorf("TCP_QUICKACK: %w", err))
		}
		if _, err := io.ReadFull(conn, hdr[:]); err != nil {
			return readErr(err)
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		msg := buf[:n]
		if _, err := io.ReadFull(conn, msg); err != nil {
			return readErr(err)
		}
		var rsp []byte
		if n == 1 && (msg[0] == ctrlOff || msg[0] == ctrlOn || msg[0] == ctrlReset || msg[0] == ctrlATR) {
			if msg[0] != ctrlATR {
				in.control(msg[0])
				continue
			}
			rsp = in.card.ATR()
		} else {
			// Copy: the card may keep the command, and buf is reused.
			cmd := append([]byte(nil), msg...)
			r, err := in.card.Transmit(cmd)
			if in.opts.OnTransmit != nil {
				in.opts.OnTransmit(cmd, r, err)
			}
			if err != nil {
				// The card cannot answer: it is gone from the field.
				return fmt.Errorf("vpcd: card failed: %w", err)
			}
			in.mu.Lock()
			in.apdus++
			in.mu.Unlock()
			rsp = r
		}
		if len(rsp) > maxMessage {
			return fmt.Errorf("vpcd: answer of %d bytes exceeds the 16-bit frame", len(rsp))
		}
		// One write for length and body: a split write is what costs 40 ms
		// against a delayed ACK.
		out = binary.BigEndian.AppendUint16(out[:0], uint16(len(rsp)))
		out = append(out, rsp...)
		if _, err := conn.Write(out); err != nil {
			return readErr(err)
		}
	}
}

// control relays a power control byte to the card.
func (in *Insertion) control(b byte) {
	switch b {
	case ctrlOff:
		if c, ok := in.card.(PowerOffer); ok {
			c.PowerOff()
			return
		}
	case ctrlOn:
		if c, ok := in.card.(PowerOner); ok {
			c.PowerOn()
			return
		}
	}
	if r, ok := in.card.(Resetter); ok {
		r.Reset()
	}
}

func readErr(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		isReset(err) {
		return fmt.Errorf("%w: %w", ErrReaderClosed, err)
	}
	return fmt.Errorf("vpcd: %w", err)
}

// Close removes the card: it closes the connection and waits for the
// insertion's goroutine to end. It returns nil when the card was still
// inserted (or was already removed by Close or its context), else the reason
// it had left, as Err.
func (in *Insertion) Close() error {
	in.cancel()
	<-in.done
	if err := in.Err(); err != nil && !errors.Is(err, ErrRemoved) {
		return err
	}
	return nil
}

// Done is closed when the card has left the reader.
func (in *Insertion) Done() <-chan struct{} { return in.done }

// Err tells why the card left the reader: ErrRemoved after Close or a
// cancelled context, an error wrapping ErrReaderClosed when pcscd closed the
// connection, or the card's own Transmit error. It is nil while the card is
// inserted.
func (in *Insertion) Err() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// APDUs is the number of command APDUs the card has answered.
func (in *Insertion) APDUs() uint64 {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.apdus
}

// Sessions is the number of connections made so far: 1, plus one for each
// redial after the reader went away.
func (in *Insertion) Sessions() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.sessions
}
