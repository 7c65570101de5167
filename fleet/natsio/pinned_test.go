package natsio_test

// Pinned regressions of E3 and E4 (docs/fleet.md, "Transport"): how JetStream sourcing across a
// leaf link behaves when the origin stream's store goes back in time (E3),
// and when a WorkQueue origin restarts during a partition (E4). The fleet
// relies on neither (docs/fleet.md: Limits retention only, no sources or
// mirrors); these tests assert what nats-server v2.15.3 does today, so that an
// upgrade that changes it fails here, with a message that sends the reader
// back to the design. Each test runs a hub server (JetStream domain "hub") and
// a leaf server (domain "edge1") whose leaf connection goes through a
// netproxy, and a hub stream that sources the leaf's stream across the
// domains. The two tests run in parallel (each about 20 s, mostly the
// server's source retry). Names here start with "pin" so they stay apart from
// the package's other tests.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/citypass/citypass/fleet/netproxy"
)

// pinChanged starts every failure that means JetStream itself behaves
// differently from what the design assumed.
const pinChanged = "JetStream behaviour changed: re-read E3/E4 in docs/fleet.md"

const (
	pinUser, pinPassword = "y", "p"
	pinEdgeStream        = "EDGE" // the leaf's stream
	pinHubStream         = "TAPS" // the hub's stream sourcing it
	pinCatchUpMax        = 40 * time.Second
)

const pinHubConf = `
server_name: hub
listen: 127.0.0.1:-1
jetstream { store_dir: '%s', domain: hub }
accounts {
	JS { users = [ { user: %q, password: %q } ], jetstream: enabled }
	$SYS { users = [ { user: admin, password: %q } ] }
}
leafnodes { listen: 127.0.0.1:-1 }
`

// The leaf dials the hub through the proxy only: the hub advertises its own
// leaf URL, which the leaf would otherwise use to go around the proxy. The
// last %s is the leaf's sync interval.
const pinLeafConf = `
server_name: edge1
listen: 127.0.0.1:-1
jetstream { store_dir: '%s', domain: edge1, sync_interval: %s }
accounts {
	JS { users = [ { user: %q, password: %q } ], jetstream: enabled }
	$SYS { users = [ { user: admin, password: %q } ] }
}
leafnodes {
	reconnect: "0.25s"
	remotes [ { url: "nats://%s:%s@%s", account: JS, ignore_discovered_servers: true } ]
}
`

// pinStartServer writes conf to a file, starts the server it describes and
// waits until it accepts connections.
func pinStartServer(t *testing.T, conf string) (*server.Server, *server.Options) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "server.conf")
	require.NoError(t, os.WriteFile(path, []byte(conf), 0o600))
	opts, err := server.ProcessConfigFile(path)
	require.NoError(t, err)
	opts.NoSigs = true
	s, err := server.NewServer(opts)
	require.NoError(t, err)
	go s.Start()
	require.True(t, s.ReadyForConnections(10*time.Second), "server %s did not start", opts.ServerName)
	t.Cleanup(func() { pinStopServer(s) })
	return s, opts
}

func pinStopServer(s *server.Server) {
	s.Shutdown()
	s.WaitForShutdown()
}

// pinPair is a hub and its leaf edge1 joined through proxy.
type pinPair struct {
	t         *testing.T
	hub       *server.Server
	proxy     *netproxy.Proxy
	leaf      *server.Server
	leafStore string
	leafSync  string
	hubConn   *nats.Conn
	hubJS     jetstream.JetStream
	leafJS    jetstream.JetStream
	leafConn  *nats.Conn
}

// newPinPair starts a hub and a leaf with the given sync interval
// ("always", or a duration like "2m", the server's default).
func newPinPair(t *testing.T, leafSync string) *pinPair {
	t.Helper()
	hub, hubOpts := pinStartServer(t, fmt.Sprintf(pinHubConf, t.TempDir(), pinUser, pinPassword, pinPassword))
	proxy, err := netproxy.New(fmt.Sprintf("127.0.0.1:%d", hubOpts.LeafNode.Port), nil)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, proxy.Close()) })
	f := &pinPair{t: t, hub: hub, proxy: proxy, leafStore: t.TempDir(), leafSync: leafSync}
	f.hubConn, f.hubJS = pinConnectJS(t, hub)
	f.startLeaf()
	return f
}

func pinConnectJS(t *testing.T, s *server.Server) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), nats.UserInfo(pinUser, pinPassword))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	require.NoError(t, err)
	return nc, js
}

// startLeaf starts edge1 on its store and connects a client to it; if the
// proxy is up, it waits for the leaf connection to the hub.
func (f *pinPair) startLeaf() {
	t := f.t
	t.Helper()
	f.leaf, _ = pinStartServer(t, fmt.Sprintf(pinLeafConf, f.leafStore, f.leafSync, pinUser, pinPassword, pinPassword, pinUser, pinPassword, f.proxy.Addr()))
	nc, err := nats.Connect(f.leaf.ClientURL(), nats.UserInfo(pinUser, pinPassword))
	require.NoError(t, err)
	t.Cleanup(nc.Close)
	f.leafConn = nc
	f.leafJS, err = jetstream.New(nc)
	require.NoError(t, err)
	if f.proxy.IsUp() {
		f.waitLinked()
	}
}

func (f *pinPair) stopLeaf() {
	f.leafConn.Close()
	pinStopServer(f.leaf)
}

// heal brings the link back and waits for the leaf connection.
func (f *pinPair) heal() {
	f.proxy.Up()
	f.waitLinked()
}

func (f *pinPair) waitLinked() {
	f.t.Helper()
	require.Eventually(f.t, func() bool { return f.hub.NumLeafNodes() == 1 && f.leaf.NumLeafNodes() == 1 },
		10*time.Second, 10*time.Millisecond, "the leaf did not connect to the hub through the proxy")
}

// createStreams creates the leaf's stream with the given retention and the
// hub's stream sourcing it across the domains.
func (f *pinPair) createStreams(retention jetstream.RetentionPolicy) {
	t := f.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := f.leafJS.CreateStream(ctx, jetstream.StreamConfig{
		Name: pinEdgeStream, Subjects: []string{"edge1.taps.>"}, Retention: retention,
	})
	require.NoError(t, err)
	// The hub reaches the leaf's JetStream (domain edge1) over the link.
	edge, err := jetstream.NewWithDomain(f.hubConn, "edge1")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := edge.Stream(ctx, pinEdgeStream)
		return err == nil
	}, 10*time.Second, 10*time.Millisecond, "the hub cannot reach domain edge1")
	_, err = f.hubJS.CreateStream(ctx, jetstream.StreamConfig{
		Name: pinHubStream, Sources: []*jetstream.StreamSource{{Name: pinEdgeStream, Domain: "edge1"}},
	})
	require.NoError(t, err)
}

// publish stores n messages on edge1.taps.<kind> at the leaf, with ids and
// bodies <kind>-<i>, and returns the sequences the leaf acknowledged. It
// keeps at most 1000 publications in flight.
func (f *pinPair) publish(kind string, n int) []uint64 {
	t := f.t
	t.Helper()
	seqs := make([]uint64, 0, n)
	for first := 0; first < n; first += 1000 {
		futures := make([]jetstream.PubAckFuture, 0, 1000)
		for i := first; i < min(n, first+1000); i++ {
			id := fmt.Sprintf("%s-%d", kind, i)
			fut, err := f.leafJS.PublishAsync("edge1.taps."+kind, []byte(id), jetstream.WithMsgID(id))
			require.NoError(t, err)
			futures = append(futures, fut)
		}
		for _, fut := range futures {
			select {
			case ack := <-fut.Ok():
				require.False(t, ack.Duplicate, "message %s", fut.Msg().Data)
				seqs = append(seqs, ack.Sequence)
			case err := <-fut.Err():
				require.NoError(t, err, "publishing %s at the leaf", fut.Msg().Data)
			case <-time.After(10 * time.Second):
				t.Fatalf("no acknowledgement for %s from the leaf", fut.Msg().Data)
			}
		}
	}
	return seqs
}

// hubCounts returns the hub stream's message count per subject and its one
// source's info.
func (f *pinPair) hubCounts() (map[string]uint64, *jetstream.StreamSourceInfo) {
	return pinStreamCounts(f.t, f.hubJS, pinHubStream)
}

func pinStreamCounts(t *testing.T, js jetstream.JetStream, name string) (map[string]uint64, *jetstream.StreamSourceInfo) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	require.NoError(t, err)
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(">"))
	require.NoError(t, err)
	counts := map[string]uint64{"": info.State.Msgs}
	for subj, n := range info.State.Subjects {
		counts[subj] = n
	}
	var src *jetstream.StreamSourceInfo
	if len(info.Sources) == 1 {
		src = info.Sources[0]
	}
	return counts, src
}

// waitHub waits until the hub holds want messages on edge1.taps.<kind>.
func (f *pinPair) waitHub(kind string, want uint64, within time.Duration) {
	f.t.Helper()
	var got map[string]uint64
	ok := pinWaitFor(within, func() bool {
		got, _ = f.hubCounts()
		return got["edge1.taps."+kind] == want
	})
	require.True(f.t, ok, "the hub sourced %d %s messages within %v, want %d (all: %v)",
		got["edge1.taps."+kind], kind, within, want, got)
}

// pinWaitFor polls cond every 50 ms until it holds or within has passed.
func pinWaitFor(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		<-tick.C
	}
	return true
}

func pinSeqRange(first, n uint64) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = first + uint64(i)
	}
	return out
}

// TestPinnedE3RolledBackSourceIsSkipped pins E3: when the store of a
// sourced Limits stream goes back in time (an older copy of it restored, as a
// power cut losing an unsynced tail, or a restored backup, leaves it), the
// stream reuses sequences the hub has already sourced, and the hub silently
// skips the new messages stored under them: it resumes after the highest
// origin sequence it saw, the stream's identity (its creation time) is
// unchanged so nothing is reset, and no error or lag is reported. The fleet
// therefore sources no node or site stream; a node's rollback is caught by the
// hub ledger comparing contents (docs/fleet.md).
func TestPinnedE3RolledBackSourceIsSkipped(t *testing.T) {
	t.Parallel()
	// Every acknowledged write is fsynced, so a copy of the store taken
	// after an acknowledgement holds the message.
	f := newPinPair(t, "always")
	f.createStreams(jetstream.LimitsPolicy)

	require.Equal(t, pinSeqRange(1, 1000), f.publish("a", 1000))
	f.waitHub("a", 1000, pinCatchUpMax)

	// The older copy: the leaf's store as it is on disk now, up to seq 1000
	// (every acknowledged write has been fsynced).
	older := t.TempDir()
	require.NoError(t, os.CopyFS(older, os.DirFS(f.leafStore)))

	// The tail that copy lacks, sourced by the hub.
	require.Equal(t, pinSeqRange(1001, 500), f.publish("tail", 500))
	f.waitHub("tail", 500, pinCatchUpMax)

	// During a partition the leaf comes back on the older copy.
	f.proxy.Down()
	f.stopLeaf()
	require.NoError(t, os.RemoveAll(f.leafStore))
	require.NoError(t, os.CopyFS(f.leafStore, os.DirFS(older)))
	f.startLeaf()
	leafCounts, _ := pinStreamCounts(t, f.leafJS, pinEdgeStream)
	require.EqualValues(t, 1000, leafCounts[""], "the restored leaf stream holds the older copy")

	// New messages reuse the sequences of the lost tail, then go beyond.
	require.Equal(t, pinSeqRange(1001, 500), f.publish("reused", 500), "%s: the restored stream no longer reuses sequences", pinChanged)
	f.heal()
	healed := time.Now()
	require.Equal(t, pinSeqRange(1501, 200), f.publish("after", 200))

	// Once the messages after the reused range have arrived, the hub has had
	// every chance to take the reused ones.
	var got map[string]uint64
	var src *jetstream.StreamSourceInfo
	arrived := pinWaitFor(pinResumeMax, func() bool {
		got, src = f.hubCounts()
		return got["edge1.taps.after"] == 200
	})
	t.Logf("%v after heal: hub %v, source %+v", time.Since(healed).Round(time.Millisecond), got, src)
	require.True(t, arrived, "%s: after the rollback the hub sourced no message beyond the reused sequences within %v (hub: %v, source: %+v); E3 saw it resume",
		pinChanged, pinResumeMax, got, src)
	require.Zero(t, got["edge1.taps.reused"], "%s: the hub now sources messages stored under reused sequences (hub: %v)", pinChanged, got)
	require.EqualValues(t, 1000, got["edge1.taps.a"], "%s: the hub sourced the rolled-back stream again from its start (hub: %v)", pinChanged, got)
	require.EqualValues(t, 1700, got[""], "%s: the hub holds %d of the 2200 messages published, want 1700: the 500 stored under reused sequences skipped, as E3 saw", pinChanged, got[""])
	require.NotNil(t, src)
	require.Nil(t, src.Error, "%s: the source now reports the rollback: %v", pinChanged, src.Error)
	require.Zero(t, src.Lag, "%s: the source now reports a lag", pinChanged)
	require.EqualValues(t, 1700, src.Seq, "%s: the source's last origin sequence", pinChanged)
}

// pinResumeMax bounds the wait for a WorkQueue source to resume after a leaf
// restart: the source retries every 10-20 s (E3).
const pinResumeMax = 60 * time.Second

// TestPinnedE4WorkQueueSourceResumesAfterRestart pins E4 as
// nats-server v2.15.3 behaves. The scenario: a hub stream sources a leaf's
// WorkQueue stream (through the durable AckFlowControl consumer the leaf
// makes for it); during a partition the leaf holds a 10,000-message backlog
// and restarts; then the link heals. Research E4, on v2.15.2, saw the
// sourcing stall for over 300 s (the leaf's consumer at delivered=2000,
// ack-pending=1000, the hub at seq 1000 with no lag and no error), and this
// test reproduces that on v2.15.2. v2.15.3 changed how a source counts
// deliveries across a durable consumer reset, and the backlog now arrives
// once the source retries (about 20 s after heal), each message once. This
// test asserts that, so that a version in which the stall returns, or in
// which the backlog is lost or doubled, is noticed. The fleet uses Limits
// retention only, never WorkQueue, either way (docs/fleet.md).
func TestPinnedE4WorkQueueSourceResumesAfterRestart(t *testing.T) {
	t.Parallel()
	f := newPinPair(t, "2m") // the server's default, as in E4
	f.createStreams(jetstream.WorkQueuePolicy)

	f.publish("a", 1000)
	f.waitHub("a", 1000, pinCatchUpMax)

	const backlog = 10000
	f.proxy.Down()
	f.publish("backlog", backlog)
	f.stopLeaf()
	f.startLeaf()
	f.heal()
	healed := time.Now()

	var got map[string]uint64
	var src *jetstream.StreamSourceInfo
	resumed := pinWaitFor(pinResumeMax, func() bool {
		got, src = f.hubCounts()
		return got["edge1.taps.backlog"] >= backlog
	})
	leaf, _ := pinStreamCounts(t, f.leafJS, pinEdgeStream)
	state := fmt.Sprintf("hub %v, source %+v; leaf %v, consumers %s", got, src, leaf, f.leafConsumers())
	t.Logf("%v after heal: %s", time.Since(healed).Round(time.Millisecond), state)
	require.True(t, resumed, "%s: the WorkQueue source stalls again after a leaf restart: the hub lacks the backlog %v after heal (%s); E4 saw this stall on v2.15.2",
		pinChanged, pinResumeMax, state)
	require.EqualValues(t, backlog, got["edge1.taps.backlog"], "%s: the hub holds backlog messages twice (%s)", pinChanged, state)
	require.EqualValues(t, 1000+backlog, got[""], "%s: (%s)", pinChanged, state)
	require.NotNil(t, src)
	require.Nil(t, src.Error, "%s: (%s)", pinChanged, state)
}

// leafConsumers describes the consumers on the leaf's stream.
func (f *pinPair) leafConsumers() string {
	t := f.t
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := f.leafJS.Stream(ctx, pinEdgeStream)
	require.NoError(t, err)
	out := ""
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		out += fmt.Sprintf("[%s delivered=%d ack-pending=%d ack-floor=%d] ",
			ci.Name, ci.Delivered.Stream, ci.NumAckPending, ci.AckFloor.Stream)
	}
	require.NoError(t, l.Err())
	return out
}
