package bench

import (
	"github.com/citypass/citypass/engine"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/fleet/node"
	"github.com/citypass/citypass/ledger"
)

// syncedNode is a fleet node of the bench: its ledger and validator, and,
// while started, its connection to the hub and its sync.
type syncedNode struct {
	id    string
	l     *ledger.Ledger
	v     *engine.Validator
	creds natsio.Credentials
	conn  *natsio.Conn
	sync  *node.Node
}

// start connects the node to the hub at url and starts its sync with cfg
// (its ledger, id and connection filled in); it returns at once: the
// connection comes up in the background.
func (n *syncedNode) start(url string, cfg node.Config) error {
	c := n.creds
	c.Hub = []string{url}
	var err error
	if n.conn, err = natsio.Connect(c, natsio.ConnectOptions{}); err != nil {
		return err
	}
	cfg.Ledger, cfg.Node, cfg.Conn = n.l, n.id, n.conn
	n.sync, err = node.Start(cfg)
	return err
}

// stop ends the node's sync and connection (the node goes offline).
func (n *syncedNode) stop() error {
	var err error
	if n.sync != nil {
		err = n.sync.Close()
		n.sync = nil
	}
	if n.conn != nil {
		n.conn.Close()
		n.conn = nil
	}
	return err
}

func (n *syncedNode) close() error {
	err := n.stop()
	if cerr := n.l.Close(); err == nil {
		err = cerr
	}
	return err
}
