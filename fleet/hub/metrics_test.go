package hub_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/fleettest"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/node"
	"github.com/citypass/citypass/fleet/wire"
	"github.com/citypass/citypass/ledger"
)

// syncBuffer is a log destination safe for the hub's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// scrapeHub reads every sample of the Prometheus text at url, keyed by the
// series as written ("name" or `name{label="v"}`).
func scrapeHub(t *testing.T, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		require.Positive(t, i, line)
		v, err := strconv.ParseFloat(line[i+1:], 64)
		require.NoError(t, err, line)
		out[line[:i]] = v
	}
	require.NoError(t, sc.Err())
	return out
}

// eventually scrapes until cond holds of the samples, failing with the
// last scrape when ctx ends first.
func eventually(ctx context.Context, t *testing.T, url, what string, cond func(m map[string]float64) bool) map[string]float64 {
	t.Helper()
	for {
		m := scrapeHub(t, url)
		if cond(m) {
			return m
		}
		select {
		case <-ctx.Done():
			require.FailNow(t, "metrics never showed "+what, "%v", m)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// logRecords parses every line of logs as a JSON object.
func logRecords(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var rec map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &rec), "a log line that is not JSON: %s", line)
		require.Contains(t, rec, "time", line)
		require.Contains(t, rec, "level", line)
		require.Contains(t, rec, "msg", line)
		out = append(out, rec)
	}
	return out
}

// findLog returns the first record with message msg whose attributes
// include want.
func findLog(recs []map[string]any, msg string, want map[string]any) (map[string]any, bool) {
next:
	for _, r := range recs {
		if r["msg"] != msg {
			continue
		}
		for k, v := range want {
			if fmt.Sprint(r[k]) != fmt.Sprint(v) {
				continue next
			}
		}
		return r, true
	}
	return nil, false
}

// TestHubMetricsAndLogs scrapes an embedded hub's /metrics over HTTP while
// a node uploads, while an impostor epoch of the node reports seqs it never
// sends, uploads a conflicting record and a clock ten minutes off, and
// while a third epoch makes the second one's missing records at risk; and
// reads the hub's JSON log for each event; with JetStream gone the
// scrape still answers, streams_up 0, and the ingest logs its error.
func TestHubMetricsAndLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	h, err := fleettest.StartLoopbackHub(t.TempDir(), fleettest.SampleTOML(),
		hub.Config{RetryDelay: 200 * time.Millisecond, HeartbeatEvery: 200 * time.Millisecond, Log: log}, natsio.StreamOptions{})
	require.NoError(t, err)
	defer h.Close()
	reg := prometheus.NewRegistry()
	require.NoError(t, hub.RegisterMetrics(reg, h.Hub, func() ([]string, error) { return []string{"gate-1", "gate-2"}, nil }))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()
	url := srv.URL + "/metrics"

	sold := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	passes, err := h.Sell(ctx, 3, "cp24-adult", sold)
	require.NoError(t, err)
	n, err := fleettest.StartLoopbackNode(h, "gate-1", node.Config{Poll: 20 * time.Millisecond, ResendAfter: time.Second,
		ReportEvery: 200 * time.Millisecond, RequestTimeout: 2 * time.Second}, nil, nil)
	require.NoError(t, err)
	defer n.Close()
	v, err := n.Ready(ctx)
	require.NoError(t, err)
	tap := func(seq uint64) {
		p := passes[int(seq)%len(passes)]
		_, err := v.Validate(ctx, engine.Tap{ID: engine.TapID{Device: "gate-1", Seq: seq}, Card: p.Card,
			Gate: "mucem/main", At: sold.Add(time.Duration(seq) * time.Minute)})
		require.NoError(t, err)
	}
	for seq := range uint64(20) {
		tap(seq + 1)
	}
	last, err := n.Ledger.LastJournalSeq()
	require.NoError(t, err)
	require.NoError(t, n.Sync.WaitAcked(ctx, last))

	// 1. The node's taps are in: ingest counters, its seqs, the streams,
	// the state publisher.
	lastRev, err := h.Ledger.LastRev()
	require.NoError(t, err)
	g1 := func(name string) string { return name + `{node="gate-1"}` }
	m := eventually(ctx, t, url, "the node caught up and the state published", func(m map[string]float64) bool {
		return m[g1("citypass_hub_node_reported_seq")] == float64(last) && m["citypass_hub_state_published_revision"] >= float64(lastRev) &&
			m["citypass_hub_state_heartbeat_age_seconds"] >= 0 && m["citypass_hub_ingest_unacknowledged_uploads"] == 0
	})
	assert.Equal(t, 20.0, m["citypass_hub_taps_journaled_total"], "taps journaled = taps the node sent")
	assert.Equal(t, m["citypass_hub_uploads_received_total"], m["citypass_hub_uploads_applied_total"]+m["citypass_hub_upload_gaps_total"])
	assert.Positive(t, m["citypass_hub_uploads_applied_total"])
	for _, c := range []string{"taps_quarantined_total", "uploads_rejected_total", "upload_errors_total"} {
		assert.Zero(t, m["citypass_hub_"+c], c)
	}
	assert.Equal(t, 2.0, m["citypass_hub_nodes"], "gate-1 and gate-2, enrolled and never seen")
	assert.Equal(t, float64(last), m[g1("citypass_hub_node_acknowledged_seq")])
	assert.Zero(t, m[g1("citypass_hub_node_backlog")])
	require.Contains(t, m, g1("citypass_hub_node_staleness_seconds"), "the node reported its state_as_of")
	assert.Less(t, m[g1("citypass_hub_node_staleness_seconds")], 10.0)
	assert.Contains(t, m, g1("citypass_hub_node_last_contact_age_seconds"))
	assert.Less(t, m[g1("citypass_hub_node_last_contact_age_seconds")], 10.0)
	assert.Less(t, m[g1("citypass_hub_node_clock_offset_seconds")], 1.0)
	assert.Zero(t, m[g1("citypass_hub_node_clock_skewed")])
	assert.Zero(t, m[g1("citypass_hub_node_quarantined")])
	assert.Zero(t, m[g1("citypass_hub_node_at_risk")])
	assert.Equal(t, 1.0, m[g1("citypass_hub_node_epochs")])
	assert.NotContains(t, m, `citypass_hub_node_last_contact_age_seconds{node="gate-2"}`, "never in contact")
	assert.Equal(t, 0.0, m[`citypass_hub_node_epochs{node="gate-2"}`])
	assert.Equal(t, 1.0, m["citypass_hub_streams_up"])
	taps, state := `{stream="CITYPASS_TAPS"}`, `{stream="CITYPASS_STATE"}`
	assert.GreaterOrEqual(t, m["citypass_hub_uploads_received_total"]-m["citypass_hub_upload_gaps_total"], m["citypass_hub_stream_messages"+taps],
		"every upload in the stream delivered (some maybe twice)")
	assert.Positive(t, m["citypass_hub_stream_messages"+taps])
	assert.Equal(t, m["citypass_hub_stream_messages"+taps], m["citypass_hub_stream_last_seq"+taps])
	assert.Equal(t, 1.0, m["citypass_hub_stream_first_seq"+taps])
	assert.Positive(t, m["citypass_hub_stream_bytes"+taps])
	assert.Positive(t, m["citypass_hub_stream_messages"+state])
	// A heartbeat every 200 ms: the stream may hold one the publisher has
	// not recorded yet when the scrape reads it.
	assert.InDelta(t, m["citypass_hub_stream_last_seq"+state], m["citypass_hub_state_published_stream_seq"], 1)
	assert.Zero(t, m["citypass_hub_ingest_pending_uploads"])
	assert.Equal(t, float64(lastRev), m["citypass_hub_state_revision"])

	// 2. An impostor epoch of gate-1 (the node partitioned meanwhile, so it
	// is the node's latest contact): it reports 5 seqs with a clock ten
	// minutes slow, then uploads seq 1 as a copy of the node's first tap
	// with other content.
	n.Partition(true)
	other, err := natsio.Connect(n.Creds, natsio.ConnectOptions{URLs: []string{h.Server.ClientURL()}, WaitConnected: true})
	require.NoError(t, err)
	defer other.Close()
	report := func(epoch, lastSeq uint64, nodeTime time.Time) {
		_, err := other.Request(ctx, natsio.HubSubject("report", "gate-1"), wire.Marshal(wire.Report{Epoch: epoch, LastSeq: lastSeq, NodeTime: nodeTime}))
		require.NoError(t, err)
	}
	report(42, 5, time.Now().Add(-10*time.Minute))
	m = scrapeHub(t, url)
	assert.Equal(t, 5.0, m[g1("citypass_hub_node_backlog")], "reported and not received")
	assert.Equal(t, 5.0, m[g1("citypass_hub_node_reported_seq")])
	assert.Zero(t, m[g1("citypass_hub_node_acknowledged_seq")])
	assert.InDelta(t, 600, m[g1("citypass_hub_node_clock_offset_seconds")], 5)
	assert.Equal(t, 1.0, m[g1("citypass_hub_node_clock_skewed")])
	assert.Equal(t, 2.0, m[g1("citypass_hub_node_epochs")])
	assert.NotContains(t, m, g1("citypass_hub_node_staleness_seconds"), "the impostor reported no state_as_of")

	var first engine.TapRecord
	require.NoError(t, n.Ledger.Journal(ctx, 1, func(r *engine.TapRecord) error {
		if first.JournalSeq == 0 {
			first = *r
		}
		return nil
	}))
	conflict := first
	conflict.JournalSeq = 1
	conflict.Gate = "rtm-metro/vieux-port"
	b := &fleet.Batch{Node: "gate-1", Epoch: 42, First: 1, Last: 1, SentAt: time.Now(), Records: []engine.TapRecord{conflict}}
	require.NoError(t, other.PublishUpload(ctx, "gate-1", wire.UploadID(b), wire.EncodeUpload(b)))
	m = eventually(ctx, t, url, "the conflicting record quarantined", func(m map[string]float64) bool {
		return m[g1("citypass_hub_node_quarantined")] == 1
	})
	assert.Equal(t, 1.0, m["citypass_hub_taps_quarantined_total"])
	assert.Equal(t, 1.0, m[`citypass_hub_quarantined_tap{node="gate-1",tap="`+first.ID.String()+`"}`], "the quarantined tap id: %v", m)
	assert.Equal(t, 20.0, m["citypass_hub_taps_journaled_total"])
	assert.Equal(t, 4.0, m[g1("citypass_hub_node_backlog")])

	// 3. A third epoch: the impostor's seqs 2-5 are now at risk.
	report(43, 0, time.Now())
	m = scrapeHub(t, url)
	assert.Equal(t, 4.0, m[g1("citypass_hub_node_at_risk")])
	assert.Zero(t, m[g1("citypass_hub_node_backlog")])
	assert.Zero(t, m[g1("citypass_hub_node_clock_skewed")])

	// 4. The node comes back with 5 more taps: all in, backlog 0.
	n.Partition(false)
	for seq := range uint64(5) {
		tap(21 + seq)
	}
	last, err = n.Ledger.LastJournalSeq()
	require.NoError(t, err)
	require.NoError(t, n.Sync.WaitAcked(ctx, last))
	m = eventually(ctx, t, url, "the node current again", func(m map[string]float64) bool {
		return m[g1("citypass_hub_node_acknowledged_seq")] == float64(last)
	})
	assert.Equal(t, 25.0, m["citypass_hub_taps_journaled_total"])
	assert.Zero(t, m[g1("citypass_hub_node_backlog")])
	assert.Equal(t, 4.0, m[g1("citypass_hub_node_at_risk")])
	assert.Equal(t, 3.0, m[g1("citypass_hub_node_epochs")])
	assert.Contains(t, m, g1("citypass_hub_node_staleness_seconds"))

	// 5. JetStream gone: the scrape still answers, without the streams.
	h.Server.Shutdown()
	m = eventually(ctx, t, url, "the streams down", func(m map[string]float64) bool { return m["citypass_hub_streams_up"] == 0 })
	assert.NotContains(t, m, "citypass_hub_stream_messages"+taps)
	assert.Equal(t, 25.0, m["citypass_hub_taps_journaled_total"])
	assert.Equal(t, float64(last), m[g1("citypass_hub_node_acknowledged_seq")])
	for !strings.Contains(logs.String(), `"level":"ERROR","msg":"fetching uploads from the taps stream"`) {
		select {
		case <-ctx.Done():
			t.Fatalf("the ingest's stream error was never logged:\n%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}

	// The log: JSON lines, one per event.
	recs := logRecords(t, logs.String())
	for _, want := range []struct {
		msg   string
		attrs map[string]any
	}{
		{"hub started", nil},
		{"node first seen", map[string]any{"node": "gate-1", "epoch": fmt.Sprintf("%016x", n.Ledger.Epoch())}},
		{"node contact", map[string]any{"node": "gate-1"}},
		{"upload applied", map[string]any{"node": "gate-1", "first": 1}},
		{"state published", nil},
		{"node on a new ledger epoch (a new or wiped disk)", map[string]any{"node": "gate-1", "epoch": fmt.Sprintf("%016x", 42)}},
		{"node clock skewed", map[string]any{"node": "gate-1", "epoch": fmt.Sprintf("%016x", 42)}},
		{"record quarantined", map[string]any{"node": "gate-1", "node_seq": 1, "tap": first.ID.String()}},
		{"records at risk: reported by an earlier epoch of the node and never received",
			map[string]any{"node": "gate-1", "epoch": fmt.Sprintf("%016x", 42), "first": 2, "last": 5, "count": 4}},
	} {
		r, ok := findLog(recs, want.msg, want.attrs)
		if assert.True(t, ok, "no log %q with %v in:\n%s", want.msg, want.attrs, logs.String()) {
			level := map[string]string{"record quarantined": "WARN", "node clock skewed": "WARN", "upload applied": "DEBUG", "node first seen": "INFO"}[want.msg]
			if level != "" {
				assert.Equal(t, level, r["level"], want.msg)
			}
		}
	}
}

// BenchmarkScrape gathers the hub's metrics with 500 nodes of two epochs
// each (one wiped, with records at risk): the cost of one Prometheus scrape,
// ledger reads and JetStream requests included.
func BenchmarkScrape(b *testing.B) {
	h, err := fleettest.StartLoopbackHub(b.TempDir(), fleettest.SampleTOML(), hub.Config{}, natsio.StreamOptions{})
	require.NoError(b, err)
	defer h.Close()
	now := time.Now()
	require.NoError(b, h.Ledger.UpdateFleet(context.Background(), func(tx ledger.FleetTxn) error {
		for i := range 500 {
			id := fmt.Sprintf("bus-%03d", i)
			for e := range uint64(2) {
				ne := fleet.NodeEpoch{Node: id, Epoch: e + 1, HighWater: 900, Reported: 1000, FirstContact: now.Add(-time.Hour),
					LastContact: now.Add(-time.Duration(2-e) * time.Minute), ClockKnown: true, ClockOffset: time.Second}
				if err := tx.PutNodeEpoch(ne); err != nil {
					return err
				}
			}
		}
		return nil
	}))
	reg := prometheus.NewRegistry()
	require.NoError(b, hub.RegisterMetrics(reg, h.Hub, nil))
	b.ReportAllocs()
	for b.Loop() {
		mfs, err := reg.Gather()
		if err != nil || len(mfs) == 0 {
			b.Fatal(err)
		}
	}
}
