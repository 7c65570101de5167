package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/fleet/hub"
)

// get fetches url (with token as a bearer token when set) and returns the
// status and the body.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

// TestCLIServeNeedsATokenBeyondLoopback: `citypass serve` and the hub's
// dashboard refuse an address that reaches beyond this computer without
// an access token (a usage error, before anything is opened); with one,
// the dashboard answers only requests that carry it.
func TestCLIServeNeedsATokenBeyondLoopback(t *testing.T) {
	dir := initData(t)
	for _, args := range [][]string{
		{"serve", "--listen", "0.0.0.0:0"},
		{"serve", "--listen", ":0"},
		{"serve", "--listen", "[::]:0"},
		{"hub", "--listen", "127.0.0.1:0", "--dashboard", "0.0.0.0:0"},
	} {
		_, stderr, code := cli(t, dir, args...)
		assert.Equal(t, exitUsage, code, "%v: %s", args, stderr)
		assert.Contains(t, stderr, "reaches beyond this computer", "%v", args)
	}
	short := filepath.Join(t.TempDir(), "short.token")
	require.NoError(t, os.WriteFile(short, []byte("tooshort\n"), 0o600))
	_, stderr, code := cli(t, dir, "serve", "--listen", "0.0.0.0:0", "--token-file", short)
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "at least 16 characters")

	const token = "a-token-for-this-test-0123456789"
	tokenFile := filepath.Join(t.TempDir(), "web.token")
	require.NoError(t, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a := &app{dataDir: dir, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, now: time.Now}
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- a.runServe(ctx, serveFlags{listen: "0.0.0.0:0", tokenFile: tokenFile}, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		require.NoError(t, err)
	}
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	url := "http://127.0.0.1:" + port + "/"
	status, _ := get(t, url, "")
	assert.Equal(t, http.StatusUnauthorized, status, "no token")
	status, _ = get(t, url, "not-"+token)
	assert.Equal(t, http.StatusUnauthorized, status, "a wrong token")
	status, body := get(t, url, token)
	assert.Equal(t, http.StatusOK, status)
	assert.Contains(t, body, "Today")
	cancel()
	require.NoError(t, <-done)
}

// TestCLIHubDashboard runs `citypass hub --dashboard 127.0.0.1:0`: the
// dashboard is served from inside the hub, on the ledger the hub holds,
// with the fleet page showing the node that synced (its seqs, its state's
// staleness, its clock). After the hub stops, `citypass serve` on the
// hub's data dir has the fleet page too.
func TestCLIHubDashboard(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	hubDir := initData(t)
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
			obsFlags{dashboard: serveFlags{listen: "127.0.0.1:0"}})
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		stopHub()
		select {
		case err := <-hubDone:
			assert.NoError(t, err)
		case <-time.After(20 * time.Second):
			t.Error("the hub did not stop")
		}
	}
	defer stop()
	var hubURL, dashURL string
	for hubURL == "" || dashURL == "" {
		hubURL = regexp.MustCompile(`nats://127\.0\.0\.1:[0-9]+`).FindString(hubOut.String())
		if m := regexp.MustCompile(`citypass dashboard on (http://127\.0\.0\.1:[0-9]+/)`).FindStringSubmatch(hubOut.String()); m != nil {
			dashURL = m[1]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the hub never said where it listens: %s", hubOut.String())
		case err := <-hubDone:
			t.Fatalf("the hub stopped: %v\n%s", err, hubLog.String())
		case <-time.After(20 * time.Millisecond):
		}
	}

	status, body := get(t, dashURL+"fleet", "")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "gate-1")
	assert.Contains(t, body, "never", "enrolled, not yet in contact")

	nodeDir := filepath.Join(t.TempDir(), "node")
	_, stderr, code = cli(t, nodeDir, "init", "--node", "gate-1", "--hub", hubURL, "--creds", credsPath)
	require.Equal(t, 0, code, stderr)
	_, stderr, code = cli(t, nodeDir, "sync", "--once")
	require.Equal(t, 0, code, stderr)
	_, stderr, code = cli(t, nodeDir, "tap", "--card", card, "--gate", "mucem/g1", "--at", "2026-11-27T09:00")
	require.Equal(t, 0, code, stderr)
	_, stderr, code = cli(t, nodeDir, "sync", "--once")
	require.Equal(t, 0, code, stderr)

	row := regexp.MustCompile(`<tr class="[a-z]*"><td>gate-1</td>.*?</tr>`)
	status, body = get(t, dashURL+"fleet", "")
	require.Equal(t, http.StatusOK, status, body)
	r := row.FindString(body)
	require.NotEmpty(t, r, body)
	cells := regexp.MustCompile(`<td[^>]*>(.*?)</td>`).FindAllStringSubmatch(r, -1)
	require.Len(t, cells, 10, r)
	assert.Regexp(t, `^[0-9a-f]{16}$`, cells[1][1], "the node's epoch")
	assert.Equal(t, "1", cells[3][1], "acknowledged")
	assert.Equal(t, "1", cells[4][1], "reported")
	assert.Equal(t, "0", cells[5][1], "backlog")
	assert.Contains(t, cells[6][1], "(as of ", "the node's state_as_of")
	assert.NotEqual(t, "?", cells[7][1], "the clock offset was measured")

	// The other pages read the hub's ledger too: the tap is in the card's
	// story.
	status, body = get(t, dashURL+"card?q="+card, "")
	require.Equal(t, http.StatusOK, status, body)
	assert.Contains(t, body, "mucem/g1")

	stop()
	assert.Contains(t, hubOut.String(), "hub stopping")
	if resp, err := http.Get(dashURL); err == nil {
		resp.Body.Close()
		t.Errorf("the dashboard still answers after the hub stopped: %s", resp.Status)
	}

	// citypass serve on the hub's data dir, the hub stopped.
	sa := &app{dataDir: hubDir, stdin: strings.NewReader(""), stdout: io.Discard, stderr: io.Discard, now: time.Now}
	sctx, stopServe := context.WithCancel(ctx)
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- sa.runServe(sctx, serveFlags{listen: "127.0.0.1:0"}, ready) }()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		require.NoError(t, err)
	}
	status, body = get(t, "http://"+addr+"/fleet", "")
	assert.Equal(t, http.StatusOK, status, body)
	assert.Regexp(t, row, body)
	stopServe()
	require.NoError(t, <-done)
}
