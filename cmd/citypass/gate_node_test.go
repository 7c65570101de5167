package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/cardio"
	"github.com/citypass/citypass/cardio/virtual"
	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/netproxy"
	"github.com/citypass/citypass/gate"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// scrape reads the unlabelled samples of the Prometheus text at
// http://addr/metrics.
func scrape(t *testing.T, addr string) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), " ")
		if !ok || strings.HasPrefix(name, "#") || strings.Contains(name, "{") {
			continue
		}
		v, err := strconv.ParseFloat(val, 64)
		require.NoError(t, err, sc.Text())
		out[name] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// logAttr returns attribute key of the first JSON log record with message
// msg in logs ("" when there is none yet).
func logAttr(logs, msg, key string) string {
	for _, l := range strings.Split(logs, "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == msg {
			v, _ := rec[key].(string)
			return v
		}
	}
	return ""
}

// TestCLIGateOnNodeSyncsInProcess runs `citypass gate` on a fleet node (its
// reader events fed by the test, its cards virtual): the gate syncs with
// the hub in its own process, on its own open ledger. With the hub behind a
// blackholed link (connections cut, new ones hang) taps are still decided
// and journaled — they complete while the link is down, and the hub holds
// none of them — and the metrics show the backlog. When the link heals the
// backlog reaches the hub exactly once, and a tariff version and a pass the
// hub added meanwhile come down: the gate reloads its tariffs and accepts
// the new pass.
func TestCLIGateOnNodeSyncsInProcess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	hubDir := initData(t)
	h, err := hub.Open(ctx, hubDir, hub.Options{Listen: "127.0.0.1:0",
		Hub: hub.Config{HeartbeatEvery: 200 * time.Millisecond, RetryDelay: 200 * time.Millisecond}})
	require.NoError(t, err)
	defer h.Close()
	proxy, err := netproxy.New(strings.TrimPrefix(h.URLs[0], "nats://"), &netproxy.Options{DownMode: netproxy.Blackhole})
	require.NoError(t, err)
	defer proxy.Close()

	// The node: enrolled at the hub, reaching it through the proxy, with
	// the hub's card keys.
	credsPath := filepath.Join(t.TempDir(), "gate-1.creds")
	creds, err := hub.Enroll(ctx, h.Data, h.Server, "gate-1", time.Now())
	require.NoError(t, err)
	require.NoError(t, creds.Save(credsPath))
	nodeDir := filepath.Join(t.TempDir(), "node")
	_, stderr, code := cli(t, nodeDir, "init", "--node", "gate-1", "--hub", "nats://"+proxy.Addr(), "--creds", credsPath)
	require.Equal(t, 0, code, stderr)
	keyText, err := os.ReadFile(datadir.CardKeysPath(hubDir))
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(datadir.CardKeysPath(nodeDir), keyText, 0o600))
	keys, err := cardio.LoadKeys(datadir.CardKeysPath(hubDir))
	require.NoError(t, err)
	card1, err := virtual.NewPersonalizedNTAG424(ctx, [7]byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x01}, keys, "")
	require.NoError(t, err)
	card2, err := virtual.NewPersonalizedNTAG424(ctx, [7]byte{0x04, 0x11, 0x22, 0x33, 0x44, 0x55, 0x02}, keys, "")
	require.NoError(t, err)

	// Before the gate starts, the node takes the hub's tariff and a pass.
	_, err = h.Data.Validator.Sell(ctx, engine.SellRequest{Product: "cp72-adult", Card: card1.UID(), At: time.Now(), Channel: "desk"})
	require.NoError(t, err)
	_, stderr, code = cli(t, nodeDir, "sync", "--once")
	require.Equal(t, 0, code, stderr)

	stdout, logs := &syncBuffer{}, &syncBuffer{}
	events := make(chan gate.Event)
	a := &app{dataDir: nodeDir, stdin: strings.NewReader(""), stdout: stdout, stderr: logs, now: time.Now}
	gctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- a.runGateOn(gctx, gateFlags{gate: "mucem/g1", device: "mucem-g1", hookTimeout: time.Second, metrics: "127.0.0.1:0"},
			func(context.Context, gateFlags, *slog.Logger) (<-chan gate.Event, func(), error) {
				return events, func() {}, nil
			})
	}()
	stopped := false
	stopGate := func() {
		if stopped {
			return
		}
		stopped = true
		stop()
		select {
		case err := <-done:
			assert.NoError(t, err, "the gate stops cleanly")
		case <-time.After(20 * time.Second):
			t.Error("gate did not stop")
		}
	}
	defer stopGate()

	var addr string
	require.Eventually(t, func() bool { addr = logAttr(logs.String(), "metrics", "addr"); return addr != "" },
		20*time.Second, 10*time.Millisecond, "logs: %s", logs.String())
	lines := 0
	present := func(card *virtual.NTAG424) string {
		t.Helper()
		select {
		case events <- gate.Event{Kind: gate.CardPresent, Presentation: gate.Presentation{Reader: "R0", ATR: card.ATR(), Card: card}}:
		case <-time.After(20 * time.Second):
			require.FailNow(t, "the gate takes no card", "logs: %s", logs.String())
		}
		var line string
		require.Eventually(t, func() bool {
			all := strings.SplitAfter(stdout.String(), "\n")
			if len(all) <= lines+1 { // the last is the unfinished line
				return false
			}
			line = all[lines]
			return true
		}, 20*time.Second, 5*time.Millisecond, "logs: %s", logs.String())
		lines++
		return line
	}
	syncedTo := func(seq float64) func() bool {
		return func() bool {
			m := scrape(t, addr)
			return m["citypass_gate_sync_connected"] == 1 && m["citypass_gate_sync_acknowledged_seq"] == seq && m["citypass_gate_sync_backlog"] == 0
		}
	}

	// Online: the tap is accepted and reaches the hub.
	assert.Contains(t, present(card1), "ACCEPT")
	require.Eventually(t, syncedTo(1), 30*time.Second, 20*time.Millisecond, "metrics: %v", scrape(t, addr))
	m := scrape(t, addr)
	assert.Contains(t, m, "citypass_gate_sync_state_age_seconds", "the node has the hub's state")

	// The link goes dead. The hub meanwhile loads a tariff version and
	// sells a pass under it.
	proxy.Down()
	require.Eventually(t, func() bool { return scrape(t, addr)["citypass_gate_sync_connected"] == 0 },
		30*time.Second, 20*time.Millisecond, "the node notices the cut link")
	paris, err := time.LoadLocation("Europe/Paris")
	require.NoError(t, err)
	src := strings.Replace(string(tariff.Sample()), `id = "marseille-2026"`, `id = "marseille-2026-b"`, 1)
	src = strings.Replace(src, `effective_from = "2026-01-01"`,
		fmt.Sprintf("effective_from = %q", time.Now().In(paris).AddDate(0, 0, -1).Format(time.DateOnly)), 1)
	v2, err := tariff.Load("v2.toml", []byte(src))
	require.NoError(t, err)
	require.NoError(t, h.Data.AddTariff(ctx, v2))
	p2, err := h.Data.Validator.Sell(ctx, engine.SellRequest{Product: "cp24-adult", Card: card2.UID(), At: time.Now(), Channel: "desk"})
	require.NoError(t, err)
	require.Equal(t, "marseille-2026-b", p2.TariffVersion)
	sold := time.Now()

	// Offline taps: decided and journaled while the link is down (the
	// proxy is never up in between), none of them at the hub.
	for range 3 {
		assert.Regexp(t, `ACCEPT|DENY`, present(card1))
	}
	assert.Contains(t, present(card2), "DENY", "the node does not know the pass sold meanwhile")
	require.False(t, proxy.IsUp())
	m = scrape(t, addr)
	assert.Equal(t, 0.0, m["citypass_gate_sync_connected"])
	assert.Equal(t, 1.0, m["citypass_gate_sync_acknowledged_seq"], "the hub has none of the offline taps")
	assert.Equal(t, 4.0, m["citypass_gate_sync_backlog"])

	// The link heals: the backlog reaches the hub, the tariff and the pass
	// come down, and the gate decides with the new version.
	proxy.Up()
	require.Eventually(t, syncedTo(5), 30*time.Second, 20*time.Millisecond, "metrics: %v", scrape(t, addr))
	// state_as_of after the sale: the node has every change the hub
	// committed before it (t0 − age is at most state_as_of).
	require.Eventually(t, func() bool {
		t0 := time.Now()
		age, ok := scrape(t, addr)["citypass_gate_sync_state_age_seconds"]
		return ok && t0.Add(-time.Duration(age*float64(time.Second))).After(sold)
	}, 60*time.Second, 50*time.Millisecond, "the node's state never passes the sale")
	assert.Contains(t, present(card2), "ACCEPT", "logs: %s", logs.String())
	assert.Contains(t, logs.String(), "tariffs reloaded from the hub")
	require.Eventually(t, func() bool {
		m := scrape(t, addr)
		return m["citypass_gate_sync_acknowledged_seq"] == 6 && m["citypass_gate_sync_backlog"] == 0
	}, 30*time.Second, 20*time.Millisecond, "metrics: %v", scrape(t, addr))
	stopGate()

	// Every record of the node is at the hub (acknowledged: durable there),
	// once, and the hub's ledger checks clean.
	nl, err := ledger.Open(datadir.LedgerDir(nodeDir), nil)
	require.NoError(t, err)
	defer nl.Close()
	last, err := nl.LastJournalSeq()
	require.NoError(t, err)
	hl := h.Data.Ledger
	require.Equal(t, uint64(6), last)
	var nodeRecs []engine.TapRecord
	require.NoError(t, nl.Journal(ctx, 1, func(r *engine.TapRecord) error { nodeRecs = append(nodeRecs, *r); return nil }))
	atHub := map[uint64]engine.TapRecord{}
	require.NoError(t, hl.Journal(ctx, 1, func(r *engine.TapRecord) error {
		o, ok, err := hl.Origin(r.JournalSeq)
		if err != nil || !ok {
			return err
		}
		require.Equal(t, nl.Epoch(), o.Epoch)
		_, dup := atHub[o.NodeSeq]
		require.False(t, dup, "node seq %d twice at the hub", o.NodeSeq)
		atHub[o.NodeSeq] = *r
		return nil
	}))
	require.Len(t, atHub, len(nodeRecs))
	for _, r := range nodeRecs {
		got := atHub[r.JournalSeq]
		assert.True(t, fleet.SameRecord(&r, &got), "node seq %d differs at the hub", r.JournalSeq)
	}
	rep, err := ledger.Check(hl)
	require.NoError(t, err)
	assert.True(t, rep.OK(), "%v", rep.Problems)
}

// TestOwnProcessCommandsAreLocal: the commands that must run in their own
// process are never sent to a running hub (docs/fleet.md, "Commands
// against a running hub"); the others are.
func TestOwnProcessCommandsAreLocal(t *testing.T) {
	root := newRootCmd(&app{stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, now: time.Now})
	for _, args := range [][]string{{"init"}, {"hub"}, {"gate"}, {"sync"}, {"serve"}, {"demo"}, {"bench"}} {
		c, _, err := root.Find(args)
		require.NoError(t, err)
		assert.True(t, isLocal(c), "%v runs in its own process", args)
	}
	for _, args := range [][]string{{"pass", "sell"}, {"hub", "enroll"}, {"journal", "export"}, {"fleet", "status"}, {"tap"}} {
		c, _, err := root.Find(args)
		require.NoError(t, err)
		assert.False(t, isLocal(c), "%v runs at a running hub", args)
	}
}
