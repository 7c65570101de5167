package natsio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/fleet/natsio"
)

type testHub struct {
	srv      *natsio.Server
	operator natsio.Credentials
	nodes    map[string]natsio.Credentials
}

func startHub(t *testing.T, nodes ...string) *testHub {
	t.Helper()
	op, opPub, err := natsio.NewCredentials("", nil, "")
	require.NoError(t, err)
	h := &testHub{operator: op, nodes: map[string]natsio.Credentials{}}
	pubs := map[string]string{}
	for _, n := range nodes {
		c, pub, err := natsio.NewCredentials(n, nil, "")
		require.NoError(t, err)
		h.nodes[n], pubs[n] = c, pub
	}
	h.srv, err = natsio.StartServer(natsio.ServerConfig{StoreDir: t.TempDir(), Listen: "127.0.0.1:0", Operators: []string{opPub}, Nodes: pubs})
	require.NoError(t, err)
	t.Cleanup(h.srv.Shutdown)
	h.operator.Hub = []string{h.srv.ClientURL()}
	for n, c := range h.nodes {
		c.Hub = []string{h.srv.ClientURL()}
		h.nodes[n] = c
	}
	return h
}

func connect(t *testing.T, c natsio.Credentials) *natsio.Conn {
	t.Helper()
	conn, err := natsio.Connect(c, natsio.ConnectOptions{WaitConnected: true})
	require.NoError(t, err)
	t.Cleanup(conn.Close)
	return conn
}

func TestUploadReachesTheIngestConsumer(t *testing.T) {
	h := startHub(t, "gate-1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	op := connect(t, h.operator)
	require.NoError(t, op.EnsureStreams(ctx, natsio.StreamOptions{}))
	require.NoError(t, op.EnsureStreams(ctx, natsio.StreamOptions{}), "idempotent")
	node := connect(t, h.nodes["gate-1"])
	require.NoError(t, node.PublishUpload(ctx, "gate-1", "gate-1:7:1-2", []byte("batch")))
	require.NoError(t, node.PublishUpload(ctx, "gate-1", "gate-1:7:1-2", []byte("batch")), "a duplicate is accepted")
	ups, err := op.FetchUploads(ctx, 10, time.Second)
	require.NoError(t, err)
	require.Len(t, ups, 1, "the duplicate is stored once")
	assert.Equal(t, "batch", string(ups[0].Data()))
	assert.Equal(t, "gate-1:7:1-2", ups[0].MsgID())
	require.NoError(t, ups[0].Ack(ctx))

	// Request/reply with the hub's services in the node's own name.
	stop, err := op.Serve(natsio.HubSubject("report", "*"), 1, func(subject string, data []byte) ([]byte, error) {
		if string(data) == "fail" {
			return nil, errors.New("no such node")
		}
		return append([]byte(subject+":"), data...), nil
	})
	require.NoError(t, err)
	defer stop()
	out, err := node.Request(ctx, natsio.HubSubject("report", "gate-1"), []byte("hi"))
	require.NoError(t, err)
	assert.Equal(t, "citypass.hub.report.gate-1:hi", string(out))
	_, err = node.Request(ctx, natsio.HubSubject("report", "gate-1"), []byte("fail"))
	var re *natsio.RemoteError
	require.ErrorAs(t, err, &re)
	assert.Equal(t, "no such node", re.Msg)
}

// TestServeAnswersInParallel: Serve answers up to its parallel requests at
// once (each handler here waits until all four are in), and its stop waits
// for the handlers that are answering.
func TestServeAnswersInParallel(t *testing.T) {
	h := startHub(t, "gate-1")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	op := connect(t, h.operator)
	node := connect(t, h.nodes["gate-1"])
	const n = 4
	var in sync.WaitGroup
	in.Add(n)
	var done atomic.Int32
	stop, err := op.Serve(natsio.HubSubject("report", "*"), n, func(_ string, data []byte) ([]byte, error) {
		in.Done()
		in.Wait()
		done.Add(1)
		return data, nil
	})
	require.NoError(t, err)
	var asked sync.WaitGroup
	for i := range n {
		asked.Add(1)
		go func() {
			defer asked.Done()
			out, err := node.Request(ctx, natsio.HubSubject("report", "gate-1"), []byte{byte(i)})
			assert.NoError(t, err)
			assert.Equal(t, []byte{byte(i)}, out)
		}()
	}
	asked.Wait()
	stop()
	assert.Equal(t, int32(n), done.Load())
}

// TestNodesAreConfined: a node cannot publish another node's taps, ask
// the hub in another node's name or read another node's acknowledgements;
// a connection without credentials, or with unknown ones, is refused.
func TestNodesAreConfined(t *testing.T) {
	h := startHub(t, "gate-1", "gate-2")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	op := connect(t, h.operator)
	require.NoError(t, op.EnsureStreams(ctx, natsio.StreamOptions{}))
	g2 := connect(t, h.nodes["gate-2"])
	short, cancelShort := context.WithTimeout(ctx, time.Second)
	err := g2.PublishUpload(short, "gate-1", "gate-1:7:1-1", []byte("forged"))
	cancelShort()
	require.Error(t, err, "gate-2 publishing gate-1's taps")
	ups, err := op.FetchUploads(ctx, 10, 500*time.Millisecond)
	require.NoError(t, err)
	assert.Empty(t, ups, "nothing forged reached the stream")

	raw, err := nats.Connect(h.srv.ClientURL())
	if err == nil {
		raw.Close()
		t.Fatal("a connection without credentials was accepted")
	}
	stranger, _, err := natsio.NewCredentials("gate-3", []string{h.srv.ClientURL()}, "")
	require.NoError(t, err)
	_, err = natsio.Connect(stranger, natsio.ConnectOptions{WaitConnected: true})
	require.Error(t, err, "unknown credentials")

	// gate-2 subscribing to gate-1's acknowledgements is a permission violation.
	pc, err := natsio.Connect(h.nodes["gate-2"], natsio.ConnectOptions{WaitConnected: true})
	require.NoError(t, err)
	defer pc.Close()
	_, err = pc.Subscribe(natsio.AckSubject("gate-1"), func([]byte) {})
	if err == nil {
		require.NoError(t, pc.Flush(ctx))
		// the server reports the violation asynchronously and drops the sub
		assert.Eventually(t, func() bool { return pc.LastError() != nil }, 5*time.Second, 20*time.Millisecond,
			"subscribing to another node's acks is refused")
	}
}

func TestNonLoopbackNeedsTLS(t *testing.T) {
	_, err := natsio.StartServer(natsio.ServerConfig{StoreDir: t.TempDir(), Listen: "0.0.0.0:0"})
	require.ErrorIs(t, err, natsio.ErrInsecureListen)
}

// TestTakenPortFailsAtOnce: a client or route port already in use makes
// StartServer fail with ErrListen at once, naming the port, rather than
// wait out its whole readiness timeout.
func TestTakenPortFailsAtOnce(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	addr := taken.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	for name, cfg := range map[string]natsio.ServerConfig{
		"client": {StoreDir: t.TempDir(), Listen: addr},
		"route": {StoreDir: t.TempDir(), Listen: "127.0.0.1:0",
			Cluster: &natsio.ClusterConfig{Name: "c", Listen: addr, Routes: []string{"nats-route://" + addr}}},
	} {
		start := time.Now()
		_, err := natsio.StartServer(cfg)
		require.ErrorIs(t, err, natsio.ErrListen, name)
		assert.Contains(t, err.Error(), port, name)
		assert.Less(t, time.Since(start), 10*time.Second, "%s: the failure is reported before the 30 s readiness wait ends", name)
	}
}

func TestExecStreamsOutputAndInput(t *testing.T) {
	h := startHub(t)
	op := connect(t, h.operator)
	stop, err := op.ServeExec(func(ctx context.Context, req []byte, stdin io.Reader, stdout, stderr io.Writer) int {
		in, err := io.ReadAll(stdin)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		fmt.Fprintf(stdout, "%s got %d bytes\n", req, len(in))
		// more than a chunk of output
		_, _ = stdout.Write(bytes.Repeat([]byte("x"), 200_000))
		fmt.Fprint(stderr, "warn")
		return 3
	}, 2)
	require.NoError(t, err)
	client := connect(t, h.operator)
	var out, errb bytes.Buffer
	code, err := client.Exec(context.Background(), []byte("cmd"), bytes.NewReader(bytes.Repeat([]byte("y"), 150_000)), &out, &errb)
	require.NoError(t, err)
	assert.Equal(t, 3, code)
	assert.Equal(t, "cmd got 150000 bytes\n"+strings.Repeat("x", 200_000), out.String())
	assert.Equal(t, "warn", errb.String())
	stop()
	_, err = client.Exec(context.Background(), []byte("cmd"), strings.NewReader(""), &out, &errb)
	assert.ErrorIs(t, err, natsio.ErrNoHub)
}
