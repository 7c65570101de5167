package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/citypass/citypass/datadir"
	"github.com/citypass/citypass/fleet"
	"github.com/citypass/citypass/fleet/hub"
	"github.com/citypass/citypass/fleet/natsio"
	"github.com/citypass/citypass/reconcile"
	"github.com/citypass/citypass/tariff"
)

func init() { registerCommand("init", newInitCmd) }

func newInitCmd(a *app) *cobra.Command {
	var tariffFile, node, hubURL, creds string
	c := localCmd(&cobra.Command{
		Use:   "init [--tariff FILE] | init --node ID --hub URL --creds FILE",
		Short: "Create the data dir: ledger, tariff (default: built-in Marseille sample), card and signing keys; or a fleet node's",
		Long: `Create a standalone data dir (ledger, tariff, card and statement signing keys), or with
--node the data dir of a fleet node: a new ledger (a new epoch) that takes its tariffs,
passes and cards from the hub at the first sync, and the credentials written by
` + "`citypass hub enroll`" + `.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if node != "" || creds != "" || hubURL != "" {
				if tariffFile != "" {
					return usageErr("--tariff: a node takes its tariffs from its hub")
				}
				if node == "" || creds == "" {
					return usageErr("a node needs --node ID and --creds FILE (and --hub URL unless the credentials name it)")
				}
				return a.runInitNode(node, hubURL, creds)
			}
			return a.runInit(tariffFile)
		},
	})
	c.Flags().StringVar(&tariffFile, "tariff", "", "tariff `FILE` (TOML, schema 1); default: the built-in sample")
	c.Flags().StringVar(&node, "node", "", "make a fleet node with this `ID`")
	c.Flags().StringVar(&hubURL, "hub", "", "the hub's `URL` (nats://HOST:PORT or tls://HOST:PORT; comma-separated for a cluster)")
	c.Flags().StringVar(&creds, "creds", "", "the node's credentials `FILE`, from citypass hub enroll")
	_ = c.MarkFlagFilename("tariff")
	_ = c.MarkFlagFilename("creds")
	return c
}

func (a *app) runInitNode(node, hubURL, credsPath string) error {
	if err := fleet.CheckNodeID(node); err != nil {
		return usageErr("--node %q: want lower-case letters, digits and dashes (at most 63), starting with a letter or digit", node)
	}
	creds, err := natsio.LoadCredentials(credsPath)
	if err != nil {
		return err
	}
	l, err := datadir.InitNode(a.ctx(), a.dataDir, node, hub.SplitURLs(hubURL), creds, a.dataOptions(false))
	if errors.Is(err, datadir.ErrInitialized) {
		return fmt.Errorf("data dir %s is already initialized", a.dataDir)
	}
	if err != nil {
		return err
	}
	defer l.Close()
	id, err := datadir.ReadIdentity(l)
	if err != nil {
		return err
	}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(map[string]any{"data": a.dataDir, "node": node, "hub": id.Hub, "epoch": l.Epoch()})
	}
	fmt.Fprintf(a.stdout, "initialized node %s in %s (ledger epoch %016x), hub %v; `citypass sync` brings its tariffs and passes\n",
		node, a.dataDir, l.Epoch(), id.Hub)
	return nil
}

// initResult is what init prints.
type initResult struct {
	Data      string `json:"data"`
	Tariff    string `json:"tariff"`
	CardKeys  string `json:"card_keys"`
	PublicKey string `json:"signing_public_key"` // PEM
	KeyPrint  string `json:"signing_key_fingerprint"`
}

func (a *app) runInit(tariffFile string) error {
	t := tariff.SampleTariff()
	if tariffFile != "" {
		var err error
		if t, err = tariff.LoadFile(tariffFile); err != nil {
			return err
		}
	}
	d, err := datadir.Init(a.ctx(), a.dataDir, t, &datadir.InitOptions{Options: *a.dataOptions(false)})
	if errors.Is(err, datadir.ErrInitialized) {
		return fmt.Errorf("data dir %s is already initialized; use `citypass tariff load FILE` to add a tariff version", a.dataDir)
	}
	if err != nil {
		return err
	}
	defer d.Close()
	signer, err := d.Signer()
	if err != nil {
		return err
	}
	res := initResult{Data: a.dataDir, Tariff: t.ID, CardKeys: datadir.CardKeysPath(a.dataDir),
		PublicKey: reconcile.FormatPublicKey(signer.PublicKey()),
		KeyPrint:  reconcile.Fingerprint(signer.PublicKey())}
	if a.json {
		return json.NewEncoder(a.stdout).Encode(res)
	}
	fmt.Fprintf(a.stdout, "initialized %s: tariff %s, card keys %s\n", res.Data, res.Tariff, res.CardKeys)
	fmt.Fprintf(a.stdout, "statement signing key %s (`citypass reconcile pubkey` prints it for partners)\n", res.KeyPrint)
	return nil
}
