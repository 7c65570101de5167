package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/citypass/citypass/cardio/pcsc/pcsctest"
	"github.com/citypass/citypass/cardio/virtual"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// syncBuffer is a bytes.Buffer safe for the gate's goroutine and the test.
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

// TestCLIGateOverPCSCD runs `citypass gate` on a real pcscd with a virtual
// NTAG 424 DNA plugged in through vpcd: the card is accepted, the gate prints
// one line, serves metrics and stops cleanly when its context ends (SIGTERM).
func TestCLIGateOverPCSCD(t *testing.T) {
	d := pcsctest.Start(t)
	dir := initData(t)
	// A blank card on the desk reader: `card personalize` writes its keys and
	// SUN settings through pcscd, then the desk sells a pass onto it.
	trustVirtualCards(t, dir)
	card := virtual.NewNTAG424([7]byte{0x04, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56})
	desk := d.Insert(1, card, nil)
	out, stderr, code := cli(t, dir, "card", "personalize", "--reader", d.Reader(1), "--json")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, out, card.UID())
	require.NoError(t, desk.Close())
	_, stderr, code = cli(t, dir, "pass", "sell", "--product", "cp72-adult", "--card", card.UID(), "--at", "2026-06-01T10:00")
	require.Equal(t, 0, code, stderr)

	stdout, logs := &syncBuffer{}, &syncBuffer{}
	a := &app{dataDir: dir, stdin: strings.NewReader(""), stdout: stdout, stderr: logs, now: time.Now}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- a.runGate(ctx, gateFlags{readers: []string{d.Reader(0)}, gate: "mucem/g1", device: "mucem-g1",
			hookTimeout: time.Second, metrics: "127.0.0.1:0"})
	}()
	defer func() {
		stop()
		select {
		case err := <-done:
			assert.NoError(t, err, "the gate stops cleanly")
		case <-time.After(10 * time.Second):
			t.Error("gate did not stop")
		}
	}()

	in := d.Insert(0, card, nil)
	defer in.Close()
	require.Eventually(t, func() bool { return strings.Contains(stdout.String(), "ACCEPT") },
		20*time.Second, 20*time.Millisecond, "stdout: %s\nlogs: %s", stdout.String(), logs.String())
	line := stdout.String()
	assert.Contains(t, line, "mucem/g1")
	assert.Contains(t, line, card.UID())
	assert.Contains(t, line, "ACTIVATED")

	// The metrics endpoint counts the accept.
	var addr string
	for _, l := range strings.Split(logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(l), &rec) == nil && rec["msg"] == "metrics" {
			addr, _ = rec["addr"].(string)
		}
	}
	require.NotEmpty(t, addr, "logs: %s", logs.String())
	resp, err := http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(body), `citypass_gate_taps_total{decision="accept",reason="OK"} 1`)
}
