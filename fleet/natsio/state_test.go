package natsio_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/fleet/natsio"
)

// TestStateReaderOutlivesAServerRestart: a reader's consumer lives in the
// server's memory and is gone after a restart, and a fetch from a consumer
// that does not exist is answered by nothing; the reader notices (its
// fetches carry idle heartbeats) and goes on from the next message on a new
// consumer, instead of waiting for ever on the old one.
func TestStateReaderOutlivesAServerRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	op, opPub, err := natsio.NewCredentials("", nil, "")
	require.NoError(t, err)
	store := t.TempDir()
	cfg := natsio.ServerConfig{StoreDir: store, Listen: "127.0.0.1:0", Operators: []string{opPub}}
	srv, err := natsio.StartServer(cfg)
	require.NoError(t, err)
	cfg.Listen = srv.ClientURL()[len("nats://"):] // the same port after the restart
	op.Hub = []string{srv.ClientURL()}
	conn, err := natsio.Connect(op, natsio.ConnectOptions{WaitConnected: true, ReconnectWait: 50 * time.Millisecond})
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.EnsureStreams(ctx, natsio.StreamOptions{Replicas: 1}))
	publish := func(i int) {
		t.Helper()
		_, err := conn.PublishState(ctx, fmt.Sprintf("m%d", i), []byte{byte(i)})
		require.NoError(t, err)
	}
	publish(1)
	r, err := conn.ReadState(ctx, 1)
	require.NoError(t, err)
	defer r.Close()
	msgs, err := r.Next(ctx, 10, 3*time.Second)
	require.NoError(t, err)
	require.Len(t, msgs, 1)

	srv.Shutdown()
	srv, err = natsio.StartServer(cfg)
	require.NoError(t, err)
	defer srv.Shutdown()
	for !conn.Connected() {
		require.NoError(t, ctx.Err(), "the client reconnects")
		time.Sleep(20 * time.Millisecond)
	}
	for {
		err := conn.EnsureStreams(ctx, natsio.StreamOptions{Replicas: 1})
		if err == nil {
			break
		}
		require.NoError(t, ctx.Err(), "JetStream is back: %v", err)
		time.Sleep(50 * time.Millisecond)
	}
	publish(2)
	deadline := time.Now().Add(20 * time.Second)
	for {
		msgs, _ := r.Next(ctx, 10, 3*time.Second)
		if len(msgs) > 0 {
			require.Equal(t, uint64(2), msgs[0].Seq)
			require.Equal(t, []byte{2}, msgs[0].Data)
			return
		}
		require.True(t, time.Now().Before(deadline), "the reader still waits on a consumer the restart removed")
	}
}
