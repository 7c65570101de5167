package datadir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/internal/atomicfile"
	"github.com/citypass/citypass/ledger"
)

// Fleet files of a data dir (docs/fleet.md, "Identity").
const (
	// NodeCredsFile holds a node's credentials (mode 0600).
	NodeCredsFile = "node.creds"
	// OperatorCredsFile holds a hub's operator credentials (mode 0600).
	OperatorCredsFile = "operator.creds"
	// JetStreamDirName is the embedded hub's JetStream store.
	JetStreamDirName = "jetstream"
	// HubRuntimeFile says, while `citypass hub` runs, where it listens.
	HubRuntimeFile = "hub.json"

	identityMeta = "fleet.identity"
	nodesMeta    = "fleet.nodes"
)

// NodeCredsPath is where a node's credentials live.
func NodeCredsPath(dir string) string { return filepath.Join(KeysDir(dir), NodeCredsFile) }

// OperatorCredsPath is where a hub's operator credentials live.
func OperatorCredsPath(dir string) string { return filepath.Join(KeysDir(dir), OperatorCredsFile) }

// JetStreamDir is where an embedded hub keeps its streams.
func JetStreamDir(dir string) string { return filepath.Join(dir, JetStreamDirName) }

// HubRuntimePath is the file a running hub writes (HubRuntime).
func HubRuntimePath(dir string) string { return filepath.Join(dir, HubRuntimeFile) }

// Identity is a data dir's place in a fleet.
type Identity struct {
	Role fleet.Role `json:"role"`
	Node string     `json:"node,omitempty"` // a node's id
	Hub  []string   `json:"hub,omitempty"`  // the hub's URLs (a node's hub; a hub's own)
	// CA is the certificate (PEM) nodes trust when the hub listens with TLS.
	CA string `json:"ca,omitempty"`
}

// ReadIdentity returns the identity stored in l (standalone when none).
func ReadIdentity(l *ledger.Ledger) (Identity, error) {
	b, ok, err := l.Meta(identityMeta)
	if err != nil {
		return Identity{}, fmt.Errorf("reading the fleet identity: %w", err)
	}
	if !ok {
		return Identity{Role: fleet.Standalone}, nil
	}
	var id Identity
	if err := json.Unmarshal(b, &id); err != nil {
		return Identity{}, fmt.Errorf("reading the fleet identity: %w", err)
	}
	return id, nil
}

// ReadStateCursor returns where the node of l stands in its hub's state
// (fleet.StateCursor, kept by fleet/node under fleet.StateMeta): zero
// before its first sync, and on a hub or a standalone ledger.
func ReadStateCursor(l *ledger.Ledger) (fleet.StateCursor, error) {
	var c fleet.StateCursor
	b, ok, err := l.Meta(fleet.StateMeta)
	if err != nil {
		return c, fmt.Errorf("reading the node's place in the hub's state: %w", err)
	}
	if !ok {
		return c, nil
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return fleet.StateCursor{}, fmt.Errorf("the node's place in the hub's state (meta %s) is damaged: %w: %w", fleet.StateMeta, ledger.ErrCorrupt, err)
	}
	return c, nil
}

// StateAsOf returns the source of the node's state_as_of for its Validator
// (engine.Options.StateAsOf): the AsOf of its state cursor as stored in l,
// read at every tap, so it follows whatever sync stores (a running node
// process may hand the Validator its live cursor instead).
func StateAsOf(l *ledger.Ledger) engine.StateAsOfFunc {
	return func() (time.Time, error) {
		c, err := ReadStateCursor(l)
		return c.AsOf, err
	}
}

// WriteIdentity stores id in l, durably.
func WriteIdentity(ctx context.Context, l *ledger.Ledger, id Identity) error {
	switch id.Role {
	case fleet.Standalone, fleet.Hub:
	case fleet.Node:
		if err := fleet.CheckNodeID(id.Node); err != nil {
			return err
		}
		if len(id.Hub) == 0 {
			return errors.New("datadir: a node needs its hub's URL")
		}
	default:
		return fmt.Errorf("datadir: unknown fleet role %q", id.Role)
	}
	b, _ := json.Marshal(id)
	return l.PutMeta(ctx, identityMeta, b)
}

// ErrNotANode / ErrNotAHub report a command of one role run on another.
var (
	ErrNotANode = errors.New("datadir: not a node's data dir")
	ErrNotAHub  = errors.New("datadir: not a hub's data dir")
	ErrIsANode  = errors.New("datadir: this is a node's data dir")
)

// InitNode creates the data dir of node id: a new ledger (a new epoch),
// its identity, and a copy of its credentials (from `citypass hub enroll`).
// The node holds no tariff until its first sync brings the hub's.
func InitNode(ctx context.Context, dir, id string, hub []string, creds natsio.Credentials, opts *Options) (*ledger.Ledger, error) {
	if err := fleet.CheckNodeID(id); err != nil {
		return nil, err
	}
	if creds.Node != id {
		return nil, fmt.Errorf("the credentials are node %q's, not %q's", creds.Node, id)
	}
	if len(hub) == 0 {
		hub = creds.Hub
	}
	if len(hub) == 0 {
		return nil, errors.New("no hub URL: give --hub")
	}
	o := opts.withDefaults()
	lo := o.ledgerOptions(false)
	fsys := lo.FS
	if fsys == nil {
		fsys = vfs.Default
	}
	if _, err := fsys.Stat(LedgerDir(dir)); err == nil {
		return nil, fmt.Errorf("%w: %s already has a ledger", ErrInitialized, dir)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("datadir: %w", err)
	}
	if err := os.MkdirAll(KeysDir(dir), 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir %s: %w", dir, err)
	}
	creds.Hub = hub
	if err := creds.Save(NodeCredsPath(dir)); err != nil {
		return nil, err
	}
	l, err := ledger.Open(LedgerDir(dir), lo)
	if err != nil {
		return nil, fmt.Errorf("creating ledger: %w", err)
	}
	if err := WriteIdentity(ctx, l, Identity{Role: fleet.Node, Node: id, Hub: hub}); err != nil {
		_ = l.Close()
		return nil, err
	}
	return l, nil
}

// Enrolled is a node the hub has enrolled.
type Enrolled struct {
	Node       string    `json:"node"`
	PublicKey  string    `json:"public_key"`
	EnrolledAt time.Time `json:"enrolled_at"`
}

// EnrolledNodes returns the nodes enrolled at the hub of l, by id.
func EnrolledNodes(l *ledger.Ledger) ([]Enrolled, error) {
	b, ok, err := l.Meta(nodesMeta)
	if err != nil || !ok {
		return nil, err
	}
	var out []Enrolled
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("reading the enrolled nodes: %w", err)
	}
	return out, nil
}

// Enroll records node id with a public key at the hub of l (replacing an
// earlier key of the same node: re-enrolling revokes the old credentials).
func Enroll(ctx context.Context, l *ledger.Ledger, id, publicKey string, at time.Time) ([]Enrolled, error) {
	if err := fleet.CheckNodeID(id); err != nil {
		return nil, err
	}
	nodes, err := EnrolledNodes(l)
	if err != nil {
		return nil, err
	}
	out := nodes[:0:0]
	for _, n := range nodes {
		if n.Node != id {
			out = append(out, n)
		}
	}
	out = append(out, Enrolled{Node: id, PublicKey: publicKey, EnrolledAt: at.UTC()})
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	b, _ := json.Marshal(out)
	return out, l.PutMeta(ctx, nodesMeta, b)
}

// HubRuntime is what a running hub writes to HubRuntimePath: where it
// listens and its process, so that commands on the same data dir are
// served by it (docs/fleet.md).
type HubRuntime struct {
	PID       int       `json:"pid"`
	URLs      []string  `json:"urls"`
	StartedAt time.Time `json:"started_at"`
}

// ReadHubRuntime reads the running hub's file, if there is one.
func ReadHubRuntime(dir string) (HubRuntime, bool, error) {
	b, err := os.ReadFile(HubRuntimePath(dir))
	if errors.Is(err, fs.ErrNotExist) {
		return HubRuntime{}, false, nil
	}
	if err != nil {
		return HubRuntime{}, false, err
	}
	var r HubRuntime
	if err := json.Unmarshal(b, &r); err != nil {
		return HubRuntime{}, false, fmt.Errorf("%s: %w", HubRuntimePath(dir), err)
	}
	return r, true, nil
}

// WriteHubRuntime writes the running hub's file (mode 0600) atomically, so
// that a command reading it while the hub starts never sees half of it.
func WriteHubRuntime(dir string, r HubRuntime) error {
	b, _ := json.MarshalIndent(r, "", "  ")
	return atomicfile.WriteFile(HubRuntimePath(dir), append(b, '\n'), 0o600)
}
