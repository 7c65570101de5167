package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/node"
	"github.com/citypass/citypass/fleet/wire"
	"github.com/citypass/citypass/tariff"
)

// Options are a run's, beside its Plan.
type Options struct {
	// Dir holds the hub's ledger, its JetStream store and the statements;
	// default a temporary directory removed at the end.
	Dir string
	// Cluster runs the hub on an embedded 3-server JetStream cluster.
	Cluster bool
	// Progress, when set, receives a line per simulated hour.
	Progress io.Writer
	// WaitMax bounds each wait for the network (a node's catch-up, the
	// hub's restart); default 3 minutes.
	WaitMax time.Duration
}

// Violation is the first invariant a run found broken.
type Violation struct {
	Seed      uint64
	Invariant string // its name, e.g. "exactly once"
	Detail    string
}

func (v *Violation) Error() string {
	return fmt.Sprintf("sim: seed %d: invariant %q violated: %s (replay with --seed %d)", v.Seed, v.Invariant, v.Detail, v.Seed)
}

// Clock is the simulated clock every hub and node reads. Safe for
// concurrent use.
type Clock struct{ ns atomic.Int64 }

// Now returns the simulated time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t, never back.
func (c *Clock) Set(t time.Time) {
	for {
		old := c.ns.Load()
		if t.UnixNano() <= old || c.ns.CompareAndSwap(old, t.UnixNano()) {
			return
		}
	}
}

// tapLog is what the simulator saw of one tap.
type tapLog struct {
	node, card int
	id         engine.TapID
	epoch      uint64
	nodeSeq    uint64
	at         time.Time
	dec        engine.Decision
	staleness  time.Duration
	offline    bool      // the node had no link to the hub
	hidden     bool      // an earlier tap of the card was on a node cut off and not yet caught up
	fault      int       // the fault that cut the node off (-1: none)
	ackedAt    time.Time // end of the barrier at which the hub had it
	lost       bool      // journaled by a disk that died before the hub received it
}

type simNode struct {
	*fleettest.LoopbackNode
	spec  NodeSpec
	skew  atomic.Int64
	v     *engine.Validator
	cut   bool
	cutBy int // the fault that cut it off
	// offline: cut off, or back but not yet caught up (its taps are
	// decided on old state until the next barrier).
	offline bool
	pending []int // cards tapped here while cut off, not yet caught up
	unacked []int // taps (index in runner.taps) not yet acknowledged at a barrier
	upAt    time.Time
	upFault int
	backlog uint64
}

type runner struct {
	plan  *Plan
	opts  Options
	seed  uint64
	clock *Clock
	hub   *fleettest.LoopbackHub
	cat   *tariff.Catalog
	nodes []*simNode
	dir   string

	hubDown   bool
	hubFault  int
	hubOrder  []*hubRec
	byTap     map[engine.TapID]*hubRec
	hidden    map[int]int // card → taps on cut-off nodes not yet caught up
	passes    map[int]string
	blockedAt map[int]time.Time
	taps      []tapLog
	wiped     []wipedEpoch
	faults    []FaultResult
	catchUps  []CatchUp
	nudges    int
	crashRng  *rand.Rand
	mu        sync.Mutex // nudges
	rep       *Report
}

type wipedEpoch struct {
	node     int
	epoch    uint64
	records  []engine.TapRecord
	reported uint64 // what the node reported before its disk died (0: the report failed)
	fault    int
}

// nodeCfg: ReportEvery and ResendAfter are node-clock durations in the
// uplink (the simulated clock: a report every simulated minute); Poll is
// also where the downlink's real pause after a failed read starts.
var nodeCfg = node.Config{Poll: 20 * time.Millisecond, ResendAfter: 4 * time.Second, ReportEvery: time.Minute, RequestTimeout: 3 * time.Second}

// Run plays p on loopback: an embedded hub and a LoopbackNode per node,
// driven tick by tick on a simulated clock (docs/fleet.md, "Simulation").
// It returns the report, and a *Violation when an invariant failed (the
// report then holds what was measured up to it).
func Run(ctx context.Context, p *Plan, o Options) (*Report, error) {
	if o.WaitMax <= 0 {
		o.WaitMax = 3 * time.Minute
	}
	r := &runner{plan: p, opts: o, seed: p.Config.Seed, clock: &Clock{}, hidden: map[int]int{}, passes: map[int]string{},
		blockedAt: map[int]time.Time{}, crashRng: rand.New(rand.NewPCG(p.Config.Seed, 0xC4A5))}
	r.rep = newReport(p)
	began := time.Now()
	cpu0 := processCPU()
	r.dir = o.Dir
	if r.dir == "" {
		d, err := os.MkdirTemp("", "citypass-sim-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		r.dir = d
	}
	err := r.run(ctx)
	r.rep.Timing.WallSeconds = time.Since(began).Seconds()
	r.rep.Timing.CPUSeconds = processCPU() - cpu0
	r.rep.Timing.PeakRSSMB = peakRSSMB()
	r.rep.Timing.Nudges = r.nudges
	r.rep.Faults = r.faults
	r.rep.CatchUps = r.catchUps
	r.rep.summarize(r)
	var v *Violation
	if errors.As(err, &v) {
		r.rep.Violation = v.Error()
	}
	if r.hub != nil {
		// Nodes stop at once: each may wait out a fetch of the hub's state.
		var wg sync.WaitGroup
		for _, n := range r.nodes {
			if n != nil && n.LoopbackNode != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_ = n.Close()
				}()
			}
		}
		wg.Wait()
		_ = r.hub.Close()
	}
	return r.rep, err
}

func (r *runner) violation(inv, format string, args ...any) error {
	return &Violation{Seed: r.seed, Invariant: inv, Detail: fmt.Sprintf(format, args...)}
}

func (r *runner) progress(format string, args ...any) {
	if r.opts.Progress != nil {
		fmt.Fprintf(r.opts.Progress, format+"\n", args...)
	}
}

func (r *runner) run(ctx context.Context) error {
	p := r.plan
	c := p.Config
	r.clock.Set(c.Start.Add(-time.Hour))
	hcfg := hub.Config{Now: r.clock.Now, HeartbeatEvery: time.Millisecond, PublishPoll: 20 * time.Millisecond, RetryDelay: 200 * time.Millisecond}
	// The duplicate window only saves work (docs/fleet.md): a short one
	// lets a node's re-sent range reach the hub, which acknowledges it,
	// instead of being dropped unacknowledged.
	so := natsio.StreamOptions{Duplicates: 100 * time.Millisecond}
	var err error
	if r.opts.Cluster {
		r.hub, err = fleettest.StartLoopbackCluster(filepath.Join(r.dir, "hub"), fleettest.SampleTOML(), hcfg, so, 3)
	} else {
		r.hub, err = fleettest.StartLoopbackHub(filepath.Join(r.dir, "hub"), fleettest.SampleTOML(), hcfg, so)
	}
	if err != nil {
		return fmt.Errorf("sim: starting the hub: %w", err)
	}
	r.cat = r.hub.Validator.Catalog()
	for _, f := range p.Faults {
		fr := FaultResult{Kind: f.Kind, At: f.At, Until: f.Until, Detail: f.Detail}
		if f.Kind == "outage" || f.Kind == "partition" {
			fr.Venue = p.Nodes[f.Nodes[0]].Venue
		}
		r.faults = append(r.faults, fr)
	}
	r.progress("sim: seed %d, %d nodes at %d sites, %d simulated hours, faults %s: starting the hub and the nodes", c.Seed, c.Nodes, c.Sites, c.Hours, c.Faults)
	for i, spec := range p.Nodes {
		sn := &simNode{spec: spec, upFault: -1}
		clock := func() time.Time { return r.clock.Now().Add(time.Duration(sn.skew.Load())) }
		sn.LoopbackNode, err = fleettest.StartLoopbackNode(r.hub, spec.ID, nodeCfg, clock, epochSource(c.Seed, uint64(i)))
		if err != nil {
			return fmt.Errorf("sim: starting node %s: %w", spec.ID, err)
		}
		r.nodes = append(r.nodes, sn)
	}
	if err := r.eachNode(ctx, r.nodes, func(ctx context.Context, n *simNode) error { return r.ready(ctx, n) }); err != nil {
		return err
	}
	tick := c.Start
	ev := p.Events
	nextHour := c.Start.Add(time.Hour)
	for tick.Before(p.End) {
		end := tick.Add(c.Tick)
		r.clock.Set(tick)
		// Faults come at a tick's start. A node back (its link, the hub,
		// after a crash or a wipe) catches up before the tick's taps, so
		// that what it decides does not depend on how fast it does.
		back := false
		for len(ev) > 0 && ev[0].At.Equal(tick) && ev[0].Kind < Skew {
			if err := r.apply(ctx, ev[0]); err != nil {
				return err
			}
			back = back || ev[0].Kind != LinkDown && ev[0].Kind != HubDown
			ev = ev[1:]
		}
		if back {
			if err := r.barrier(ctx, tick.Add(time.Second)); err != nil {
				return err
			}
		}
		for len(ev) > 0 && ev[0].At.Before(end) {
			if err := r.apply(ctx, ev[0]); err != nil {
				return err
			}
			ev = ev[1:]
		}
		if err := r.barrier(ctx, end); err != nil {
			return err
		}
		tick = end
		if !tick.Before(nextHour) {
			r.progress("sim: %s, %d taps, %d nodes cut off", tick.In(sample.Location).Format("Mon 15:04"), len(r.taps), r.cutCount())
			nextHour = nextHour.Add(time.Hour)
		}
	}
	// The month-end close, once every node is back and in contact after
	// the service day ended.
	for _, n := range r.nodes {
		if n.cut {
			n.Partition(false)
			n.cut = false
		}
	}
	if r.hubDown {
		if err := r.hubUp(); err != nil {
			return err
		}
	}
	if err := r.barrier(ctx, p.CloseAt); err != nil {
		return err
	}
	return r.finish(ctx)
}

func (r *runner) cutCount() int {
	k := 0
	for _, n := range r.nodes {
		if n.cut {
			k++
		}
	}
	return k
}

// ready waits for the node's state and takes its validator, which judges
// staleness by the node's live state_as_of (as a gate does).
func (r *runner) ready(ctx context.Context, n *simNode) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.WaitMax)
	defer cancel()
	v, err := n.Ready(ctx)
	if err != nil {
		return fmt.Errorf("sim: node %s loads the hub's state: %w", n.spec.ID, err)
	}
	ln := n.LoopbackNode
	v.SetStateAsOf(func() (time.Time, error) { return ln.Sync.State().AsOf, nil })
	n.v = v
	return nil
}

// eachNode runs fn on every node of ns, 64 at a time, and returns the
// first error (in node order).
func (r *runner) eachNode(ctx context.Context, ns []*simNode, fn func(context.Context, *simNode) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(ns))
	sem := make(chan struct{}, 64)
	for i, n := range ns {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(ctx, n)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) apply(ctx context.Context, e Event) error {
	switch e.Kind {
	case HubDown:
		r.hub.Kill()
		r.hubDown, r.hubFault = true, e.Fault
		for _, n := range r.nodes {
			if !n.offline {
				n.offline, n.cutBy = true, e.Fault
			}
		}
	case HubUp:
		if err := r.hubUp(); err != nil {
			return err
		}
		for _, n := range r.nodes {
			if !n.cut {
				n.upAt, n.upFault = time.Now(), e.Fault
			}
		}
	case LinkDown:
		n := r.nodes[e.Node]
		n.Partition(true)
		n.cut, n.offline, n.cutBy = true, true, e.Fault
	case LinkUp:
		n := r.nodes[e.Node]
		n.Partition(false)
		n.cut = false
		n.upAt, n.upFault = time.Now(), e.Fault
		if last, err := n.Ledger.LastJournalSeq(); err == nil {
			n.backlog = last - n.Sync.Status().Acked
		}
	case Crash:
		n := r.nodes[e.Node]
		before, err := n.Ledger.LastJournalSeq()
		if err != nil {
			return err
		}
		if err := n.Crash(r.crashRng); err != nil {
			return fmt.Errorf("sim: crash of %s: %w", n.spec.ID, err)
		}
		after, err := n.Ledger.LastJournalSeq()
		if err != nil {
			return err
		}
		if after != before {
			return r.violation("durable taps", "node %s journaled %d taps before its crash and holds %d after", n.spec.ID, before, after)
		}
		n.v = nil
		r.faults[e.Fault].Effect = fmt.Sprintf("restarted with all %d journaled taps", after)
	case Wipe:
		return r.wipe(ctx, e)
	case Skew:
		n := r.nodes[e.Node]
		n.skew.Store(int64(e.Skew))
	case Sell:
		card := r.plan.Cards[e.Card]
		pass, err := r.hub.Validator.Sell(ctx, engine.SellRequest{Product: card.Product, Card: card.UID, At: e.At, Channel: "desk"})
		if err != nil {
			return fmt.Errorf("sim: sale onto card %s: %w", card.UID, err)
		}
		r.passes[e.Card] = pass.ID
		r.rep.Sales++
	case Block:
		card := r.plan.Cards[e.Card]
		if err := r.hub.Validator.Block(ctx, card.UID, engine.BlockStolen, e.At); err != nil {
			return fmt.Errorf("sim: blocking card %s: %w", card.UID, err)
		}
		r.blockedAt[e.Card] = e.At
		r.rep.Blocks++
	case Tap:
		return r.tap(ctx, e)
	}
	return nil
}

func (r *runner) hubUp() error {
	if err := r.hub.Restart(); err != nil {
		return fmt.Errorf("sim: restarting the hub: %w", err)
	}
	r.hubDown = false
	return nil
}

func (r *runner) tap(ctx context.Context, e Event) error {
	n := r.nodes[e.Node]
	if n.v == nil {
		if err := r.ready(ctx, n); err != nil {
			return err
		}
	}
	card := r.plan.Cards[e.Card]
	at := e.At.Add(time.Duration(n.skew.Load()))
	res, err := n.v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: n.spec.ID}, Card: card.UID, Gate: n.spec.Gate, At: at})
	if err != nil {
		return fmt.Errorf("sim: tap of card %s at %s: %w", card.UID, n.spec.ID, err)
	}
	asOf := n.Sync.State().AsOf
	t := tapLog{node: e.Node, card: e.Card, id: res.Tap, epoch: n.Ledger.Epoch(), nodeSeq: res.JournalSeq, at: at, dec: res.Decision,
		staleness: at.Sub(asOf), offline: n.offline, hidden: r.hidden[e.Card] > 0, fault: -1}
	if n.offline {
		t.fault = n.cutBy
	}
	// The offline policy: a tap on state older than the product allows
	// carries STALE (accept) or is denied STALE.
	if p := r.product(card.Product); p != nil && t.staleness > p.Offline.MaxStaleness &&
		res.Decision.Flags&engine.FlagStale == 0 && res.Decision.Reason != engine.ReasonStale && res.Decision.Pass != "" {
		return r.violation("offline policy", "tap %s of card %s at %s: state %s old (policy %s) decided without the policy (%+v)",
			tapName(res.Tap), card.UID, n.spec.ID, t.staleness, p.Offline.MaxStaleness, res.Decision)
	}
	if t.offline {
		n.pending = append(n.pending, e.Card)
		r.hidden[e.Card]++
	}
	r.taps = append(r.taps, t)
	n.unacked = append(n.unacked, len(r.taps)-1)
	return nil
}

func (r *runner) product(id string) *tariff.Product {
	for _, v := range r.cat.Versions() {
		if p, ok := v.Product(id); ok {
			return p
		}
	}
	return nil
}

func tapName(id engine.TapID) string { return fmt.Sprintf("%s#%d", id.Device, id.Seq) }

// wipe: the node reports its last seq (on a link that works once more,
// bypassing its cut proxy), then its disk dies and it restarts empty.
func (r *runner) wipe(ctx context.Context, e Event) error {
	n := r.nodes[e.Node]
	w := wipedEpoch{node: e.Node, epoch: n.Ledger.Epoch(), fault: e.Fault}
	if err := n.Ledger.Journal(ctx, 1, func(rec *engine.TapRecord) error { w.records = append(w.records, *rec); return nil }); err != nil {
		return err
	}
	if !r.hubDown {
		direct, err := natsio.Connect(n.Creds, natsio.ConnectOptions{WaitConnected: true})
		if err == nil {
			rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			last := uint64(len(w.records))
			_, err = direct.Request(rctx, natsio.HubSubject("report", n.spec.ID), wire.Marshal(wire.Report{Epoch: w.epoch, LastSeq: last, NodeTime: n.Clock()}))
			cancel()
			direct.Close()
			if err == nil {
				w.reported = last
			}
		}
	}
	if err := n.Wipe(epochSource(r.seed, uint64(1000000+e.Node))); err != nil {
		return fmt.Errorf("sim: wiping %s: %w", n.spec.ID, err)
	}
	n.v = nil
	for _, c := range n.pending {
		r.hidden[c]--
	}
	n.pending, n.unacked = nil, nil
	r.wiped = append(r.wiped, w)
	return nil
}

// barrier ends a tick: every node with a link uploads its journal and the
// hub acknowledges it; then the clock moves to the tick's end and every
// such node applies the hub's state up to it. So a node with a link
// decides the next tick's taps on everything the hub knew at the tick's
// end (sales, blocks, other nodes' visits).
func (r *runner) barrier(ctx context.Context, end time.Time) error {
	if r.hubDown {
		r.clock.Set(end)
		return nil
	}
	var online []*simNode
	for _, n := range r.nodes {
		if !n.cut {
			online = append(online, n)
		}
	}
	// The hub journals the tick's uploads at its end (a heartbeat then
	// may precede them: nodes wait for the one at the end, below).
	r.clock.Set(end.Add(-time.Millisecond))
	err := r.eachNode(ctx, online, func(ctx context.Context, n *simNode) error {
		last, err := n.Ledger.LastJournalSeq()
		if err != nil {
			return err
		}
		deadline := time.Now().Add(r.opts.WaitMax)
		for {
			wctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			err := n.Sync.WaitAcked(wctx, last)
			cancel()
			if err == nil {
				return nil
			}
			if ctx.Err() != nil || time.Now().After(deadline) {
				return r.violation("catch-up", "node %s: its taps do not reach the hub: %v", n.spec.ID, err)
			}
			// An acknowledgement lost on the way (the node would ask at
			// its next report, a simulated minute away): have it upload
			// its journal again, which the hub recognizes.
			r.nudge(n)
		}
	})
	if err != nil {
		return err
	}
	r.clock.Set(end)
	asOf := r.clock.Now()
	err = r.eachNode(ctx, online, func(ctx context.Context, n *simNode) error {
		wctx, cancel := context.WithTimeout(ctx, r.opts.WaitMax)
		defer cancel()
		if err := n.Sync.WaitState(wctx, asOf); err != nil {
			return r.violation("catch-up", "node %s: the hub's state does not come down: %v", n.spec.ID, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if q := r.hub.Hub.Stats.Quarantined.Load(); q > 0 {
		return r.violation("nothing quarantined", "the hub quarantined %d records", q)
	}
	for _, n := range online {
		n.offline = false
		for _, i := range n.unacked {
			r.taps[i].ackedAt = end
		}
		n.unacked = nil
		for _, c := range n.pending {
			r.hidden[c]--
		}
		n.pending = nil
		if n.upFault >= 0 {
			r.catchUps = append(r.catchUps, CatchUp{Node: n.spec.ID, Fault: n.upFault, Backlog: n.backlog, Seconds: time.Since(n.upAt).Seconds()})
			n.upFault, n.backlog = -1, 0
		}
	}
	return nil
}

func (r *runner) nudge(n *simNode) {
	r.mu.Lock()
	r.nudges++
	r.mu.Unlock()
	n.Sync.Rewind()
}

// epochSource is a seeded source of a node ledger's epoch.
func epochSource(seed, i uint64) *rand.ChaCha8 {
	var b [32]byte
	for j := range 8 {
		b[j], b[8+j] = byte(seed>>(8*j)), byte(i>>(8*j))
	}
	return rand.NewChaCha8(b)
}
