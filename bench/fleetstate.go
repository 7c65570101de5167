package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/node"
	"github.com/citypass/citypass/ledger"
)

// fleetStateCards is how many passes the hub of parts block and behind has
// sold before its nodes start (the blocked cards are among them).
const fleetStateCards = 64

// fleetStateHub builds a hub ledger in dir/ledger with fleetStateCards
// passes sold (and the tariff stored, so that a node's first snapshot
// brings it) and starts a hub child on it with the nodes of spec.
func fleetStateHub(ctx context.Context, env Env, dir string, spec hubSpec) (*hubChild, error) {
	f, err := openFixture(filepath.Join(dir, "ledger"), fleetStateCards, true)
	if err != nil {
		return nil, err
	}
	err = f.storeTariff(ctx)
	if err == nil {
		err = f.sell(ctx, 0, fleetStateCards, 8)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return startHubChild(env, dir, spec)
}

// stateNode is a node of parts block and behind: its ledger, a validator,
// and its whole sync (uplink and state downlink).
type stateNode struct{ syncedNode }

func (n *stateNode) start(url string) error { return n.syncedNode.start(url, node.Config{}) }

func (n *stateNode) waitRev(ctx context.Context, rev uint64) error {
	for {
		cur := n.sync.State()
		if cur.HubEpoch != 0 && cur.Rev >= rev {
			return nil
		}
		if err := n.sync.WaitStream(ctx, cur.StreamSeq+1); err != nil {
			return err
		}
	}
}

// fleetBlockRuns measures part block: BlockNodes nodes (ledgers in memory,
// each with its own connection and its whole sync) load the hub's state
// and follow it; then, one after another, Blocks cards are blocked at the
// hub in each run. For each block and node the time runs from just before
// the parent asks the hub to block the card until a tap of that card at
// the node (a Validate on the node's ledger) is denied BLOCKED; the node
// taps once it has applied the block's revision. Each run's p99 and max
// are over its nodes × blocks; the result has their medians. The hub
// ledger and JetStream are on disk, every write synced, as in `citypass
// hub`.
func fleetBlockRuns(ctx context.Context, env Env, cfg FleetConfig, res *FleetResult) (err error) {
	dir := filepath.Join(env.Dir, "fleet-block")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	if cfg.Blocks*env.runs() > fleetStateCards {
		return fmt.Errorf("bench: fleet: %d blocks in %d runs need more than the hub's %d cards", cfg.Blocks, env.runs(), fleetStateCards)
	}
	_, cat, err := sampleCatalog()
	if err != nil {
		return err
	}
	op, err := newHubOperator()
	if err != nil {
		return err
	}
	spec := hubSpec{Nodes: map[string]string{}, Operator: op.pub}
	nodes := make([]*stateNode, 0, cfg.BlockNodes)
	defer func() {
		for _, n := range nodes {
			if cerr := n.close(); err == nil && cerr != nil {
				err = cerr
			}
		}
	}()
	for i := range cfg.BlockNodes {
		n := &stateNode{syncedNode{id: fleetNodeID(i)}}
		if n.l, err = ledger.Open("/node", &ledger.Options{FS: vfs.NewMem()}); err != nil {
			return err
		}
		nodes = append(nodes, n)
		if n.v, err = engine.New(n.l, cat, nil); err != nil {
			return err
		}
		var pub string
		if n.creds, pub, err = natsio.NewCredentials(n.id, nil, ""); err != nil {
			return err
		}
		spec.Nodes[n.id] = pub
	}
	h, err := fleetStateHub(ctx, env, dir, spec)
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			h.kill()
		}
	}()
	if err := op.connect(h.url); err != nil {
		return err
	}
	defer op.close()
	start := time.Now()
	for _, n := range nodes {
		if err := n.start(h.url); err != nil {
			return err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	err = forEachState(nodes, func(n *stateNode) error { return n.sync.WaitStream(wctx, 0) })
	cancel()
	if err != nil {
		return fmt.Errorf("bench: fleet block: nodes loading the hub's state: %w", err)
	}
	env.logf("fleet block: %d nodes loaded the hub's state in %.1f s", len(nodes), time.Since(start).Seconds())

	t, _, err := sampleCatalog()
	if err != nil {
		return err
	}
	at := t.EffectiveFrom.Add(25 * time.Hour) // an hour after the sale (openFixture's base)
	var p50, p99, pmax []float64
	for run := range env.runs() {
		load := loadAvg()
		res.StateLoadAvg = append(res.StateLoadAvg, load)
		lat := NewLatencies(cfg.Blocks * len(nodes))
		for b := range cfg.Blocks {
			card := cardUID(run*cfg.Blocks + b)
			t0 := time.Now()
			rev, err := op.do(ctx, "block", hubCommand{Card: card}, time.Minute)
			if err != nil {
				return err
			}
			var mu sync.Mutex
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			err = forEachState(nodes, func(n *stateNode) error {
				if err := n.waitRev(wctx, rev); err != nil {
					return err
				}
				r, err := n.v.Validate(wctx, engine.Tap{ID: engine.TapID{Device: n.id}, Card: card, Gate: benchGate, At: at})
				if err != nil {
					return err
				}
				d := time.Since(t0)
				if r.Decision.Accept || r.Decision.Reason != engine.ReasonBlocked {
					return fmt.Errorf("a tap of card %s blocked at the hub (revision %d) was not denied BLOCKED: %s", card, rev, r.Decision.Reason)
				}
				mu.Lock()
				lat.Add(d)
				mu.Unlock()
				return nil
			})
			cancel()
			if err != nil {
				return fmt.Errorf("bench: fleet block: %w", err)
			}
		}
		p50, p99, pmax = append(p50, millis(lat.P(50))), append(p99, millis(lat.P(99))), append(pmax, millis(lat.P(100)))
		res.BlockSamples = lat.Len()
		env.logf("fleet block run %d (load %.2f): %d blocks at the hub, every one of %d nodes denies: p50 %.1f ms, p99 %.1f ms, max %.1f ms",
			run+1, load, cfg.Blocks, len(nodes), millis(lat.P(50)), millis(lat.P(99)), millis(lat.P(100)))
	}
	m, err := h.mem()
	if err != nil {
		return err
	}
	// The nodes go before the hub: a connection the server drops makes
	// nats.go write its error to stderr.
	if err := forEachState(nodes, (*stateNode).stop); err != nil {
		return err
	}
	stopped = true
	_, peak, err := h.stop()
	if err != nil {
		return err
	}
	res.BlockNodes = len(nodes)
	res.BlockP50ms, res.BlockP99ms, res.BlockMaxMs = round(Median(p50), 1), round(Median(p99), 1), round(Median(pmax), 1)
	res.BlockHubRSSMB, res.BlockHubPeakRSSMB = round(float64(m.RSSBytes)/(1<<20), 1), round(peak, 1)
	env.logf("fleet block: hub RSS with %d nodes following its state %.0f MB, peak %.0f MB", len(nodes), res.BlockHubRSSMB, peak)
	return nil
}

// fleetBehindRuns measures part behind: a node (its ledger on disk, every
// commit synced, as a gate's) loads the hub's state and goes offline; the
// hub then sells BehindUpdates passes, each sale its own transaction and
// so its own revision and state stream message (a pass and a card). Each
// run starts the node from a copy of its ledger as it went offline and
// times it from its start (connecting included) until it has applied the
// stream's last message, then checks that it holds the last pass sold.
// The CPU time this process used meanwhile (the node's: nothing else runs
// here then) is reported beside it, as the wall time depends on what else
// the machine runs.
// The hub's ledger and JetStream store are on /dev/shm when there is one:
// the hub is another machine, and 100,000 fsynced publishes on this disk
// would take minutes of setup without changing what the node reads.
// Six hours of heartbeats (2,160 messages without items) are not in the
// stream.
func fleetBehindRuns(ctx context.Context, env Env, cfg FleetConfig, res *FleetResult) (err error) {
	dir := filepath.Join(env.Dir, "fleet-behind")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	defer os.RemoveAll(dir)
	hubDir, _, err := hubScratchDir(dir)
	if err != nil {
		return err
	}
	defer os.RemoveAll(hubDir)
	op, err := newHubOperator()
	if err != nil {
		return err
	}
	n := &stateNode{syncedNode{id: fleetNodeID(0)}}
	var pub string
	if n.creds, pub, err = natsio.NewCredentials(n.id, nil, ""); err != nil {
		return err
	}
	// The updates of hours come one to a state message: the bench makes
	// them in seconds, which the hub would otherwise send together.
	h, err := fleetStateHub(ctx, env, hubDir, hubSpec{Nodes: map[string]string{n.id: pub}, Operator: op.pub, RevisionsPerMessage: 1})
	if err != nil {
		return err
	}
	stopped := false
	defer func() {
		if !stopped {
			h.kill()
		}
	}()
	if err := op.connect(h.url); err != nil {
		return err
	}
	defer op.close()

	// The node loads the hub's state and goes offline.
	offline := filepath.Join(dir, "offline")
	if n.l, err = ledger.Open(offline, nil); err != nil {
		return err
	}
	err = n.start(h.url)
	if err == nil {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = n.sync.WaitStream(wctx, 0)
		cancel()
	}
	if cerr := n.close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: fleet behind: the node loading the hub's state: %w", err)
	}
	l, err := ledger.Open(offline, &ledger.Options{MustExist: true, ReadOnly: true})
	if err != nil {
		return err
	}
	from, err := node.ReadStateCursor(l)
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}

	// The hub's updates while the node is away.
	start := time.Now()
	rev, err := op.do(ctx, "sell", hubCommand{From: fleetStateCards, N: cfg.BehindUpdates}, 30*time.Minute)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
	last, err := op.published(wctx, rev)
	cancel()
	if err != nil {
		return err
	}
	res.BehindUpdates, res.BehindMessages = cfg.BehindUpdates, last-from.StreamSeq
	env.logf("fleet behind: the hub made %d updates (%d state messages after the node's) in %.1f s", cfg.BehindUpdates, res.BehindMessages, time.Since(start).Seconds())

	lastCard := cardUID(fleetStateCards + cfg.BehindUpdates - 1)
	var secs, cpus []float64
	for run := range env.runs() {
		load := loadAvg()
		res.StateLoadAvg = append(res.StateLoadAvg, load)
		copyDir := filepath.Join(dir, fmt.Sprintf("run%d", run))
		if err := checkpoint(offline, copyDir); err != nil {
			return err
		}
		n := &stateNode{syncedNode{id: n.id, creds: n.creds}}
		if n.l, err = ledger.Open(copyDir, &ledger.Options{MustExist: true}); err != nil {
			return err
		}
		cpu0, _ := CPUSeconds(0)
		t0 := time.Now()
		err = n.start(h.url)
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
			err = n.sync.WaitStream(wctx, last)
			cancel()
		}
		d := time.Since(t0)
		cpu, _ := CPUSeconds(0)
		if err == nil {
			err = n.l.View(ctx, func(r engine.Reader) error {
				c, ok, err := r.Card(lastCard)
				if err == nil && (!ok || len(c.Passes) == 0) {
					err = fmt.Errorf("the node is current but does not hold card %s sold at the hub", lastCard)
				}
				return err
			})
		}
		if cerr := n.close(); err == nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("bench: fleet behind: %w", err)
		}
		if err := os.RemoveAll(copyDir); err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		secs, cpus = append(secs, d.Seconds()), append(cpus, cpu-cpu0)
		env.logf("fleet behind run %d (load %.2f): a node %d messages behind is current in %.2f s (its CPU %.1f s)", run+1, load, res.BehindMessages, d.Seconds(), cpu-cpu0)
	}
	stopped = true
	if _, _, err := h.stop(); err != nil {
		return err
	}
	res.BehindS, res.BehindCPUS = round(Median(secs), 2), round(Median(cpus), 2)
	return nil
}

// forEachState runs fn on every node concurrently and returns the errors.
func forEachState(nodes []*stateNode, fn func(*stateNode) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(n); err != nil {
				errs[i] = fmt.Errorf("node %s: %w", n.id, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
