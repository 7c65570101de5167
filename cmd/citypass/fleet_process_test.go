package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fleetProc is a long-running citypass process (hub, sync) started from
// the test binary in its own process group.
type fleetProc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// fleetProcs starts and stops the long-running processes of a test; every
// one still running is killed (its whole group) when the test ends, failed
// or not.
type fleetProcs struct {
	t   *testing.T
	bin string
	mu  sync.Mutex
	all []*fleetProc
}

func newFleetProcs(t *testing.T) *fleetProcs {
	ps := &fleetProcs{t: t, bin: os.Args[0]}
	t.Cleanup(func() {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		for _, p := range ps.all {
			p.kill()
		}
	})
	return ps
}

// start runs citypass args and waits until its output shows ready.
func (ps *fleetProcs) start(name, ready string, args ...string) *fleetProc {
	ps.t.Helper()
	p, ok := ps.try(name, ready, args...)
	require.True(ps.t, ok, name+" exited before it was ready\ncitypass %v:\n%s", args, p.out.String())
	return p
}

// startOnPort is start for a process that binds a port it has bound before
// (a restarted hub): while the port was free the system may have lent it to
// an outgoing connection for a moment, so a start that fails to open its
// listener is tried again.
func (ps *fleetProcs) startOnPort(name, ready string, args ...string) *fleetProc {
	ps.t.Helper()
	for attempt := 0; ; attempt++ {
		p, ok := ps.try(name, ready, args...)
		if ok {
			return p
		}
		out := p.out.String()
		require.True(ps.t, strings.Contains(out, "could not open a listener") && attempt < 40,
			name+" exited before it was ready\ncitypass %v:\n%s", args, out)
		time.Sleep(250 * time.Millisecond)
	}
}

// try runs citypass args and waits until its output shows ready (true) or
// it exits (false).
func (ps *fleetProcs) try(name, ready string, args ...string) (*fleetProc, bool) {
	t := ps.t
	t.Helper()
	cmd := exec.Command(ps.bin, args...)
	cmd.Env = append(os.Environ(), cliChildEnv+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &fleetProc{name: name, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	require.NoError(t, cmd.Start())
	ps.mu.Lock()
	ps.all = append(ps.all, p)
	ps.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		close(p.done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(p.out.String(), ready) {
		select {
		case <-p.done:
			return p, false
		case <-time.After(10 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "%s not ready after 30 s:\n%s", name, p.out.String())
	}
	return p, true
}

// kill sends SIGKILL to p's process group and waits until p has exited.
func (p *fleetProc) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// jsonLines decodes one JSON object per line.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" {
			continue
		}
		d := json.NewDecoder(strings.NewReader(l))
		d.UseNumber()
		var m map[string]any
		require.NoError(t, d.Decode(&m), l)
		out = append(out, m)
	}
	return out
}

// TestFleetProcessesKilled is the fleet's real-process test (docs/fleet.md):
// `citypass hub` and a `citypass sync` for each of two nodes run as child
// processes of the test binary on 127.0.0.1, and each is killed with
// SIGKILL at random moments of a seeded schedule (the seed is printed;
// CITYPASS_FLEET_SEED replays the schedule, the moments themselves ride on
// the real clock) and restarted. Passes are sold with `pass sell` on the
// hub's data dir while the hub runs (the command is served by the hub
// process, which holds the ledger), and the nodes accept them once `sync
// --once` has brought them down. At the end every record each node
// journaled (its `journal export`) is at the hub exactly once under its
// origin (node, epoch, node_seq) with the same content, the hub's ledger
// checks clean, and `fleet status --json` shows both nodes with no backlog,
// nothing quarantined and nothing at risk.
//
// The taps are made with `citypass tap` on a node while its sync is not
// running, as on a bus validator that journals the day's taps offline and
// syncs at the depot: a ledger has one holder, so a machine that taps and
// syncs at the same time runs `citypass gate`, whose in-process sync
// TestCLIGateOnNodeSyncsInProcess covers. Each kill of a node's sync is
// followed by taps on that node; its restarted sync then uploads them and
// may be killed again in the middle of it.
func TestFleetProcessesKilled(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("CITYPASS_FLEET_SEED"); s != "" {
		var err error
		seed, err = strconv.ParseUint(s, 10, 64)
		require.NoError(t, err)
	}
	t.Logf("seed %d (CITYPASS_FLEET_SEED=%d replays the schedule)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 15))
	ps := newFleetProcs(t)
	bin := ps.bin
	run := func(args ...string) (string, string, int) {
		t.Helper()
		return childCLI(t, bin, false, args...)
	}
	must := func(args ...string) string {
		t.Helper()
		out, stderr, code := run(args...)
		require.Equal(t, 0, code, "citypass %v: %s%s", args, out, stderr)
		return out
	}

	base := t.TempDir()
	hubDir := filepath.Join(base, "hub")
	must("--data", hubDir, "init")
	listen := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	startHub := func() *fleetProc {
		return ps.startOnPort("hub", "hub on ", "--data", hubDir, "hub", "--listen", listen)
	}
	hub := startHub()

	// Two nodes, enrolled at the running hub (the command runs in it).
	nodes := []string{"bus-1", "bus-2"}
	dirs, epochs := map[string]string{}, map[string]string{}
	for _, n := range nodes {
		creds := filepath.Join(base, n+".creds")
		must("--data", hubDir, "hub", "enroll", "--node", n, "--out", creds)
		dirs[n] = filepath.Join(base, n)
		init := jsonLines(t, must("--data", dirs[n], "init", "--node", n, "--hub", "nats://"+listen, "--creds", creds, "--json"))
		require.Len(t, init, 1)
		e, err := strconv.ParseUint(init[0]["epoch"].(json.Number).String(), 10, 64)
		require.NoError(t, err)
		epochs[n] = fmt.Sprintf("%016x", e) // as journal export writes it
	}

	// Passes sold at the running hub reach the nodes with sync --once.
	var cards []string
	sell := func(card string) {
		t.Helper()
		out := must("--data", hubDir, "pass", "sell", "--product", "cp72-adult", "--card", card, "--json")
		assert.Contains(t, out, card)
	}
	for i := range 4 {
		cards = append(cards, fmt.Sprintf("04C0FFEE0000%02X", i+1))
		sell(cards[i])
	}
	gates := []string{"mucem/main", "rtm-metro/vieux-port", "chateau-if/main", "rtm-bus/b1"}
	tap := func(n, card string) string {
		t.Helper()
		out, stderr, code := run("--data", dirs[n], "tap", "--card", card, "--gate", gates[rng.IntN(len(gates))], "--device", n+"-v1")
		require.Contains(t, []int{0, 3}, code, "tap on %s: %s%s", n, out, stderr)
		return out
	}
	for i, n := range nodes {
		must("--data", dirs[n], "sync", "--once")
		assert.Contains(t, tap(n, cards[i]), "ACCEPT", "node %s accepts a pass sold at the hub", n)
	}

	// The schedule: each process killed at least once, then at random.
	syncs := map[string]*fleetProc{}
	startSync := func(n string) {
		syncs[n] = ps.start("sync "+n, "syncing with", "--data", dirs[n], "sync")
	}
	for _, n := range nodes {
		startSync(n)
	}
	victims := []string{"hub", nodes[0], nodes[1]}
	rng.Shuffle(len(victims), func(i, j int) { victims[i], victims[j] = victims[j], victims[i] })
	for range 9 {
		victims = append(victims, []string{"hub", nodes[0], nodes[1]}[rng.IntN(3)])
	}
	laterCard := "04C0FFEE0000FF"
	for round, v := range victims {
		moment := time.Duration(rng.IntN(800)) * time.Millisecond
		t.Logf("round %d: kill -9 %s after %s", round, v, moment)
		time.Sleep(moment) // the random moment of the kill, not a wait for something
		if v == "hub" {
			hub.kill()
			time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond) // the hub stays down a while
			hub = startHub()
		} else {
			syncs[v].kill()
			for range 1 + rng.IntN(5) {
				tap(v, cards[rng.IntN(len(cards))])
			}
			startSync(v)
		}
		if round == 2 {
			sell(laterCard) // while the nodes' syncs run and die
		}
	}

	// The end: the syncs stop (one more kill), each node syncs once.
	for _, n := range nodes {
		syncs[n].kill()
		must("--data", dirs[n], "sync", "--once")
	}
	assert.Contains(t, tap(nodes[1], laterCard), "ACCEPT", "the pass sold during the run came down")
	must("--data", dirs[nodes[1]], "sync", "--once")

	// Every node record is at the hub exactly once, with its content.
	type origin struct {
		node, epoch string
		seq         string
	}
	atHub := map[origin][]map[string]any{}
	perNode := map[string]int{}
	for _, r := range jsonLines(t, must("--data", hubDir, "journal", "export", "--format", "jsonl")) {
		n, _ := r["node"].(string)
		if n == "" {
			continue
		}
		o := origin{n, r["epoch"].(string), r["node_seq"].(json.Number).String()}
		atHub[o] = append(atHub[o], r)
		perNode[n]++
	}
	total := 0
	for _, n := range nodes {
		epoch := epochs[n]
		recs := jsonLines(t, must("--data", dirs[n], "journal", "export", "--format", "jsonl"))
		require.NotEmpty(t, recs)
		total += len(recs)
		assert.Equal(t, len(recs), perNode[n], "node %s: the hub holds as many of its records as it journaled", n)
		for _, r := range recs {
			o := origin{n, epoch, r["journal_seq"].(json.Number).String()}
			got := atHub[o]
			if !assert.Len(t, got, 1, "node %s record %s at the hub", n, o.seq) {
				continue
			}
			for _, k := range []string{"device", "seq", "at", "card", "pass", "gate", "decision", "reason", "flags"} {
				assert.Equal(t, fmt.Sprint(r[k]), fmt.Sprint(got[0][k]), "node %s record %s: %s", n, o.seq, k)
			}
		}
	}
	t.Logf("%d records from %d nodes at the hub, %d rounds", total, len(nodes), len(victims))

	// The hub's ledger is clean; the fleet has nothing pending.
	var chk struct {
		OK    bool `json:"ok"`
		Fleet struct {
			Origins     int `json:"origins"`
			Quarantined int `json:"quarantined"`
			AtRisk      int `json:"at_risk"`
		} `json:"fleet"`
	}
	out, stderr, code := run("--data", hubDir, "ledger", "check", "--json")
	require.Equal(t, 0, code, "%s%s", out, stderr)
	require.NoError(t, json.Unmarshal([]byte(out), &chk))
	assert.True(t, chk.OK, out)
	assert.Equal(t, total, chk.Fleet.Origins)
	assert.Zero(t, chk.Fleet.Quarantined)
	assert.Zero(t, chk.Fleet.AtRisk)
	var st struct {
		Nodes []struct {
			Node         string `json:"node"`
			Acknowledged int    `json:"acknowledged"`
			LastReported int    `json:"last_reported"`
			Backlog      int    `json:"backlog"`
			Quarantined  []any  `json:"quarantined"`
			AtRisk       []any  `json:"at_risk"`
			AtRiskCount  int    `json:"at_risk_count"`
		} `json:"nodes"`
	}
	require.NoError(t, json.Unmarshal([]byte(must("--data", hubDir, "fleet", "status", "--json")), &st))
	require.Len(t, st.Nodes, len(nodes))
	for i, ns := range st.Nodes {
		assert.Equal(t, nodes[i], ns.Node)
		assert.Equal(t, perNode[ns.Node], ns.Acknowledged, "node %s", ns.Node)
		assert.Equal(t, ns.Acknowledged, ns.LastReported, "node %s", ns.Node)
		assert.Zero(t, ns.Backlog, "node %s", ns.Node)
		assert.Empty(t, ns.Quarantined, "node %s", ns.Node)
		assert.Empty(t, ns.AtRisk, "node %s", ns.Node)
		assert.Zero(t, ns.AtRiskCount, "node %s", ns.Node)
	}

	// The hub stops cleanly on SIGTERM.
	require.NoError(t, hub.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-hub.done:
		assert.Contains(t, hub.out.String(), "hub stopping")
	case <-time.After(30 * time.Second):
		t.Error("the hub did not stop on SIGTERM")
	}
}
