package node

import (
	"bytes"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/citypass/citypass/fleet/wire"
)

// TestAckBeforeThePublishReturns: the hub may apply an upload and send its
// mark before the stream's reply to the publish reaches the node. That
// mark counts once the publish returns stored (not before, and not if it
// fails), and it is no sign of a ledger restored from an old copy.
func TestAckBeforeThePublishReturns(t *testing.T) {
	var logs bytes.Buffer
	n := &Node{cfg: Config{Now: time.Now, Log: slog.New(slog.NewTextHandler(&logs, nil))}, epoch: 7, changed: make(chan struct{})}
	acked := func() uint64 {
		n.mu.Lock()
		defer n.mu.Unlock()
		return n.st.Acked
	}

	n.beginPublish(10)
	n.advance(wire.Ack{Epoch: 7, HighWater: 10})
	assert.Zero(t, acked(), "not before the stream confirms the upload")
	n.endPublish(1, 10, true)
	assert.EqualValues(t, 10, acked(), "the hub's early mark counts once the upload is stored")
	assert.Empty(t, logs.String(), "an early mark is no sign of a restored ledger")

	n.beginPublish(20)
	n.advance(wire.Ack{Epoch: 8, HighWater: 20})
	n.endPublish(11, 20, true)
	assert.EqualValues(t, 10, acked(), "another epoch's mark does not count")
	n.advance(wire.Ack{Epoch: 7, HighWater: 20})
	assert.EqualValues(t, 20, acked(), "a mark after the publish counts at once")

	n.beginPublish(30)
	n.advance(wire.Ack{Epoch: 7, HighWater: 30})
	assert.EqualValues(t, 20, acked())
	n.endPublish(21, 30, false)
	assert.EqualValues(t, 20, acked(), "a publish that failed takes no mark")

	n.beginPublish(30)
	n.advance(wire.Ack{Epoch: 7, HighWater: 50})
	n.endPublish(21, 30, true)
	assert.EqualValues(t, 30, acked(), "a mark above the upload counts only up to it")
	assert.Contains(t, logs.String(), "restored from an old copy", "a mark above anything uploaded is")
}
