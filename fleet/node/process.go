package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/ledger"
)

// ErrNotANode reports sync on a data dir that is not a node's.
var ErrNotANode = errors.New("node: this data dir is not a node's")

// Process is a node's sync on its data dir: the ledger, the connection to
// the hub with the node's credentials, and the uplink.
type Process struct {
	Dir      string
	Identity datadir.Identity
	Ledger   *ledger.Ledger
	Conn     *natsio.Conn
	Node     *Node
	own      bool // Ledger was opened by Open and is closed by Close
}

// Options configure OpenProcess.
type Options struct {
	// Ledger is the node's ledger when the caller has it open (a gate that
	// syncs in-process); nil: OpenProcess opens the data dir's.
	Ledger *ledger.Ledger
	// Validator is the gate's when it syncs in-process: it then decides
	// with the node's live state_as_of (Node.StateAsOf). Optional.
	Validator *engine.Validator
	// Sync configures the uplink (Ledger, Node and Conn are set here).
	Sync Config
	Data *datadir.Options
	Log  *slog.Logger
}

// OpenProcess starts a node's sync on data dir dir. It does not wait for
// the hub: a node starts offline and connects when it can.
func OpenProcess(ctx context.Context, dir string, o Options) (*Process, error) {
	p := &Process{Dir: dir, Ledger: o.Ledger}
	if p.Ledger == nil {
		l, err := datadir.OpenLedger(ctx, dir, o.Data)
		if err != nil {
			return nil, err
		}
		p.Ledger, p.own = l, true
	}
	ok := false
	defer func() {
		if !ok {
			_ = p.Close()
		}
	}()
	id, err := datadir.ReadIdentity(p.Ledger)
	if err != nil {
		return nil, err
	}
	if id.Role != fleet.Node {
		return nil, fmt.Errorf("%w (it is %s): make one with `citypass init --node ID --hub URL --creds FILE`", ErrNotANode, id.Role)
	}
	p.Identity = id
	creds, err := natsio.LoadCredentials(datadir.NodeCredsPath(dir))
	if err != nil {
		return nil, err
	}
	if creds.Node != id.Node {
		return nil, fmt.Errorf("node: %s holds node %q's credentials, this is node %q", datadir.NodeCredsPath(dir), creds.Node, id.Node)
	}
	if p.Conn, err = natsio.Connect(creds, natsio.ConnectOptions{URLs: id.Hub}); err != nil {
		return nil, err
	}
	cfg := o.Sync
	cfg.Ledger, cfg.Node, cfg.Conn = p.Ledger, id.Node, p.Conn
	if cfg.Log == nil {
		cfg.Log = o.Log
	}
	if p.Node, err = Start(cfg); err != nil {
		return nil, err
	}
	if o.Validator != nil {
		o.Validator.SetStateAsOf(p.Node.StateAsOf)
	}
	ok = true
	return p, nil
}

// SyncOnce waits until the hub has acknowledged every record the node held
// when it was called and the node has applied the hub's state as published
// then. It fails when the hub stays unreachable for timeout.
func (p *Process) SyncOnce(ctx context.Context, timeout time.Duration) error {
	last, err := p.Ledger.LastJournalSeq()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = p.Node.WaitContact(ctx)
	if err == nil {
		err = p.Node.WaitAcked(ctx, last)
	}
	if err == nil {
		// and the hub's state as published now
		var published uint64
		if _, published, err = p.Conn.StateBounds(ctx); err == nil {
			err = p.Node.WaitStream(ctx, published)
		}
	}
	if err != nil {
		if !p.Conn.Connected() {
			return fmt.Errorf("node %s: the hub at %v stayed unreachable for %s: %w", p.Identity.Node, p.Identity.Hub, timeout, natsio.ErrDisconnected)
		}
		return fmt.Errorf("node %s: %w", p.Identity.Node, err)
	}
	return nil
}

// Close stops the sync and closes what Open opened.
func (p *Process) Close() error {
	var err error
	if p.Node != nil {
		err = p.Node.Close()
		p.Node = nil
	}
	if p.Conn != nil {
		p.Conn.Close()
		p.Conn = nil
	}
	if p.own && p.Ledger != nil {
		err = errors.Join(err, p.Ledger.Close())
		p.Ledger = nil
	}
	return err
}
