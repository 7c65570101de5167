package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/wire"
	"github.com/citypass/citypass/ledger"
)

// hubSpec is what the parent tells a fleet-hub child, in <dir>/hub.json:
// the nodes it enrolls (id → NKey public key), the parent's operator key
// (for the bench's commands, benchSubject), where JetStream keeps its
// store (default <dir>/jetstream), and the hub's tuning (zero: defaults).
type hubSpec struct {
	Nodes     map[string]string `json:"nodes"`
	Operator  string            `json:"operator,omitempty"`
	StoreDir  string            `json:"store_dir,omitempty"`
	Workers   int               `json:"workers,omitempty"`
	FetchMax  int               `json:"fetch_max,omitempty"`
	FetchWait time.Duration     `json:"fetch_wait,omitempty"`
	// RevisionsPerMessage: hub.Config's (part behind: 1).
	RevisionsPerMessage int `json:"revisions_per_message,omitempty"`
}

// hubReady is the child's first line: the URL nodes connect to.
type hubReady struct {
	URL string `json:"url"`
}

// hubReport is the child's last line, after SIGTERM: what its ingest did.
type hubReport struct {
	Uploads     uint64 `json:"uploads"`
	Records     uint64 `json:"records"`
	Repeats     uint64 `json:"repeats"`
	Aliases     uint64 `json:"aliases"`
	Quarantined uint64 `json:"quarantined"`
	Gaps        uint64 `json:"gaps"`
	Rejected    uint64 `json:"rejected"`
	// HWMMB is the hub process's peak RSS (VmHWM) when it stopped.
	HWMMB float64 `json:"hwm_mb"`
}

// childFleetHub is a hub as `citypass hub` runs it: the hub ledger in
// <dir>/ledger (every commit synced, with the change log that flows down to
// the nodes), an embedded NATS server with JetStream on 127.0.0.1 (a
// random port; every write fsynced) with the enrolled nodes of
// <dir>/hub.json, the fleet's streams, and the hub's ingest, report,
// snapshot and state publishing loops. It also answers the parent's
// commands (benchSubject: a block, sales) as an operator would run them at
// the hub. It prints hubReady, serves until SIGTERM, then stops and prints
// hubReport.
func childFleetHub(ctx context.Context, a childArgs, stdout io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stop()
	b, err := os.ReadFile(filepath.Join(a.dir, "hub.json"))
	if err != nil {
		return fmt.Errorf("bench: fleet hub: %w", err)
	}
	var spec hubSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("bench: fleet hub: hub.json: %w", err)
	}
	if spec.StoreDir == "" {
		spec.StoreDir = filepath.Join(a.dir, "jetstream")
	}
	lo := ledger.Options{MustExist: true}
	hub.LedgerOptions(&lo)
	l, err := ledger.Open(filepath.Join(a.dir, "ledger"), &lo)
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if !closed {
			_ = l.Close()
		}
	}()
	op, opPub, err := natsio.NewCredentials("", nil, "")
	if err != nil {
		return err
	}
	ops := []string{opPub}
	if spec.Operator != "" {
		ops = append(ops, spec.Operator)
	}
	srv, err := natsio.StartServer(natsio.ServerConfig{StoreDir: spec.StoreDir, Listen: "127.0.0.1:0", Operators: ops, Nodes: spec.Nodes})
	if err != nil {
		return err
	}
	defer srv.Shutdown()
	op.Hub = []string{srv.ClientURL()}
	conn, err := natsio.Connect(op, natsio.ConnectOptions{WaitConnected: true})
	if err != nil {
		return err
	}
	defer conn.Close()
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	err = conn.EnsureStreams(sctx, natsio.StreamOptions{})
	cancel()
	if err != nil {
		return err
	}
	h, err := hub.Start(hub.Config{Ledger: l, Conn: conn, Workers: spec.Workers, FetchMax: spec.FetchMax, FetchWait: spec.FetchWait, RevisionsPerMessage: spec.RevisionsPerMessage})
	if err != nil {
		return err
	}
	stopCmds, err := serveBenchCommands(ctx, conn, l)
	if err != nil {
		h.Close()
		return err
	}
	if err := json.NewEncoder(stdout).Encode(hubReady{URL: srv.ClientURL()}); err != nil {
		stopCmds()
		h.Close()
		return err
	}
	<-ctx.Done()
	stopCmds()
	h.Close()
	conn.Close()
	srv.Shutdown()
	closed = true
	if err := l.Close(); err != nil {
		return err
	}
	m, err := ReadMem(0)
	if err != nil {
		return err
	}
	s := &h.Stats
	return json.NewEncoder(stdout).Encode(hubReport{
		Uploads: s.Uploads.Load(), Records: s.Records.Load(), Repeats: s.Repeats.Load(), Aliases: s.Aliases.Load(),
		Quarantined: s.Quarantined.Load(), Gaps: s.Gaps.Load(), Rejected: s.Rejected.Load(), HWMMB: m.MB(),
	})
}

// benchSubject is the subject of the parent's command verb to a fleet-hub
// child (operator credentials only).
func benchSubject(verb string) string { return "citypass.bench." + verb }

// hubCommand is a command of the parent to a fleet-hub child: block Card
// (verb "block"), or sell a pass onto each card of [From, From+N) (verb
// "sell", each sale its own transaction, hence its own revision).
type hubCommand struct {
	Card string `json:"card,omitempty"`
	From int    `json:"from,omitempty"`
	N    int    `json:"n,omitempty"`
}

// hubCommandReply is the hub ledger's newest revision once the command is
// durable.
type hubCommandReply struct {
	Rev uint64 `json:"rev"`
}

// serveBenchCommands answers hubCommands on l through the hub's own
// validator paths (engine.Validator.Block and Sell, as `citypass pass
// block` and `pass sell` run at the hub).
func serveBenchCommands(ctx context.Context, conn *natsio.Conn, l *ledger.Ledger) (stop func(), err error) {
	t, cat, err := sampleCatalog()
	if err != nil {
		return nil, err
	}
	v, err := engine.New(l, cat, nil)
	if err != nil {
		return nil, err
	}
	base := t.EffectiveFrom.Add(24 * time.Hour) // as openFixture
	reply := func() ([]byte, error) {
		rev, err := l.LastRev()
		if err != nil {
			return nil, err
		}
		return json.Marshal(hubCommandReply{Rev: rev})
	}
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	for verb, fn := range map[string]func(hubCommand) error{
		"block": func(c hubCommand) error { return v.Block(ctx, c.Card, engine.BlockStolen, base) },
		"sell": func(c hubCommand) error {
			f := &fixture{l: l, v: v, t: t, base: base, cards: make([]string, c.From+c.N)}
			for i := c.From; i < c.From+c.N; i++ {
				f.cards[i] = cardUID(i)
			}
			return f.sell(ctx, c.From, c.From+c.N, 16)
		},
	} {
		s, err := conn.Serve(benchSubject(verb), 1, func(_ string, data []byte) ([]byte, error) {
			var c hubCommand
			if err := json.Unmarshal(data, &c); err != nil {
				return nil, err
			}
			if err := fn(c); err != nil {
				return nil, err
			}
			return reply()
		})
		if err != nil {
			stop()
			return nil, err
		}
		stops = append(stops, s)
	}
	return stop, nil
}

// hubOperator is the parent's operator connection to a fleet-hub child.
type hubOperator struct {
	creds natsio.Credentials
	pub   string
	conn  *natsio.Conn
}

func newHubOperator() (*hubOperator, error) {
	c, pub, err := natsio.NewCredentials("", nil, "")
	if err != nil {
		return nil, err
	}
	return &hubOperator{creds: c, pub: pub}, nil
}

// connect connects to the hub child's server.
func (o *hubOperator) connect(url string) error {
	c := o.creds
	c.Hub = []string{url}
	var err error
	o.conn, err = natsio.Connect(c, natsio.ConnectOptions{WaitConnected: true})
	return err
}

func (o *hubOperator) close() {
	if o.conn != nil {
		o.conn.Close()
	}
}

// do runs a command at the hub and returns the hub ledger's revision once
// it is durable.
func (o *hubOperator) do(ctx context.Context, verb string, c hubCommand, timeout time.Duration) (uint64, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out, err := o.conn.Request(rctx, benchSubject(verb), b)
	if err != nil {
		return 0, fmt.Errorf("bench: fleet hub %s: %w", verb, err)
	}
	var r hubCommandReply
	if err := json.Unmarshal(out, &r); err != nil {
		return 0, fmt.Errorf("bench: fleet hub %s: %w", verb, err)
	}
	return r.Rev, nil
}

// published waits until the hub has published revision rev on the state
// stream and returns the stream's last sequence then.
func (o *hubOperator) published(ctx context.Context, rev uint64) (uint64, error) {
	for {
		data, seq, ok, err := o.conn.LastState(ctx)
		if err != nil {
			return 0, err
		}
		if ok {
			b, err := wire.DecodeState(data)
			if err != nil {
				return 0, err
			}
			if b.Rev >= rev {
				return seq, nil
			}
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("bench: the hub did not publish revision %d: %w", rev, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// hubChild is a running fleet-hub child seen from the parent.
type hubChild struct {
	c   *child
	url string
}

// startHubChild writes spec to <dir>/hub.json (dir holds the hub ledger in
// dir/ledger), starts the child and waits until it serves.
func startHubChild(env Env, dir string, spec hubSpec) (*hubChild, error) {
	b, err := json.Marshal(spec)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "hub.json"), b, 0o600); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	c, err := startChild(env, roleFleetHub, "--dir", dir)
	if err != nil {
		return nil, err
	}
	c.ownPeak = true // hubReport.HWMMB
	line, err := c.out.ReadString('\n')
	var ready hubReady
	if err == nil {
		err = json.Unmarshal([]byte(line), &ready)
	}
	if err != nil || ready.URL == "" {
		_ = c.cmd.Process.Kill()
		_ = c.waitJSON(new(hubReport))
		return nil, fmt.Errorf("bench: fleet hub did not start: %v %q: %s", err, line, strings.TrimSpace(c.stderr.String()))
	}
	return &hubChild{c: c, url: ready.URL}, nil
}

// mem reads the hub process's VmRSS and VmHWM now.
func (h *hubChild) mem() (Mem, error) { return ReadMem(h.c.cmd.Process.Pid) }

// stop ends the hub (SIGTERM), returning its report and its peak RSS in
// MiB: its own VmHWM at the end, or the watchdog's highest reading if that
// is higher. A peak above the child RSS limit is ErrRSSLimit, as for a
// child the watchdog killed.
func (h *hubChild) stop() (hubReport, float64, error) {
	var rep hubReport
	if err := h.c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return rep, 0, fmt.Errorf("bench: stopping the fleet hub: %w", err)
	}
	err := h.c.waitJSON(&rep)
	peak := max(rep.HWMMB, h.c.peakMB)
	if err == nil && peak > h.c.limitMB {
		err = fmt.Errorf("%w: the fleet hub reached %.0f MB (limit %.0f MB)", ErrRSSLimit, peak, h.c.limitMB)
	}
	return rep, peak, err
}

// kill ends the hub at once (on an error path).
func (h *hubChild) kill() {
	_ = h.c.cmd.Process.Kill()
	_ = h.c.waitJSON(new(hubReport))
}

// The hub is settled when it used under hubQuietCPU of a core for hubQuietFor;
// settle gives up waiting after hubSettleMax.
const (
	hubQuietCPU  = 0.1
	hubQuietFor  = 2 * time.Second
	hubSettleMax = 3 * time.Minute
)

// settle waits until the hub process is quiet (its background work, such as
// Pebble's compactions after a catch-up, done) and returns how long it took.
func (h *hubChild) settle(ctx context.Context) (time.Duration, error) {
	start := time.Now()
	const tick = 250 * time.Millisecond
	last, err := CPUSeconds(h.c.cmd.Process.Pid)
	if err != nil {
		return 0, err
	}
	quiet := time.Duration(0)
	for quiet < hubQuietFor && time.Since(start) < hubSettleMax {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(tick):
		}
		cpu, err := CPUSeconds(h.c.cmd.Process.Pid)
		if err != nil {
			return 0, err
		}
		if cpu-last < hubQuietCPU*tick.Seconds() {
			quiet += tick
		} else {
			quiet = 0
		}
		last = cpu
	}
	return time.Since(start), nil
}
