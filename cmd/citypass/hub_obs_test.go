package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/fleet/hub"
)

// metricsText reads http://addr/metrics whole.
func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// waitLogAttr polls logs for attribute key of the record with message msg.
func waitLogAttr(ctx context.Context, t *testing.T, logs *syncBuffer, msg, key string) string {
	t.Helper()
	for {
		if v := logAttr(logs.String(), msg, key); v != "" {
			return v
		}
		select {
		case <-ctx.Done():
			require.FailNow(t, "no log "+msg, "%s", logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestCLIHubAndSyncMetricsAndLogs runs `citypass hub --metrics ADDR
// --log-level debug` and `citypass sync --metrics ADDR` on a node that
// journaled taps offline: the hub's /metrics counts exactly the node's
// taps, its backlog and the sync's fall to 0, both logs are JSON lines
// with the hub's events, and no key material (the hub's card keys and
// signing key, the operator's and the node's NKey seeds) appears in the
// logs or the metrics.
func TestCLIHubAndSyncMetricsAndLogs(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	hubDir := initData(t)
	// The node enrolled and a pass sold before the hub starts (a command
	// run in the hub's own process is not forwarded to it).
	credsPath := filepath.Join(t.TempDir(), "gate-1.creds")
	_, stderr, code := cli(t, hubDir, "hub", "enroll", "--node", "gate-1", "--out", credsPath)
	require.Equal(t, 0, code, stderr)
	card := "04A1B2C3D4E501"
	sell(t, hubDir, "cp72-adult", card)

	hubOut, hubLog := &syncBuffer{}, &syncBuffer{}
	ha := &app{dataDir: hubDir, stdin: strings.NewReader(""), stdout: hubOut, stderr: hubLog, now: time.Now}
	hctx, stopHub := context.WithCancel(ctx)
	hubDone := make(chan error, 1)
	go func() {
		hubDone <- ha.runHub(hctx, hub.Options{Listen: "127.0.0.1:0", Hub: hub.Config{HeartbeatEvery: 200 * time.Millisecond, RetryDelay: 200 * time.Millisecond}},
			obsFlags{metrics: "127.0.0.1:0", logLevel: "debug"})
	}()
	defer func() {
		stopHub()
		select {
		case err := <-hubDone:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("the hub did not stop")
		}
	}()
	hubMetrics := waitLogAttr(ctx, t, hubLog, "metrics", "addr")
	var hubURL string
	for hubURL == "" {
		hubURL = regexp.MustCompile(`nats://127\.0\.0\.1:[0-9]+`).FindString(hubOut.String())
		select {
		case <-ctx.Done():
			t.Fatal("the hub never said where it listens")
		case <-time.After(20 * time.Millisecond):
		}
	}

	// The node takes the hub's state, then journals three taps.
	nodeDir := filepath.Join(t.TempDir(), "node")
	_, stderr, code = cli(t, nodeDir, "init", "--node", "gate-1", "--hub", hubURL, "--creds", credsPath)
	require.Equal(t, 0, code, stderr)
	_, stderr, code = cli(t, nodeDir, "sync", "--once")
	require.Equal(t, 0, code, stderr)
	for _, at := range []string{"2026-11-27T09:00", "2026-11-27T09:01", "2026-11-27T11:00"} {
		_, stderr, code = cli(t, nodeDir, "tap", "--card", card, "--gate", "mucem/g1", "--at", at)
		require.Contains(t, []int{0, 3}, code, stderr)
	}

	// citypass sync with its metrics: the node's backlog goes up.
	syncLog := &syncBuffer{}
	sa := &app{dataDir: nodeDir, stdin: strings.NewReader(""), stdout: io.Discard, stderr: syncLog, now: time.Now}
	sctx, stopSync := context.WithCancel(ctx)
	syncDone := make(chan error, 1)
	go func() {
		syncDone <- sa.runSync(sctx, false, 30*time.Second, obsFlags{metrics: "127.0.0.1:0", logLevel: "info"})
	}()
	syncMetrics := waitLogAttr(ctx, t, syncLog, "metrics", "addr")
	var syncText, hubText string
	for {
		m := scrape(t, syncMetrics)
		if m["citypass_gate_sync_backlog"] == 0 && m["citypass_gate_sync_acknowledged_seq"] > 0 && m["citypass_gate_sync_connected"] == 1 {
			syncText = metricsText(t, syncMetrics)
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the sync's backlog never fell to 0: %v", m)
		case <-time.After(20 * time.Millisecond):
		}
	}
	stopSync()
	require.NoError(t, <-syncDone)

	// The hub: the node's three taps in, nothing reported and not held.
	for {
		hubText = metricsText(t, hubMetrics)
		if strings.Contains(hubText, `citypass_hub_node_backlog{node="gate-1"} 0`) && strings.Contains(hubText, "citypass_hub_taps_journaled_total 3\n") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the hub never held the node's 3 taps:\n%s", hubText)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, want := range []string{
		`citypass_hub_nodes 1`,
		`citypass_hub_node_reported_seq{node="gate-1"} `,
		`citypass_hub_node_last_contact_age_seconds{node="gate-1"} `,
		`citypass_hub_node_staleness_seconds{node="gate-1"} `,
		`citypass_hub_node_quarantined{node="gate-1"} 0`,
		`citypass_hub_node_at_risk{node="gate-1"} 0`,
		`citypass_hub_streams_up 1`,
		`citypass_hub_stream_messages{stream="CITYPASS_TAPS"} `,
		`citypass_hub_stream_messages{stream="CITYPASS_STATE"} `,
		`citypass_hub_state_published_revision `,
		`# TYPE citypass_hub_taps_journaled_total counter`,
	} {
		assert.Contains(t, hubText, want)
	}

	// Logs: JSON lines with the hub's events, and no key anywhere.
	stopHub()
	require.NoError(t, <-hubDone)
	hubDone <- nil // for the deferred stop
	for name, logs := range map[string]string{"hub log": hubLog.String(), "sync log": syncLog.String()} {
		for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
			require.True(t, strings.HasPrefix(line, "{") && strings.HasSuffix(line, "}"), "%s: not a JSON line: %s", name, line)
		}
	}
	for _, msg := range []string{"hub started", "metrics", "node first seen", "node contact", "upload applied"} {
		assert.NotEmpty(t, logAttr(hubLog.String(), msg, "level"), "hub log: no %q in\n%s", msg, hubLog.String())
	}
	assert.Equal(t, "gate-1", logAttr(hubLog.String(), "node first seen", "node"))

	sec := secrets{}
	sec.addDataKeys(t, hubDir)
	sec.addCreds(t, datadir.OperatorCredsPath(hubDir))
	sec.addCreds(t, credsPath)
	sec.addKeyFiles(t, hubDir)
	sec.addKeyFiles(t, nodeDir)
	sec.check(t)
	for name, text := range map[string]string{"the hub's log": hubLog.String(), "the hub's output": hubOut.String(), "the hub's metrics": hubText,
		"the sync's log": syncLog.String(), "the sync's metrics": syncText} {
		sec.assertNone(t, name, text)
	}
}
