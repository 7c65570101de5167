package natsio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Remote execution of operator commands on the running hub (docs/fleet.md,
// "Commands against a running hub"): the client sends a request on
// OperatorSubject with its own inbox as the reply subject; the hub runs the
// command and sends its output back as chunks, each a request the client
// acknowledges (so a slow terminal slows the hub down instead of losing
// output), then a last message with the exit code. The hub reads the
// client's standard input the same way, on demand.

const (
	execStream  = "Citypass-Stream" // "1" stdout, "2" stderr, "0" stdin
	execExit    = "Citypass-Exit"
	execChunk   = 64 << 10
	execTimeout = 30 * time.Second // silence after which either side gives up
)

// ExecHandler runs one command: req as the client sent it; stdin reads the
// client's input; what it writes to stdout and stderr reaches the client.
// It returns the exit code.
type ExecHandler func(ctx context.Context, req []byte, stdin io.Reader, stdout, stderr io.Writer) int

// ServeExec serves remote commands on OperatorSubject with h, at most
// maxParallel at once (default 8), until stop is called (which waits for the
// running commands).
func (c *Conn) ServeExec(h ExecHandler, maxParallel int) (stop func(), err error) {
	if maxParallel <= 0 {
		maxParallel = 8
	}
	slots := make(chan struct{}, maxParallel)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	sub, err := c.nc.Subscribe(OperatorSubject, func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-slots; wg.Done() }()
			c.runExec(ctx, m, h)
		}()
	})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("natsio: serving commands: %w", err)
	}
	return func() { _ = sub.Unsubscribe(); cancel(); wg.Wait() }, nil
}

func (c *Conn) runExec(ctx context.Context, m *nats.Msg, h ExecHandler) {
	out := &execWriter{c: c, to: m.Reply, stream: "1", ctx: ctx}
	errw := &execWriter{c: c, to: m.Reply, stream: "2", ctx: ctx}
	in := &execReader{c: c, from: m.Reply + ".stdin", ctx: ctx}
	code := h(ctx, m.Data, in, out, errw)
	_ = out.flush()
	_ = errw.flush()
	fin := nats.NewMsg(m.Reply)
	fin.Header.Set(execExit, strconv.Itoa(code))
	_ = c.nc.PublishMsg(fin)
}

// execWriter sends output to the client in acknowledged chunks.
type execWriter struct {
	c      *Conn
	to     string
	stream string
	ctx    context.Context
	buf    bytes.Buffer
	failed error
}

func (w *execWriter) Write(p []byte) (int, error) {
	if w.failed != nil {
		return 0, w.failed
	}
	w.buf.Write(p)
	for w.buf.Len() >= execChunk {
		if err := w.send(w.buf.Next(execChunk)); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (w *execWriter) flush() error {
	if w.buf.Len() == 0 || w.failed != nil {
		return w.failed
	}
	return w.send(w.buf.Next(w.buf.Len()))
}

func (w *execWriter) send(p []byte) error {
	msg := nats.NewMsg(w.to)
	msg.Header.Set(execStream, w.stream)
	msg.Data = p
	ctx, cancel := context.WithTimeout(w.ctx, execTimeout)
	defer cancel()
	if _, err := w.c.nc.RequestMsgWithContext(ctx, msg); err != nil {
		w.failed = fmt.Errorf("natsio: sending output to the operator: %w", err)
		return w.failed
	}
	return nil
}

// execReader reads the client's standard input on demand.
type execReader struct {
	c    *Conn
	from string
	ctx  context.Context
	buf  []byte
	eof  bool
}

func (r *execReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.eof {
			return 0, io.EOF
		}
		ctx, cancel := context.WithTimeout(r.ctx, execTimeout)
		m, err := r.c.nc.RequestWithContext(ctx, r.from, nil)
		cancel()
		if err != nil {
			return 0, fmt.Errorf("natsio: reading the operator's input: %w", err)
		}
		if len(m.Data) == 0 {
			r.eof = true
		}
		r.buf = m.Data
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// ErrNoHub is returned by Exec when no hub serves commands.
var ErrNoHub = errors.New("natsio: no running hub answers")

// Exec runs a command on the hub: req (the command line, encoded by the
// caller), the client's stdin, stdout and stderr. It returns the command's
// exit code.
func (c *Conn) Exec(ctx context.Context, req []byte, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	inbox := c.nc.NewRespInbox()
	msgs := make(chan *nats.Msg, 64)
	sub, err := c.nc.ChanSubscribe(inbox, msgs)
	if err != nil {
		return 0, err
	}
	defer sub.Unsubscribe()
	in, err := c.nc.Subscribe(inbox+".stdin", func(m *nats.Msg) {
		buf := make([]byte, execChunk)
		n, rerr := io.ReadFull(stdin, buf)
		if rerr != nil && !errors.Is(rerr, io.ErrUnexpectedEOF) && !errors.Is(rerr, io.EOF) {
			n = 0
		}
		_ = m.Respond(buf[:n])
	})
	if err != nil {
		return 0, err
	}
	defer in.Unsubscribe()
	if err := c.nc.PublishRequest(OperatorSubject, inbox, req); err != nil {
		return 0, err
	}
	idle := time.NewTimer(execTimeout)
	defer idle.Stop()
	first := true
	for {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-idle.C:
			if first {
				return 0, ErrNoHub
			}
			return 0, errors.New("natsio: the hub stopped answering")
		case m := <-msgs:
			if first && m.Header.Get("Status") == "503" {
				return 0, ErrNoHub // no responders
			}
			first = false
			idle.Reset(execTimeout)
			if code := m.Header.Get(execExit); code != "" {
				n, err := strconv.Atoi(code)
				if err != nil {
					return 0, fmt.Errorf("natsio: bad exit code %q", code)
				}
				return n, nil
			}
			w := stdout
			if m.Header.Get(execStream) == "2" {
				w = stderr
			}
			_, werr := w.Write(m.Data)
			if werr == nil {
				_ = m.Respond(nil)
			}
		}
	}
}
