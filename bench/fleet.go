package bench

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/node"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// FleetConfig configures workload `fleet` (a hub and its nodes,
// docs/fleet.md). Zero values take the defaults given.
type FleetConfig struct {
	Quick bool
	// Nodes reconnect at once holding Backlog offline taps each (catch-up),
	// then tap at OnlineRate taps/s in all for OnlineFor (online). Default
	// 200 nodes of 5,000 taps, 400 taps/s for 20 s; Quick 8 of 500, 100
	// taps/s for 2 s.
	Nodes, Backlog int
	OnlineRate     float64
	OnlineFor      time.Duration
	// RSSNodes is how many nodes are connected when the hub's memory is
	// read: the Nodes above and RSSNodes−Nodes more, which join after the
	// online phase and tap at OnlineRate in all for RSSFor. Default 500
	// for 5 s; Quick 20 for 1 s.
	RSSNodes int
	RSSFor   time.Duration
	// CostTaps is how many taps one run of the node cost times on each side
	// (the node's sync running, and not), in blocks of CostBlock taps that
	// alternate. Default 3000 in blocks of 500; Quick 300 in blocks of 100.
	CostTaps, CostBlock int
	// HubWorkers, HubFetchMax and HubFetchWait tune the hub's ingest
	// (hub.Config); NodeBatch the nodes' uploads (node.Config.BatchMax).
	// Zero: the fleet's defaults.
	HubWorkers, HubFetchMax int
	HubFetchWait            time.Duration
	NodeBatch               int
	// BlockNodes follow the hub's state when Blocks cards are blocked at
	// the hub, one after another, in each run; default 500 nodes, 3 blocks;
	// Quick 20 nodes, 2 blocks.
	BlockNodes, Blocks int
	// BehindUpdates is how many state updates (sales at the hub, each its
	// own revision) a node that was away catches up with; default 100,000,
	// Quick 2,000.
	BehindUpdates int
	// Parts restricts a run to some of "catchup", "online", "rss", "cost",
	// "block" and "behind" (online and rss need catchup); empty runs all.
	Parts []string
}

// Fleet parts.
const (
	fleetCatchup = "catchup"
	fleetOnline  = "online"
	fleetRSS     = "rss"
	fleetCost    = "cost"
	fleetBlock   = "block"
	fleetBehind  = "behind"
)

// FleetParts lists the parts of workload fleet (FleetConfig.Parts).
var FleetParts = []string{fleetCatchup, fleetOnline, fleetRSS, fleetCost, fleetBlock, fleetBehind}

func (c FleetConfig) withDefaults() FleetConfig {
	def := func(v *int, full, quick int) {
		if *v <= 0 {
			*v = full
			if c.Quick {
				*v = quick
			}
		}
	}
	def(&c.Nodes, 200, 8)
	def(&c.Backlog, 5000, 500)
	def(&c.RSSNodes, 500, 20)
	def(&c.CostTaps, 3000, 300)
	def(&c.CostBlock, 500, 100)
	def(&c.BlockNodes, 500, 20)
	def(&c.Blocks, 3, 2)
	def(&c.BehindUpdates, 100_000, 2_000)
	if c.OnlineRate <= 0 {
		c.OnlineRate = 400
		if c.Quick {
			c.OnlineRate = 100
		}
	}
	if c.OnlineFor <= 0 {
		c.OnlineFor = 20 * time.Second
		if c.Quick {
			c.OnlineFor = 2 * time.Second
		}
	}
	if c.RSSFor <= 0 {
		c.RSSFor = 5 * time.Second
		if c.Quick {
			c.RSSFor = time.Second
		}
	}
	return c
}

func (c FleetConfig) wants(part string) bool {
	if len(c.Parts) == 0 {
		return true
	}
	for _, p := range c.Parts {
		if p == part || (part == fleetCatchup && (p == fleetOnline || p == fleetRSS)) {
			return true
		}
	}
	return false
}

// CheckFleetParts validates names for FleetConfig.Parts.
func CheckFleetParts(names []string) error {
	for _, n := range names {
		if !slices.Contains(FleetParts, n) {
			return fmt.Errorf("bench: unknown fleet part %q (have %s)", n, strings.Join(FleetParts, ", "))
		}
	}
	return nil
}

// fleetTapsPerCard is how many offline taps each card of a node's backlog
// has; the node taps its cards round-robin, as a gate does, so one upload
// of 1000 records touches 1000/fleetTapsPerCard... distinct passes at most.
const fleetTapsPerCard = 10

// fleetExtraCards is how many cards each node that only joins for the RSS
// reading holds.
const fleetExtraCards = 50

// FleetResult is workload `fleet`: medians over the runs.
type FleetResult struct {
	Nodes   int `json:"nodes"`
	Backlog int `json:"backlog_per_node"`
	// Catch-up: every node reconnects at once with its backlog; the time
	// until the hub has acknowledged (made durable) every record.
	CatchupTaps     int     `json:"catchup_taps"`
	CatchupS        float64 `json:"catchup_s"`
	CatchupTapsPerS float64 `json:"catchup_taps_per_s"`
	// Online: taps at OnlineRate city-wide; each tap's time from the start
	// of its Validate at the node until the node hears the hub's
	// acknowledgement covering it (which the hub sends after its ledger
	// commit): tap-to-hub-durable, from above.
	OnlineRate  float64 `json:"online_rate"`
	OnlineTaps  int     `json:"online_taps"`
	OnlineP50ms float64 `json:"online_p50_ms"`
	OnlineP99ms float64 `json:"online_p99_ms"`
	OnlineMaxMs float64 `json:"online_max_ms"`
	// Hub memory: VmRSS of the hub process with RSSNodes connected and
	// tapping, and its peak (VmHWM) over the whole run, catch-up included.
	RSSNodes     int     `json:"rss_nodes"`
	HubRSSMB     float64 `json:"hub_rss_mb"`
	HubPeakRSSMB float64 `json:"hub_peak_rss_mb"`
	// Node cost: gate1's tap (on disk, synced) with the node's sync to a
	// hub running and without, alternated in blocks.
	CostP50us     float64 `json:"cost_p50_us"`
	CostSyncP50us float64 `json:"cost_sync_p50_us"`
	CostRatio     float64 `json:"cost_ratio"` // CostSyncP50us / CostP50us
	CostP99us     float64 `json:"cost_p99_us"`
	CostSyncP99us float64 `json:"cost_sync_p99_us"`
	CostTaps      int     `json:"cost_taps"`
	CostHubStore  string  `json:"cost_hub_store,omitempty"`
	// Block: a card blocked at the hub while BlockNodes nodes follow its
	// state; each node's time from the block's request until a tap of the
	// card at the node is denied BLOCKED (p99 and max over the nodes and
	// the run's blocks). BlockHubPeakRSSMB is that hub's peak RSS, its
	// nodes each reading the state stream.
	BlockNodes        int     `json:"block_nodes"`
	BlockSamples      int     `json:"block_samples"`
	BlockP50ms        float64 `json:"block_p50_ms"`
	BlockP99ms        float64 `json:"block_p99_ms"`
	BlockMaxMs        float64 `json:"block_max_ms"`
	BlockHubRSSMB     float64 `json:"block_hub_rss_mb"`
	BlockHubPeakRSSMB float64 `json:"block_hub_peak_rss_mb"`
	// Behind: a node (its ledger on disk, synced) back after BehindUpdates
	// state updates at the hub (BehindMessages stream messages); the time
	// from its start until it has applied the stream's last message.
	BehindUpdates  int     `json:"behind_updates"`
	BehindMessages uint64  `json:"behind_messages"`
	BehindS        float64 `json:"behind_s"`
	BehindCPUS     float64 `json:"behind_cpu_s"` // this process's CPU time meanwhile
	// LoadAvg is /proc/loadavg's 1-minute figure at the start of each run
	// of catch-up, online, memory and cost; StateLoadAvg at the start of
	// each run of block, then of behind.
	LoadAvg      []float64 `json:"loadavg"`
	StateLoadAvg []float64 `json:"state_loadavg,omitempty"`
	// BuildS is the time to build the hub ledger and the nodes' journals.
	BuildS float64 `json:"build_s"`
}

// RunFleet measures a hub and its nodes over NATS JetStream on 127.0.0.1
// (docs/fleet.md): the hub runs in a child process (its ledger on disk,
// every commit synced, with the change log its publisher sends down;
// JetStream fsyncing every write), so that its memory is its own; the
// nodes run in this process, each a ledger with a nats.go connection and
// the node's sync, as fleettest's loopback harness runs them.
//
// First every run of (1) node cost: the gate1 tap with and without a
// node's sync running, in alternated blocks, before the node journals of
// the next parts fill this process. Then each run: (2) catch-up: Nodes
// nodes, each holding Backlog taps journaled offline, start at once; timed
// until the hub acknowledged every record. (3) online: the same nodes tap
// at OnlineRate; each tap's latency to the hub's acknowledgement. (4)
// memory: RSSNodes−Nodes more nodes join and all tap for RSSFor; the hub's
// VmRSS then, and its peak. Then, on hubs of their own: (5) block:
// BlockNodes nodes following the hub's state until each denies a card
// blocked at the hub (fleetBlockRuns); (6) behind: a node back after
// BehindUpdates state updates, until it is current (fleetBehindRuns).
func RunFleet(ctx context.Context, env Env, cfg FleetConfig) (*FleetResult, error) {
	cfg = cfg.withDefaults()
	if err := CheckFleetParts(cfg.Parts); err != nil {
		return nil, err
	}
	if cfg.Backlog%fleetTapsPerCard != 0 {
		return nil, fmt.Errorf("bench: fleet: a backlog of %d is not a multiple of %d taps per card", cfg.Backlog, fleetTapsPerCard)
	}
	if cfg.RSSNodes < cfg.Nodes {
		cfg.RSSNodes = cfg.Nodes
	}
	if env.Child == nil {
		return nil, errNoChild
	}
	res := &FleetResult{Nodes: cfg.Nodes, Backlog: cfg.Backlog, OnlineRate: cfg.OnlineRate, RSSNodes: cfg.RSSNodes}
	var cost50, sync50, cost99, sync99, ratios []float64
	// The node cost runs first, before the other parts' node journals are
	// built: a gate's process holds its own ledger, not the other nodes'
	// journals (gigabytes) that every GC during its taps would mark.
	for run := 0; run < env.runs() && cfg.wants(fleetCost); run++ {
		load := loadAvg()
		if !cfg.wants(fleetCatchup) {
			res.LoadAvg = append(res.LoadAvg, load)
		}
		env.logf("fleet cost run %d: load average %.2f", run+1, load)
		plain, synced, store, err := fleetCostRun(ctx, env, cfg, run)
		if err != nil {
			return nil, err
		}
		res.CostHubStore = store
		cost50, sync50 = append(cost50, us(plain.P(50))), append(sync50, us(synced.P(50)))
		cost99, sync99 = append(cost99, us(plain.P(99))), append(sync99, us(synced.P(99)))
		ratios = append(ratios, us(synced.P(50))/us(plain.P(50)))
		env.logf("fleet run %d: node cost: tap p50 %.0f µs with sync, %.0f µs without (%.3f); p99 %.0f / %.0f µs",
			run+1, us(synced.P(50)), us(plain.P(50)), ratios[len(ratios)-1], us(synced.P(99)), us(plain.P(99)))
	}
	var fx *fleetFixture
	if cfg.wants(fleetCatchup) {
		var err error
		start := time.Now()
		if fx, err = buildFleet(ctx, env, cfg); err != nil {
			return nil, err
		}
		res.BuildS = round(time.Since(start).Seconds(), 1)
	}
	var rate, secs, p50, p99, pmax, rss, peak []float64
	for run := 0; run < env.runs() && fx != nil; run++ {
		load := loadAvg()
		res.LoadAvg = append(res.LoadAvg, load)
		env.logf("fleet run %d: load average %.2f", run+1, load)
		r, err := fx.run(ctx, env, cfg, run)
		if err != nil {
			return nil, err
		}
		rate, secs = append(rate, r.catchupRate), append(secs, r.catchupS)
		if cfg.wants(fleetOnline) {
			p50, p99, pmax = append(p50, r.online.P(50).Seconds()*1e3), append(p99, r.online.P(99).Seconds()*1e3), append(pmax, r.online.P(100).Seconds()*1e3)
			res.OnlineTaps = r.online.Len()
		}
		if cfg.wants(fleetRSS) {
			rss = append(rss, r.rssMB)
		}
		peak = append(peak, r.peakMB)
	}
	if fx != nil {
		res.CatchupTaps = cfg.Nodes * cfg.Backlog
		res.CatchupTapsPerS = round(Median(rate), 0)
		res.CatchupS = round(Median(secs), 2)
		res.OnlineP50ms, res.OnlineP99ms, res.OnlineMaxMs = round(Median(p50), 1), round(Median(p99), 1), round(Median(pmax), 1)
		res.HubRSSMB, res.HubPeakRSSMB = round(Median(rss), 1), round(Median(peak), 1)
	}
	if len(cost50) > 0 {
		res.CostP50us, res.CostSyncP50us = round(Median(cost50), 1), round(Median(sync50), 1)
		res.CostP99us, res.CostSyncP99us = round(Median(cost99), 1), round(Median(sync99), 1)
		res.CostRatio = round(res.CostSyncP50us/res.CostP50us, 3)
		res.CostTaps = cfg.CostTaps
	}
	fx = nil // the node journals can go before the state parts
	if cfg.wants(fleetBlock) {
		if err := fleetBlockRuns(ctx, env, cfg, res); err != nil {
			return nil, err
		}
	}
	if cfg.wants(fleetBehind) {
		if err := fleetBehindRuns(ctx, env, cfg, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// loadAvg returns the 1-minute load average (0 when unknown).
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// fleetFixture is what every run starts from: the hub ledger (every node's
// passes and cards sold, no taps), and each node's ledger on an in-memory
// file system (its passes and cards, and for the first cfg.Nodes its
// backlog of offline taps), closed; a run works on copies.
type fleetFixture struct {
	dir   string // the hub ledger
	spec  *bulkSpec
	cat   *tariff.Catalog
	nodes []*fleetNodeTemplate
}

type fleetNodeTemplate struct {
	id    string
	fs    *vfs.MemFS
	cards []int // card indexes (cardUID, the pass of bulkSpec.sold)
	taps  int   // offline taps per card
}

func fleetNodeID(i int) string { return fmt.Sprintf("node-%03d", i) }

// buildFleet builds the fixture: the hub ledger by BuildLedger's bulk path
// (sales only), and the nodes' journals by the same path node by node: each
// node's taps decided by engine.Decide round-robin over its cards and
// written with Txn.PutTap through the node ledger's own Update (NoSync:
// setup, not measurement).
func buildFleet(ctx context.Context, env Env, cfg FleetConfig) (*fleetFixture, error) {
	cardsPer := cfg.Backlog / fleetTapsPerCard
	if cardsPer == 0 {
		cardsPer = fleetExtraCards
	}
	extra := cfg.RSSNodes - cfg.Nodes
	passes := cfg.Nodes*cardsPer + extra*fleetExtraCards
	hubDir := filepath.Join(env.Dir, "fleet-hub", "ledger")
	if _, err := BuildLedger(ctx, env, hubDir, passes, 0); err != nil {
		return nil, err
	}
	t, cat, err := sampleCatalog()
	if err != nil {
		return nil, err
	}
	base := t.EffectiveFrom.Add(24 * time.Hour) // as openFixture
	spec, err := newBulkSpec(t, base, fleetTapsPerCard)
	if err != nil {
		return nil, err
	}
	fx := &fleetFixture{dir: hubDir, spec: spec, cat: cat}
	for i := 0; i < cfg.RSSNodes; i++ {
		nt := &fleetNodeTemplate{id: fleetNodeID(i), fs: vfs.NewCrashableMem()}
		if i < cfg.Nodes {
			nt.taps = fleetTapsPerCard
			for c := range cardsPer {
				nt.cards = append(nt.cards, i*cardsPer+c)
			}
		} else {
			for c := range fleetExtraCards {
				nt.cards = append(nt.cards, cfg.Nodes*cardsPer+(i-cfg.Nodes)*fleetExtraCards+c)
			}
		}
		fx.nodes = append(fx.nodes, nt)
	}
	start := time.Now()
	var next atomic.Int64
	errs := make([]error, bulkWorkers)
	var wg sync.WaitGroup
	for w := range bulkWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(fx.nodes) || ctx.Err() != nil {
					return
				}
				if err := fx.buildNode(ctx, fx.nodes[i]); err != nil {
					errs[w] = err
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	env.logf("fleet: built %d node journals (%d with %d offline taps) in %.1f s", len(fx.nodes), cfg.Nodes, cfg.Backlog, time.Since(start).Seconds())
	return fx, nil
}

// buildNode writes node nt's ledger: its cards' passes and cards as the
// hub sold them (what the state downflow brings), then nt.taps taps per
// card, round-robin over the cards.
func (fx *fleetFixture) buildNode(ctx context.Context, nt *fleetNodeTemplate) error {
	l, err := ledger.Open("/node", &ledger.Options{FS: nt.fs, NoSync: true})
	if err != nil {
		return err
	}
	err = l.PutTariff(ctx, fx.spec.t.ID, fx.spec.t.Source())
	passes := make([]engine.Pass, len(nt.cards))
	cards := make([]engine.Card, len(nt.cards))
	usage := make([]engine.Usage, len(nt.cards))
	for j, i := range nt.cards {
		passes[j], cards[j] = fx.spec.sold(i)
	}
	var seq uint64
	for k := 0; k < nt.taps && err == nil; k++ {
		err = l.Update(ctx, func(tx engine.Txn) error {
			s := seq
			for j, i := range nt.cards {
				s++
				rec, err := fx.spec.decide(fx.spec.tap(i, k, nt.id, s), &passes[j], &cards[j], &usage[j])
				if err != nil {
					return err
				}
				if err := tx.PutTap(&rec); err != nil {
					return err
				}
			}
			seq = s
			return nil
		})
	}
	if err == nil {
		err = l.Update(ctx, func(tx engine.Txn) error {
			for j := range nt.cards {
				if err := tx.PutPass(passes[j]); err != nil {
					return err
				}
				if err := tx.PutCard(cards[j]); err != nil {
					return err
				}
				if nt.taps > 0 {
					if err := tx.PutUsage(passes[j].ID, usage[j]); err != nil {
						return err
					}
				}
			}
			return nil
		})
	}
	if cerr := l.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("bench: building node %s: %w", nt.id, err)
	}
	return nil
}

// fleetNode is a running node of a fleet run.
type fleetNode struct {
	syncedNode
	t    *fleetNodeTemplate
	next int // next card (index into t.cards) to tap
	taps int // taps per card done (all cards of a round alike)
}

// open opens a copy of the node's template ledger.
func (fx *fleetFixture) open(nt *fleetNodeTemplate) (*fleetNode, error) {
	fs := nt.fs.CrashClone(vfs.CrashCloneCfg{}) // the closed ledger: all synced
	l, err := ledger.Open("/node", &ledger.Options{FS: fs, MustExist: true})
	if err != nil {
		return nil, fmt.Errorf("bench: opening node %s: %w", nt.id, err)
	}
	v, err := engine.New(l, fx.cat, nil)
	if err != nil {
		_ = l.Close()
		return nil, err
	}
	return &fleetNode{syncedNode: syncedNode{id: nt.id, l: l, v: v}, t: nt, taps: nt.taps}, nil
}

// start connects the node to the hub and starts its uplink (it returns at
// once: the connection comes up in the background). The node does not
// follow the hub's state (node.Config.NoStateDown): hundreds of nodes each
// applying every revision of the catch-up would charge them all to this
// machine's two cores, where a city's nodes each have their own; the hub
// still publishes every revision, and part "block" measures the state
// going down to 500 nodes.
func (n *fleetNode) start(url string, cfg FleetConfig) error {
	return n.syncedNode.start(url, node.Config{BatchMax: cfg.NodeBatch, NoStateDown: true})
}

func (n *fleetNode) tap(ctx context.Context, spec *bulkSpec, seq uint64) error {
	if n.taps >= maxTapsPerCard {
		return fmt.Errorf("bench: node %s: its cards would be tapped past their validity", n.t.id)
	}
	tap := spec.tap(n.t.cards[n.next], n.taps, n.t.id, 0) // seq 0: the ledger numbers it
	if n.next++; n.next == len(n.t.cards) {
		n.next, n.taps = 0, n.taps+1
	}
	res, err := n.v.Validate(ctx, tap)
	if err != nil {
		return fmt.Errorf("bench: node %s: %w", n.t.id, err)
	}
	if !res.Decision.Accept {
		return fmt.Errorf("bench: node %s: tap on card %s denied: %s", n.t.id, tap.Card, res.Decision.Reason)
	}
	if res.JournalSeq != seq {
		return fmt.Errorf("bench: node %s: tap journaled as seq %d, want %d", n.t.id, res.JournalSeq, seq)
	}
	return nil
}

// fleetRun is what one run measured.
type fleetRun struct {
	catchupS, catchupRate float64
	online                *Latencies
	rssMB, peakMB         float64
}

// run is one run of catch-up, online and memory on copies of the fixture.
func (fx *fleetFixture) run(ctx context.Context, env Env, cfg FleetConfig, run int) (out *fleetRun, err error) {
	out = &fleetRun{}
	dir := filepath.Join(env.Dir, "fleet-run"+strconv.Itoa(run))
	if err := checkpoint(fx.dir, filepath.Join(dir, "ledger")); err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	spec := hubSpec{Nodes: map[string]string{}, Workers: cfg.HubWorkers, FetchMax: cfg.HubFetchMax, FetchWait: cfg.HubFetchWait}
	nodes := make([]*fleetNode, 0, len(fx.nodes))
	defer func() {
		for _, n := range nodes {
			if cerr := n.close(); err == nil && cerr != nil {
				err = cerr
			}
		}
	}()
	count := cfg.Nodes
	if cfg.wants(fleetRSS) {
		count = len(fx.nodes)
	}
	for _, nt := range fx.nodes[:count] {
		n, err := fx.open(nt)
		if err != nil {
			return nil, err
		}
		nodes = append(nodes, n)
		var pub string
		if n.creds, pub, err = natsio.NewCredentials(nt.id, nil, ""); err != nil {
			return nil, err
		}
		spec.Nodes[nt.id] = pub
	}
	h, err := startHubChild(env, dir, spec)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			h.kill()
		}
	}()

	// Catch-up: every node starts at once; done when the hub has
	// acknowledged every record of every backlog.
	catchup := nodes[:cfg.Nodes]
	hubCPU0, _ := CPUSeconds(h.c.cmd.Process.Pid)
	nodesCPU0, _ := CPUSeconds(0)
	start := time.Now()
	for _, n := range catchup {
		if err := n.start(h.url, cfg); err != nil {
			return nil, err
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Minute)
	err = forEach(catchup, func(n *fleetNode) error {
		return n.sync.WaitAcked(wctx, uint64(len(n.t.cards)*n.t.taps))
	})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("bench: fleet catch-up: %w", err)
	}
	out.catchupS = time.Since(start).Seconds()
	total := cfg.Nodes * cfg.Backlog
	out.catchupRate = float64(total) / out.catchupS
	hubCPU, _ := CPUSeconds(h.c.cmd.Process.Pid)
	nodesCPU, _ := CPUSeconds(0)
	m, _ := h.mem()
	env.logf("fleet run %d: catch-up of %d taps from %d nodes in %.2f s: %.0f taps/s; CPU: hub %.1f s, nodes %.1f s (hub RSS %.0f MB, peak %.0f MB)",
		run+1, total, cfg.Nodes, out.catchupS, out.catchupRate, hubCPU-hubCPU0, nodesCPU-nodesCPU0, float64(m.RSSBytes)/(1<<20), m.MB())

	if cfg.wants(fleetOnline) || cfg.wants(fleetRSS) {
		// The catch-up leaves the hub's Pebble compactions behind it; the
		// online figures are of a hub at its steady state, as the bench's
		// built ledgers are settled before they are measured.
		settled, err := h.settle(ctx)
		if err != nil {
			return nil, err
		}
		env.logf("fleet run %d: the hub settled (its CPU under %.0f %% for %s) in %.1f s", run+1, hubQuietCPU*100, hubQuietFor, settled.Seconds())
	}
	if cfg.wants(fleetOnline) {
		hubCPU0, _ := CPUSeconds(h.c.cmd.Process.Pid)
		onlineStart := time.Now()
		if out.online, err = fx.online(ctx, catchup, cfg.OnlineRate, cfg.OnlineFor); err != nil {
			return nil, err
		}
		hubCPU, _ := CPUSeconds(h.c.cmd.Process.Pid)
		env.logf("fleet run %d: online, %d nodes at %.0f taps/s for %s: %d taps, tap to hub acknowledgement p50 %.1f ms, p99 %.1f ms, max %.1f ms; hub CPU %.2f of a core",
			run+1, len(catchup), cfg.OnlineRate, cfg.OnlineFor, out.online.Len(), millis(out.online.P(50)), millis(out.online.P(99)), millis(out.online.P(100)),
			(hubCPU-hubCPU0)/time.Since(onlineStart).Seconds())
	}

	if cfg.wants(fleetRSS) {
		joining := nodes[cfg.Nodes:]
		for _, n := range joining {
			if err := n.start(h.url, cfg); err != nil {
				return nil, err
			}
		}
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		err = forEach(joining, func(n *fleetNode) error { return waitContact(wctx, n.sync) })
		cancel()
		if err != nil {
			return nil, fmt.Errorf("bench: fleet: nodes joining: %w", err)
		}
		lat, err := fx.online(ctx, nodes, cfg.OnlineRate, cfg.RSSFor)
		if err != nil {
			return nil, err
		}
		m, err := h.mem()
		if err != nil {
			return nil, err
		}
		out.rssMB = float64(m.RSSBytes) / (1 << 20)
		env.logf("fleet run %d: %d nodes connected and tapping (%d taps, p99 %.1f ms): hub RSS %.0f MB",
			run+1, len(nodes), lat.Len(), millis(lat.P(99)), out.rssMB)
	}
	// The nodes go before the hub: a connection the server drops makes
	// nats.go write its error to stderr.
	if err := forEach(nodes, (*fleetNode).stop); err != nil {
		return nil, err
	}
	stopped = true
	rep, peak, err := h.stop()
	if err != nil {
		return nil, err
	}
	out.peakMB = peak
	env.logf("fleet run %d: hub peak RSS %.0f MB; hub ingest: %d uploads, %d records, %d repeats, %d gaps, %d quarantined",
		run+1, peak, rep.Uploads, rep.Records, rep.Repeats, rep.Gaps, rep.Quarantined)
	if rep.Quarantined > 0 || rep.Rejected > 0 || rep.Aliases > 0 {
		return nil, fmt.Errorf("bench: fleet: the hub quarantined %d, rejected %d and aliased %d records of a clean workload", rep.Quarantined, rep.Rejected, rep.Aliases)
	}
	return out, nil
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// forEach runs fn on every node concurrently and returns the errors.
func forEach(nodes []*fleetNode, fn func(*fleetNode) error) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(n); err != nil {
				errs[i] = fmt.Errorf("node %s: %w", n.t.id, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// waitContact waits until the node's first report was answered.
func waitContact(ctx context.Context, n *node.Node) error {
	for n.Status().LastContact.IsZero() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// online has nodes tap at rate taps/s in all for d, each node on its own
// schedule (a tap every len(nodes)/rate seconds from a random phase), and
// returns each tap's time from the start of its Validate until its node
// heard the hub acknowledge it. It waits up to a minute for the last
// acknowledgements; a tap still unacknowledged then counts with the time
// waited.
func (fx *fleetFixture) online(ctx context.Context, nodes []*fleetNode, rate float64, d time.Duration) (*Latencies, error) {
	every := time.Duration(float64(len(nodes)) / rate * float64(time.Second))
	perNode := int(d/every) + 1
	type probe struct {
		base   uint64
		starts []atomic.Int64 // unix nanos of the start of tap k (seq base+1+k)
		n      atomic.Int64   // taps made
		lat    []time.Duration
	}
	probes := make([]*probe, len(nodes))
	for i, n := range nodes {
		last, err := n.l.LastJournalSeq()
		if err != nil {
			return nil, err
		}
		probes[i] = &probe{base: last, starts: make([]atomic.Int64, perNode)}
	}
	tapCtx, stopTaps := context.WithTimeout(ctx, d)
	defer stopTaps()
	// The watchers wait for acknowledgements while the taps go on (taps),
	// then until every tap is acknowledged or the deadline (watch).
	watch, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	taps, tapsDone := context.WithCancel(watch)
	defer tapsDone()
	var tapping, watching sync.WaitGroup
	tapErrs := make([]error, len(nodes))
	rng := rand.New(rand.NewPCG(uint64(len(nodes)), uint64(d)))
	for i, n := range nodes {
		p := probes[i]
		phase := time.Duration(rng.Int64N(int64(every)))
		tapping.Add(1)
		go func() {
			defer tapping.Done()
			begin := time.Now().Add(phase)
			for k := 0; k < perNode; k++ {
				select {
				case <-tapCtx.Done():
					return
				case <-time.After(time.Until(begin.Add(time.Duration(k) * every))):
				}
				p.starts[k].Store(time.Now().UnixNano())
				if err := n.tap(ctx, fx.spec, p.base+uint64(k)+1); err != nil {
					tapErrs[i] = err
					return
				}
				p.n.Store(int64(k + 1))
			}
		}()
		watching.Add(1)
		go func() {
			defer watching.Done()
			next := p.base + 1
			for {
				wait := taps
				if taps.Err() != nil {
					if next > p.base+uint64(p.n.Load()) {
						return // every tap acknowledged
					}
					wait = watch
				}
				err := n.sync.WaitAcked(wait, next)
				now := time.Now()
				acked := min(n.sync.Status().Acked, p.base+uint64(len(p.starts)))
				if watch.Err() != nil {
					acked = p.base + uint64(p.n.Load()) // never acknowledged: counted as waited
				}
				for ; next <= acked; next++ {
					p.lat = append(p.lat, now.Sub(time.Unix(0, p.starts[next-p.base-1].Load())))
				}
				if err != nil && watch.Err() != nil {
					return
				}
			}
		}()
	}
	tapping.Wait()
	tapsDone()
	if err := errors.Join(tapErrs...); err != nil {
		stopWatch()
		watching.Wait()
		return nil, err
	}
	deadline := time.AfterFunc(time.Minute, stopWatch)
	watching.Wait()
	deadline.Stop()
	all := NewLatencies(len(nodes) * perNode)
	for _, p := range probes {
		for _, l := range p.lat {
			all.Add(l)
		}
	}
	return all, nil
}

// fleetCostNode is the node id of the node cost measurement.
const fleetCostNode = "gate-cost"

// fleetCostRun times gate1's tap (Validate on a ledger on disk, every
// commit synced, 1000 passes; Quick 150) with the node's sync to a hub
// running and without. The sync is the whole of it: the uplink, and the
// downlink applying the hub's revisions (the usage the hub merged from the
// node's own uploads) and heartbeats. Blocks of CostBlock taps alternate — with, without,
// without, with, … — so both sides meet the same machine; before a block
// with sync the node's uplink starts and catches up with what the block
// before journaled, so the block's taps run beside an uplink in its steady
// state (polling, reading the journal, uploading, taking the hub's
// acknowledgements). The hub runs in a child process; its ledger and
// JetStream store go to /dev/shm when there is one, since a real hub is
// another machine and its fsyncs would otherwise land on the node's disk
// (store says which). Afterwards the sync runs until the hub holds every
// tap.
func fleetCostRun(ctx context.Context, env Env, cfg FleetConfig, run int) (plain, synced *Latencies, store string, err error) {
	dir := filepath.Join(env.Dir, "fleet-cost"+strconv.Itoa(run))
	defer os.RemoveAll(dir)
	hubDir, store, err := hubScratchDir(dir)
	if err != nil {
		return nil, nil, "", err
	}
	defer os.RemoveAll(hubDir)
	passes := Gate1Config{Quick: cfg.Quick}.passes()
	if (2*cfg.CostTaps+passes-1)/passes > maxTapsPerCard {
		return nil, nil, "", fmt.Errorf("bench: fleet: %d node cost taps exceed %d taps per card", 2*cfg.CostTaps, maxTapsPerCard)
	}
	nodeDir := filepath.Join(dir, "ledger")
	f, err := openFixture(nodeDir, passes, true)
	if err != nil {
		return nil, nil, "", err
	}
	err = f.storeTariff(ctx)
	if err == nil {
		err = f.sell(ctx, 0, passes, 16)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// The hub holds what the node holds: the same passes and cards.
		err = checkpoint(nodeDir, filepath.Join(hubDir, "ledger"))
	}
	if err != nil {
		return nil, nil, "", err
	}
	if f, err = openFixture(nodeDir, passes, false); err != nil {
		return nil, nil, "", err
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	creds, pub, err := natsio.NewCredentials(fleetCostNode, nil, "")
	if err != nil {
		return nil, nil, "", err
	}
	h, err := startHubChild(env, hubDir, hubSpec{Nodes: map[string]string{fleetCostNode: pub}})
	if err != nil {
		return nil, nil, "", err
	}
	defer func() {
		if _, _, serr := h.stop(); err == nil && serr != nil {
			err = serr
		}
	}()
	creds.Hub = []string{h.url}
	conn, err := natsio.Connect(creds, natsio.ConnectOptions{WaitConnected: true})
	if err != nil {
		return nil, nil, "", err
	}
	defer conn.Close()
	startSync := func() (*node.Node, error) {
		n, err := node.Start(node.Config{Ledger: f.l, Node: fleetCostNode, Conn: conn, BatchMax: cfg.NodeBatch})
		if err != nil {
			return nil, err
		}
		last, err := f.l.LastJournalSeq()
		if err == nil {
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			err = n.WaitAcked(wctx, last)
			if err == nil {
				err = n.WaitStream(wctx, 0) // the hub's state loaded (the first time)
			}
			cancel()
		}
		if err != nil {
			_ = n.Close()
			return nil, fmt.Errorf("bench: fleet: node cost: the uplink did not catch up: %w", err)
		}
		return n, nil
	}
	tp := f.newTapper("gate1", 0, 1, 0)
	plain, synced = NewLatencies(cfg.CostTaps), NewLatencies(cfg.CostTaps)
	blocks := 2 * max(1, cfg.CostTaps/cfg.CostBlock)
	for b := range blocks {
		with := b%4 == 0 || b%4 == 3
		into := plain
		var n *node.Node
		if with {
			if n, err = startSync(); err != nil {
				return nil, nil, "", err
			}
			into = synced
		}
		for range cfg.CostBlock {
			t := time.Now()
			if err = tp.tap(ctx); err != nil {
				break
			}
			into.Add(time.Since(t))
		}
		if n != nil {
			if cerr := n.Close(); err == nil {
				err = cerr
			}
		}
		if err != nil {
			return nil, nil, "", err
		}
	}
	// Every tap reaches the hub: the sync was real.
	n, err := startSync()
	if err != nil {
		return nil, nil, "", err
	}
	if err := n.Close(); err != nil {
		return nil, nil, "", err
	}
	return plain, synced, store, nil
}

// hubScratchDir makes the directory of the node cost's hub: under /dev/shm
// (a tmpfs) when there is one, else under dir.
func hubScratchDir(dir string) (path, store string, err error) {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		if p, err := os.MkdirTemp("/dev/shm", "citypass-bench-hub-"); err == nil {
			return p, "tmpfs", nil
		}
	}
	p := filepath.Join(dir, "hub")
	if err := os.MkdirAll(p, 0o755); err != nil {
		return "", "", fmt.Errorf("bench: %w", err)
	}
	return p, "disk", nil
}
