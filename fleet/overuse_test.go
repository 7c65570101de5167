package fleet_test

import (
	"context"
	"encoding/csv"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

// TestOverUseSettledOnce: two partitioned nodes both admit a pass whose
// limit at the venue is once. The hub journals both entries and merges both
// visits into the pass's usage, so a third node then denies the pass
// ALREADY_REDEEMED there; the hub's statement lists both entries, pays the
// earlier by tap time and lists the other over_limit at 0
// (docs/semantics.md, "Reconciliation"). The same two uploads are then
// applied to fresh hub ledgers under every arrival order — both orders,
// duplicates, a re-send after the node crashed before the acknowledgement,
// a hub crash between two uploads — and each statement again pays exactly
// one entry, the same one.
func TestOverUseSettledOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	nov := func(d, h, m int) time.Time { return time.Date(2026, 11, d, h, m, 0, 0, paris) }
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(), hub.Config{RetryDelay: 200 * time.Millisecond, HeartbeatEvery: 200 * time.Millisecond}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	passes, err := h.Sell(ctx, 1, "cp72-adult", nov(19, 9, 0))
	require.NoError(t, err)
	pass := passes[0]
	var nodes []*fleettest.LoopbackNode
	for i, id := range []string{"gate-a", "gate-b", "gate-c"} {
		n, err := fleettest.StartLoopbackNode(h, id, nodeCfg, nil, epochSource(17, uint64(i)))
		require.NoError(t, err)
		defer n.Close()
		_, err = n.Ready(ctx)
		require.NoError(t, err)
		nodes = append(nodes, n)
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	tap := func(n *fleettest.LoopbackNode, at time.Time) engine.Decision {
		t.Helper()
		v, err := n.Ready(ctx)
		require.NoError(t, err)
		res, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: n.ID, Seq: 1}, Card: pass.Card, Gate: "mucem/" + n.ID, At: at})
		require.NoError(t, err)
		return res.Decision
	}
	synced := func(n *fleettest.LoopbackNode) {
		t.Helper()
		last, err := n.Ledger.LastJournalSeq()
		require.NoError(t, err)
		require.NoError(t, n.Sync.WaitAcked(ctx, last))
	}

	a.Partition(true)
	b.Partition(true)
	// b's entry is the later one by tap time; b's arrives first.
	assert.True(t, tap(a, nov(20, 10, 0)).Accept, "node a admits the pass offline")
	assert.True(t, tap(b, nov(20, 10, 5)).Accept, "node b admits it too: it cannot know")
	b.Partition(false)
	synced(b)
	a.Partition(false)
	synced(a)

	eventually(ctx, t, "node c learns both visits", func() bool {
		var u engine.Usage
		require.NoError(t, c.Ledger.View(ctx, func(r engine.Reader) error { var err error; u, err = r.Usage(pass.ID); return err }))
		return len(u.Visits) == 2
	})
	d := tap(c, nov(20, 11, 0))
	assert.False(t, d.Accept)
	assert.Equal(t, engine.ReasonAlreadyRedeemed, d.Reason, "a third node denies the pass at the venue")
	synced(c)

	lines := closeNovember(t, h.Ledger, h.Validator.Catalog())
	require.Len(t, lines, 2, "both entries are listed; the denied tap is not a visit")
	assert.Equal(t, []string{"gate-b", "gate-a"}, []string{lines[0]["tap_device"], lines[1]["tap_device"]}, "journal order: b's upload came first")
	assert.Equal(t, "0.00", lines[0]["amount"])
	assert.Equal(t, reconcile.NoteOverLimit, lines[0]["note"])
	assert.NotEqual(t, "0.00", lines[1]["amount"], "the earlier entry is paid, though it arrived second")
	assert.Equal(t, "", lines[1]["note"])

	// The same two uploads under other arrival orders, at fresh hub ledgers.
	upload := func(n *fleettest.LoopbackNode) *fleet.Batch {
		var recs []engine.TapRecord
		require.NoError(t, n.Ledger.Journal(ctx, 1, func(r *engine.TapRecord) error { recs = append(recs, *r); return nil }))
		require.Len(t, recs, 1)
		return &fleet.Batch{Node: n.ID, Epoch: n.Ledger.Epoch(), First: 1, Last: 1, SentAt: time.Now(), Records: recs}
	}
	ua, ub := upload(a), upload(b)
	var card engine.Card
	require.NoError(t, h.Ledger.View(ctx, func(r engine.Reader) error { var err error; card, _, err = r.Card(pass.Card); return err }))
	crash := (*fleet.Batch)(nil) // the hub crashes here
	for _, tc := range []struct {
		name  string
		order []*fleet.Batch
	}{
		{"a then b", []*fleet.Batch{ua, ub}},
		{"b then a", []*fleet.Batch{ub, ua}},
		{"duplicates", []*fleet.Batch{ub, ub, ua, ub, ua}},
		{"a re-sends after crashing before the ack", []*fleet.Batch{ua, ub, ua}},
		{"b re-sends after crashing before the ack", []*fleet.Batch{ub, ua, ub}},
		{"the hub crashes between uploads", []*fleet.Batch{ub, crash, ub, ua, crash, ua}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := vfs.NewCrashableMem()
			open := func() *ledger.Ledger {
				l, err := ledger.Open("/hub", &ledger.Options{FS: fs, ChangeLog: true})
				require.NoError(t, err)
				return l
			}
			l := open()
			require.NoError(t, l.PutTariff(ctx, "sample", fleettest.SampleTOML()))
			require.NoError(t, l.Update(ctx, func(tx engine.Txn) error {
				if err := tx.PutPass(pass); err != nil {
					return err
				}
				return tx.PutCard(card)
			}))
			rng := rand.New(rand.NewPCG(17, 1))
			now := nov(25, 12, 0)
			for _, u := range tc.order {
				if u == crash {
					crashed := fs.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng})
					require.NoError(t, l.Close())
					fs = crashed
					l = open()
					continue
				}
				now = now.Add(time.Second)
				_, err := hub.ApplyBatch(ctx, l, u, now)
				require.NoError(t, err)
			}
			defer l.Close()
			var usage engine.Usage
			require.NoError(t, l.View(ctx, func(r engine.Reader) error { var err error; usage, err = r.Usage(pass.ID); return err }))
			assert.Len(t, usage.Visits, 2, "the usage sent down holds both entries, so a third node denies")
			rep, err := ledger.Check(l)
			require.NoError(t, err)
			assert.True(t, rep.OK(), "%v", rep.Problems)
			assert.Equal(t, 2, rep.Fleet.Origins, "each entry journaled once")

			lines := closeNovember(t, l, h.Validator.Catalog())
			require.Len(t, lines, 2)
			paid := 0
			for _, ln := range lines {
				if ln["note"] == reconcile.NoteOverLimit {
					assert.Equal(t, "0.00", ln["amount"])
					continue
				}
				paid++
				assert.NotEqual(t, "0.00", ln["amount"])
				assert.Equal(t, "gate-a", ln["tap_device"], "the earlier entry is paid, whatever the arrival order")
			}
			assert.Equal(t, 1, paid, "exactly one entry is paid")
		})
	}
}

// closeNovember closes November 2026 for mucem at hub ledger l and returns
// the statement's lines as column → value.
func closeNovember(t *testing.T, l *ledger.Ledger, cat *tariff.Catalog) []map[string]string {
	t.Helper()
	ctx := context.Background()
	signer, err := reconcile.GenerateSigningKey(t.TempDir())
	require.NoError(t, err)
	through, err := tariff.ParseDate("2026-11-30")
	require.NoError(t, err)
	out := t.TempDir()
	_, err = reconcile.Close(ctx, l, cat, signer, reconcile.CloseOptions{Through: through, Partner: "mucem",
		At: time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC), OutDir: out})
	require.NoError(t, err)
	f, err := os.Open(filepath.Join(out, "mucem-2026-11.csv"))
	require.NoError(t, err)
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	require.NoError(t, err)
	require.NotEmpty(t, rows)
	var lines []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, k := range rows[0] {
			m[k] = r[i]
		}
		lines = append(lines, m)
	}
	return lines
}
