package netproxy_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/fleet/netproxy"
)

// waitMax bounds every wait for something that must happen; tests never
// sleep, they read with this deadline.
const waitMax = 10 * time.Second

// echoServer is a TCP echo server on 127.0.0.1: it copies each connection's
// input back until EOF, then closes its write side.
type echoServer struct {
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    map[net.Conn]struct{}
}

func newEchoServer(t *testing.T) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	e := &echoServer{ln: ln, conns: map[net.Conn]struct{}{}}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.mu.Lock()
			e.conns[c] = struct{}{}
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				_, _ = io.Copy(c, c)
				_ = c.(*net.TCPConn).CloseWrite()
				// Wait for the peer's close before closing, so the
				// half-close is observable.
				_, _ = io.Copy(io.Discard, c)
				c.Close()
				e.mu.Lock()
				delete(e.conns, c)
				e.mu.Unlock()
			}()
		}
	}()
	t.Cleanup(e.close)
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) close() {
	e.ln.Close()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

func newProxy(t *testing.T, target string, opts *netproxy.Options) *netproxy.Proxy {
	t.Helper()
	p, err := netproxy.New(target, opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Close()) })
	return p
}

func dial(t *testing.T, p *netproxy.Proxy) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), waitMax)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads it back within waitMax.
func roundTrip(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	require.NoError(t, c.SetDeadline(time.Now().Add(waitMax)))
	_, err := c.Write(msg)
	require.NoError(t, err)
	got := make([]byte, len(msg))
	_, err = io.ReadFull(c, got)
	require.NoError(t, err)
	require.Equal(t, msg, got)
}

// readFails reads c until an error within waitMax and returns it; it fails
// the test if the error is a timeout (the connection was expected to end).
func readFails(t *testing.T, c net.Conn) error {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(waitMax)))
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		err = io.EOF // io.Copy reports a clean EOF as nil
	}
	var ne net.Error
	require.False(t, errors.As(err, &ne) && ne.Timeout(), "connection still open after %v: %v", waitMax, err)
	return err
}

// requireRefused dials p and requires the connection to be reset (or closed)
// at once: the reset may even reach the dial before it returns.
func requireRefused(t *testing.T, p *netproxy.Proxy) {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), waitMax)
	if err == nil {
		defer c.Close()
		err = readFails(t, c)
	}
	require.True(t, errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET), "want a reset or EOF, got %v", err)
}

// staysSilent asserts that nothing arrives on c for d.
func staysSilent(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	require.NoError(t, c.SetReadDeadline(time.Now().Add(d)))
	n, err := c.Read(make([]byte, 1))
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "read %d bytes, err %v; want a timeout", n, err)
}

func TestForwardsBothWaysWithHalfClose(t *testing.T) {
	e := newEchoServer(t)
	p := newProxy(t, e.addr(), nil)
	require.True(t, p.IsUp())
	require.Equal(t, e.addr(), p.Target())
	require.Equal(t, fmt.Sprintf("127.0.0.1:%d", p.Port()), p.Addr())

	c := dial(t, p)
	roundTrip(t, c, []byte("hello"))
	big := bytes.Repeat([]byte("0123456789abcdef"), 64<<10) // 1 MiB, many chunks
	require.NoError(t, c.SetDeadline(time.Now().Add(waitMax)))
	go func() { _, _ = c.Write(big); _ = c.CloseWrite() }()
	got, err := io.ReadAll(c)
	require.NoError(t, err, "the echo server's FIN must reach the client after the client's FIN reached it")
	require.Equal(t, big, got)

	require.Eventually(t, func() bool { return p.Stats().Active == 0 }, waitMax, time.Millisecond)
	s := p.Stats()
	assert.EqualValues(t, 1, s.Accepted)
	assert.EqualValues(t, 1, s.Forwarded)
	assert.EqualValues(t, 5+len(big), s.BytesToTarget)
	assert.EqualValues(t, 5+len(big), s.BytesFromTarget)
	assert.Zero(t, s.Refused+s.Blackholed+s.Cut+s.DialFailures+s.Toggles)
}

func TestDownRefuseCutsAndResets(t *testing.T) {
	e := newEchoServer(t)
	p := newProxy(t, e.addr(), nil)
	old := dial(t, p)
	roundTrip(t, old, []byte("before"))

	p.Down()
	require.False(t, p.IsUp())
	readFails(t, old) // cut

	requireRefused(t, p) // accepted by the listener, then reset
	assert.EqualValues(t, 1, e.accepted.Load(), "nothing reaches the target while down")

	p.Up()
	roundTrip(t, dial(t, p), []byte("after"))

	s := p.Stats()
	assert.EqualValues(t, 3, s.Accepted)
	assert.EqualValues(t, 2, s.Forwarded)
	assert.EqualValues(t, 1, s.Refused)
	assert.EqualValues(t, 1, s.Cut)
	assert.EqualValues(t, 2, s.Toggles)
	assert.EqualValues(t, 2, e.accepted.Load())
}

func TestDownBlackholeHoldsSilently(t *testing.T) {
	e := newEchoServer(t)
	p := newProxy(t, e.addr(), &netproxy.Options{DownMode: netproxy.Blackhole})
	old := dial(t, p)
	roundTrip(t, old, []byte("before"))

	p.Down()
	readFails(t, old) // existing links are cut in every mode

	hole := dial(t, p)
	_, err := hole.Write([]byte("into the void"))
	require.NoError(t, err)
	staysSilent(t, hole, 200*time.Millisecond)
	require.Eventually(t, func() bool { return p.Stats().BytesDiscarded == int64(len("into the void")) },
		waitMax, time.Millisecond)
	assert.EqualValues(t, 1, e.accepted.Load(), "nothing reaches the target while down")

	p.Up()
	roundTrip(t, dial(t, p), []byte("after"))
	staysSilent(t, hole, 50*time.Millisecond) // a blackholed connection stays dead

	s := p.Stats()
	assert.EqualValues(t, 1, s.Blackholed)
	assert.EqualValues(t, 1, s.Cut)
	assert.Zero(t, s.Refused)

	require.NoError(t, p.Close())
	readFails(t, hole) // Close ends held connections
}

func TestSetDownModeSwitchesBetweenRefuseAndBlackhole(t *testing.T) {
	e := newEchoServer(t)
	p := newProxy(t, e.addr(), nil)
	p.Down()
	requireRefused(t, p)
	require.NoError(t, p.SetDownMode(netproxy.Blackhole))
	staysSilent(t, dial(t, p), 100*time.Millisecond)
	require.NoError(t, p.SetDownMode(netproxy.Refuse))
	requireRefused(t, p)
	require.Error(t, p.SetDownMode(netproxy.Mode(7)))
	s := p.Stats()
	assert.EqualValues(t, 2, s.Refused)
	assert.EqualValues(t, 1, s.Blackholed)
}

func TestLatencyDelaysEachDirection(t *testing.T) {
	e := newEchoServer(t)
	const latency = 40 * time.Millisecond
	p := newProxy(t, e.addr(), &netproxy.Options{Latency: latency})
	c := dial(t, p)
	start := time.Now()
	roundTrip(t, c, []byte("ping"))
	assert.GreaterOrEqual(t, time.Since(start), 2*latency, "a round trip crosses the proxy twice")

	// Data stays whole and in order through the delay queue.
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	require.NoError(t, c.SetDeadline(time.Now().Add(waitMax)))
	go func() { _, _ = c.Write(big) }()
	got := make([]byte, len(big))
	_, err := io.ReadFull(c, got)
	require.NoError(t, err)
	require.True(t, bytes.Equal(big, got), "bytes changed or reordered")

	require.NoError(t, p.SetLatency(0))
	require.Error(t, p.SetLatency(-time.Second))
	roundTrip(t, c, []byte("pong"))
}

func TestDialFailureResetsTheClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := ln.Addr().String()
	require.NoError(t, ln.Close()) // nothing listens there any more

	p := newProxy(t, dead, nil)
	requireRefused(t, p)
	s := p.Stats()
	assert.EqualValues(t, 1, s.DialFailures)
	assert.EqualValues(t, 1, s.Refused)
	assert.Zero(t, s.Forwarded)
}

func TestMaxConnsRefusesOneMore(t *testing.T) {
	e := newEchoServer(t)
	p := newProxy(t, e.addr(), &netproxy.Options{MaxConns: 1})
	first := dial(t, p)
	roundTrip(t, first, []byte("one"))
	requireRefused(t, p)
	assert.EqualValues(t, 1, p.Stats().Refused)
	roundTrip(t, first, []byte("still one"))
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, tc := range map[string]struct {
		target string
		opts   netproxy.Options
	}{
		"no target":       {"", netproxy.Options{}},
		"not host:port":   {"localhost", netproxy.Options{}},
		"unknown mode":    {"127.0.0.1:1", netproxy.Options{DownMode: 9}},
		"negative delay":  {"127.0.0.1:1", netproxy.Options{Latency: -1}},
		"negative conns":  {"127.0.0.1:1", netproxy.Options{MaxConns: -1}},
		"flap max < min":  {"127.0.0.1:1", netproxy.Options{FlapMin: time.Second, FlapMax: time.Millisecond}},
		"negative dialto": {"127.0.0.1:1", netproxy.Options{DialTimeout: -1}},
	} {
		t.Run(name, func(t *testing.T) {
			p, err := netproxy.New(tc.target, &tc.opts)
			require.Error(t, err)
			require.Nil(t, p)
		})
	}
}

func TestFlapScheduleIsSeededAndBounded(t *testing.T) {
	const lo, hi = 500 * time.Millisecond, 5 * time.Second
	draw := func(seed uint64) []time.Duration {
		s, err := netproxy.NewFlapSchedule(rand.New(rand.NewPCG(seed, seed)), lo, hi)
		require.NoError(t, err)
		out := make([]time.Duration, 1000)
		for i := range out {
			out[i] = s.Next()
		}
		return out
	}
	a, b, other := draw(42), draw(42), draw(43)
	require.Equal(t, a, b, "same seed, same schedule")
	require.NotEqual(t, a, other)
	var below, above int
	for _, d := range a {
		require.GreaterOrEqual(t, d, lo)
		require.LessOrEqual(t, d, hi)
		if d < lo+(hi-lo)/4 {
			below++
		}
		if d > hi-(hi-lo)/4 {
			above++
		}
	}
	assert.Positive(t, below, "the whole range is drawn from")
	assert.Positive(t, above, "the whole range is drawn from")

	_, err := netproxy.NewFlapSchedule(nil, lo, hi)
	require.Error(t, err)
	_, err = netproxy.NewFlapSchedule(rand.New(rand.NewPCG(1, 1)), 0, hi)
	require.Error(t, err)
}

// fakeClock hands each wait the flapping goroutine asks for to the test,
// which fires it when it wants.
type fakeClock struct{ waits chan fakeWait }

type fakeWait struct {
	d    time.Duration
	fire chan time.Time
}

func (f *fakeClock) after(d time.Duration) <-chan time.Time {
	w := fakeWait{d: d, fire: make(chan time.Time, 1)}
	f.waits <- w
	return w.fire
}

func (f *fakeClock) next(t *testing.T) fakeWait {
	t.Helper()
	select {
	case w := <-f.waits:
		return w
	case <-time.After(waitMax):
		t.Fatal("the flapping schedule asked for no wait")
		return fakeWait{}
	}
}

func TestFlapTogglesOnTheSeededSchedule(t *testing.T) {
	e := newEchoServer(t)
	clock := &fakeClock{waits: make(chan fakeWait)}
	p := newProxy(t, e.addr(), &netproxy.Options{After: clock.after})
	const seed = 7
	want, err := netproxy.NewFlapSchedule(rand.New(rand.NewPCG(seed, seed)), netproxy.DefaultFlapMin, netproxy.DefaultFlapMax)
	require.NoError(t, err)

	c := dial(t, p)
	roundTrip(t, c, []byte("x"))
	require.NoError(t, p.FlapSeed(seed))
	up := true
	for i := range 20 {
		w := clock.next(t) // the goroutine has applied every earlier toggle
		require.Equal(t, want.Next(), w.d, "interval %d", i)
		require.Equal(t, up, p.IsUp(), "state before toggle %d", i)
		w.fire <- time.Time{}
		up = !up
		if i == 0 {
			readFails(t, c) // the first toggle took the link down
		}
	}
	clock.next(t) // toggle 20 is applied
	require.Equal(t, up, p.IsUp())
	p.StopFlapping()
	assert.EqualValues(t, 20, p.Stats().Toggles)
	assert.EqualValues(t, 1, p.Stats().Cut)

	// A new schedule restarts from the current state and replaces the old one.
	require.NoError(t, p.Flap(rand.New(rand.NewPCG(seed, seed))))
	w := clock.next(t)
	want, err = netproxy.NewFlapSchedule(rand.New(rand.NewPCG(seed, seed)), netproxy.DefaultFlapMin, netproxy.DefaultFlapMax)
	require.NoError(t, err)
	require.Equal(t, want.Next(), w.d)
	require.NoError(t, p.Close()) // stops the schedule while it waits
	require.Error(t, p.Flap(rand.New(rand.NewPCG(1, 1))))
}

// TestFlappingUnderLoad runs clients through a proxy flapping every few
// milliseconds, switching between its down modes: every echo that completes
// is exact (a cut ends an echo, never corrupts it), every accepted connection
// is accounted for, and Close ends every goroutine the proxy started. Run it
// with -race.
func TestFlappingUnderLoad(t *testing.T) {
	e := newEchoServer(t)
	p, err := netproxy.New(e.addr(), &netproxy.Options{
		FlapMin: 2 * time.Millisecond, FlapMax: 20 * time.Millisecond, Latency: 100 * time.Microsecond,
	})
	require.NoError(t, err)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	require.NoError(t, p.FlapSeed(seed))

	var wg sync.WaitGroup
	var whole, cut, corrupt atomic.Int64
	for client := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for attempt := range 30 {
				if client%4 == 0 {
					_ = p.SetDownMode(netproxy.Mode(attempt % 2))
				}
				msg := fmt.Appendf(nil, "client %d attempt %d %s", client, attempt, bytes.Repeat([]byte{'z'}, attempt*1000))
				switch echoOnce(p.Addr(), msg) {
				case echoWhole:
					whole.Add(1)
				case echoCut:
					cut.Add(1)
				case echoCorrupt:
					corrupt.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("echoes: %d whole, %d cut", whole.Load(), cut.Load())
	require.Zero(t, corrupt.Load(), "the proxy changed bytes of an echo")
	assert.Positive(t, p.Stats().Toggles)

	closed := make(chan error)
	go func() { closed <- p.Close() }()
	select {
	case err := <-closed:
		require.NoError(t, err)
	case <-time.After(waitMax):
		t.Fatal("Close did not return")
	}
	s := p.Stats()
	assert.Zero(t, s.Active)
	assert.Equal(t, s.Accepted, s.Forwarded+s.Refused+s.Blackholed, "every accepted connection is accounted for: %+v", s)
	assert.LessOrEqual(t, s.Cut, s.Forwarded)
	assert.LessOrEqual(t, s.DialFailures, s.Refused)
	requireNoProxyGoroutines(t)
}

type echoResult int

const (
	echoWhole   echoResult = iota // exactly msg came back
	echoCut                       // the connection ended or stalled before all of msg came back
	echoCorrupt                   // a byte came back different
)

// echoOnce sends msg through addr and reads the echo back, giving up after
// 100 ms (a blackholed connection never answers).
func echoOnce(addr string, msg []byte) echoResult {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return echoCut
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(100 * time.Millisecond))
	go func() { _, _ = c.Write(msg) }()
	got := make([]byte, len(msg))
	n, _ := io.ReadFull(c, got)
	switch {
	case !bytes.Equal(msg[:n], got[:n]):
		return echoCorrupt
	case n < len(msg):
		return echoCut
	}
	return echoWhole
}

// requireNoProxyGoroutines fails unless every goroutine running a method of
// a Proxy has ended (within waitMax, since the test's own connections end
// asynchronously).
func requireNoProxyGoroutines(t *testing.T) {
	t.Helper()
	stacks := func() []byte {
		buf := make([]byte, 1<<20)
		return buf[:runtime.Stack(buf, true)]
	}
	proxyFrame := []byte("netproxy.(*Proxy)")
	if !assert.Eventually(t, func() bool { return !bytes.Contains(stacks(), proxyFrame) }, waitMax, time.Millisecond) {
		t.Fatalf("goroutines of the proxy left after Close:\n%s", stacks())
	}
}
