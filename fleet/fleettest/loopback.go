package fleettest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/netproxy"
	"github.com/citypass/citypass/fleet/node"
	"github.com/citypass/citypass/ledger"
	"github.com/citypass/citypass/tariff"
)

// LoopbackHub is an embedded hub on 127.0.0.1: a NATS server with
// JetStream (its store in StoreDir), a hub ledger (in Dir, on the OS file
// system) and the hub's loops.
type LoopbackHub struct {
	Dir, StoreDir string
	Listen        string // 127.0.0.1:port, kept across restarts
	Server        *natsio.Server
	// Members are the servers of an embedded cluster (StartLoopbackCluster;
	// Server is Members[0]), with their client addresses.
	Members       []*natsio.Server
	MemberListens []string
	Ledger        *ledger.Ledger
	Validator     *engine.Validator
	Conn          *natsio.Conn
	Hub           *hub.Hub
	Operator      natsio.Credentials
	opPub         string
	nodes         map[string]string
	cfg           hub.Config
	streams       natsio.StreamOptions
}

// StartLoopbackHub starts a hub in dir with tariff t, its loops configured
// by cfg and its streams by so.
func StartLoopbackHub(dir string, t []byte, cfg hub.Config, so natsio.StreamOptions) (*LoopbackHub, error) {
	h := &LoopbackHub{Dir: filepath.Join(dir, "ledger"), StoreDir: filepath.Join(dir, "jetstream"), Listen: "127.0.0.1:0", nodes: map[string]string{}, cfg: cfg, streams: so}
	var err error
	if h.Operator, h.opPub, err = natsio.NewCredentials("", nil, ""); err != nil {
		return nil, err
	}
	if err := h.start(); err != nil {
		return nil, err
	}
	if err := h.Ledger.PutTariff(context.Background(), "sample", t); err != nil {
		return nil, err
	}
	return h, h.loadValidator()
}

func (h *LoopbackHub) loadValidator() error {
	stored, err := h.Ledger.Tariffs()
	if err != nil {
		return err
	}
	var vs []*tariff.Tariff
	for _, s := range stored {
		t, err := tariff.Load(s.ID, s.TOML)
		if err != nil {
			return err
		}
		vs = append(vs, t)
	}
	cat, err := tariff.NewCatalog(vs...)
	if err != nil {
		return err
	}
	h.Validator, err = engine.New(h.Ledger, cat, &engine.Options{Rand: rand.NewChaCha8([32]byte{1})})
	return err
}

func (h *LoopbackHub) start() error {
	var err error
	if h.Members == nil {
		// A restart binds the port the nodes know; while it was free, the
		// system may have lent it to an outgoing connection for a moment.
		for wait := 0; ; wait++ {
			h.Server, err = natsio.StartServer(natsio.ServerConfig{StoreDir: h.StoreDir, Listen: h.Listen, Operators: []string{h.opPub}, Nodes: h.nodes})
			if err == nil {
				break
			}
			if !errors.Is(err, natsio.ErrListen) || wait == 40 {
				return err
			}
			time.Sleep(250 * time.Millisecond)
		}
		h.Listen = h.Server.ClientURL()[len("nats://"):]
		h.Operator.Hub = []string{h.Server.ClientURL()}
	}
	if h.Ledger == nil {
		var lo ledger.Options
		hub.LedgerOptions(&lo)
		if h.Ledger, err = ledger.Open(h.Dir, &lo); err != nil {
			return err
		}
	}
	if h.Conn, err = natsio.Connect(h.Operator, natsio.ConnectOptions{WaitConnected: true}); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := h.Conn.EnsureStreams(ctx, h.streams); err != nil {
		return err
	}
	cfg := h.cfg
	cfg.Ledger, cfg.Conn = h.Ledger, h.Conn
	h.Hub, err = hub.Start(cfg)
	return err
}

// Enroll authorizes a node and returns its credentials.
func (h *LoopbackHub) Enroll(id string) (natsio.Credentials, error) {
	c, pub, err := natsio.NewCredentials(id, h.Operator.Hub, "")
	if err != nil {
		return c, err
	}
	h.nodes[id] = pub
	if h.Members == nil {
		return c, h.Server.SetNodes(h.nodes)
	}
	for _, m := range h.Members {
		if m != nil {
			if err := m.SetNodes(h.nodes); err != nil {
				return c, err
			}
		}
	}
	return c, nil
}

// StartLoopbackCluster starts a hub on an embedded JetStream cluster of n
// servers (streams with n replicas) in dir.
func StartLoopbackCluster(dir string, t []byte, cfg hub.Config, so natsio.StreamOptions, n int) (*LoopbackHub, error) {
	h := &LoopbackHub{Dir: filepath.Join(dir, "ledger"), StoreDir: filepath.Join(dir, "jetstream"), nodes: map[string]string{}, cfg: cfg, streams: so}
	h.streams.Replicas = n
	var err error
	if h.Operator, h.opPub, err = natsio.NewCredentials("", nil, ""); err != nil {
		return nil, err
	}
	// A route port is chosen before its server binds it, so another
	// process may take it in between: the cluster is then started again on
	// fresh ports and a fresh store.
	for attempt := 0; ; attempt++ {
		err := h.startMembers(n, filepath.Join(h.StoreDir, fmt.Sprint(attempt)))
		if err == nil {
			break
		}
		if !errors.Is(err, natsio.ErrListen) || attempt == 4 {
			return nil, err
		}
	}
	h.Server, h.Listen = h.Members[0], h.MemberListens[0]
	if err := h.start(); err != nil {
		return nil, err
	}
	if err := h.Ledger.PutTariff(context.Background(), "sample", t); err != nil {
		return nil, err
	}
	return h, h.loadValidator()
}

// startMembers starts n cluster members, their stores under storeDir; on an
// error it shuts down those it started.
func (h *LoopbackHub) startMembers(n int, storeDir string) error {
	// Every member routes to every member: a JetStream cluster needs its
	// routes configured, so the route ports are chosen first.
	routes := make([]string, n)
	listens := make([]string, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		listens[i] = ln.Addr().String()
		routes[i] = "nats-route://" + listens[i]
		ln.Close()
	}
	h.Members, h.MemberListens, h.Operator.Hub = nil, nil, nil
	for i := range n {
		cc := &natsio.ClusterConfig{Name: "citypass-hub", Listen: listens[i], Routes: routes}
		s, err := natsio.StartServer(natsio.ServerConfig{Name: fmt.Sprintf("hub-%d", i), StoreDir: filepath.Join(storeDir, fmt.Sprint(i)),
			Listen: "127.0.0.1:0", Operators: []string{h.opPub}, Nodes: h.nodes, Cluster: cc})
		if err != nil {
			for _, m := range h.Members {
				m.Shutdown()
			}
			h.Members, h.MemberListens, h.Operator.Hub = nil, nil, nil
			return err
		}
		h.Members = append(h.Members, s)
		h.MemberListens = append(h.MemberListens, s.ClientURL()[len("nats://"):])
		h.Operator.Hub = append(h.Operator.Hub, s.ClientURL())
	}
	return nil
}

// KillMember shuts member i of a cluster down for good.
func (h *LoopbackHub) KillMember(i int) {
	h.Members[i].Shutdown()
	h.Members[i] = nil
}

// Kill stops the hub's loops and server abruptly (the ledger stays open:
// it stands for the hub process's disk, which a restart reopens).
func (h *LoopbackHub) Kill() {
	h.Hub.Close()
	h.Conn.Close()
	if h.Members == nil {
		h.Server.Shutdown()
		return
	}
	for i, m := range h.Members {
		if m != nil {
			m.Shutdown()
			h.Members[i] = nil
		}
	}
}

// Restart starts the server and loops again on the same store and port.
func (h *LoopbackHub) Restart() error { return h.start() }

// Close stops everything.
func (h *LoopbackHub) Close() error {
	h.Kill()
	return h.Ledger.Close()
}

// Sell sells n passes of product at the hub onto cards 04000000000001…
func (h *LoopbackHub) Sell(ctx context.Context, n int, product string, at time.Time) ([]engine.Pass, error) {
	var out []engine.Pass
	for i := range n {
		p, err := h.Validator.Sell(ctx, engine.SellRequest{Product: product, Card: fmt.Sprintf("04%012X", i+1), At: at, Channel: "desk"})
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// LoopbackNode is a node: a ledger on a crashable in-memory file system,
// a validator, a connection to the hub through its own proxy, and its sync.
type LoopbackNode struct {
	ID        string
	Creds     natsio.Credentials
	FS        *vfs.MemFS
	Ledger    *ledger.Ledger
	Validator *engine.Validator
	Proxy     *netproxy.Proxy   // Proxies[0]
	Proxies   []*netproxy.Proxy // one per hub server
	Conn      *natsio.Conn
	Sync      *node.Node
	Clock     func() time.Time
	cfg       node.Config
	mu        sync.Mutex
}

// nodeMemTableSize is a loopback node ledger's memtable, and
// nodeCacheBytes its block cache and its writer's cache.
const (
	nodeMemTableSize = 256 << 10
	nodeCacheBytes   = 256 << 10
)

// StartLoopbackNode starts node id against h through a fresh proxy; clock
// is its clock (nil: time.Now).
func StartLoopbackNode(h *LoopbackHub, id string, cfg node.Config, clock func() time.Time, epochRand io.Reader) (*LoopbackNode, error) {
	creds, err := h.Enroll(id)
	if err != nil {
		return nil, err
	}
	n := &LoopbackNode{ID: id, Creds: creds, FS: vfs.NewCrashableMem(), cfg: cfg, Clock: clock}
	listens := h.MemberListens
	if listens == nil {
		listens = []string{h.Listen}
	}
	for _, l := range listens {
		p, err := netproxy.New(l, nil)
		if err != nil {
			return nil, err
		}
		n.Proxies = append(n.Proxies, p)
	}
	n.Proxy = n.Proxies[0]
	if err := n.open(epochRand); err != nil {
		return nil, err
	}
	return n, n.connect()
}

func (n *LoopbackNode) open(epochRand io.Reader) error {
	var err error
	// Hundreds of nodes share one process, each ledger's files in memory
	// (a block cache in front of them saves nothing) and its log copied
	// whole at each sync (the crashable file system keeps what was synced):
	// a small memtable keeps the log short, and small caches keep 500
	// copies of the city's state from holding gigabytes more.
	n.Ledger, err = ledger.Open("/node", &ledger.Options{FS: n.FS, Rand: epochRand, Now: n.Clock,
		MemTableSize: nodeMemTableSize, CacheSizeBytes: nodeCacheBytes, WriterCacheBytes: nodeCacheBytes})
	if err != nil {
		return err
	}
	n.mu.Lock()
	n.Validator = nil
	n.mu.Unlock()
	return n.loadCatalog()
}

// loadCatalog (re)builds the node's validator from the tariff versions its
// ledger holds (none before the first sync).
func (n *LoopbackNode) loadCatalog() error {
	cat, err := datadir.LoadCatalog(n.Ledger)
	if errors.Is(err, datadir.ErrNoTariff) {
		return nil
	}
	if err != nil {
		return err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Validator != nil {
		n.Validator.SetCatalog(cat)
		return nil
	}
	n.Validator, err = engine.New(n.Ledger, cat, &engine.Options{SeqFloor: fleet.SeqFloor(n.Ledger.Created())})
	return err
}

// Ready waits until the node has loaded the hub's state (tariffs
// included) and returns its validator.
func (n *LoopbackNode) Ready(ctx context.Context) (*engine.Validator, error) {
	if err := n.Sync.WaitStream(ctx, 0); err != nil {
		return nil, err
	}
	if err := n.loadCatalog(); err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.Validator == nil {
		return nil, errors.New("fleettest: the hub's state holds no tariff")
	}
	return n.Validator, nil
}

func (n *LoopbackNode) connect() error {
	var err error
	var urls []string
	for _, p := range n.Proxies {
		urls = append(urls, "nats://"+p.Addr())
	}
	n.Conn, err = natsio.Connect(n.Creds, natsio.ConnectOptions{URLs: urls, ReconnectWait: 100 * time.Millisecond})
	if err != nil {
		return err
	}
	cfg := n.cfg
	cfg.Ledger, cfg.Node, cfg.Conn = n.Ledger, n.ID, n.Conn
	cfg.OnTariffs = func() { _ = n.loadCatalog() }
	if n.Clock != nil {
		cfg.Now = n.Clock
	}
	n.Sync, err = node.Start(cfg)
	return err
}

// Crash stops the node as a power cut would: its sync and connection end,
// its ledger keeps only what was synced (vfs CrashClone), and it restarts.
func (n *LoopbackNode) Crash(rng *rand.Rand) error {
	crashed := n.FS.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: rng.IntN(100), RNG: rng})
	n.Sync.Close()
	n.Conn.Close()
	_ = n.Ledger.Close()
	n.FS = crashed
	if err := n.open(nil); err != nil {
		return err
	}
	return n.connect()
}

// Wipe replaces the node's disk with an empty one: a new ledger, a new
// epoch, the same node id and credentials.
func (n *LoopbackNode) Wipe(epochRand io.Reader) error {
	n.Sync.Close()
	n.Conn.Close()
	_ = n.Ledger.Close()
	n.FS = vfs.NewCrashableMem()
	if err := n.open(epochRand); err != nil {
		return err
	}
	return n.connect()
}

// Close stops the node.
func (n *LoopbackNode) Close() error {
	n.Sync.Close()
	n.Conn.Close()
	for _, p := range n.Proxies {
		p.Close()
	}
	return n.Ledger.Close()
}

// Partition cuts (up false) or restores every link of the node to the hub.
func (n *LoopbackNode) Partition(cut bool) {
	for _, p := range n.Proxies {
		if cut {
			p.Down()
		} else {
			p.Up()
		}
	}
}

// SampleTOML is the built-in tariff.
func SampleTOML() []byte { return tariff.Sample() }

// Backup returns a copy of the node's disk as it is now (everything, synced
// or not), to restore later (Restore): a node rolled back to an old copy.
func (n *LoopbackNode) Backup(rng *rand.Rand) *vfs.MemFS {
	return n.FS.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 100, RNG: rng})
}

// Restore replaces the node's disk with a backup and restarts it: its
// ledger goes back to the backup's state, same epoch.
func (n *LoopbackNode) Restore(backup *vfs.MemFS) error {
	n.Sync.Close()
	n.Conn.Close()
	_ = n.Ledger.Close()
	n.FS = backup
	if err := n.open(nil); err != nil {
		return err
	}
	return n.connect()
}
