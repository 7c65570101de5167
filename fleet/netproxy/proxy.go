package netproxy

import (
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Mode says what a Down proxy does with a new connection.
type Mode int

const (
	// Refuse accepts the connection and resets it at once (close with
	// SO_LINGER 0, so the peer reads ECONNRESET): a host that is reachable
	// but whose service is gone.
	Refuse Mode = iota
	// Blackhole accepts the connection, reads and discards whatever the peer
	// sends and never forwards a byte nor answers: a dead link, which the
	// peer notices only by its own timeouts.
	Blackhole
)

// String names the mode as the package doc does.
func (m Mode) String() string {
	switch m {
	case Refuse:
		return "refuse"
	case Blackhole:
		return "blackhole"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Defaults of Options.
const (
	DefaultDialTimeout = 5 * time.Second
	DefaultMaxConns    = 1024
	DefaultFlapMin     = 500 * time.Millisecond
	DefaultFlapMax     = 5 * time.Second
)

// chunkMax is the most one read moves; queueMax is how many read chunks one
// direction of a link holds while their delay runs out (so a link with added
// latency buffers at most chunkMax*queueMax bytes per direction, then the
// reader waits and TCP pushes back on the sender).
const (
	chunkMax = 32 << 10
	queueMax = 64
)

// ErrClosed is returned by the methods of a closed Proxy that cannot act.
var ErrClosed = errors.New("netproxy: proxy closed")

// Options configure a Proxy. The zero value is a proxy that starts up, adds no
// latency and refuses connections while down.
type Options struct {
	// DownMode is what happens to a new connection while the proxy is down.
	// Default Refuse. SetDownMode changes it later.
	DownMode Mode
	// Latency is added to every chunk of data in each direction (so a round
	// trip through the proxy takes at least twice as long). Default 0.
	// SetLatency changes it later; the new value applies to data read after
	// the call.
	Latency time.Duration
	// DialTimeout bounds the dial to the target for each accepted
	// connection. Default DefaultDialTimeout.
	DialTimeout time.Duration
	// MaxConns bounds the connections held at once (forwarded and
	// blackholed); one more is refused. Default DefaultMaxConns.
	MaxConns int
	// FlapMin and FlapMax bound the interval between two toggles of a
	// flapping proxy, drawn uniformly. Defaults DefaultFlapMin and
	// DefaultFlapMax.
	FlapMin, FlapMax time.Duration
	// After is the clock of the flapping schedule: it returns a channel that
	// delivers once d has passed. Default time.After. Tests inject a fake to
	// drive the schedule without waiting.
	After func(d time.Duration) <-chan time.Time
}

// Stats are the proxy's counters since New. All are totals except Active.
// Once the proxy is closed, Accepted = Forwarded + Refused + Blackholed.
type Stats struct {
	Accepted        int64 // connections the listener accepted
	Forwarded       int64 // connections dialed through to the target
	Refused         int64 // connections reset before forwarding a byte: down in Refuse mode (or down or closed when the target dial returned), over MaxConns, or the target dial failed
	DialFailures    int64 // dials to the target that failed (each also counted in Refused)
	Blackholed      int64 // connections accepted while down in Blackhole mode
	Cut             int64 // forwarded connections cut by Down or Close (each also counted in Forwarded)
	Active          int64 // forwarded connections open now
	BytesToTarget   int64 // bytes written to the target
	BytesFromTarget int64 // bytes written back to the clients
	BytesDiscarded  int64 // bytes read from blackholed connections and dropped
	Toggles         int64 // changes between up and down (by Up, Down or flapping)
}

// Proxy is a TCP proxy from a random port on 127.0.0.1 to one target address.
// It is safe for concurrent use. Every goroutine it starts ends by Close.
type Proxy struct {
	target string
	ln     net.Listener
	opts   Options

	latency atomic.Int64 // time.Duration

	mu       sync.Mutex
	up       bool
	mode     Mode
	closed   bool
	links    map[*link]struct{} // forwarded connections
	holes    map[net.Conn]struct{}
	flapStop chan struct{} // non-nil while flapping
	flapDone chan struct{}

	wg sync.WaitGroup // every goroutine started by the proxy

	accepted, forwarded, refused, dialFailures, blackholed, cut atomic.Int64
	toTarget, fromTarget, discarded, toggles                    atomic.Int64
}

// New starts a proxy listening on 127.0.0.1 on a random port that forwards
// every connection to target (host:port). The proxy starts up.
func New(target string, opts *Options) (*Proxy, error) {
	var o Options
	if opts != nil {
		o = *opts
	}
	if target == "" {
		return nil, errors.New("netproxy: no target address given")
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return nil, fmt.Errorf("netproxy: target %q is not a host:port address: %w", target, err)
	}
	if o.DownMode != Refuse && o.DownMode != Blackhole {
		return nil, fmt.Errorf("netproxy: unknown down mode %d (want Refuse or Blackhole)", int(o.DownMode))
	}
	if o.Latency < 0 {
		return nil, fmt.Errorf("netproxy: latency %v is negative", o.Latency)
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	if o.MaxConns == 0 {
		o.MaxConns = DefaultMaxConns
	}
	if o.FlapMin == 0 {
		o.FlapMin = DefaultFlapMin
	}
	if o.FlapMax == 0 {
		o.FlapMax = DefaultFlapMax
	}
	if o.DialTimeout < 0 || o.MaxConns < 0 || o.FlapMin < 0 || o.FlapMax < o.FlapMin {
		return nil, fmt.Errorf("netproxy: bad options (dial timeout %v, max conns %d, flap interval %v..%v)",
			o.DialTimeout, o.MaxConns, o.FlapMin, o.FlapMax)
	}
	if o.After == nil {
		o.After = time.After
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("netproxy: listening on 127.0.0.1: %w", err)
	}
	p := &Proxy{
		target: target,
		ln:     ln,
		opts:   o,
		up:     true,
		mode:   o.DownMode,
		links:  make(map[*link]struct{}),
		holes:  make(map[net.Conn]struct{}),
	}
	p.latency.Store(int64(o.Latency))
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Addr is the address clients dial: "127.0.0.1:<port>".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the port of Addr.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// IsUp reports whether the proxy forwards new connections now.
func (p *Proxy) IsUp() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.up
}

// Up lets new connections through again. Connections blackholed while down
// stay dead until their peer closes them or the proxy closes.
func (p *Proxy) Up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.up {
		return
	}
	p.up = true
	p.toggles.Add(1)
}

// Down cuts every forwarded connection (the client side is reset) and, until
// Up, refuses or blackholes new ones according to the down mode.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || !p.up {
		return
	}
	p.up = false
	p.toggles.Add(1)
	p.cutAllLocked()
}

// SetDownMode changes what a down proxy does with new connections.
func (p *Proxy) SetDownMode(m Mode) error {
	if m != Refuse && m != Blackhole {
		return fmt.Errorf("netproxy: unknown down mode %d (want Refuse or Blackhole)", int(m))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = m
	return nil
}

// SetLatency changes the latency added in each direction to data read from
// now on.
func (p *Proxy) SetLatency(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("netproxy: latency %v is negative", d)
	}
	p.latency.Store(int64(d))
	return nil
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := int64(len(p.links))
	p.mu.Unlock()
	return Stats{
		Accepted:        p.accepted.Load(),
		Forwarded:       p.forwarded.Load(),
		Refused:         p.refused.Load(),
		DialFailures:    p.dialFailures.Load(),
		Blackholed:      p.blackholed.Load(),
		Cut:             p.cut.Load(),
		Active:          active,
		BytesToTarget:   p.toTarget.Load(),
		BytesFromTarget: p.fromTarget.Load(),
		BytesDiscarded:  p.discarded.Load(),
		Toggles:         p.toggles.Load(),
	}
}

// Flap starts toggling the proxy between up and down, starting from its
// current state, after intervals drawn from rng by a FlapSchedule bounded by
// Options.FlapMin and FlapMax. The same rng state gives the same sequence of
// intervals. rng is used only by the flapping goroutine from now on. A
// previous schedule is stopped first. Flapping ends with StopFlapping or
// Close.
func (p *Proxy) Flap(rng *rand.Rand) error {
	if rng == nil {
		return errors.New("netproxy: Flap needs a random source")
	}
	sched, err := NewFlapSchedule(rng, p.opts.FlapMin, p.opts.FlapMax)
	if err != nil {
		return err
	}
	p.StopFlapping()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	stop, done := make(chan struct{}), make(chan struct{})
	p.flapStop, p.flapDone = stop, done
	p.wg.Add(1)
	go p.flapLoop(sched, stop, done)
	return nil
}

// FlapSeed is Flap with a random source seeded by seed (PCG seeded with
// (seed, seed)), so a seed printed by a failing test replays the schedule.
func (p *Proxy) FlapSeed(seed uint64) error {
	return p.Flap(rand.New(rand.NewPCG(seed, seed)))
}

// StopFlapping stops the flapping schedule, if any, and returns once its
// goroutine has ended. The proxy stays in whatever state it was left in.
func (p *Proxy) StopFlapping() {
	p.mu.Lock()
	stop, done := p.flapStop, p.flapDone
	p.flapStop, p.flapDone = nil, nil
	p.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
}

func (p *Proxy) flapLoop(sched *FlapSchedule, stop, done chan struct{}) {
	defer p.wg.Done()
	defer close(done)
	for {
		select {
		case <-p.opts.After(sched.Next()):
		case <-stop:
			return
		}
		if p.IsUp() {
			p.Down()
		} else {
			p.Up()
		}
	}
}

// Close stops the listener and the flapping, closes every connection and
// waits for every goroutine the proxy started. It is safe to call twice.
func (p *Proxy) Close() error {
	p.StopFlapping()
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.wg.Wait()
		return nil
	}
	p.closed = true
	err := p.ln.Close()
	p.cutAllLocked()
	for c := range p.holes {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("netproxy: closing listener: %w", err)
	}
	return nil
}

// cutAllLocked resets every forwarded connection. p.mu is held.
func (p *Proxy) cutAllLocked() {
	for l := range p.links {
		if l.teardown(true) {
			p.cut.Add(1)
		}
	}
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept failure (out of descriptors, an aborted
			// handshake): keep serving.
			continue
		}
		p.accepted.Add(1)
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			p.refused.Add(1)
			reset(c)
			return
		case len(p.links)+len(p.holes) >= p.opts.MaxConns, !p.up && p.mode == Refuse:
			p.mu.Unlock()
			p.refused.Add(1)
			reset(c)
		case !p.up: // Blackhole
			p.holes[c] = struct{}{}
			p.blackholed.Add(1)
			p.wg.Add(1)
			p.mu.Unlock()
			go p.hold(c)
		default:
			p.wg.Add(1)
			p.mu.Unlock()
			go p.forward(c)
		}
	}
}

// hold reads and drops what a blackholed connection sends until its peer
// closes it or the proxy closes.
func (p *Proxy) hold(c net.Conn) {
	defer p.wg.Done()
	_, _ = io.Copy(discard{&p.discarded}, c)
	p.mu.Lock()
	delete(p.holes, c)
	p.mu.Unlock()
	c.Close()
}

// forward dials the target for an accepted client and runs the link.
func (p *Proxy) forward(client net.Conn) {
	defer p.wg.Done()
	target, err := net.DialTimeout("tcp", p.target, p.opts.DialTimeout)
	if err != nil {
		p.dialFailures.Add(1)
		p.refused.Add(1)
		reset(client)
		return
	}
	l := &link{client: client, target: target, done: make(chan struct{})}
	p.mu.Lock()
	if !p.up || p.closed {
		// Down (or Close) ran during the dial: this connection is reset
		// like the ones Down found, before it forwarded anything.
		p.mu.Unlock()
		l.teardown(true)
		p.refused.Add(1)
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	p.forwarded.Add(1)

	up := make(chan struct{})
	p.wg.Add(1)
	go func() { defer p.wg.Done(); defer close(up); p.pump(l, client, target, &p.toTarget) }()
	p.pump(l, target, client, &p.fromTarget)
	<-up
	l.teardown(false)
	p.mu.Lock()
	delete(p.links, l)
	p.mu.Unlock()
}

// chunk is data read from one side, due for writing to the other at due.
type chunk struct {
	data []byte
	due  time.Time
}

// pump moves one direction of a link: a reader goroutine stamps each chunk
// with its due time and queues it (bounded); this goroutine writes chunks in
// order once due. At the reader's EOF the write side of dst is closed (TCP
// half-close), so a peer that shuts down its sending side is seen as such
// by the other. Any other error tears the whole link down.
func (p *Proxy) pump(l *link, src, dst net.Conn, written *atomic.Int64) {
	queue := make(chan chunk, queueMax)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		defer close(queue)
		buf := make([]byte, chunkMax)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				c := chunk{data: append([]byte(nil), buf[:n]...)}
				if d := time.Duration(p.latency.Load()); d > 0 {
					c.due = time.Now().Add(d)
				}
				select {
				case queue <- c:
				case <-l.done:
					return
				}
			}
			if err != nil {
				if !errors.Is(err, io.EOF) {
					l.teardown(true)
				}
				return
			}
		}
	}()
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for c := range queue {
		if wait := time.Until(c.due); !c.due.IsZero() && wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-l.done:
				return
			}
		}
		n, err := dst.Write(c.data)
		written.Add(int64(n))
		if err != nil {
			l.teardown(true)
			return
		}
	}
	select {
	case <-l.done:
	default:
		if tc, ok := dst.(*net.TCPConn); ok {
			if err := tc.CloseWrite(); err != nil {
				l.teardown(true)
			}
		}
	}
}

// link is one forwarded connection: the client's and the proxy's own to the
// target.
type link struct {
	client, target net.Conn
	once           sync.Once
	done           chan struct{} // closed by teardown
}

// teardown closes both connections once; abrupt resets the client side
// instead of closing it gracefully. It reports whether this call did it.
func (l *link) teardown(abrupt bool) bool {
	did := false
	l.once.Do(func() {
		did = true
		close(l.done)
		if abrupt {
			reset(l.client)
			reset(l.target)
		} else {
			l.client.Close()
			l.target.Close()
		}
	})
	return did
}

// reset closes c with SO_LINGER 0, so the peer gets a RST rather than a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

// discard drops what is written to it and counts the bytes.
type discard struct{ n *atomic.Int64 }

func (d discard) Write(b []byte) (int, error) {
	d.n.Add(int64(len(b)))
	return len(b), nil
}
