package hub_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/ledger"
)

// ledgerHub feeds a real hub ledger through ApplyBatch; with a crashable
// file system it can crash (keeping only what was synced) and reopen.
type ledgerHub struct {
	t   *testing.T
	fs  *vfs.MemFS
	l   *ledger.Ledger
	now time.Time
}

func newLedgerHub(t *testing.T, sc *fleettest.Scenario) *ledgerHub {
	h := &ledgerHub{t: t, fs: vfs.NewCrashableMem(), now: fleettest.Day.Add(20 * time.Hour)}
	h.open()
	require.NoError(t, h.l.Update(context.Background(), func(tx engine.Txn) error {
		for _, p := range sc.Passes {
			if err := tx.PutPass(p); err != nil {
				return err
			}
			if err := tx.PutUsage(p.ID, engine.Usage{}); err != nil {
				return err
			}
		}
		for _, c := range sc.Cards {
			if err := tx.PutCard(c); err != nil {
				return err
			}
		}
		return nil
	}))
	return h
}

func (h *ledgerHub) open() {
	l, err := ledger.Open("/hub", &ledger.Options{FS: h.fs, Now: func() time.Time { return h.now }})
	require.NoError(h.t, err)
	h.l = l
}

// crash drops everything not synced and reopens the ledger.
func (h *ledgerHub) crash(rng *rand.Rand) {
	crashed := h.fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng})
	require.NoError(h.t, h.l.Close())
	h.fs = crashed
	h.open()
}

func (h *ledgerHub) Ingest(b *fleet.Batch) (bool, uint64, error) {
	h.now = h.now.Add(time.Second)
	a, err := hub.ApplyBatch(context.Background(), h.l, b, h.now)
	return a.Gap, a.NodeEpoch.HighWater, err
}

// digest is the hub ledger's state that must not depend on arrival order.
func (h *ledgerHub) digest() string {
	ctx := context.Background()
	var lines []string
	origins := map[uint64]fleet.Origin{}
	require.NoError(h.t, h.l.Origins(ctx, 1, func(seq uint64, o *fleet.Origin) error { origins[seq] = *o; return nil }))
	require.NoError(h.t, h.l.Journal(ctx, 1, func(r *engine.TapRecord) error {
		o, ok := origins[r.JournalSeq]
		require.True(h.t, ok, "journal seq %d has no origin", r.JournalSeq)
		lines = append(lines, fmt.Sprintf("J %s/%d/%d %s %s %v %s %d %s rec=%s", o.Node, o.Epoch, o.NodeSeq,
			r.ID, r.Card, r.Decision.Accept, r.Decision.Reason, r.Decision.Flags, r.At.Format(time.RFC3339Nano), r.RecordedAt.Format(time.RFC3339Nano)))
		return nil
	}))
	var passes []string
	require.NoError(h.t, h.l.Passes(ctx, func(p *engine.Pass) error {
		passes = append(passes, p.ID)
		lines = append(lines, fmt.Sprintf("P %s %s %s %s", p.ID, p.Status, p.ActivatedAt.Format(time.RFC3339Nano), p.ValidUntil.Format(time.RFC3339Nano)))
		return nil
	}))
	require.NoError(h.t, h.l.Cards(ctx, func(c *engine.Card) error {
		lines = append(lines, fmt.Sprintf("C %s %v %d", c.UID, c.HasCounter, c.LastCounter))
		return nil
	}))
	require.NoError(h.t, h.l.View(ctx, func(r engine.Reader) error {
		for _, id := range passes {
			u, err := r.Usage(id)
			if err != nil {
				return err
			}
			var vs []string
			for _, v := range u.Visits {
				vs = append(vs, fmt.Sprintf("%s@%s", v.Tap, v.At.Format(time.RFC3339)))
			}
			lines = append(lines, fmt.Sprintf("U %s %s", id, strings.Join(vs, ",")))
		}
		return nil
	}))
	require.NoError(h.t, h.l.NodeEpochs(ctx, func(ne *fleet.NodeEpoch) error {
		lines = append(lines, fmt.Sprintf("E %s/%d hwm=%d rec=%d dup=%d q=%d", ne.Node, ne.Epoch, ne.HighWater, ne.Records, ne.Duplicates, ne.Quarantined))
		return nil
	}))
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// TestApplyBatchAnyArrivalOrder runs the deterministic delivery schedules
// of fleet's core test against the real hub ledger, with the hub crashing
// (losing what was not synced) and reopening between uploads: the ledger
// ends in the same state under every schedule, ledger check finds every
// node seq held exactly once, and nothing acknowledged is lost.
func TestApplyBatchAnyArrivalOrder(t *testing.T) {
	seeds := 40
	if testing.Short() {
		seeds = 8
	}
	for seed := range uint64(seeds) {
		sc := fleettest.NewScenario(rand.New(rand.NewPCG(seed, 0)), fleettest.Options{Nodes: 1 + int(seed%4), Passes: 1 + int(seed%5), RecordsMax: 50, EpochsMax: 2})
		var want string
		for schedule := uint64(1); schedule <= 3; schedule++ {
			h := newLedgerHub(t, sc)
			var crashy fleettest.Hub = h
			if schedule == 3 {
				crashy = &crashingHub{h: h, rng: rand.New(rand.NewPCG(seed, 99))}
			}
			faults := fleettest.Hostile
			if schedule == 1 {
				faults = fleettest.Faults{}
			}
			_, err := fleettest.Deliver(rand.New(rand.NewPCG(seed, schedule)), sc, crashy, faults, 1+int(seed%12), 1_000_000)
			require.NoError(t, err, "seed %d schedule %d", seed, schedule)
			got := h.digest()
			if schedule == 1 {
				want = got
			} else if got != want {
				require.Equal(t, want, got, "seed %d schedule %d: hub ledger depends on arrival order", seed, schedule)
			}
			rep, err := ledger.Check(h.l)
			require.NoError(t, err)
			require.True(t, rep.OK(), "seed %d schedule %d: %v", seed, schedule, rep.Problems)
			total := 0
			for _, j := range sc.Journals {
				total += len(j.Records)
			}
			assert.Equal(t, total, rep.Fleet.Origins, "seed %d: every node record journaled once", seed)
			require.NoError(t, h.l.Close())
		}
	}
}

// crashingHub crashes the hub ledger now and then between uploads.
type crashingHub struct {
	h   *ledgerHub
	rng *rand.Rand
}

func (c *crashingHub) Ingest(b *fleet.Batch) (bool, uint64, error) {
	if c.rng.IntN(10) == 0 {
		c.h.crash(c.rng)
	}
	return c.h.Ingest(b)
}
