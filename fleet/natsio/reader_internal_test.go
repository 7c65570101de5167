package natsio

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// readerPastFirst starts a server with the streams, publishes one state
// message and returns an operator connection and a reader that has read it.
func readerPastFirst(t *testing.T, ctx context.Context) (*Conn, *StateReader) {
	t.Helper()
	op, opPub, err := NewCredentials("", nil, "")
	require.NoError(t, err)
	srv, err := StartServer(ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Operators: []string{opPub}})
	require.NoError(t, err)
	t.Cleanup(srv.Shutdown)
	op.Hub = []string{srv.ClientURL()}
	conn, err := Connect(op, ConnectOptions{WaitConnected: true})
	require.NoError(t, err)
	t.Cleanup(conn.Close)
	require.NoError(t, conn.EnsureStreams(ctx, StreamOptions{Replicas: 1}))
	_, err = conn.PublishState(ctx, "m1", []byte{1})
	require.NoError(t, err)
	r, err := conn.ReadState(ctx, 1)
	require.NoError(t, err)
	t.Cleanup(r.Close)
	m, _ := readUntil(t, ctx, r, 3)
	require.Equal(t, uint64(1), m.Seq)
	return conn, r
}

// readUntil calls r.Next until it returns a message or rounds pass, and
// returns the first message and how many calls failed.
func readUntil(t *testing.T, ctx context.Context, r *StateReader, rounds int) (StateMsg, int) {
	t.Helper()
	errs := 0
	for range rounds {
		msgs, err := r.Next(ctx, 10, 500*time.Millisecond)
		if err != nil {
			errs++
			continue
		}
		if len(msgs) > 0 {
			return msgs[0], errs
		}
	}
	t.Fatalf("no message after %d reads", rounds)
	return StateMsg{}, errs
}

// TestStateReaderOutlivesItsConsumer: the server removes a reader's
// consumer (an idle one past its threshold, an operator's clean-up) while
// the connection stays up; the next fetch fails at once (no responders),
// and the reader goes on from the next message on a new consumer.
func TestStateReaderOutlivesItsConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, r := readerPastFirst(t, ctx)

	require.NoError(t, conn.js.DeleteConsumer(ctx, StateStream, r.cons.CachedInfo().Name))
	_, err := conn.PublishState(ctx, "m2", []byte{2})
	require.NoError(t, err)
	m, errs := readUntil(t, ctx, r, 5)
	require.Equal(t, StateMsg{Seq: 2, Data: []byte{2}}, m)
	require.Equal(t, 1, errs, "the missing consumer is reported once")
}

// TestStateReaderGetsALostLastMessage: the server sends the stream's last
// message to a fetch that already ended on the client's side (here: a pull
// on the reader's consumer from another subscription), so the reader never
// sees it, and no later message arrives to show the missing delivery (a
// simulated hub whose clock waits for every node publishes nothing more).
// The reader still gets it: unacknowledged, it is sent again after the ack
// wait.
func TestStateReaderGetsALostLastMessage(t *testing.T) {
	defer func(w time.Duration) { stateAckWait = w }(stateAckWait)
	stateAckWait = 500 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, r := readerPastFirst(t, ctx)

	name := r.cons.CachedInfo().Name
	next := fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", StateStream, name)
	lost, err := conn.nc.SubscribeSync(conn.nc.NewInbox()) // a fetch that is not the reader's
	require.NoError(t, err)
	defer lost.Unsubscribe()
	require.NoError(t, conn.nc.PublishRequest(next, lost.Subject, []byte(`{"batch":1,"expires":30000000000}`)))
	require.NoError(t, conn.nc.FlushWithContext(ctx))
	_, err = conn.PublishState(ctx, "m2", []byte{2})
	require.NoError(t, err)
	for {
		info, err := r.cons.Info(ctx)
		require.NoError(t, err)
		if info.Delivered.Stream == 2 {
			break // m2 went to the lost pull
		}
		require.NoError(t, ctx.Err())
		time.Sleep(10 * time.Millisecond)
	}
	m, _ := readUntil(t, ctx, r, 10)
	require.Equal(t, StateMsg{Seq: 2, Data: []byte{2}}, m)
}
