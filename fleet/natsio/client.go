package natsio

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
)

// ConnectOptions configure a client connection.
type ConnectOptions struct {
	// URLs of the hub (one, or every member of a cluster); default the
	// credentials' hub URLs.
	URLs []string
	// Name is shown by the server (monitoring); default the node id or
	// "citypass-operator".
	Name string
	// ReconnectWait is the pause between reconnection attempts; default 250 ms.
	ReconnectWait time.Duration
	// Dial, when set, opens the TCP connections (tests route them through a
	// proxy); default net.Dialer.
	Dial nats.CustomDialer
	// OnState is told of connection changes (true: connected); optional.
	OnState func(connected bool)
	// Timeout bounds the first connection attempt made by Connect when
	// WaitConnected; requests and publishes take their own contexts.
	Timeout time.Duration
	// PingInterval is how often the client checks that its link is alive;
	// after MaxPingsOut unanswered checks it drops the link and reconnects.
	// Defaults 5 s and 2: a link that died without a reset (a blackholed
	// route, a mobile network that dropped the flow) is noticed within
	// about 15 s, and the node reconnects (nats.go's own defaults, 2 min
	// and 2, leave it silent for over 4 minutes).
	PingInterval time.Duration
	MaxPingsOut  int
	// WaitConnected makes Connect fail when the hub cannot be reached now;
	// default false: Connect returns at once and keeps trying in the
	// background (a node starts offline).
	WaitConnected bool
}

// Conn is a client connection to the hub's NATS. Safe for concurrent use.
type Conn struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	node string

	mu     sync.Mutex
	ingest jetstream.Consumer // the ingest consumer's handle, once looked up
}

// Connect opens a connection with creds. It reconnects for ever.
func Connect(creds Credentials, o ConnectOptions) (*Conn, error) {
	urls := o.URLs
	if len(urls) == 0 {
		urls = creds.Hub
	}
	if len(urls) == 0 {
		return nil, errors.New("natsio: no hub URL")
	}
	kp, err := nkeys.FromSeed([]byte(creds.Seed))
	if err != nil {
		return nil, fmt.Errorf("natsio: credentials: %w", err)
	}
	pub, err := kp.PublicKey()
	if err != nil {
		return nil, err
	}
	name := o.Name
	if name == "" {
		name = creds.Node
		if name == "" {
			name = "citypass-operator"
		}
	}
	wait := o.ReconnectWait
	if wait <= 0 {
		wait = 250 * time.Millisecond
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	ping := o.PingInterval
	if ping <= 0 {
		ping = 5 * time.Second
	}
	pingsOut := o.MaxPingsOut
	if pingsOut <= 0 {
		pingsOut = 2
	}
	opts := []nats.Option{
		nats.Name(name),
		nats.PingInterval(ping),
		nats.MaxPingsOutstanding(pingsOut),
		// A write that cannot go out for this long is a dead link too
		// (nats.go's default: a minute, holding the connection's lock).
		nats.FlusherTimeout(2 * ping),
		nats.Nkey(pub, func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) }),
		nats.CustomInboxPrefix(InboxPrefix(creds.Node)),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(wait),
		nats.ReconnectJitter(wait/4, wait/4),
		nats.Timeout(timeout),
		// A node must reach the hub only through the URLs it was given
		// (tests route them through proxies).
		nats.IgnoreDiscoveredServers(),
		nats.ReconnectBufSize(-1), // publishes fail while disconnected; callers retry
	}
	if !o.WaitConnected {
		opts = append(opts, nats.RetryOnFailedConnect(true))
	}
	if creds.CA != "" {
		pool, err := creds.certPool()
		if err != nil {
			return nil, err
		}
		opts = append(opts, nats.Secure(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}))
	}
	if o.Dial != nil {
		opts = append(opts, nats.SetCustomDialer(o.Dial))
	}
	if o.OnState != nil {
		on := o.OnState
		opts = append(opts,
			nats.ConnectHandler(func(*nats.Conn) { on(true) }),
			nats.ReconnectHandler(func(*nats.Conn) { on(true) }),
			nats.DisconnectErrHandler(func(*nats.Conn, error) { on(false) }),
		)
	}
	nc, err := nats.Connect(strings.Join(urls, ","), opts...)
	if err != nil {
		return nil, fmt.Errorf("natsio: connecting to %s: %w", strings.Join(urls, ","), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return &Conn{nc: nc, js: js, node: creds.Node}, nil
}

// Connected reports whether the connection is up now.
func (c *Conn) Connected() bool { return c.nc.IsConnected() }

// Close closes the connection.
func (c *Conn) Close() { c.nc.Close() }

// ErrDisconnected is returned by calls made while the hub is unreachable.
var ErrDisconnected = errors.New("natsio: not connected to the hub")

func (c *Conn) check() error {
	if !c.nc.IsConnected() {
		return ErrDisconnected
	}
	return nil
}

// PublishUpload stores an upload in the taps stream under msgID and returns
// once the stream has it (fsynced); a repeat of an id still in the stream's
// duplicate window is accepted without being stored twice.
func (c *Conn) PublishUpload(ctx context.Context, node, msgID string, data []byte) error {
	if err := c.check(); err != nil {
		return err
	}
	_, err := c.js.Publish(ctx, TapsSubject(node), data, jetstream.WithMsgID(msgID), jetstream.WithExpectStream(TapsStream))
	if err != nil {
		return fmt.Errorf("natsio: publishing upload %s: %w", msgID, err)
	}
	return nil
}

// Request sends a request and waits for the reply.
func (c *Conn) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	m, err := c.nc.RequestWithContext(ctx, subject, data)
	if err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, fmt.Errorf("natsio: %s: the hub does not answer: %w", subject, ErrDisconnected)
		}
		return nil, fmt.Errorf("natsio: %s: %w", subject, err)
	}
	if e := m.Header.Get(errorHeader); e != "" {
		return nil, &RemoteError{Msg: e}
	}
	return m.Data, nil
}

// errorHeader carries a service's error in a reply.
const errorHeader = "Citypass-Error"

// RemoteError is an error a hub service replied with.
type RemoteError struct{ Msg string }

func (e *RemoteError) Error() string { return e.Msg }

// Publish sends a message on a plain subject (no stream, no reply).
func (c *Conn) Publish(subject string, data []byte) error {
	return c.nc.Publish(subject, data)
}

// Subscribe calls fn for every message on subject, one at a time, until
// the returned stop is called.
func (c *Conn) Subscribe(subject string, fn func(data []byte)) (stop func(), err error) {
	sub, err := c.nc.Subscribe(subject, func(m *nats.Msg) { fn(m.Data) })
	if err != nil {
		return nil, fmt.Errorf("natsio: subscribing to %s: %w", subject, err)
	}
	if err := sub.SetPendingLimits(-1, 64<<20); err != nil {
		_ = sub.Unsubscribe()
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

// Handler answers a request; subject is the request's subject. An error is
// sent back as a RemoteError.
type Handler func(subject string, data []byte) ([]byte, error)

// Serve answers requests on subject (wildcards allowed) with h, in queue
// group "hub" so that several hub processes may serve together, until stop
// is called. Up to parallel requests (at least 1) are answered at once: a
// handler that commits to a ledger then shares its commits with the others
// (after a hub restart every node reports at once, each report a synced
// commit).
// Stop answers no more requests and waits for those being answered.
func (c *Conn) Serve(subject string, parallel int, h Handler) (stop func(), err error) {
	var (
		mu      sync.Mutex
		stopped bool
		running sync.WaitGroup
		slots   = make(chan struct{}, max(parallel, 1))
	)
	answer := func(m *nats.Msg) {
		out, err := h(m.Subject, m.Data)
		reply := nats.NewMsg(m.Reply)
		if err != nil {
			reply.Header.Set(errorHeader, err.Error())
		} else {
			reply.Data = out
		}
		_ = m.RespondMsg(reply)
	}
	sub, err := c.nc.QueueSubscribe(subject, "hub", func(m *nats.Msg) {
		mu.Lock()
		if stopped {
			mu.Unlock()
			return
		}
		running.Add(1)
		mu.Unlock()
		slots <- struct{}{} // waits while parallel requests are being answered
		go func() {
			defer func() { <-slots; running.Done() }()
			answer(m)
		}()
	})
	if err != nil {
		return nil, fmt.Errorf("natsio: serving %s: %w", subject, err)
	}
	return func() {
		mu.Lock()
		stopped = true
		mu.Unlock()
		_ = sub.Unsubscribe()
		running.Wait()
	}, nil
}

// Flush waits until the server has processed everything sent so far.
func (c *Conn) Flush(ctx context.Context) error { return c.nc.FlushWithContext(ctx) }

// LastError is the last error the server reported on this connection
// (e.g. a permission violation), or nil.
func (c *Conn) LastError() error { return c.nc.LastError() }
