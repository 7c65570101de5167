package hub

import (
	"context"
	"crypto/tls"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/ledger"
)

// Options configure a hub process on a data dir (Open).
type Options struct {
	// Listen is the embedded server's client address; default
	// "127.0.0.1:4222". Beyond loopback, TLSCert and TLSKey are required.
	Listen string
	// NATS, when set, are the URLs of an existing NATS cluster to use
	// instead of an embedded server; the hub connects with the operator
	// credentials (the cluster must authorize their public key and the
	// nodes', see EnrollmentConfig) and creates its streams with Replicas.
	NATS     []string
	Replicas int
	// TLSCert and TLSKey are PEM files for the embedded server.
	TLSCert, TLSKey string
	// Streams size the streams; Hub configures the loops (Ledger and Conn
	// are set by Open).
	Streams natsio.StreamOptions
	Hub     Config
	// Data configures how the data dir is opened.
	Data *datadir.Options
	Log  *slog.Logger
}

// Process is a running hub on a data dir: its ledger, the embedded NATS
// server (unless an external cluster is used), the operator connection, the
// ingest and report loops and the command service. Safe for concurrent use.
type Process struct {
	Dir    string
	Data   *datadir.DataDir
	Server *natsio.Server // nil with an external cluster
	Conn   *natsio.Conn
	Hub    *Hub
	URLs   []string

	mu       sync.Mutex
	stopExec func()
}

// ErrNodeDataDir reports `citypass hub` on a node's data dir.
var ErrNodeDataDir = errors.New("hub: this data dir belongs to a node")

// Open starts the hub on data dir dir: it opens the data dir (a standalone
// one becomes the hub's), creates the operator credentials on first run,
// starts the embedded server with the enrolled nodes (or connects to the
// cluster), sets up the streams, starts the loops and the command service,
// (ServeCommands then serves other commands on the data dir).
func Open(ctx context.Context, dir string, o Options) (*Process, error) {
	var do datadir.Options
	if o.Data != nil {
		do = *o.Data
	}
	var lo ledger.Options
	if do.Ledger != nil {
		lo = *do.Ledger
	}
	LedgerOptions(&lo)
	do.Ledger = &lo
	d, err := datadir.Open(ctx, dir, &do)
	if err != nil {
		return nil, err
	}
	p := &Process{Dir: dir, Data: d}
	ok := false
	defer func() {
		if !ok {
			p.Close()
		}
	}()
	id, err := datadir.ReadIdentity(d.Ledger)
	if err != nil {
		return nil, err
	}
	switch id.Role {
	case fleet.Node:
		return nil, fmt.Errorf("%w (node %s): run `citypass sync` or `citypass gate` on it", ErrNodeDataDir, id.Node)
	case fleet.Standalone:
		if err := datadir.WriteIdentity(ctx, d.Ledger, datadir.Identity{Role: fleet.Hub}); err != nil {
			return nil, err
		}
	}
	op, err := operatorCreds(dir)
	if err != nil {
		return nil, err
	}
	opPub, err := op.PublicKey()
	if err != nil {
		return nil, err
	}
	enrolled, err := datadir.EnrolledNodes(d.Ledger)
	if err != nil {
		return nil, err
	}
	var caPEM string
	if len(o.NATS) > 0 {
		p.URLs = o.NATS
	} else {
		var tlsCfg *tls.Config
		if o.TLSCert != "" || o.TLSKey != "" {
			cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("hub: TLS certificate: %w", err)
			}
			tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
			// Nodes trust the hub's certificate chain's last certificate
			// (the hub's own, when self-signed).
			last := cert.Certificate[len(cert.Certificate)-1]
			caPEM = string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: last}))
		}
		p.Server, err = natsio.StartServer(natsio.ServerConfig{StoreDir: datadir.JetStreamDir(dir), Listen: o.Listen,
			TLS: tlsCfg, Operators: []string{opPub}, Nodes: nodeKeys(enrolled)})
		if err != nil {
			return nil, err
		}
		p.URLs = []string{p.Server.ClientURL()}
		if o.Streams.Replicas <= 0 {
			o.Streams.Replicas = 1
		}
	}
	if len(o.NATS) > 0 && o.Streams.Replicas <= 0 {
		o.Streams.Replicas = max(o.Replicas, 1)
		if o.Replicas == 0 {
			o.Streams.Replicas = 3
		}
	}
	op.Hub, op.CA = p.URLs, caPEM
	if err := op.Save(datadir.OperatorCredsPath(dir)); err != nil {
		return nil, err
	}
	if p.Conn, err = natsio.Connect(op, natsio.ConnectOptions{WaitConnected: true, Timeout: 10 * time.Second}); err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := p.Conn.EnsureStreams(sctx, o.Streams); err != nil {
		return nil, err
	}
	if err := datadir.WriteIdentity(ctx, d.Ledger, datadir.Identity{Role: fleet.Hub, Hub: p.URLs, CA: caPEM}); err != nil {
		return nil, err
	}
	hc := o.Hub
	hc.Ledger, hc.Conn = d.Ledger, p.Conn
	if hc.Log == nil {
		hc.Log = o.Log
	}
	if p.Hub, err = Start(hc); err != nil {
		return nil, err
	}
	ok = true
	return p, nil
}

// ServeCommands runs operator commands forwarded to the hub (`citypass
// --data DIR …` while the hub runs) with h, at most 8 at once, until Close.
func (p *Process) ServeCommands(h natsio.ExecHandler) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopExec != nil {
		return errors.New("hub: already serving commands")
	}
	stop, err := p.Conn.ServeExec(h, 8)
	if err != nil {
		return err
	}
	p.stopExec = stop
	// The runtime file points other commands on the data dir at this hub.
	return datadir.WriteHubRuntime(p.Dir, datadir.HubRuntime{PID: os.Getpid(), URLs: p.URLs, StartedAt: time.Now().UTC()})
}

// operatorCreds loads the hub's operator credentials, creating them on the
// first run.
func operatorCreds(dir string) (natsio.Credentials, error) {
	path := datadir.OperatorCredsPath(dir)
	if _, err := os.Stat(path); err == nil {
		return natsio.LoadCredentials(path)
	}
	c, _, err := natsio.NewCredentials("", []string{"nats://127.0.0.1:4222"}, "")
	if err != nil {
		return c, err
	}
	if err := os.MkdirAll(datadir.KeysDir(dir), 0o700); err != nil {
		return c, err
	}
	return c, c.Save(path)
}

func nodeKeys(enrolled []datadir.Enrolled) map[string]string {
	m := make(map[string]string, len(enrolled))
	for _, e := range enrolled {
		m[e.Node] = e.PublicKey
	}
	return m
}

// Enroll enrolls node id at the hub of data dir d, returning its new
// credentials (to be written, mode 0600, and carried to the node). A
// running embedded server authorizes the node at once; re-enrolling a node
// revokes its earlier credentials.
func Enroll(ctx context.Context, d *datadir.DataDir, server *natsio.Server, id string, now time.Time) (natsio.Credentials, error) {
	ident, err := datadir.ReadIdentity(d.Ledger)
	if err != nil {
		return natsio.Credentials{}, err
	}
	if ident.Role == fleet.Node {
		return natsio.Credentials{}, fmt.Errorf("%w (node %s): enroll nodes at the hub", ErrNodeDataDir, ident.Node)
	}
	urls := ident.Hub
	if len(urls) == 0 {
		urls = []string{"nats://127.0.0.1:4222"}
	}
	creds, pub, err := natsio.NewCredentials(id, urls, ident.CA)
	if err != nil {
		return creds, err
	}
	if _, err := datadir.Enroll(ctx, d.Ledger, id, pub, now); err != nil {
		return creds, err
	}
	if server != nil {
		enrolled, err := datadir.EnrolledNodes(d.Ledger)
		if err != nil {
			return creds, err
		}
		if err := server.SetNodes(nodeKeys(enrolled)); err != nil {
			return creds, err
		}
	}
	return creds, nil
}

// Close stops the hub: the command service, the loops, the connection and
// the server, removes the runtime file and closes the data dir.
func (p *Process) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopExec != nil {
		p.stopExec()
		p.stopExec = nil
	}
	if p.Hub != nil {
		p.Hub.Close()
		p.Hub = nil
	}
	if p.Conn != nil {
		p.Conn.Close()
		p.Conn = nil
	}
	if p.Server != nil {
		p.Server.Shutdown()
		p.Server = nil
	}
	if r, ok, _ := datadir.ReadHubRuntime(p.Dir); ok && r.PID == os.Getpid() {
		_ = os.Remove(datadir.HubRuntimePath(p.Dir))
	}
	if p.Data != nil {
		err := p.Data.Close()
		p.Data = nil
		return err
	}
	return nil
}

// SplitURLs reads a comma-separated --nats value.
func SplitURLs(s string) []string {
	var out []string
	for _, u := range strings.Split(s, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// Server returns the embedded server of p (nil for nil p or a cluster).
func (p *Process) EmbeddedServer() *natsio.Server {
	if p == nil {
		return nil
	}
	return p.Server
}

// EnrolledIDs returns the ids of the nodes enrolled at the hub of l.
func EnrolledIDs(l *ledger.Ledger) ([]string, error) {
	enrolled, err := datadir.EnrolledNodes(l)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(enrolled))
	for i, e := range enrolled {
		ids[i] = e.Node
	}
	return ids, nil
}

// RegisterMetrics registers the hub's metrics (RegisterMetrics) with reg,
// the enrolled nodes read from the data dir at each scrape.
func (p *Process) RegisterMetrics(reg prometheus.Registerer) error {
	l := p.Data.Ledger
	return RegisterMetrics(reg, p.Hub, func() ([]string, error) { return EnrolledIDs(l) })
}
